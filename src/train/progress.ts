// Training progress for the CLI (Node-only: writes to a stream): a bar redrawn in place on a terminal,
// plain lines (every ~5% and at each validation) otherwise, so CI logs stay short and readable.
import type { StepInfo } from './loop.js';

export interface TrainProgressOptions {
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Minimum milliseconds between redraws on a terminal (default 200). */
  intervalMs?: number;
  width?: number;
}

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
 * Progress reporter for `chexzoo train`.
 * @example const p = createTrainProgress(); await train(model, data, { onStep: (i) => p.step(i) }); p.done();
 */
export function createTrainProgress(options: TrainProgressOptions = {}): TrainProgress {
  const stream = options.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  const interval = options.intervalMs ?? 200;
  const width = options.width ?? 24;
  let lastDraw = 0;
  let lastBucket = -1;
  let drawn = false;
  let last: StepInfo | undefined;

  const text = (i: StepInfo): string => {
    const total = i.totalSteps;
    const rate = `${i.stepsPerSecond.toFixed(2)} it/s`;
    const epoch = `epoch ${i.epoch + 1}${i.batchesPerEpoch ? ` ${i.batchInEpoch}/${i.batchesPerEpoch}` : ''}`;
    const loss = `loss ${i.smoothLoss.toFixed(4)}`;
    if (total) {
      const frac = Math.min(i.step / total, 1);
      const filled = Math.round(frac * width);
      const eta = (total - i.step) / Math.max(i.stepsPerSecond, 1e-9);
      const head = tty ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]` : `${String(Math.round(frac * 100)).padStart(3)}%`;
      return `${head} step ${i.step}/${total} ${epoch} ${loss} ${rate} eta ${duration(eta)}`;
    }
    return `step ${i.step} ${epoch} ${loss} ${rate}`;
  };

  return {
    step(i) {
      last = i;
      const now = Date.now();
      if (tty) {
        if (now - lastDraw >= interval || i.step === i.totalSteps) {
          lastDraw = now;
          stream.write(`\r${text(i)}\x1b[K`);
          drawn = true;
        }
      } else {
        const bucket = i.totalSteps ? Math.floor((i.step / i.totalSteps) * 20) : Math.floor(i.step / 50);
        if (bucket !== lastBucket || i.step === 1) {
          lastBucket = bucket;
          stream.write(`${text(i)}\n`);
        }
      }
    },
    line(s) {
      if (tty && drawn) stream.write(`\r\x1b[K${s}\n${last ? text(last) : ''}`);
      else stream.write(`${s}\n`);
    },
    done() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
