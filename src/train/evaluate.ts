// Prediction (single model or ensemble) and evaluation: per-task AUROC, mean AUROC, bootstrap CIs. Browser-safe.
import * as tf from '@tensorflow/tfjs';
import { perTaskAuroc } from '../metrics/auroc.js';
import { bootstrapMeanAurocCI, type MeanAurocBootstrapResult } from '../metrics/bootstrap.js';
import { shuffledIndices } from '../data/augment.js';
import { rng } from '../utils/rng.js';
import { optimizeForInference } from '../inference.js';
import { inferenceBatchLimit } from './memory.js';
import { getOutputInfo } from '../weights/outputs.js';

/** One batch: NHWC images, [n, tasks] targets and an optional [n, tasks] mask (0 = ignore the target). */
export interface Batch {
  x: tf.Tensor4D;
  y: tf.Tensor2D;
  mask?: tf.Tensor2D;
  /**
   * Position of this batch in its epoch (0-based), for sources that may leave batches out (`loadChexpert` drops
   * a batch whose images are all unreadable). The loop's resume position (`startBatch`) follows it, so a
   * resumed run neither repeats nor skips a batch. Without it, batches are counted as they arrive.
   */
  index?: number;
}

/**
 * Anything that yields batches per epoch; `loadChexpert` datasets qualify. The consumer disposes the batch
 * tensors. `batches(epoch)` must yield the same batches for the same epoch (seeded shuffling), which is what
 * makes a resumed run see the data an uninterrupted one would.
 */
export interface BatchSource {
  batches(epoch?: number, options?: { startBatch?: number }): AsyncIterable<Batch> | Iterable<Batch>;
  /**
   * True when `batches(epoch, { startBatch })` starts at that batch without preparing the earlier ones; a resumed
   * run then skips the part of the epoch it already trained on without decoding it. Otherwise the loop reads and drops it.
   */
  seekable?: boolean;
  /** Batches per epoch, when known (progress, default validation interval). */
  numBatches?: number;
  /** Task names, one per target column. */
  tasks?: readonly string[];
}

/** Options of {@link arrayBatchSource}. */
export interface ArrayBatchSourceOptions {
  /** Default 16. */
  batchSize?: number;
  /** Reshuffle every epoch (seed + epoch). Default true. */
  shuffle?: boolean;
  /** Default 0. */
  seed?: number;
  tasks?: readonly string[];
}

/**
 * A batch source over in-memory tensors (kept by the caller; batches are new tensors).
 * @example const src = arrayBatchSource({ x, y, mask }, { batchSize: 8, seed: 1 });
 */
export function arrayBatchSource(
  data: { x: tf.Tensor4D; y: tf.Tensor2D; mask?: tf.Tensor2D },
  options: ArrayBatchSourceOptions = {},
): BatchSource {
  const n = data.x.shape[0];
  if (data.y.shape[0] !== n) throw new Error(`x has ${n} images but y has ${data.y.shape[0]} rows; pass one target row per image.`);
  if (data.mask && !tf.util.arraysEqual(data.mask.shape, data.y.shape)) {
    throw new Error(`mask shape [${data.mask.shape}] differs from y shape [${data.y.shape}].`);
  }
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  const shuffle = options.shuffle ?? true;
  const seed = options.seed ?? 0;
  const numBatches = Math.ceil(n / batchSize);
  return {
    numBatches,
    seekable: true,
    ...(options.tasks ? { tasks: options.tasks } : {}),
    *batches(epoch = 0, opts = {}) {
      const order = shuffle ? shuffledIndices(n, rng((seed ^ 0x5bd1e995) + epoch * 7919)) : Array.from({ length: n }, (_, i) => i);
      for (let b = opts.startBatch ?? 0; b < numBatches; b++) {
        const rows = order.slice(b * batchSize, (b + 1) * batchSize);
        yield tf.tidy(() => {
          const idx = tf.tensor1d(rows, 'int32');
          const out: Batch = { x: tf.gather(data.x, idx), y: tf.gather(data.y, idx) };
          if (data.mask) out.mask = tf.gather(data.mask, idx);
          return out as unknown as tf.TensorContainerObject;
        }) as unknown as Batch;
      }
    },
  };
}

/** Predictions of a model (or the mean of an ensemble's) with the targets they go with. */
export interface Predictions {
  /** Rows (cases). */
  n: number;
  tasks: string[];
  /** Row-major [n, tasks] sigmoid probabilities (ensemble: the mean of the members' probabilities). */
  probs: Float32Array;
  labels: Float32Array;
  /** 1 = target counts, 0 = masked. */
  mask: Float32Array;
}

/** Options of {@link predict} and {@link evaluate}. */
export interface PredictOptions {
  /** Task names; default the source's, else those the model carries (a `chexzoo train` run's tasks), else `task0`, ... */
  tasks?: readonly string[];
  /** Called after each batch with (batches done, total or undefined). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Run each model through {@link optimizeForInference} (same outputs, fewer ops). Default true. */
  optimize?: boolean;
  /**
   * Largest number of images run through a model at once: bigger batches are split into chunks of this size
   * (same outputs). Default: what fits in the backend's memory by {@link inferenceBatchLimit} (no limit where
   * the backend has none, e.g. tfjs-node).
   */
  maxBatch?: number;
}

function asModels(model: tf.LayersModel | readonly tf.LayersModel[]): tf.LayersModel[] {
  const models = Array.isArray(model) ? [...model] : [model as tf.LayersModel];
  if (models.length === 0) throw new Error('evaluate/predict got an empty ensemble; pass a model or at least one model in the array.');
  return models;
}

const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Runs a model (inference mode) or an ensemble (mean of sigmoid probabilities) over every batch of a source.
 * @example const { probs, labels } = await predict([m1, m2, m3], validSource);
 */
export async function predict(model: tf.LayersModel | readonly tf.LayersModel[], data: BatchSource, options: PredictOptions = {}): Promise<Predictions> {
  const models = asModels(model);
  const runners: { predict(x: tf.Tensor): tf.Tensor | tf.Tensor[]; dispose?(): void }[] =
    options.optimize === false ? models : models.map((m) => optimizeForInference(m));
  try {
    const maxBatch = options.maxBatch ?? Math.min(...models.map((m) => inferenceBatchLimit(m)));
    if (!(maxBatch >= 1)) throw new Error(`maxBatch must be a whole number >= 1; got ${String(options.maxBatch)}.`);
    const tasks = options.tasks ?? data.tasks ?? runTasks(models, undefined);
    runTasks(models, tasks);
    return await predictWith(runners, data, { ...options, ...(tasks ? { tasks } : {}) }, Math.floor(maxBatch));
  } finally {
    for (const r of runners) if (!models.includes(r as tf.LayersModel)) r.dispose?.();
  }
}

/**
 * The tasks a model trained by `chexzoo train` carries (its output names); with `tasks`, refuses names that differ,
 * so a model is never scored on another task set (say Nodule, Mass against the CheXpert competition tasks).
 */
function runTasks(models: readonly tf.LayersModel[], tasks: readonly string[] | undefined): readonly string[] | undefined {
  for (const m of models) {
    const info = getOutputInfo(m);
    if (info?.source !== 'run' || !info.labels) continue;
    if (tasks && tasks.join('\n') !== info.labels.join('\n')) {
      throw new Error(`'${m.name}' was trained on the tasks [${info.labels.join(', ')}] but the data's tasks are [${tasks.join(', ')}]; load the data with tasks: [${info.labels.join(', ')}].`);
    }
    return info.labels;
  }
  return undefined;
}

async function predictWith(
  models: { predict(x: tf.Tensor): tf.Tensor | tf.Tensor[] }[],
  data: BatchSource,
  options: PredictOptions,
  maxBatch: number,
): Promise<Predictions> {
  const probs: number[] = [];
  const labels: number[] = [];
  const mask: number[] = [];
  let k = -1;
  let done = 0;
  for await (const batch of data.batches(0)) {
    try {
      const kb = batch.y.shape[1];
      if (k === -1) k = kb;
      else if (k !== kb) throw new Error(`Batches disagree on the number of tasks (${k} vs ${kb}).`);
      // one chunk at a time, each in its own scope, so a batch larger than what fits is still predicted
      const n = batch.x.shape[0]!;
      for (let start = 0; start < n; start += maxBatch) {
        const p = tf.tidy(() => {
          const x = n <= maxBatch ? batch.x : tf.slice(batch.x, start, Math.min(maxBatch, n - start));
          let sum: tf.Tensor | undefined;
          for (const m of models) {
            const out = m.predict(x) as tf.Tensor;
            if (out.rank !== 2 || out.shape[1] !== kb) {
              throw new Error(`Model output shape [${out.shape}] does not match the ${kb} targets per image; the model head must have one output per task.`);
            }
            const s = tf.sigmoid(out);
            sum = sum ? tf.add(sum, s) : s;
          }
          return tf.div(sum!, models.length);
        });
        probs.push(...(await p.data()));
        p.dispose();
      }
      labels.push(...(await batch.y.data()));
      if (batch.mask) mask.push(...(await batch.mask.data()));
      else for (let i = 0; i < batch.y.size; i++) mask.push(1);
    } finally {
      tf.dispose([batch.x, batch.y, ...(batch.mask ? [batch.mask] : [])]);
    }
    options.onProgress?.(++done, data.numBatches);
    await yieldToEventLoop();
  }
  if (k === -1) throw new Error('The data source yielded no batches; nothing to predict.');
  const tasks = [...(options.tasks ?? data.tasks ?? Array.from({ length: k }, (_, j) => `task${j}`))];
  if (tasks.length !== k) throw new Error(`${tasks.length} task names for ${k} target columns.`);
  return { n: probs.length / k, tasks, probs: Float32Array.from(probs), labels: Float32Array.from(labels), mask: Float32Array.from(mask) };
}

/** Result of {@link evaluate} / {@link scorePredictions}. */
export interface EvaluationResult {
  /** AUROC per task (NaN where undefined). */
  perTask: Record<string, number>;
  /** Mean over the defined tasks. */
  meanAuroc: number;
  /** Percentile bootstrap CI of the mean (and per task); absent with `bootstrap: false`. */
  ci?: MeanAurocBootstrapResult;
  /** Tasks with a single class among their unmasked targets (left out of the mean). */
  undefinedTasks: string[];
  /** Cases evaluated. */
  n: number;
  /** Number of models averaged. */
  models: number;
}

export interface EvaluateOptions extends PredictOptions {
  /** Bootstrap resampling of the cases: replicates (default 1000), seed (0), alpha (0.05); `false` skips it. */
  bootstrap?: false | { n?: number; seed?: number; alpha?: number };
}

function rows(flat: Float32Array, n: number, k: number): Float64Array[] {
  return Array.from({ length: n }, (_, i) => Float64Array.from(flat.subarray(i * k, (i + 1) * k)));
}

/**
 * Per-task AUROC, their mean and (optionally) bootstrap CIs of predictions already made.
 * @example const r = scorePredictions(await predict(model, valid));
 */
export function scorePredictions(p: Predictions, options: Pick<EvaluateOptions, 'bootstrap'> = {}, models = 1): EvaluationResult {
  const k = p.tasks.length;
  const labels = rows(p.labels, p.n, k);
  const scores = rows(p.probs, p.n, k);
  const mask = rows(p.mask, p.n, k);
  const base = perTaskAuroc(labels, scores, { tasks: p.tasks, mask });
  const result: EvaluationResult = { perTask: base.perTask, meanAuroc: base.meanAuroc, undefinedTasks: base.undefinedTasks, n: p.n, models };
  if (options.bootstrap !== false) {
    const b = options.bootstrap ?? {};
    result.ci = bootstrapMeanAurocCI(labels, scores, { tasks: p.tasks, mask, n: b.n ?? 1000, seed: b.seed ?? 0, alpha: b.alpha ?? 0.05 });
  }
  return result;
}

/**
 * Evaluates a model, or an ensemble (array: mean of sigmoid probabilities), on a batch source:
 * per-task AUROC, mean AUROC over the tasks, bootstrap 95% CIs.
 * @example const { meanAuroc, perTask, ci } = await evaluate([best1, best2, best3], validSource);
 */
export async function evaluate(
  model: tf.LayersModel | readonly tf.LayersModel[],
  data: BatchSource,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const p = await predict(model, data, options);
  return scorePredictions(p, options, asModels(model).length);
}
