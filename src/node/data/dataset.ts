// CheXpert dataset on disk -> prefetched tensor batches (Node-only).
import type * as tf from '@tensorflow/tfjs';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type ChexpertRecord,
  type LabelledRecord,
  type LabelPolicy,
  type ViewFilter,
  COMPETITION_TASKS,
  chexpertRootCandidates,
  imagePathInDataset,
  matchesView,
  parseChexpertCsv,
  resolveTasks,
} from '../../data/chexpert.js';
import type { AugmentOptions } from '../../data/augment.js';
import type { ResizeKernel, ResizeMode } from './images.js';
import type { DicomReadOptions } from './dicom-image.js';
import { createImageDataset, errorText, limitRecords, resolveImageSettings } from './image-dataset.js';

export interface ChexpertLoadOptions extends LabelPolicy {
  /**
   * Architecture whose weights' preprocessing to use (`getPreprocessConfig(arch)`): its mean/std (0.5 for
   * inception_v3/v4, ImageNet for the others), resize filter and, unless `imageSize` is given, its crop size.
   * `mean`, `std` and `kernel` given explicitly win.
   */
  arch?: string;
  /** Which CSV: `train` (default) or `valid`; any other name reads `<name>.csv`. */
  split?: string;
  /**
   * Target tasks; default the 5 competition tasks. CheXpert and MIMIC-CXR: CheXpert's observations; a labelled CSV
   * (`loadLabelledCsv`): any of its label columns (default there: the competition tasks if present, else all).
   */
  tasks?: readonly string[];
  /** Default `all`. */
  views?: ViewFilter;
  /** Square side or [height, width]; default the arch's crop size, else 224. */
  imageSize?: number | readonly [number, number];
  resize?: ResizeMode;
  kernel?: ResizeKernel;
  /** Default 3 (grey replicated). */
  channels?: 1 | 3;
  /** From the weights' metadata (see `arch`); default ImageNet. */
  mean?: readonly number[];
  std?: readonly number[];
  /** `true` for the default ranges (see `AugmentOptions`), or ranges. Default false. */
  augment?: boolean | AugmentOptions;
  /** Seeds shuffling and augmentation. Default 0. */
  seed?: number;
  /** Default 16. */
  batchSize?: number;
  /** Shuffle each epoch; default true for train, false otherwise. */
  shuffle?: boolean;
  /** Drop a last incomplete batch. Default false. */
  dropLast?: boolean;
  /** Batches decoded ahead of the consumer. Default 2. */
  prefetch?: number;
  /** Keep decoded, resized images in memory (before augmentation). Default: when they fit in 512 MB. */
  cache?: boolean;
  /**
   * Decode on this many worker threads (default 0: in this thread, with sharp's own native threads). Worth it when
   * decoding is slower than training: DICOM (decoded in JavaScript), large images, a GPU backend (docs/data.md).
   */
  decodeWorkers?: number;
  /** Use only the first N rows that pass the view filter. */
  limit?: number;
  /** Called once per image that could not be read. */
  onSkip?: (path: string, reason: string) => void;
  /** How DICOM images become grey (default policy `'voi'`; `'minmax'` as MIMIC-CXR-JPG). */
  dicom?: DicomReadOptions;
}

export interface ChexpertBatch {
  /** NHWC float32, normalised. */
  x: tf.Tensor4D;
  /** [n, tasks] targets after the policies. */
  y: tf.Tensor2D;
  /** [n, tasks]: 1 where the target counts in the loss, 0 where masked (U-Ignore, ignored blanks). */
  mask: tf.Tensor2D;
  /** Row numbers (into `records`) of the images in this batch; missing images are left out. */
  indices: number[];
  /** Position of the batch in the epoch; a batch whose images are all unreadable is left out, so positions can skip. */
  index: number;
}

export interface SkippedReport {
  /** Distinct images that could not be read. */
  count: number;
  /** The first 100 of them with the reason. */
  items: { path: string; reason: string }[];
}

export interface ChexpertDataset {
  /** The dataset folder (the one holding the CSVs). */
  root: string;
  /** The layout it was read as (`loadDataset`): chexpert, mimic-cxr-jpg, mimic-cxr (DICOM) or csv. */
  layout?: string;
  csvPath: string;
  split: string;
  /** The task names, in output order (CheXpert's observations, or a labelled CSV's columns). */
  tasks: string[];
  /** The rows read; their `labels` hold the tasks (CheXpert and MIMIC: all 14 observations). */
  records: LabelledRecord[];
  /** Row-major [size, tasks] targets and masks of all rows. */
  targets: { y: Float32Array; mask: Float32Array };
  size: number;
  batchSize: number;
  numBatches: number;
  /** [height, width, channels] of one image. */
  imageShape: [number, number, number];
  skipped: SkippedReport;
  /**
   * Batches of one epoch (shuffled by seed + epoch when shuffling). The consumer owns the tensors and must
   * dispose them. Images are decoded `prefetch` batches ahead, in sharp's native threads.
   */
  batches(epoch?: number, options?: { startBatch?: number }): AsyncGenerator<ChexpertBatch, void, undefined>;
  /** `batches(epoch, { startBatch })` starts mid-epoch without decoding the earlier batches (used on resume). */
  seekable: true;
  /** Iterates epochs 0, 1, 2, ... on successive loops. */
  [Symbol.asyncIterator](): AsyncGenerator<ChexpertBatch, void, undefined>;
}

/**
 * Finds the dataset folder and CSV for a split: `dir` may be the dataset folder (holding train.csv), its
 * parent (holding CheXpert-v1.0-small/ or CheXpert-v1.0/), or a CSV file.
 * @example findChexpertCsv('/data', 'valid'); // { root: '/data/CheXpert-v1.0-small', csvPath: '.../valid.csv' }
 */
export function findChexpertCsv(dir: string, split = 'train'): { root: string; csvPath: string } {
  if (/\.csv$/i.test(dir) && existsSync(dir) && statSync(dir).isFile()) return { root: dirname(dir), csvPath: dir };
  if (!existsSync(dir)) throw new Error(`CheXpert folder "${dir}" does not exist. Pass the dataset folder (holding train.csv) or its parent; make a synthetic one with \`chexzoo synth --out ${dir}\`.`);
  const file = `${split}.csv`;
  const tried: string[] = [];
  for (const root of chexpertRootCandidates(dir)) {
    const csvPath = join(root, file);
    tried.push(csvPath);
    if (existsSync(csvPath)) return { root, csvPath };
  }
  throw new Error(`No ${file} found for the CheXpert dataset at "${dir}" (tried ${tried.join(', ')}). Pass the dataset folder (e.g. .../CheXpert-v1.0-small) or its parent.`);
}

/** Reads and filters a CheXpert CSV. */
async function readChexpertRecords(csvPath: string, options: ChexpertLoadOptions): Promise<ChexpertRecord[]> {
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (e) {
    throw new Error(`Cannot read ${csvPath}: ${errorText(e)}`);
  }
  let records: ChexpertRecord[];
  try {
    records = parseChexpertCsv(text);
  } catch (e) {
    throw new Error(`${csvPath}: ${errorText(e)}`);
  }
  records = records.filter((r) => matchesView(r, options.views ?? 'all'));
  return limitRecords(records, options.limit, csvPath, options.views);
}

/**
 * Opens a CheXpert split (real or synthetic) as a batch source for training or evaluation. The CSV's paths may
 * point at JPEG, PNG or DICOM (.dcm) files.
 * @example
 * const ds = await loadChexpert('/data', { split: 'train', views: 'frontal', imageSize: 128, augment: true });
 * for await (const { x, y, mask } of ds.batches(0)) { ...; tf.dispose([x, y, mask]); }
 */
export async function loadChexpert(dir: string, options: ChexpertLoadOptions = {}): Promise<ChexpertDataset> {
  const split = options.split ?? 'train';
  const { root, csvPath } = findChexpertCsv(dir, split);
  const tasks = resolveTasks(options.tasks ?? COMPETITION_TASKS);
  const settings = resolveImageSettings(options, split);
  const records = await readChexpertRecords(csvPath, options);
  const files = records.map((r) => join(root, imagePathInDataset(r.path)));
  return createImageDataset({ root, csvPath, split: basename(csvPath, '.csv'), tasks, records, files, policy: options, layout: 'chexpert' }, settings);
}
