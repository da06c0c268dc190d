// The batch source behind every dataset layout (CheXpert, MIMIC-CXR, a labelled CSV): files and targets in,
// prefetched, optionally cached and augmented NHWC batches out, with unreadable images skipped and reported.
import * as tf from '@tensorflow/tfjs';
import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { type LabelledRecord, type LabelPolicy, labelTargets, normalizeBlanks, taskUncertainty } from '../../data/chexpert.js';
import { IMAGENET_MEAN, IMAGENET_STD, channelStats, grayToUnit, normalizeInto, sampleAugment, shuffledIndices, type AugmentOptions } from '../../data/augment.js';
import { getPreprocessConfig } from '../../weights/manifest.js';
import { rng } from '../../utils/rng.js';
import { DecodeThreadError, type DecodePool, sharedDecodePool } from './decode-pool.js';
import { type DecodeOptions, type GrayImage, decodeGray, imageSize, kernelFor } from './images.js';
import type { ChexpertBatch, ChexpertDataset, ChexpertLoadOptions, SkippedReport } from './dataset.js';

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** The image and batching settings of a load, resolved from the options and the architecture's preprocessing. */
export interface ImageSettings {
  height: number;
  width: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
  decode: DecodeOptions;
  batchSize: number;
  prefetch: number;
  seed: number;
  augment: AugmentOptions | undefined;
  shuffle: boolean;
  dropLast: boolean;
  cache: boolean | undefined;
  /** worker threads that decode (0: this thread) */
  decodeWorkers: number;
  onSkip: ((path: string, reason: string) => void) | undefined;
}

/** The decodeWorkers option, checked (default 0: decode in this thread). */
export function checkDecodeWorkers(n: number | undefined): number {
  const workers = n ?? 0;
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`decodeWorkers must be a non-negative integer (0 decodes in this thread), got ${String(workers)}.`);
  return workers;
}

/** Checks and resolves the image options shared by every layout. */
export function resolveImageSettings(options: ChexpertLoadOptions, split: string): ImageSettings {
  const pre = options.arch !== undefined ? getPreprocessConfig(options.arch) : undefined;
  const [height, width] = imageSize(options.imageSize ?? pre?.cropSize ?? 224);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new Error(`channels must be 1 or 3, got ${String(channels)}.`);
  const kernel = options.kernel ?? (pre ? kernelFor(pre.interpolation) : undefined);
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  const prefetch = options.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`prefetch must be a non-negative integer, got ${prefetch}.`);
  const decodeWorkers = checkDecodeWorkers(options.decodeWorkers);
  return {
    height,
    width,
    channels,
    mean: channelStats(options.mean ?? pre?.mean ?? IMAGENET_MEAN, channels, 'mean'),
    std: channelStats(options.std ?? pre?.std ?? IMAGENET_STD, channels, 'std'),
    decode: { size: [height, width] as const, resize: options.resize ?? 'crop', kernel, ...(options.dicom ? { dicom: options.dicom } : {}) },
    batchSize,
    prefetch,
    seed: options.seed ?? 0,
    augment: options.augment === true ? {} : options.augment || undefined,
    shuffle: options.shuffle ?? split === 'train',
    dropLast: options.dropLast ?? false,
    cache: options.cache,
    decodeWorkers,
    onSkip: options.onSkip,
  };
}

/** Row-major targets and masks of `records` under the label policy (per task: see `taskUncertainty`). */
export function recordTargets(records: readonly Pick<LabelledRecord, 'labels'>[], tasks: readonly string[], policy: LabelPolicy): { y: Float32Array; mask: Float32Array } {
  const k = tasks.length;
  const p = { taskUncertainty: taskUncertainty(tasks, policy), blanks: normalizeBlanks(policy.blanks) };
  const out = { y: new Float32Array(records.length * k), mask: new Float32Array(records.length * k) };
  records.forEach((r, i) => {
    const t = labelTargets(r, tasks, p);
    out.y.set(t.y, i * k);
    out.mask.set(t.mask, i * k);
  });
  return out;
}

/** Applies `limit` and refuses an empty selection. */
export function limitRecords<T>(records: T[], limit: number | undefined, where: string, views: unknown): T[] {
  if (limit !== undefined) {
    if (!Number.isInteger(limit) || limit < 0) throw new Error(`limit must be a non-negative integer, got ${limit}.`);
    records = records.slice(0, limit);
  }
  if (records.length === 0) throw new Error(`No images left in ${where} after the view filter ${JSON.stringify(views ?? 'all')}.`);
  return records;
}

interface State {
  s: ImageSettings;
  root: string;
  files: string[];
  targets: { y: Float32Array; mask: Float32Array };
  k: number;
  useCache: boolean;
  cache: Map<number, GrayImage>;
  pool: DecodePool | undefined;
  skipped: Map<string, string>;
  skippedItems: { path: string; reason: string }[];
  realRoot?: Promise<string>;
}

function skip(st: State, path: string, reason: string): void {
  if (st.skipped.has(path)) return;
  st.skipped.set(path, reason);
  if (st.skippedItems.length < 100) st.skippedItems.push({ path, reason });
  st.s.onSkip?.(path, reason);
}

/** The real path of `file` when a symlink leads it outside the dataset folder, else undefined. */
async function outsideDataset(st: State, file: string): Promise<string | undefined> {
  st.realRoot ??= realpath(st.root);
  const [base, real] = await Promise.all([st.realRoot, realpath(file)]);
  return real === base || real.startsWith(base.endsWith(sep) ? base : base + sep) ? undefined : real;
}

/** One image, from the cache or decoded (JPEG, PNG or DICOM); undefined (and reported) when unreadable. */
async function decodeOne(st: State, i: number): Promise<GrayImage | undefined> {
  const file = st.files[i]!;
  const hit = st.cache.get(i);
  if (hit) return hit;
  if (st.skipped.has(file)) return undefined;
  try {
    const escaped = await outsideDataset(st, file);
    if (escaped !== undefined) {
      skip(st, file, `outside the dataset folder: a symlink leads to ${escaped}`);
      return undefined;
    }
    const g = await (st.pool ? st.pool.decode(file, st.s.decode) : decodeGray(file, st.s.decode));
    if (st.useCache) st.cache.set(i, g);
    return g;
  } catch (e) {
    if (e instanceof DecodeThreadError) throw e; // the pool broke, not the image: stop rather than skip them all
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT' || /Input file is missing/i.test(errorText(e));
    skip(st, file, missing ? 'missing file' : `unreadable image: ${errorText(e)}`);
    return undefined;
  }
}

interface Prepared {
  x: Float32Array;
  y: Float32Array;
  mask: Float32Array;
  indices: number[];
}

async function prepare(st: State, rows: number[], epoch: number): Promise<Prepared> {
  const { height, width, channels, augment, seed, mean, std } = st.s;
  const pixels = height * width;
  const k = st.k;
  const images = await Promise.all(rows.map((i) => decodeOne(st, i)));
  const ok = rows.filter((_, j) => images[j] !== undefined);
  const x = new Float32Array(ok.length * pixels * channels);
  const y = new Float32Array(ok.length * k);
  const mask = new Float32Array(ok.length * k);
  let n = 0;
  rows.forEach((i, j) => {
    const g = images[j];
    if (!g) return;
    const params = augment ? sampleAugment(rng((seed * 0x9e3779b1) ^ (epoch * 0x85ebca6b) ^ (i * 0xc2b2ae35 + 1)), augment) : undefined;
    const unit = grayToUnit(g.data, height, width, params);
    normalizeInto(unit, pixels, channels, mean, std, x, n * pixels * channels);
    y.set(st.targets.y.subarray(i * k, (i + 1) * k), n * k);
    mask.set(st.targets.mask.subarray(i * k, (i + 1) * k), n * k);
    n++;
  });
  return { x, y, mask, indices: ok };
}

async function* epochBatches(st: State, size: number, numBatches: number, epoch = 0, options: { startBatch?: number } = {}): AsyncGenerator<ChexpertBatch, void, undefined> {
  const start = options.startBatch ?? 0;
  if (!Number.isInteger(start) || start < 0) {
    throw new Error(`startBatch must be a whole number >= 0 (a batch index within the epoch); got ${String(options.startBatch)}.`);
  }
  const { batchSize, prefetch, height, width, channels } = st.s;
  const order = st.s.shuffle ? shuffledIndices(size, rng((st.s.seed ^ 0x5bd1e995) + epoch * 7919)) : Array.from({ length: size }, (_, i) => i);
  const chunks: number[][] = [];
  for (let b = 0; b < numBatches; b++) chunks.push(order.slice(b * batchSize, (b + 1) * batchSize));
  const pending: { index: number; prepared: Promise<Prepared> }[] = [];
  let next = start;
  const fill = (): void => {
    while (pending.length <= prefetch && next < chunks.length) {
      pending.push({ index: next, prepared: prepare(st, chunks[next]!, epoch) });
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
    yield {
      x: tf.tensor4d(p.x, [n, height, width, channels], 'float32'),
      y: tf.tensor2d(p.y, [n, st.k], 'float32'),
      mask: tf.tensor2d(p.mask, [n, st.k], 'float32'),
      indices: p.indices,
      index,
    };
  }
}

/** What a layout loader hands to {@link createImageDataset}. */
export interface DatasetParts {
  root: string;
  csvPath: string;
  split: string;
  tasks: string[];
  records: LabelledRecord[];
  /** absolute image paths, one per record */
  files: string[];
  policy: LabelPolicy;
  layout?: string;
}

/** The batch source over resolved files and labels (shared by every layout). */
export function createImageDataset(parts: DatasetParts, s: ImageSettings): ChexpertDataset {
  const size = parts.records.length;
  const st: State = {
    s,
    root: parts.root,
    files: parts.files,
    targets: recordTargets(parts.records, parts.tasks, parts.policy),
    k: parts.tasks.length,
    useCache: s.cache ?? size * s.height * s.width <= 512 * 1024 * 1024,
    cache: new Map(),
    pool: s.decodeWorkers > 0 ? sharedDecodePool(s.decodeWorkers) : undefined,
    skipped: new Map(),
    skippedItems: [],
  };
  const numBatches = s.dropLast ? Math.floor(size / s.batchSize) : Math.ceil(size / s.batchSize);
  const batches = (epoch?: number, options?: { startBatch?: number }) => epochBatches(st, size, numBatches, epoch, options);
  let epochCounter = 0;
  return {
    root: parts.root,
    csvPath: parts.csvPath,
    split: parts.split,
    ...(parts.layout ? { layout: parts.layout } : {}),
    tasks: parts.tasks,
    records: parts.records,
    targets: st.targets,
    size,
    batchSize: s.batchSize,
    numBatches,
    imageShape: [s.height, s.width, s.channels],
    get skipped(): SkippedReport {
      return { count: st.skipped.size, items: st.skippedItems.slice() };
    },
    batches,
    seekable: true,
    [Symbol.asyncIterator]() {
      return batches(epochCounter++);
    },
  };
}
