import type { ProgressCallback } from '../weights/fetch.js';

export interface ProgressBarOptions {
  /** Where to draw (default process.stderr). */
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Bar width in characters (default 28). */
  width?: number;
  /** Minimum milliseconds between redraws on a terminal (default 100). */
  intervalMs?: number;
}

export interface ProgressBar extends ProgressCallback {
  /** Draws the final state and ends the line. */
  done(): void;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

/**
 * A download progress bar for the CLI: redraws in place on a terminal, prints every 10% otherwise
 * (CI logs). Usable directly as an `onProgress` callback.
 * @example const bar = createProgressBar('resnet18'); await downloadWeights('resnet18', { onProgress: bar }); bar.done();
 */
export function createProgressBar(label: string, options: ProgressBarOptions = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  const width = options.width ?? 28;
  const interval = options.intervalMs ?? 100;
  const start = Date.now();
  let lastDraw = 0;
  let lastStep = -1;
  let received = 0;
  let total: number | undefined;
  let finished = false;

  const line = (): string => {
    const secs = Math.max((Date.now() - start) / 1000, 1e-3);
    const rate = `${mb(received / secs)} MB/s`;
    if (total && total > 0) {
      const frac = Math.min(received / total, 1);
      const filled = Math.round(frac * width);
      return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(received)}/${mb(total)} MB ${rate}`;
    }
    return `${label} ${mb(received)} MB ${rate}`;
  };

  const bar = ((got: number, all: number | undefined) => {
    received = got;
    total = all;
    const now = Date.now();
    if (tty) {
      if (now - lastDraw >= interval || (total !== undefined && got >= total)) {
        lastDraw = now;
        stream.write(`\r${line()}\x1b[K`);
      }
    } else {
      // one line per 10% (or per 10 MB without a known size) keeps CI logs short
      const step = total ? Math.floor((got / total) * 10) : Math.floor(got / (10 * 1024 * 1024));
      if (step !== lastStep) {
        lastStep = step;
        stream.write(`${line()}\n`);
      }
    }
  }) as ProgressBar;

  bar.done = () => {
    if (finished) return;
    finished = true;
    if (tty) stream.write(`\r${line()}\x1b[K\n`);
    else if (lastStep < 0 || (total !== undefined && received < total)) stream.write(`${line()}\n`);
  };
  return bar;
}

/**
 * A progress bar that draws only once bytes actually arrive (a cache hit prints nothing); call `done()` after.
 * @example const bar = downloadProgress('resnet18 weights'); await createModel('resnet18', { weights: 'imagenet', onProgress: bar }); bar.done();
 */
export function downloadProgress(label: string, options: ProgressBarOptions = {}): ProgressBar {
  let bar: ProgressBar | undefined;
  const lazy = ((got: number, total: number | undefined) => {
    bar ??= createProgressBar(label, options);
    bar(got, total);
  }) as ProgressBar;
  lazy.done = () => bar?.done();
  return lazy;
}
