// `chexzoo synth`: writes the synthetic CheXpert-format dataset.
import { SYNTH_DEFAULTS, writeSynthDataset } from '../node/data/synth-node.js';
import { SYNTH_MAX_IMAGES } from '../data/synth.js';
import { failWith, intFlag, parseCommand, UsageError } from './args.js';

const USAGE = `Usage: chexzoo synth --out DIR [--train N] [--valid N] [--size PX] [--seed S] [--quality Q]
                    [--layout chexpert|mimic] [--format jpeg|png|dicom] [--force]

Writes a synthetic dataset (chest-radiograph phantoms). Default: CheXpert's format in DIR/CheXpert-v1.0-small
(train.csv, valid.csv and grayscale JPEGs laid out like the release); --layout mimic writes MIMIC-CXR-JPG's
layout in DIR/mimic-cxr-synth (gzipped split / metadata / chexpert / negbio tables, files/pXX/pSUBJECT/sSTUDY/).
--format dicom writes .dcm files over five transfer syntaxes (explicit / implicit little endian, big endian,
deflate, RLE), a third of them MONOCHROME1. Deterministic per seed.

  --out DIR      parent folder of the dataset (required)
  --train N      train images (default ${SYNTH_DEFAULTS.train})
  --valid N      valid images (default ${SYNTH_DEFAULTS.valid})
  --size PX      image side in pixels (default ${SYNTH_DEFAULTS.size})
  --seed S       random seed (default ${SYNTH_DEFAULTS.seed})
  --quality Q    JPEG quality 1-100 (default ${SYNTH_DEFAULTS.quality})
  --layout L     chexpert (default) or mimic
  --format F     jpeg (default), png or dicom
  --force        replace an existing dataset folder
  --quiet        print only errors
`;


function choice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got '${String(value)}'.`);
  return value as T;
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
      layout: { type: 'string', default: 'chexpert' },
      format: { type: 'string', default: 'jpeg' },
      force: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  try {
    if (!values.out) throw new UsageError('--out DIR is required.');
    const options = {
      train: intFlag('train', values.train, { min: 0, max: SYNTH_MAX_IMAGES }) ?? SYNTH_DEFAULTS.train,
      valid: intFlag('valid', values.valid, { min: 0, max: SYNTH_MAX_IMAGES }) ?? SYNTH_DEFAULTS.valid,
      size: intFlag('size', values.size, { min: 16, max: 4096 }) ?? SYNTH_DEFAULTS.size,
      seed: intFlag('seed', values.seed, { min: 0 }) ?? SYNTH_DEFAULTS.seed,
      quality: intFlag('quality', values.quality, { min: 1, max: 100 }) ?? SYNTH_DEFAULTS.quality,
      overwrite: values.force,
      layout: choice('layout', values.layout, ['chexpert', 'mimic'] as const),
      format: choice('format', values.format, ['jpeg', 'png', 'dicom'] as const),
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
        `Wrote synthetic ${info.layout === 'mimic' ? 'MIMIC-CXR' : 'CheXpert'} dataset to ${info.root} in ${info.seconds.toFixed(1)} s`,
        `  ${info.layout === 'mimic' ? 'train' : 'train.csv'}: ${info.counts.train} images, ${info.layout === 'mimic' ? 'validate' : 'valid.csv'}: ${info.counts.valid} images, ${info.size}x${info.size} grayscale ${info.format.toUpperCase()}, seed ${info.seed}`,
        `  positives (train / valid):`,
        ...Object.keys(info.prevalence.train).map((t) => `    ${t.padEnd(17)} ${pct(info.prevalence.train[t]).padStart(6)} / ${pct(info.prevalence.valid[t]).padStart(6)}`),
        `  use it: chexzoo train --data ${info.layout === 'mimic' ? info.root : values.out} ...`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  } catch (e) {
    return failWith('synth', USAGE, e);
  }
}
