// Progress on a terminal or in a log (Node-only: writes to a stream, default process.stderr). One status line,
// redrawn in place on a terminal and printed as plain lines at most once per bucket (~10% of a download, ~5% of a
// training run) otherwise, so CI logs stay short: download bars (weights) and the training bar share it.
import type { ProgressCallback } from '../weights/fetch.js';
import type { StepInfo } from '../train/loop.js';

/** Where and how a progress line is drawn. */
export interface ProgressBarOptions {
  /** Where to draw (default process.stderr). */
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Bar width in characters (default 28 for downloads, 24 for training). */
  width?: number;
  /** Minimum milliseconds between redraws on a terminal (default 100 for downloads, 200 for training). */
  intervalMs?: number;
}

/** `[#####-----]`: the fraction `frac` of `width` characters. */
export function progressBarText(frac: number, width: number, empty = '-'): string {
  const filled = Math.round(Math.min(Math.max(frac, 0), 1) * width);
  return `[${'#'.repeat(filled)}${empty.repeat(width - filled)}]`;
}

/** The shared status line: `update` redraws (terminal) or prints a line when the bucket changes (log). */
function statusLine(options: ProgressBarOptions, intervalMs: number) {
  const stream = options.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  const interval = options.intervalMs ?? intervalMs;
  let lastDraw = 0;
  let lastBucket = -1;
  let drawn = false;
  return {
    stream,
    tty,
    /** Draws `text()`: on a terminal when `interval` has passed or `final`, elsewhere when `bucket` is new. */
    update(text: () => string, bucket: number, final: boolean): void {
      if (tty) {
        const now = Date.now();
        if (now - lastDraw >= interval || final) {
          lastDraw = now;
          stream.write(`\r${text()}\x1b[K`);
          drawn = true;
        }
      } else if (bucket !== lastBucket) {
        lastBucket = bucket;
        stream.write(`${text()}\n`);
      }
    },
    /** Whether anything was printed or drawn. */
    started: () => drawn || lastBucket >= 0,
    drawn: () => drawn,
    /** Ends the line on a terminal (the next output starts on a fresh line). */
    end(): void {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}

export interface ProgressBar extends ProgressCallback {
  /** Draws the final state and ends the line. */
  done(): void;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}

/**
 * A download progress bar: redraws in place on a terminal, prints every 10% otherwise (CI logs). Usable directly
 * as an `onProgress` callback.
 * @example const bar = createProgressBar('resnet18'); await downloadPretrained('resnet18', { onProgress: bar }); bar.done();
 */
export function createProgressBar(label: string, options: ProgressBarOptions = {}): ProgressBar {
  const status = statusLine(options, 100);
  const width = options.width ?? 28;
  const start = Date.now();
  let received = 0;
  let total: number | undefined;
  let finished = false;

  const line = (): string => {
    const secs = Math.max((Date.now() - start) / 1000, 1e-3);
    const rate = `${mb(received / secs)} MB/s`;
    if (total && total > 0) {
      const frac = Math.min(received / total, 1);
      return `${label} ${progressBarText(frac, width)} ${(frac * 100).toFixed(0).padStart(3)}% ${mb(received)}/${mb(total)} MB ${rate}`;
    }
    return `${label} ${mb(received)} MB ${rate}`;
  };

  const bar = ((got: number, all: number | undefined) => {
    received = got;
    total = all;
    // one line per 10% (or per 10 MB without a known size) keeps CI logs short
    const bucket = total ? Math.floor((got / total) * 10) : Math.floor(got / (10 * 1024 * 1024));
    status.update(line, bucket, total !== undefined && got >= total);
  }) as ProgressBar;

  bar.done = () => {
    if (finished) return;
    finished = true;
    if (status.tty) {
      status.stream.write(`\r${line()}\x1b[K\n`);
    } else if (!status.started() || (total !== undefined && received < total)) {
      status.stream.write(`${line()}\n`);
    }
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

/** Progress of a training run. */
export interface TrainProgress {
  step(info: StepInfo): void;
  /** Prints a full line (validation results, checkpoints), keeping the bar below it on a terminal. */
  line(text: string): void;
  done(): void;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/**
 * The training progress of `chexzoo train`: a bar redrawn in place on a terminal, plain lines (every ~5% and at
 * each validation) otherwise.
 * @example const p = createTrainProgress(); await train(model, data, { onStep: (i) => p.step(i) }); p.done();
 */
export function createTrainProgress(options: ProgressBarOptions = {}): TrainProgress {
  const status = statusLine(options, 200);
  const width = options.width ?? 24;
  let last: StepInfo | undefined;

  const text = (i: StepInfo): string => {
    const total = i.totalSteps;
    const rate = `${i.stepsPerSecond.toFixed(2)} it/s`;
    const epoch = `epoch ${i.epoch + 1}${i.batchesPerEpoch ? ` ${i.batchInEpoch}/${i.batchesPerEpoch}` : ''}`;
    const loss = `loss ${i.smoothLoss.toFixed(4)}`;
    if (total) {
      const frac = Math.min(i.step / total, 1);
      const eta = (total - i.step) / Math.max(i.stepsPerSecond, 1e-9);
      const head = status.tty ? progressBarText(frac, width) : `${String(Math.round(frac * 100)).padStart(3)}%`;
      return `${head} step ${i.step}/${total} ${epoch} ${loss} ${rate} eta ${duration(eta)}`;
    }
    return `step ${i.step} ${epoch} ${loss} ${rate}`;
  };

  return {
    step(i) {
      last = i;
      const bucket = i.totalSteps ? Math.floor((i.step / i.totalSteps) * 20) : Math.floor(i.step / 50);
      status.update(() => text(i), bucket, i.step === i.totalSteps);
    },
    line(s) {
      if (status.tty && status.drawn()) status.stream.write(`\r\x1b[K${s}\n${last ? text(last) : ''}`);
      else status.stream.write(`${s}\n`);
    },
    done() {
      status.end();
    },
  };
}
