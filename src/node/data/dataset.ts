// CheXpert dataset on disk -> prefetched tensor batches (Node-only).
import * as tf from '@tensorflow/tfjs';
import { existsSync, statSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import {
  type ChexpertRecord,
  type LabelPolicy,
  type Observation,
  type ViewFilter,
  COMPETITION_TASKS,
  chexpertRootCandidates,
  imagePathInDataset,
  labelTargets,
  matchesView,
  normalizeBlanks,
  normalizeUncertainty,
  parseChexpertCsv,
  resolveTasks,
} from '../../data/chexpert.js';
import { type AugmentOptions, IMAGENET_MEAN, IMAGENET_STD, channelStats, grayToUnit, normalizeInto, sampleAugment, shuffledIndices } from '../../data/augment.js';
import { type GrayImage, type ResizeKernel, type ResizeMode, decodeGray, imageSize, kernelFor } from './images.js';
import { getPreprocessConfig } from '../../weights/manifest.js';
import { rng } from '../../utils/rng.js';

export interface ChexpertLoadOptions extends LabelPolicy {
  /**
   * Architecture whose weights' preprocessing to use (`getPreprocessConfig(arch)`): its mean/std (0.5 for
   * inception_v3/v4, ImageNet for the others), resize filter and, unless `imageSize` is given, its crop size.
   * `mean`, `std` and `kernel` given explicitly win.
   */
  arch?: string;
  /** Which CSV: `train` (default) or `valid`; any other name reads `<name>.csv`. */
  split?: string;
  /** Target observations; default the 5 competition tasks. */
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
  /** Use only the first N rows that pass the view filter. */
  limit?: number;
  /** Called once per image that could not be read. */
  onSkip?: (path: string, reason: string) => void;
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
  csvPath: string;
  split: string;
  tasks: Observation[];
  records: ChexpertRecord[];
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

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/**
 * Opens a CheXpert split (real or synthetic) as a batch source for training or evaluation.
 * @example
 * const ds = await loadChexpert('/data', { split: 'train', views: 'frontal', imageSize: 128, augment: true });
 * for await (const { x, y, mask } of ds.batches(0)) { ...; tf.dispose([x, y, mask]); }
 */
export async function loadChexpert(dir: string, options: ChexpertLoadOptions = {}): Promise<ChexpertDataset> {
  const split = options.split ?? 'train';
  const { root, csvPath } = findChexpertCsv(dir, split);
  const tasks = resolveTasks(options.tasks ?? COMPETITION_TASKS);
  const policy = { uncertainty: normalizeUncertainty(options.uncertainty), blanks: normalizeBlanks(options.blanks) };
  const pre = options.arch !== undefined ? getPreprocessConfig(options.arch) : undefined;
  const [height, width] = imageSize(options.imageSize ?? pre?.cropSize ?? 224);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new Error(`channels must be 1 or 3, got ${String(channels)}.`);
  const mean = channelStats(options.mean ?? pre?.mean ?? IMAGENET_MEAN, channels, 'mean');
  const std = channelStats(options.std ?? pre?.std ?? IMAGENET_STD, channels, 'std');
  const kernel = options.kernel ?? (pre ? kernelFor(pre.interpolation) : undefined);
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  const prefetch = options.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`prefetch must be a non-negative integer, got ${prefetch}.`);
  const seed = options.seed ?? 0;
  const augment = options.augment === true ? {} : options.augment || undefined;
  const shuffle = options.shuffle ?? split === 'train';

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
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 0) throw new Error(`limit must be a non-negative integer, got ${options.limit}.`);
    records = records.slice(0, options.limit);
  }
  if (records.length === 0) throw new Error(`No images left in ${csvPath} after the view filter ${JSON.stringify(options.views ?? 'all')}.`);

  const size = records.length;
  const k = tasks.length;
  const targets = { y: new Float32Array(size * k), mask: new Float32Array(size * k) };
  const files = records.map((r) => join(root, imagePathInDataset(r.path)));
  records.forEach((r, i) => {
    const t = labelTargets(r, tasks, policy);
    targets.y.set(t.y, i * k);
    targets.mask.set(t.mask, i * k);
  });

  const pixels = height * width;
  const useCache = options.cache ?? size * pixels <= 512 * 1024 * 1024;
  const cache = new Map<number, GrayImage>();
  const skippedMap = new Map<string, string>();
  const skippedItems: { path: string; reason: string }[] = [];
  const skip = (path: string, reason: string) => {
    if (skippedMap.has(path)) return;
    skippedMap.set(path, reason);
    if (skippedItems.length < 100) skippedItems.push({ path, reason });
    options.onSkip?.(path, reason);
  };
  const decodeOptions = { size: [height, width] as const, resize: options.resize ?? 'crop', kernel };

  const numBatches = options.dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);

  // A CSV path cannot hold '..', but a symlink inside the folder could still lead anywhere (/etc, a
  // colleague's home): images are read only when their real path lies inside the dataset folder's.
  let realRoot: Promise<string> | undefined;
  async function outsideDataset(file: string): Promise<string | undefined> {
    realRoot ??= realpath(root);
    const [base, real] = await Promise.all([realRoot, realpath(file)]);
    return real === base || real.startsWith(base.endsWith(sep) ? base : base + sep) ? undefined : real;
  }

  async function decode(i: number): Promise<GrayImage | undefined> {
    const hit = cache.get(i);
    if (hit) return hit;
    if (skippedMap.has(files[i])) return undefined;
    try {
      const escaped = await outsideDataset(files[i]);
      if (escaped !== undefined) {
        skip(files[i], `outside the dataset folder: a symlink leads to ${escaped}`);
        return undefined;
      }
      const g = await decodeGray(files[i], decodeOptions);
      if (useCache) cache.set(i, g);
      return g;
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT' || /Input file is missing/i.test(errorText(e));
      skip(files[i], missing ? 'missing file' : `unreadable image: ${errorText(e)}`);
      return undefined;
    }
  }

  interface Prepared {
    x: Float32Array;
    y: Float32Array;
    mask: Float32Array;
    indices: number[];
  }

  async function prepare(rows: number[], epoch: number): Promise<Prepared> {
    const images = await Promise.all(rows.map((i) => decode(i)));
    const ok = rows.filter((_, j) => images[j] !== undefined);
    const x = new Float32Array(ok.length * pixels * channels);
    const y = new Float32Array(ok.length * k);
    const mask = new Float32Array(ok.length * k);
    let n = 0;
    rows.forEach((i, j) => {
      const g = images[j];
      if (!g) return;
      // Augmentation depends on (seed, epoch, row) only, so prefetch order and concurrency do not change it.
      const params = augment ? sampleAugment(rng((seed * 0x9e3779b1) ^ (epoch * 0x85ebca6b) ^ (i * 0xc2b2ae35 + 1)), augment) : undefined;
      const unit = grayToUnit(g.data, height, width, params);
      normalizeInto(unit, pixels, channels, mean, std, x, n * pixels * channels);
      y.set(targets.y.subarray(i * k, (i + 1) * k), n * k);
      mask.set(targets.mask.subarray(i * k, (i + 1) * k), n * k);
      n++;
    });
    return { x, y, mask, indices: ok };
  }

  async function* batches(epoch = 0, options: { startBatch?: number } = {}): AsyncGenerator<ChexpertBatch, void, undefined> {
    const start = options.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0) {
      throw new Error(`startBatch must be a whole number >= 0 (a batch index within the epoch); got ${String(options.startBatch)}.`);
    }
    const order = shuffle ? shuffledIndices(size, rng((seed ^ 0x5bd1e995) + epoch * 7919)) : Array.from({ length: size }, (_, i) => i);
    const chunks: number[][] = [];
    for (let b = 0; b < numBatches; b++) chunks.push(order.slice(b * batchSize, (b + 1) * batchSize));
    const pending: { index: number; prepared: Promise<Prepared> }[] = [];
    let next = start;
    const fill = () => {
      while (pending.length <= prefetch && next < chunks.length) {
        pending.push({ index: next, prepared: prepare(chunks[next], epoch) });
        next++;
      }
    };
    fill();
    while (pending.length > 0) {
      const { index, prepared } = pending.shift()!;
      const p = await prepared;
      fill();
      const n = p.indices.length;
      if (n === 0) continue;
      // Tensors are made only when handed over, so a consumer that stops early leaks none.
      yield {
        x: tf.tensor4d(p.x, [n, height, width, channels], 'float32'),
        y: tf.tensor2d(p.y, [n, k], 'float32'),
        mask: tf.tensor2d(p.mask, [n, k], 'float32'),
        indices: p.indices,
        index,
      };
    }
  }

  let epochCounter = 0;
  return {
    root,
    csvPath,
    split: basename(csvPath, '.csv'),
    tasks,
    records,
    targets,
    size,
    batchSize,
    numBatches,
    imageShape: [height, width, channels],
    get skipped(): SkippedReport {
      return { count: skippedMap.size, items: skippedItems.slice() };
    },
    batches,
    seekable: true,
    [Symbol.asyncIterator]() {
      return batches(epochCounter++);
    },
  };
}
