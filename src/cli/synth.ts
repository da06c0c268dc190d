// `chexzoo synth`: writes the synthetic CheXpert-format dataset.
import { SYNTH_DEFAULTS, writeSynthDataset } from '../data/synth-node.js';
import { parseCommand } from './args.js';

const USAGE = `Usage: chexzoo synth --out DIR [--train N] [--valid N] [--size PX] [--seed S] [--quality Q] [--force]

Writes a synthetic CheXpert-format dataset (chest-radiograph phantoms) to DIR/CheXpert-v1.0-small:
train.csv, valid.csv and grayscale JPEGs laid out like the release. Deterministic per seed.

  --out DIR      parent folder of the dataset (required)
  --train N      train images (default ${SYNTH_DEFAULTS.train})
  --valid N      valid images (default ${SYNTH_DEFAULTS.valid})
  --size PX      image side in pixels (default ${SYNTH_DEFAULTS.size})
  --seed S       random seed (default ${SYNTH_DEFAULTS.seed})
  --quality Q    JPEG quality 1-100 (default ${SYNTH_DEFAULTS.quality})
  --force        replace an existing DIR/CheXpert-v1.0-small
  --quiet        print only errors
`;

function intOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got "${value}".`);
  return n;
}

/**
 * Runs `chexzoo synth` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runSynth(['--out', '/tmp/chexpert', '--train', '500']);
 */
export async function runSynth(argv: string[]): Promise<number> {
  const parsed = parseCommand('synth', USAGE, {
    args: argv,
    options: {
      out: { type: 'string', short: 'o' },
      train: { type: 'string' },
      valid: { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string' },
      quality: { type: 'string' },
      force: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (!values.out) {
    process.stderr.write(`chexzoo synth: --out DIR is required.\n\n${USAGE}`);
    return 2;
  }
  try {
    const options = {
      train: intOption('train', values.train, SYNTH_DEFAULTS.train),
      valid: intOption('valid', values.valid, SYNTH_DEFAULTS.valid),
      size: intOption('size', values.size, SYNTH_DEFAULTS.size),
      seed: intOption('seed', values.seed, SYNTH_DEFAULTS.seed),
      quality: intOption('quality', values.quality, SYNTH_DEFAULTS.quality),
      overwrite: values.force,
    };
    const quiet = values.quiet;
    const tty = !quiet && process.stderr.isTTY;
    let last = 0;
    const info = await writeSynthDataset(values.out, {
      ...options,
      onProgress: tty
        ? (done, total) => {
            const now = Date.now();
            if (now - last > 250 || done === total) {
              last = now;
              process.stderr.write(`\r  ${done}/${total} images`);
              if (done === total) process.stderr.write('\n');
            }
          }
        : undefined,
    });
    if (!quiet) {
      const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
      const lines = [
        `Wrote synthetic CheXpert dataset to ${info.root} in ${info.seconds.toFixed(1)} s`,
        `  train.csv: ${info.counts.train} images, valid.csv: ${info.counts.valid} images, ${info.size}x${info.size} grayscale JPEG, seed ${info.seed}`,
        `  positives (train / valid):`,
        ...Object.keys(info.prevalence.train).map((t) => `    ${t.padEnd(17)} ${pct(info.prevalence.train[t]).padStart(6)} / ${pct(info.prevalence.valid[t]).padStart(6)}`),
        `  use it: chexzoo train --data ${values.out} ...`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  } catch (e) {
    process.stderr.write(`chexzoo synth: ${(e as Error).message}\n`);
    return 1;
  }
}
