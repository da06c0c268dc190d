// Writes the synthetic CheXpert dataset to disk (Node-only): folder layout, CSVs and grayscale JPEGs as in the release.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { COMPETITION_TASKS, formatChexpertCsv, imagePathInDataset, type Observation } from '../../data/chexpert.js';
import { SYNTH_DATASET_FOLDER, type SynthRecord, type SynthSplit, labelPrevalence, renderSynthImage, synthRecords } from '../../data/synth.js';
import { encodeGrayJpeg } from './images.js';
import { replaceDirAtomic } from '../utils/atomic.js';

export interface SynthDatasetOptions {
  /** Images in train.csv. Default 2000. */
  train?: number;
  /** Images in valid.csv. Default 300. */
  valid?: number;
  /** Image side in pixels. Default 128. */
  size?: number;
  /** Default 0. */
  seed?: number;
  /** JPEG quality. Default 90. */
  quality?: number;
  /** Replace an existing dataset folder. Default false. */
  overwrite?: boolean;
  /** Called after each image with (images written, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface SynthDatasetInfo {
  /** The dataset folder, `<outDir>/CheXpert-v1.0-small`. */
  root: string;
  counts: { train: number; valid: number };
  size: number;
  seed: number;
  /** Share of positive labels (1) of the competition tasks per split. */
  prevalence: Record<SynthSplit, Record<string, number>>;
  seconds: number;
}

/** Defaults of `writeSynthDataset` and `chexzoo synth`. */
export const SYNTH_DEFAULTS = { train: 2000, valid: 300, size: 128, seed: 0, quality: 90 } as const;

/**
 * Writes a synthetic CheXpert-format dataset: `<outDir>/CheXpert-v1.0-small/{train,valid}.csv` and
 * `.../{train,valid}/patientXXXXX/studyN/viewK_{frontal,lateral}.jpg`. Everything is written to a hidden
 * temporary folder first and renamed into place at the end, so an interrupted run leaves no dataset
 * that looks complete. Deterministic per seed (same bytes).
 * @example const info = await writeSynthDataset('/tmp/chexpert', { train: 2000, valid: 300, size: 128, seed: 0 });
 */
export async function writeSynthDataset(outDir: string, options: SynthDatasetOptions = {}): Promise<SynthDatasetInfo> {
  const o = { ...SYNTH_DEFAULTS, ...options };
  if (!Number.isInteger(o.quality) || o.quality < 1 || o.quality > 100) throw new Error(`JPEG quality must be an integer in [1, 100], got ${o.quality}.`);
  const t0 = Date.now();
  // Validate everything (counts, size, seed) before touching the disk.
  const splits: Record<SynthSplit, SynthRecord[]> = { train: synthRecords('train', o.train, o.seed), valid: synthRecords('valid', o.valid, o.seed) };
  if (!Number.isInteger(o.size) || o.size < 16 || o.size > 4096) throw new Error(`Synthetic image size must be an integer in [16, 4096] pixels, got ${o.size}.`);

  const root = join(outDir, SYNTH_DATASET_FOLDER);
  if (existsSync(root) && !o.overwrite) {
    throw new Error(`${root} already exists; choose another --out folder or pass --force (overwrite: true) to replace it.`);
  }
  const total = splits.train.length + splits.valid.length;
  let done = 0;
  // built in a hidden sibling folder and renamed into place: never a half dataset that looks complete
  await replaceDirAtomic(root, async (tmp) => {
    for (const split of ['train', 'valid'] as const) {
      const records = splits[split];
      const madeDirs = new Set<string>();
      // Render on the main thread while sharp encodes earlier images in its own threads.
      const inFlight = new Set<Promise<void>>();
      for (const r of records) {
        const rel = imagePathInDataset(r.path);
        const file = join(tmp, rel);
        const dir = dirname(file);
        if (!madeDirs.has(dir)) {
          await mkdir(dir, { recursive: true });
          madeDirs.add(dir);
        }
        const img = renderSynthImage(r, o.size);
        const job: Promise<void> = encodeGrayJpeg(img.data, img.width, img.height, o.quality)
          .then((jpg) => writeFile(file, jpg))
          .then(() => {
            inFlight.delete(job);
            o.onProgress?.(++done, total);
          });
        inFlight.add(job);
        if (inFlight.size >= 8) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      await writeFile(join(tmp, `${split}.csv`), formatChexpertCsv(records));
    }
  });

  const prevalence = {} as Record<SynthSplit, Record<string, number>>;
  for (const split of ['train', 'valid'] as const) {
    const p = labelPrevalence(splits[split]);
    prevalence[split] = Object.fromEntries(COMPETITION_TASKS.map((t: Observation) => [t, p[t].positive]));
  }
  return {
    root,
    counts: { train: splits.train.length, valid: splits.valid.length },
    size: o.size,
    seed: o.seed,
    prevalence,
    seconds: (Date.now() - t0) / 1000,
  };
}
