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

/** What a run will do, from the options and the data: checked once, before any work. */
interface TrainPlan {
  data: TrainData;
  lr: number;
  topK: number;
  /** Epoch budget (undefined: limited by `maxSteps` only). */
  epochs: number | undefined;
  /** Batches per epoch when the source knows them. */
  perEpoch: number | undefined;
  /** Step budget (Infinity when unknown). */
  totalSteps: number;
  knownTotal: number | undefined;
  validateEvery: number;
  checkpointEvery: number;
  logEvery: number;
  store: CheckpointStore;
  tasks: string[];
  varList: tf.Variable[];
}

/** Plan: validates the options against the model and the data and fills the defaults. */
function planTraining(model: tf.LayersModel, input: TrainData | TrainTensors, options: TrainOptions): TrainPlan {
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
  return { data, lr, topK, epochs, perEpoch, totalSteps, knownTotal, validateEvery, checkpointEvery, logEvery, store, tasks, varList };
}

/** The state of a run that starts from scratch. */
function freshState(plan: TrainPlan, options: TrainOptions): FullState {
  return {
    version: 1,
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    seed: options.seed ?? 0,
    tasks: plan.tasks,
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
}

/**
 * Setup / resume: the store's last checkpoint (when `resume` allows and there is one) restored into the model and
 * the optimizer after checking it belongs to this configuration, else a fresh state.
 */
async function startOrResume(
  model: tf.LayersModel,
  optimizer: tf.AdamOptimizer,
  plan: TrainPlan,
  options: TrainOptions,
): Promise<{ state: FullState; resumedFrom: number | undefined }> {
  const fresh = { state: freshState(plan, options), resumedFrom: undefined };
  if (!(options.resume ?? true)) return fresh;
  const { store, tasks } = plan;
  const saved = await store.loadLast();
  if (!saved) return fresh;
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
  await restoreOptimizer(optimizer, saved.optimizer, plan.varList.length);
  // a run that ended on its step/epoch budget continues when given a larger one; an early-stopped run stays stopped
  const state: FullState = { ...s, bestScore: s.bestScore ?? -Infinity, done: Boolean(s.earlyStopped) };
  if (state.bestScore === null) state.bestScore = -Infinity;
  // A kill between a top-k save and the next "last" save can leave entries no state lists.
  const listed = new Set(state.topK.map((e) => e.id));
  for (const id of await store.listTop()) if (!listed.has(id)) await store.removeTop(id);
  await options.onResume?.({ step: s.step, epoch: s.epoch, batchInEpoch: s.batchInEpoch });
  return { state, resumedFrom: s.step };
}

const disposeBatch = (batch: { x: tf.Tensor; y: tf.Tensor; mask?: tf.Tensor }): void =>
  tf.dispose([batch.x, batch.y, ...(batch.mask ? [batch.mask] : [])]);

/** One call of {@link train} after setup: the state it advances and this session's clocks and counters. */
class TrainingRun {
  private readonly sessionStart = Date.now();
  private secondsAtCheckpoint: number;
  private checkpointClock = this.sessionStart;
  private sessionSteps = 0;
  private smooth = Number.NaN;
  private lastValidatedStep: number;
  private lastSavedStep: number;
  private stoppedEarly: boolean;
  private interrupted = false;
  /** Top-k entries evicted but still listed by the last saved state. */
  private pendingRemovals: string[] = [];
  private logSum = 0;
  private logCount = 0;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.AdamOptimizer,
    private readonly runner: ReturnType<typeof createStepRunner>,
    private readonly plan: TrainPlan,
    private readonly options: TrainOptions,
    private readonly state: FullState,
    private readonly resumedFrom: number | undefined,
  ) {
    this.secondsAtCheckpoint = state.seconds;
    this.lastValidatedStep = state.validations.at(-1)?.step ?? -1;
    this.lastSavedStep = resumedFrom ?? -1;
    this.stoppedEarly = Boolean(state.earlyStopped);
  }

  private secondsNow(): number {
    return this.secondsAtCheckpoint + (Date.now() - this.checkpointClock) / 1000;
  }

  private currentLr(): number {
    const { lr, knownTotal } = this.plan;
    if (this.options.lrSchedule !== 'cosine' || knownTotal === undefined) return lr;
    return 0.5 * lr * (1 + Math.cos((Math.PI * Math.min(this.state.step, knownTotal)) / knownTotal));
  }

  private limitReached(): boolean {
    const { totalSteps, epochs } = this.plan;
    return this.state.step >= totalSteps || (epochs !== undefined && this.state.epoch >= epochs);
  }

  private earlyStop(): boolean {
    const es = this.options.earlyStopping;
    return es !== undefined && this.state.sinceBest >= es.patience;
  }

  /** Checkpoint: saves the resumable state, then deletes the top-k entries it no longer lists. */
  private async saveLast(): Promise<void> {
    const { state, plan } = this;
    state.seconds = this.secondsNow();
    const artifacts = await modelArtifacts(this.model);
    const opt = await encodeOptimizer(this.optimizer);
    await plan.store.saveLast({ state, model: artifacts, optimizer: opt });
    this.secondsAtCheckpoint = state.seconds;
    this.checkpointClock = Date.now();
    this.lastSavedStep = state.step;
    // Entries evicted from the top-k are deleted only once a saved state no longer lists them.
    for (const id of this.pendingRemovals) await plan.store.removeTop(id);
    this.pendingRemovals = [];
    await this.options.onCheckpoint?.({ step: state.step, seconds: state.seconds });
  }

  /** Validation: mean AUROC on the validation data, best-score / patience bookkeeping, top-k update. */
  private async validate(): Promise<void> {
    const { state, plan, options } = this;
    if (!plan.data.valid) return;
    const t0 = Date.now();
    const preds = await predict(this.model, plan.data.valid, { tasks: plan.tasks });
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
    this.lastValidatedStep = state.step;
    const score = Number.isNaN(r.meanAuroc) ? -Infinity : r.meanAuroc;
    const minDelta = options.earlyStopping?.minDelta ?? 0;
    const isBest = score > state.bestScore + minDelta;
    if (isBest) {
      state.bestScore = score;
      state.sinceBest = 0;
    } else if (score !== -Infinity || state.bestScore !== -Infinity) {
      state.sinceBest++;
    }
    if (plan.topK > 0 && score !== -Infinity) await this.updateTopK(record, preds.probs);
    await options.onValidation?.({ ...record, isBest, topK: state.topK.map((e) => ({ ...e })) });
  }

  /** Keeps this step's weights (and validation probabilities) when they rank among the `topK` best. */
  private async updateTopK(record: ValidationRecord, probs: ArrayLike<number>): Promise<void> {
    const { state, plan } = this;
    const worst = state.topK.length >= plan.topK ? state.topK[state.topK.length - 1]! : undefined;
    if (worst && !(record.meanAuroc > worst.meanAuroc)) return;
    const entry: TopKEntry = { id: stepId(state.step), step: state.step, meanAuroc: record.meanAuroc, perTask: record.perTask };
    await plan.store.saveTop(entry.id, await modelArtifacts(this.model));
    state.topK = state.topK.filter((e) => e.id !== entry.id);
    state.topK.push(entry);
    state.topK.sort((a, b) => b.meanAuroc - a.meanAuroc || a.step - b.step);
    state.topKProbs ??= {};
    state.topKProbs[entry.id] = Array.from(probs);
    for (const gone of state.topK.splice(plan.topK)) {
      delete state.topKProbs[gone.id];
      this.pendingRemovals.push(gone.id);
    }
  }

  /** Per step: one optimizer step on `batch` (disposed here); after a MemoryError, saves what was trained. */
  private async step(batch: Parameters<typeof this.runner.step>[0]): Promise<number> {
    const { state } = this;
    let lossValue: number;
    try {
      (this.optimizer as unknown as { learningRate: number }).learningRate = this.currentLr();
      lossValue = await this.runner.step(batch, { seed: state.seed, step: state.step });
    } catch (e) {
      if (e instanceof MemoryError && this.sessionSteps > 0 && state.step > this.lastSavedStep) {
        // keep what was trained: the weights are intact when the failed step never reached the update
        try {
          await this.saveLast();
          e.message += ` The checkpoint of step ${state.step} was saved; resume with the same output folder.`;
        } catch {
          e.message += ` The last checkpoint (step ${this.lastSavedStep}) is intact.`;
        }
      }
      throw e;
    } finally {
      disposeBatch(batch);
    }
    if (!Number.isFinite(lossValue)) {
      throw new Error(`The training loss became ${lossValue} at step ${state.step + 1}; lower the learning rate (now ${this.currentLr()}).`);
    }
    return lossValue;
  }

  /** Per step: counts the step done at data `position`, records its loss and reports it. */
  private async recordStep(lossValue: number, position: number): Promise<void> {
    const { state, plan } = this;
    state.step++;
    state.batchInEpoch = position + 1;
    this.sessionSteps++;
    state.lossSum += lossValue;
    state.lossCount++;
    this.logSum += lossValue;
    this.logCount++;
    if (state.step % plan.logEvery === 0) {
      state.lossHistory.push([state.step, this.logSum / this.logCount]);
      this.logSum = 0;
      this.logCount = 0;
    }
    this.smooth = Number.isNaN(this.smooth) ? lossValue : 0.9 * this.smooth + 0.1 * lossValue;
    await this.options.onStep?.({
      step: state.step,
      totalSteps: plan.knownTotal,
      epoch: state.epoch,
      batchInEpoch: state.batchInEpoch,
      batchesPerEpoch: plan.perEpoch,
      loss: lossValue,
      smoothLoss: this.smooth,
      lr: this.currentLr(),
      stepsPerSecond: this.sessionSteps / Math.max((Date.now() - this.sessionStart) / 1000, 1e-3),
    });
  }

  /**
   * After a step: validation when due, early stopping, the epoch boundary, then a checkpoint when due.
   * Says whether to stop training, start the next epoch, or go on with this one.
   */
  private async afterStep(): Promise<'stop' | 'epochEnd' | 'continue'> {
    const { state, plan } = this;
    let validated = false;
    if (plan.data.valid && state.step % plan.validateEvery === 0) {
      await this.validate();
      validated = true;
    }
    if (this.earlyStop()) {
      this.stoppedEarly = true;
      state.earlyStopped = true;
      state.done = true;
    }
    const epochEnds = plan.perEpoch !== undefined && state.batchInEpoch >= plan.perEpoch;
    if (epochEnds) {
      state.epoch++;
      state.batchInEpoch = 0;
    }
    if (state.done || this.limitReached() || this.options.signal?.aborted) return 'stop';
    if (validated || state.step % plan.checkpointEvery === 0) await this.saveLast();
    return epochEnds ? 'epochEnd' : 'continue';
  }

  /** The current epoch from the saved position; 'stop' when training must end. */
  private async runEpoch(): Promise<'stop' | 'next'> {
    const { state, plan, model } = this;
    const epoch = state.epoch;
    if (plan.perEpoch !== undefined && state.batchInEpoch >= plan.perEpoch) {
      state.epoch++;
      state.batchInEpoch = 0;
      return 'next';
    }
    const source = plan.data.train;
    const seek = Boolean(source.seekable) && state.batchInEpoch > 0;
    let seen = seek ? state.batchInEpoch : 0;
    let consumed = false;
    const iterator = seek ? source.batches(epoch, { startBatch: state.batchInEpoch }) : source.batches(epoch);
    for await (const batch of iterator) {
      // a source may leave batches out (all images unreadable): its index, not the count, is the position
      const position = batch.index ?? seen;
      seen++;
      if (position < state.batchInEpoch) {
        // already trained on before the checkpoint this run resumed from
        disposeBatch(batch);
        continue;
      }
      if (!consumed) {
        checkInputShape(model, batch.x);
        this.runner.plan(batch.x.shape[0]); // a MemoryError here comes before any training work
      }
      consumed = true;
      const lossValue = await this.step(batch);
      await this.recordStep(lossValue, position);
      const next = await this.afterStep();
      if (next === 'stop') return 'stop';
      if (next === 'epochEnd') return 'next';
      await nextMacrotask();
    }
    if (!consumed && seen === 0) throw new Error(`The training data yielded no batches in epoch ${epoch}.`);
    // the source ran out (its numBatches may be unknown or smaller than announced)
    state.epoch = epoch + 1;
    state.batchInEpoch = 0;
    return 'next';
  }

  /** Trains epoch after epoch until the budget, early stopping or the abort signal ends it. */
  async run(): Promise<void> {
    if (this.stoppedEarly) this.state.done = true;
    while (!this.state.done && !this.limitReached()) {
      if ((await this.runEpoch()) === 'stop') break;
    }
  }

  /** Finish: a last validation and checkpoint (unless interrupted), pending top-k removals, the result. */
  async finish(): Promise<TrainResult> {
    const { state, plan } = this;
    this.interrupted = Boolean(this.options.signal?.aborted) && !state.done && !this.limitReached();
    if (!this.interrupted) {
      if (plan.data.valid && this.lastValidatedStep !== state.step && state.step > 0) await this.validate();
      if (plan.data.valid && this.earlyStop()) {
        this.stoppedEarly = true;
        state.earlyStopped = true;
      }
      state.done = state.done || this.stoppedEarly || this.limitReached();
    }
    if (this.lastSavedStep !== state.step || state.done) await this.saveLast();
    // Entries removed after a resume may still be pending when nothing was trained.
    for (const id of this.pendingRemovals) await plan.store.removeTop(id);

    return {
      steps: state.step,
      epochs: state.epoch + (plan.perEpoch ? state.batchInEpoch / plan.perEpoch : 0),
      stoppedEarly: this.stoppedEarly,
      interrupted: this.interrupted,
      resumedFrom: this.resumedFrom,
      validations: state.validations,
      topK: state.topK,
      ensemble: ensembleFromState(state),
      ensemblePredictions: ensemblePredictions(state)?.p,
      lossHistory: state.lossHistory,
      seconds: state.seconds,
    };
  }
}

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
  const plan = planTraining(model, input, options);
  const optimizer = createAdam(plan.lr);
  const runner = createStepRunner(model, plan.varList, optimizer, {
    ...pickMemoryOptions(options),
    ...(options.loss ? { loss: options.loss } : {}),
  });
  try {
    const { state, resumedFrom } = await startOrResume(model, optimizer, plan, options);
    const run = new TrainingRun(model, optimizer, runner, plan, options, state, resumedFrom);
    await run.run();
    return await run.finish();
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
