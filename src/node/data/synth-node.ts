// Writes the synthetic CheXpert dataset to disk (Node-only): folder layout, CSVs and grayscale JPEGs as in the release.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { COMPETITION_TASKS, formatChexpertCsv, type Observation } from '../../data/chexpert.js';
import { SYNTH_DATASET_FOLDER, type SynthRecord, type SynthSplit, labelPrevalence, renderSynthImage, synthRecords } from '../../data/synth.js';
import { replaceDirAtomic } from '../utils/atomic.js';
import { type SynthFormat, type SynthLayout, encodeSynth, mimicTables, synthImagePath } from './synth-encode.js';

/** The folder a synthetic MIMIC-CXR(-JPG) layout is written to, under `outDir`. */
export const SYNTH_MIMIC_FOLDER = 'mimic-cxr-synth';

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
  /** `chexpert` (default): CheXpert-v1.0-small/{train,valid}.csv; `mimic`: MIMIC-CXR-JPG's tables and files/ tree. */
  layout?: SynthLayout;
  /** Image format: `jpeg` (default), `png`, or `dicom` (spread over five transfer syntaxes, a third MONOCHROME1). */
  format?: SynthFormat;
}

export interface SynthDatasetInfo {
  /** The dataset folder, `<outDir>/CheXpert-v1.0-small` (or `<outDir>/mimic-cxr-synth` for the MIMIC layout). */
  root: string;
  layout: SynthLayout;
  format: SynthFormat;
  counts: { train: number; valid: number };
  size: number;
  seed: number;
  /** Share of positive labels (1) of the competition tasks per split. */
  prevalence: Record<SynthSplit, Record<string, number>>;
  seconds: number;
}

/** Defaults of `writeSynthDataset` and `chexzoo synth`. */
export const SYNTH_DEFAULTS = { train: 2000, valid: 300, size: 128, seed: 0, quality: 90 } as const;

/** Renders and writes one split's images (encoding overlaps rendering: sharp and fflate work off the main thread). */
async function writeSplitImages(base: string, records: SynthRecord[], o: Required<Pick<SynthDatasetOptions, 'size' | 'quality' | 'layout' | 'format'>>, progress: () => void, first: number): Promise<void> {
  const madeDirs = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  for (const [j, r] of records.entries()) {
    const file = join(base, synthImagePath(r, o.layout, o.format));
    const dir = dirname(file);
    if (!madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      madeDirs.add(dir);
    }
    const img = renderSynthImage(r, o.size);
    const view = r.frontalLateral === 'Lateral' ? 'LATERAL' : r.apPa || 'PA';
    const job: Promise<void> = encodeSynth(img, o.format, o.quality, first + j, view)
      .then((bytes) => writeFile(file, bytes))
      .then(() => {
        inFlight.delete(job);
        progress();
      });
    inFlight.add(job);
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/**
 * Writes a synthetic dataset: by default CheXpert's format, `<outDir>/CheXpert-v1.0-small/{train,valid}.csv` and
 * `.../{train,valid}/patientXXXXX/studyN/viewK_{frontal,lateral}.jpg`; with `layout: 'mimic'` MIMIC-CXR-JPG's
 * (`<outDir>/mimic-cxr-synth/` with the gzipped split / metadata / chexpert / negbio tables and
 * `files/pXX/pSUBJECT/sSTUDY/ID.jpg`); `format` `png` or `dicom` changes the images (DICOM: `.dcm`, five
 * transfer syntaxes, a third MONOCHROME1). Everything is written to a hidden temporary folder first and renamed
 * into place at the end, so an interrupted run leaves no dataset that looks complete. Deterministic per seed.
 * @example const info = await writeSynthDataset('/tmp/chexpert', { train: 2000, valid: 300, size: 128, seed: 0 });
 */
export async function writeSynthDataset(outDir: string, options: SynthDatasetOptions = {}): Promise<SynthDatasetInfo> {
  const o = { layout: 'chexpert' as SynthLayout, format: 'jpeg' as SynthFormat, ...SYNTH_DEFAULTS, ...options };
  if (!Number.isInteger(o.quality) || o.quality < 1 || o.quality > 100) throw new Error(`JPEG quality must be an integer in [1, 100], got ${o.quality}.`);
  if (o.layout !== 'chexpert' && o.layout !== 'mimic') throw new Error(`Unknown layout '${String(o.layout)}': use chexpert or mimic.`);
  if (!['jpeg', 'png', 'dicom'].includes(o.format)) throw new Error(`Unknown format '${String(o.format)}': use jpeg, png or dicom.`);
  const t0 = Date.now();
  // Validate everything (counts, size, seed) before touching the disk.
  const splits: Record<SynthSplit, SynthRecord[]> = { train: synthRecords('train', o.train, o.seed), valid: synthRecords('valid', o.valid, o.seed) };
  if (!Number.isInteger(o.size) || o.size < 16 || o.size > 4096) throw new Error(`Synthetic image size must be an integer in [16, 4096] pixels, got ${o.size}.`);

  const root = join(outDir, o.layout === 'mimic' ? SYNTH_MIMIC_FOLDER : SYNTH_DATASET_FOLDER);
  if (existsSync(root) && !o.overwrite) {
    throw new Error(`${root} already exists; choose another --out folder or pass --force (overwrite: true) to replace it.`);
  }
  const total = splits.train.length + splits.valid.length;
  let done = 0;
  const progress = () => o.onProgress?.(++done, total);
  // built in a hidden sibling folder and renamed into place: never a half dataset that looks complete
  await replaceDirAtomic(root, async (tmp) => {
    await writeSplitImages(tmp, splits.train, o, progress, 0);
    await writeSplitImages(tmp, splits.valid, o, progress, splits.train.length);
    if (o.layout === 'mimic') {
      for (const [name, bytes] of Object.entries(mimicTables(splits))) await writeFile(join(tmp, name), bytes);
      return;
    }
    const ext = { jpeg: 'jpg', png: 'png', dicom: 'dcm' }[o.format];
    for (const split of ['train', 'valid'] as const) {
      const records = ext === 'jpg' ? splits[split] : splits[split].map((r) => ({ ...r, path: r.path.replace(/\.jpg$/, `.${ext}`) }));
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
    layout: o.layout,
    format: o.format,
    counts: { train: splits.train.length, valid: splits.valid.length },
    size: o.size,
    seed: o.seed,
    prevalence,
    seconds: (Date.now() - t0) / 1000,
  };
}
