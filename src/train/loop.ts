// The training loop: Adam on masked sigmoid cross-entropy, periodic validation (mean AUROC), top-k checkpoints,
// early stopping, resumable checkpoints. Browser-safe: persistence goes through a CheckpointStore.
import * as tf from '@tensorflow/tfjs';
import type { MaskedLossOptions } from './losses.js';
import { createAdam } from './step.js';
import { createStepRunner } from './accumulate.js';
import { MemoryError, pickMemoryOptions, type MemoryOptions } from './memory.js';
import { arrayBatchSource, predict, scorePredictions, type BatchSource, type EvaluationResult, type Predictions } from './evaluate.js';
import {
  type CheckpointStore,
  type TopKEntry,
  type TrainState,
  type ValidationRecord,
  MemoryCheckpointStore,
  encodeOptimizer,
  modelArtifacts,
  restoreModelWeights,
  restoreOptimizer,
} from './state.js';

/** Training and (optional) validation data. */
export interface TrainData {
  train: BatchSource;
  /** Scored every `validateEvery` steps (mean AUROC over the tasks); drives top-k and early stopping. */
  valid?: BatchSource;
}

/** Reported after every optimizer step. */
export interface StepInfo {
  step: number;
  /** Steps this run will do in total (known limits), or undefined. */
  totalSteps: number | undefined;
  epoch: number;
  batchInEpoch: number;
  batchesPerEpoch: number | undefined;
  loss: number;
  /** Exponential moving average of the loss (factor 0.9), for display. */
  smoothLoss: number;
  lr: number;
  /** Steps per second in this session. */
  stepsPerSecond: number;
}

/** Options of {@link train}; `microBatch`, `checkpointing` and `memoryLimit` are described in {@link MemoryOptions}. */
export interface TrainOptions extends MemoryOptions {
  /** Batch size for in-memory tensors (`{ train: { x, y } }`); batch sources bring their own. Default 16. */
  batchSize?: number;
  /** Adam learning rate. Default 1e-4. */
  lr?: number;
  /** `cosine` decays the rate to 0 over the total steps (needs `maxSteps` or `epochs` with known batches). Default `constant`. */
  lrSchedule?: 'constant' | 'cosine';
  /** Epochs over the training source (default 1 when `maxSteps` is not given either). */
  epochs?: number;
  /** Stop after this many optimizer steps in total (resumed steps included). */
  maxSteps?: number;
  /** Class / positive weights of the loss. */
  loss?: MaskedLossOptions;
  /** Validate every N steps (default: once per epoch, or every 100 steps when the epoch length is unknown). */
  validateEvery?: number;
  /** Save the resumable checkpoint every N steps (default: at every validation, or `validateEvery`). */
  checkpointEvery?: number;
  /** Keep the k best checkpoints by validation mean AUROC (default 3; 0 keeps none). */
  topK?: number;
  /** Stop after `patience` validations without an improvement of the best mean AUROC by more than `minDelta` (default 0). */
  earlyStopping?: { patience: number; minDelta?: number };
  /** Checkpoint persistence; default an in-memory store. In Node: `new FileCheckpointStore(dir)`. */
  store?: CheckpointStore;
  /** Continue from the store's last checkpoint when it has one (default true). */
  resume?: boolean;
  /**
   * Seeds the dropout and stochastic-depth masks (drawn from (seed, step), so a resumed run draws the masks the
   * uninterrupted one drew) and the shuffling of in-memory tensors; recorded in the checkpoint (a resumed run
   * keeps the checkpoint's). Weight initialisation is seeded by `createModel({ seed })`, the data order and
   * augmentation of a batch source by the source (`loadChexpert({ seed })`, `arrayBatchSource({ seed })`). Default 0.
   */
  seed?: number;
  /** Task names (default the sources', else `task0`, ...). */
  tasks?: readonly string[];
  /** A configuration fingerprint; resuming a checkpoint written with a different one is refused. */
  fingerprint?: string;
  /** Stop at the next step boundary, save a checkpoint and return with `interrupted: true`. */
  signal?: AbortSignal;
  /** Record the mean loss every N steps in `lossHistory` (default 10). */
  logEvery?: number;
  onStep?: (info: StepInfo) => void | Promise<void>;
  onValidation?: (record: ValidationRecord & { isBest: boolean; topK: TopKEntry[] }) => void | Promise<void>;
  onCheckpoint?: (info: { step: number; seconds: number }) => void | Promise<void>;
  /** Called once when training resumes from a checkpoint. */
  onResume?: (info: { step: number; epoch: number; batchInEpoch: number }) => void | Promise<void>;
}

/** Metrics of the top-k ensemble (mean probabilities of the kept checkpoints) on the validation data, with bootstrap CIs. */
export type EnsembleMetrics = EvaluationResult;

/** What {@link train} returns. */
export interface TrainResult {
  /** Optimizer steps done in total (resumed ones included). */
  steps: number;
  /** Completed epochs plus the fraction of the current one. */
  epochs: number;
  stoppedEarly: boolean;
  /** True when stopped through `signal` (a checkpoint was saved; call train again to continue). */
  interrupted: boolean;
  /** Step of the checkpoint this run resumed from (undefined for a fresh run). */
  resumedFrom: number | undefined;
  validations: ValidationRecord[];
  /** Kept checkpoints, best first. */
  topK: TopKEntry[];
  /** The top-k ensemble on the validation data (undefined without validation data). */
  ensemble: EnsembleMetrics | undefined;
  /** The ensemble's validation predictions (mean probability of the top-k) with labels and mask: what paired tests compare. */
  ensemblePredictions: Predictions | undefined;
  lossHistory: [number, number][];
  /** Training wall-clock seconds summed over resumed sessions. */
  seconds: number;
}

/** In-memory training (and validation) tensors, batched with `batchSize` and shuffled with `seed`. */
export interface TrainTensors {
  train: { x: tf.Tensor4D; y: tf.Tensor2D; mask?: tf.Tensor2D };
  valid?: { x: tf.Tensor4D; y: tf.Tensor2D; mask?: tf.Tensor2D };
}

function isTensors(d: unknown): d is { x: tf.Tensor4D; y: tf.Tensor2D } {
  return typeof d === 'object' && d !== null && (d as { x?: unknown }).x instanceof tf.Tensor;
}

function toSources(input: TrainData | TrainTensors, options: TrainOptions): TrainData {
  if (!input || (!isTensors(input.train) && typeof (input.train as BatchSource | undefined)?.batches !== 'function')) {
    throw new Error('train(model, data): data.train must be a batch source (loadChexpert(...), arrayBatchSource(...)) or { x, y, mask } tensors.');
  }
  const batchSize = options.batchSize ?? 16;
  const tasks = options.tasks ? { tasks: options.tasks } : {};
  const train = isTensors(input.train) ? arrayBatchSource(input.train, { batchSize, seed: options.seed ?? 0, ...tasks }) : (input.train as BatchSource);
  const v = input.valid;
  const valid = v === undefined ? undefined : isTensors(v) ? arrayBatchSource(v, { batchSize, shuffle: false, ...tasks }) : (v as BatchSource);
  return valid ? { train, valid } : { train };
}

function checkInputShape(model: tf.LayersModel, x: tf.Tensor): void {
  const want = model.inputs[0]?.shape;
  if (!want || x.rank !== want.length) return;
  for (let i = 1; i < want.length; i++) {
    if (want[i] !== null && want[i] !== undefined && want[i] !== x.shape[i]) {
      throw new Error(
        `The batches hold images of shape [${x.shape.slice(1)}] but the model expects [${want.slice(1)}]; build the model with that inputShape, or load the data with imageSize/channels matching the model.`,
      );
    }
  }
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`${name} must be a positive integer, got ${String(v)}.`);
}

function stepId(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

/** `key: old -> new` for JSON-object fingerprints, else both strings. */
function fingerprintDiff(saved: string, now: string): string {
  try {
    const a = JSON.parse(saved) as Record<string, unknown>;
    const b = JSON.parse(now) as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    if (keys.length > 0) return keys.map((k) => `${k}: ${JSON.stringify(a[k])} -> ${JSON.stringify(b[k])}`).join(', ');
  } catch {
    // not JSON: fall through
  }
  return `${saved} -> ${now}`;
}

const nextMacrotask = () => new Promise<void>((r) => setTimeout(r, 0));

/** Mean of the top-k entries' stored validation probabilities (with the targets), or undefined. */
function ensemblePredictions(state: TrainState & { validTargets?: { labels: number[]; mask: number[] } }): { p: Predictions; used: number } | undefined {
  const targets = state.validTargets;
  if (!targets || state.topK.length === 0 || !state.topKProbs) return undefined;
  const k = state.tasks.length;
  const n = targets.labels.length / k;
  const probs = new Float32Array(n * k);
  let used = 0;
  for (const e of state.topK) {
    const p = state.topKProbs[e.id];
    if (!p || p.length !== n * k) continue;
    for (let i = 0; i < p.length; i++) probs[i]! += p[i]!;
    used++;
  }
  if (used === 0) return undefined;
  for (let i = 0; i < probs.length; i++) probs[i]! /= used;
  const p: Predictions = { n, tasks: state.tasks, probs, labels: Float32Array.from(targets.labels), mask: Float32Array.from(targets.mask) };
  return { p, used };
}

/** The top-k ensemble scored against the stored targets. */
function ensembleFromState(state: TrainState & { validTargets?: { labels: number[]; mask: number[] } }): EnsembleMetrics | undefined {
  const e = ensemblePredictions(state);
  return e ? scorePredictions(e.p, { bootstrap: { n: 1000, seed: state.seed } }, e.used) : undefined;
}

type FullState = TrainState & { validTargets?: { labels: number[]; mask: number[] } };

/**
 * Trains a model (logits head, one output per task) with Adam (PyTorch's defaults: eps 1e-8) on masked sigmoid
 * cross-entropy. BatchNorm runs in training mode (batch statistics; running statistics updated as PyTorch does,
 * from the unbiased batch variance); dropout and stochastic-depth masks are seeded by (`seed`, step). Every `validateEvery`
 * steps the validation mean AUROC is computed; the `topK` best checkpoints are kept in `store` and their
 * ensemble (mean probability) is reported. A resumable checkpoint (weights, Adam moments and step, data
 * position, history) is saved every `checkpointEvery` steps; with `resume` (default) a new call continues from it.
 * @example
 * const result = await train(model, { train: trainDs, valid: validDs }, { lr: 1e-3, maxSteps: 500, validateEvery: 50 });
 * console.log(result.ensemble?.meanAuroc);
 */
export async function train(model: tf.LayersModel, input: TrainData | TrainTensors, options: TrainOptions = {}): Promise<TrainResult> {
  const data = toSources(input, options);
  const lr = options.lr ?? 1e-4;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`lr must be a positive number, got ${String(options.lr)}.`);
  positiveInt('batchSize', options.batchSize);
  positiveInt('epochs', options.epochs);
  positiveInt('maxSteps', options.maxSteps);
  positiveInt('validateEvery', options.validateEvery);
  positiveInt('checkpointEvery', options.checkpointEvery);
  positiveInt('logEvery', options.logEvery);
  const topK = options.topK ?? 3;
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`topK must be an integer >= 0, got ${String(options.topK)}.`);
  if (options.earlyStopping) positiveInt('earlyStopping.patience', options.earlyStopping.patience);
  const epochs = options.epochs ?? (options.maxSteps === undefined ? 1 : undefined);
  const perEpoch = data.train.numBatches;
  const totalSteps = Math.min(options.maxSteps ?? Infinity, epochs !== undefined && perEpoch !== undefined ? epochs * perEpoch : Infinity);
  const knownTotal = Number.isFinite(totalSteps) ? totalSteps : undefined;
  if (options.lrSchedule === 'cosine' && knownTotal === undefined) {
    throw new Error("lrSchedule 'cosine' needs a known number of steps: pass maxSteps, or epochs with a source that reports numBatches.");
  }
  const validateEvery = options.validateEvery ?? perEpoch ?? 100;
  const checkpointEvery = options.checkpointEvery ?? validateEvery;
  const logEvery = options.logEvery ?? 10;
  const store = options.store ?? new MemoryCheckpointStore();
  const outputs = model.outputs[0]?.shape;
  const numTasks = outputs?.[outputs.length - 1];
  const tasks = [...(options.tasks ?? data.train.tasks ?? Array.from({ length: numTasks ?? 0 }, (_, j) => `task${j}`))];
  if (numTasks !== undefined && numTasks !== null && tasks.length !== numTasks) {
    throw new Error(`The model has ${numTasks} outputs but ${tasks.length} tasks are being trained (${tasks.join(', ')}); build it with numClasses: ${tasks.length}.`);
  }

  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (varList.length === 0) throw new Error('The model has no trainable weights (all frozen?); unfreeze at least the classifier.');
  const optimizer = createAdam(lr);
  const runner = createStepRunner(model, varList, optimizer, {
    ...pickMemoryOptions(options),
    ...(options.loss ? { loss: options.loss } : {}),
  });

  let state: FullState = {
    version: 1,
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    seed: options.seed ?? 0,
    tasks,
    topK: [],
    validations: [],
    bestScore: -Infinity,
    sinceBest: 0,
    lossHistory: [],
    lossSum: 0,
    lossCount: 0,
    topKProbs: {},
    seconds: 0,
    ...(options.fingerprint !== undefined ? { fingerprint: options.fingerprint } : {}),
  };
  let resumedFrom: number | undefined;
  try {
    if (options.resume ?? true) {
      const saved = await store.loadLast();
      if (saved) {
        const s = saved.state as FullState;
        if (options.fingerprint !== undefined && s.fingerprint !== undefined && s.fingerprint !== options.fingerprint) {
          throw new Error(
            `The checkpoint at step ${s.step} was written with another configuration (${fingerprintDiff(s.fingerprint, options.fingerprint)}). Use a fresh output folder, or the same settings to resume.`,
          );
        }
        if (s.tasks.join('\n') !== tasks.join('\n')) {
          throw new Error(`The checkpoint was trained on tasks [${s.tasks.join(', ')}], this run on [${tasks.join(', ')}]; use a fresh output folder.`);
        }
        restoreModelWeights(model, saved.model);
        await restoreOptimizer(optimizer, saved.optimizer, varList.length);
        // a run that ended on its step/epoch budget continues when given a larger one; an early-stopped run stays stopped
        state = { ...s, bestScore: s.bestScore ?? -Infinity, done: Boolean(s.earlyStopped) };
        if (state.bestScore === null) state.bestScore = -Infinity;
        resumedFrom = s.step;
        // A kill between a top-k save and the next "last" save can leave entries no state lists.
        const listed = new Set(state.topK.map((e) => e.id));
        for (const id of await store.listTop()) if (!listed.has(id)) await store.removeTop(id);
        await options.onResume?.({ step: s.step, epoch: s.epoch, batchInEpoch: s.batchInEpoch });
      }
    }

    const sessionStart = Date.now();
    let secondsAtCheckpoint = state.seconds;
    const secondsNow = () => secondsAtCheckpoint + (Date.now() - checkpointClock) / 1000;
    let checkpointClock = sessionStart;
    let sessionSteps = 0;
    let smooth = Number.NaN;
    let lastValidatedStep = state.validations.at(-1)?.step ?? -1;
    let lastSavedStep = resumedFrom ?? -1;
    let stoppedEarly = Boolean(state.earlyStopped);
    let interrupted = false;
    let pendingRemovals: string[] = [];
    let logSum = 0;
    let logCount = 0;

    const currentLr = (): number => {
      if (options.lrSchedule !== 'cosine' || knownTotal === undefined) return lr;
      return 0.5 * lr * (1 + Math.cos((Math.PI * Math.min(state.step, knownTotal)) / knownTotal));
    };

    const saveLast = async (): Promise<void> => {
      state.seconds = secondsNow();
      const artifacts = await modelArtifacts(model);
      const opt = await encodeOptimizer(optimizer);
      await store.saveLast({ state, model: artifacts, optimizer: opt });
      secondsAtCheckpoint = state.seconds;
      checkpointClock = Date.now();
      lastSavedStep = state.step;
      // Entries evicted from the top-k are deleted only once a saved state no longer lists them.
      for (const id of pendingRemovals) await store.removeTop(id);
      pendingRemovals = [];
      await options.onCheckpoint?.({ step: state.step, seconds: state.seconds });
    };

    const validate = async (): Promise<void> => {
      if (!data.valid) return;
      const t0 = Date.now();
      const preds = await predict(model, data.valid, { tasks });
      const r = scorePredictions(preds, { bootstrap: false });
      if (!state.validTargets) state.validTargets = { labels: Array.from(preds.labels), mask: Array.from(preds.mask) };
      const record: ValidationRecord = {
        step: state.step,
        epoch: state.epoch,
        meanAuroc: r.meanAuroc,
        perTask: r.perTask,
        undefinedTasks: r.undefinedTasks,
        trainLoss: state.lossCount > 0 ? state.lossSum / state.lossCount : Number.NaN,
        seconds: (Date.now() - t0) / 1000,
      };
      state.validations.push(record);
      state.lossSum = 0;
      state.lossCount = 0;
      lastValidatedStep = state.step;
      const score = Number.isNaN(r.meanAuroc) ? -Infinity : r.meanAuroc;
      const minDelta = options.earlyStopping?.minDelta ?? 0;
      const isBest = score > state.bestScore + minDelta;
      if (isBest) {
        state.bestScore = score;
        state.sinceBest = 0;
      } else if (score !== -Infinity || state.bestScore !== -Infinity) {
        state.sinceBest++;
      }
      if (topK > 0 && score !== -Infinity) {
        const worst = state.topK.length >= topK ? state.topK[state.topK.length - 1]! : undefined;
        if (!worst || score > worst.meanAuroc) {
          const entry: TopKEntry = { id: stepId(state.step), step: state.step, meanAuroc: r.meanAuroc, perTask: r.perTask };
          await store.saveTop(entry.id, await modelArtifacts(model));
          state.topK = state.topK.filter((e) => e.id !== entry.id);
          state.topK.push(entry);
          state.topK.sort((a, b) => b.meanAuroc - a.meanAuroc || a.step - b.step);
          state.topKProbs ??= {};
          state.topKProbs[entry.id] = Array.from(preds.probs);
          for (const gone of state.topK.splice(topK)) {
            delete state.topKProbs[gone.id];
            pendingRemovals.push(gone.id);
          }
        }
      }
      await options.onValidation?.({ ...record, isBest, topK: state.topK.map((e) => ({ ...e })) });
    };

    const limitReached = () => state.step >= totalSteps || (epochs !== undefined && state.epoch >= epochs);
    const earlyStop = () => options.earlyStopping !== undefined && state.sinceBest >= options.earlyStopping.patience;

    if (stoppedEarly) state.done = true;
    training: while (!state.done && !limitReached()) {
      const epoch = state.epoch;
      if (perEpoch !== undefined && state.batchInEpoch >= perEpoch) {
        state.epoch++;
        state.batchInEpoch = 0;
        continue;
      }
      const seek = Boolean(data.train.seekable) && state.batchInEpoch > 0;
      let seen = seek ? state.batchInEpoch : 0;
      let consumed = false;
      const iterator = seek ? data.train.batches(epoch, { startBatch: state.batchInEpoch }) : data.train.batches(epoch);
      for await (const batch of iterator) {
        // a source may leave batches out (all images unreadable): its index, not the count, is the position
        const position = batch.index ?? seen;
        seen++;
        if (position < state.batchInEpoch) {
          // already trained on before the checkpoint this run resumed from
          tf.dispose([batch.x, batch.y, ...(batch.mask ? [batch.mask] : [])]);
          continue;
        }
        if (!consumed) {
          checkInputShape(model, batch.x);
          runner.plan(batch.x.shape[0]); // a MemoryError here comes before any training work
        }
        consumed = true;
        let lossValue: number;
        try {
          (optimizer as unknown as { learningRate: number }).learningRate = currentLr();
          lossValue = await runner.step(batch, { seed: state.seed, step: state.step });
        } catch (e) {
          if (e instanceof MemoryError && sessionSteps > 0 && state.step > lastSavedStep) {
            // keep what was trained: the weights are intact when the failed step never reached the update
            try {
              await saveLast();
              e.message += ` The checkpoint of step ${state.step} was saved; resume with the same output folder.`;
            } catch {
              e.message += ` The last checkpoint (step ${lastSavedStep}) is intact.`;
            }
          }
          throw e;
        } finally {
          tf.dispose([batch.x, batch.y, ...(batch.mask ? [batch.mask] : [])]);
        }
        if (!Number.isFinite(lossValue)) {
          throw new Error(`The training loss became ${lossValue} at step ${state.step + 1}; lower the learning rate (now ${currentLr()}).`);
        }
        state.step++;
        state.batchInEpoch = position + 1;
        sessionSteps++;
        state.lossSum += lossValue;
        state.lossCount++;
        logSum += lossValue;
        logCount++;
        if (state.step % logEvery === 0) {
          state.lossHistory.push([state.step, logSum / logCount]);
          logSum = 0;
          logCount = 0;
        }
        smooth = Number.isNaN(smooth) ? lossValue : 0.9 * smooth + 0.1 * lossValue;
        await options.onStep?.({
          step: state.step,
          totalSteps: knownTotal,
          epoch: state.epoch,
          batchInEpoch: state.batchInEpoch,
          batchesPerEpoch: perEpoch,
          loss: lossValue,
          smoothLoss: smooth,
          lr: currentLr(),
          stepsPerSecond: sessionSteps / Math.max((Date.now() - sessionStart) / 1000, 1e-3),
        });
        let validated = false;
        if (data.valid && state.step % validateEvery === 0) {
          await validate();
          validated = true;
        }
        if (earlyStop()) {
          stoppedEarly = true;
          state.earlyStopped = true;
          state.done = true;
        }
        const epochEnds = perEpoch !== undefined && state.batchInEpoch >= perEpoch;
        if (epochEnds) {
          state.epoch++;
          state.batchInEpoch = 0;
        }
        if (state.done || limitReached() || options.signal?.aborted) break training;
        if (validated || state.step % checkpointEvery === 0) await saveLast();
        if (epochEnds) continue training;
        await nextMacrotask();
      }
      if (!consumed && seen === 0) throw new Error(`The training data yielded no batches in epoch ${epoch}.`);
      // the source ran out (its numBatches may be unknown or smaller than announced)
      state.epoch = epoch + 1;
      state.batchInEpoch = 0;
    }
    interrupted = Boolean(options.signal?.aborted) && !state.done && !limitReached();
    if (!interrupted) {
      if (data.valid && lastValidatedStep !== state.step && state.step > 0) await validate();
      if (data.valid && earlyStop()) {
        stoppedEarly = true;
        state.earlyStopped = true;
      }
      state.done = state.done || stoppedEarly || limitReached();
    }
    if (lastSavedStep !== state.step || state.done) await saveLast();
    // Entries removed after a resume may still be pending when nothing was trained.
    for (const id of pendingRemovals) await store.removeTop(id);

    return {
      steps: state.step,
      epochs: state.epoch + (perEpoch ? state.batchInEpoch / perEpoch : 0),
      stoppedEarly,
      interrupted,
      resumedFrom,
      validations: state.validations,
      topK: state.topK,
      ensemble: ensembleFromState(state),
      ensemblePredictions: ensemblePredictions(state)?.p,
      lossHistory: state.lossHistory,
      seconds: state.seconds,
    };
  } finally {
    optimizer.dispose();
  }
}

/**
 * Loads the kept top-k checkpoints as models (best first), e.g. to predict with their ensemble.
 * @example const models = await loadTopK(store, result.topK); const r = await evaluate(models, valid); models.forEach((m) => m.dispose());
 */
export async function loadTopK(store: CheckpointStore, topK: readonly TopKEntry[]): Promise<tf.LayersModel[]> {
  const models: tf.LayersModel[] = [];
  try {
    for (const e of topK) models.push(await store.loadTop(e.id));
  } catch (e) {
    models.forEach((m) => m.dispose());
    throw e;
  }
  return models;
}
