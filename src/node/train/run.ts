// Node-only: one training run in a run folder, as `chexzoo train` and the study do it: the run's configuration
// (RUN/config.json), the run-folder lock, resume checks, weights into the cache, the dataset, the model, the
// training loop with a file checkpoint store, and the outputs (RUN/model, RUN/predictions.json, RUN/metrics.json).
import { promises as fs, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../../backend/index.js';
import { createModel, getModelInfo } from '../../zoo/registry.js';
import { isChexpertObservation, normalizeUncertainty, taskUncertainty, type ViewName } from '../../data/chexpert.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/augment.js';
import { truncate } from '../../truncate.js';
import { hasWeights, getPreprocessConfig } from '../../weights/manifest.js';
import type { ProgressCallback } from '../../weights/fetch.js';
import { train, type StepInfo, type TrainResult } from '../../train/loop.js';
import { balancedPosWeights } from '../../train/losses.js';
import { evaluate, type EvaluationResult } from '../../train/evaluate.js';
import type { TrainState } from '../../train/state.js';
import { formatBytes, planStep } from '../../train/memory.js';
import { findChexpertCsv } from '../data/dataset.js';
import { detectDataLayout, loadDataset, resolveDataTasks } from '../data/layouts.js';
import type { ChexpertDataset } from '../data/dataset.js';
import { kernelFor, type ResizeKernel } from '../data/images.js';
import type { IntensityPolicy } from '../../dicom/index.js';
import { downloadWeights, installNodeWeightsResolver } from '../weights/fetch-node.js';
import { loadModel } from '../weights/fs-io.js';
import { setOutputInfo } from '../../weights/outputs.js';
import { pathExists, replaceDirAtomic, TMP_SIBLING, writeFileAtomic } from '../utils/atomic.js';
import { FileCheckpointStore } from './checkpoints.js';
import { writeRunCurves } from './curves.js';
import { acquireRunLock, type RunLock } from './lock.js';
import { createTrainProgress, downloadProgress } from '../progress.js';

/** Defaults of a training run (`chexzoo train`), chosen so `chexzoo synth` + `chexzoo train --arch resnet18` fits in ~10 min on 2 cores. */
export const TRAIN_DEFAULTS = {
  imageSize: 64,
  batchSize: 16,
  epochs: 1,
  /** Validations per epoch (unless `validEvery`), at most every 500 steps. */
  validationsPerEpoch: 3,
  /** Adam learning rate with pretrained weights / from scratch. */
  lrPretrained: 1e-4,
  lrScratch: 1e-3,
  topK: 3,
  seed: 0,
} as const;

/**
 * The run configuration written to RUN/config.json; `chexzoo eval` rebuilds the data pipeline from it. Its JSON is
 * the resume fingerprint, so its field names and order are an on-disk format (`imgSize` is the input side in pixels).
 */
export interface RunConfig {
  arch: string;
  imgSize: number;
  channels: 3;
  batchSize: number;
  tasks: string[];
  /** The uncertainty policy given (default ones): every task's, unless `taskUncertainty` says otherwise. */
  uncertainty: string;
  views: ViewName;
  /** The block the network is cut after (null: the full network). */
  truncate: string | null;
  weights: string;
  lr: number;
  lrSchedule: 'constant' | 'cosine';
  epochs: number | null;
  maxSteps: number | null;
  augment: boolean;
  posWeight: boolean;
  seed: number;
  data: string;
  /** Checkpoints kept and ensembled. */
  topK: number;
  /** Early-stopping patience in validations (null: off). */
  patience: number | null;
  /** Validation interval in steps (null: the default, from the epoch length). */
  validEvery: number | null;
  /** Input normalisation and resize filter (from `getPreprocessConfig(arch)`); absent in runs made before 0.1.0's fix: ImageNet, linear. */
  preprocess?: RunPreprocess;
  /**
   * The uncertainty policy each task got, present when a task is not one of CheXpert's observations (a labelled
   * CSV's own names: U-Zeros unless `uncertainty` was given). Absent: every task got `uncertainty` (so the
   * configs, and resume fingerprints, of CheXpert runs are what they were).
   */
  taskUncertainty?: Record<string, string>;
  /** How DICOM images become grey (docs/dicom.md): recorded when `'minmax'`; absent: `'voi'` (earlier configs match). */
  dicomPolicy?: IntensityPolicy;
}

/** What the data pipeline of a run normalises with. */
export interface RunPreprocess {
  mean: number[];
  std: number[];
  kernel: ResizeKernel;
}

/** Runs written before `preprocess` was recorded were normalised with ImageNet statistics and a linear resize. */
export const LEGACY_RUN_PREPROCESS: RunPreprocess = { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD], kernel: 'linear' };

/** The preprocessing of a run: recorded in its config, or the legacy default. */
export function runPreprocess(config: Pick<RunConfig, 'preprocess'>): RunPreprocess {
  return config.preprocess ?? LEGACY_RUN_PREPROCESS;
}

/** What a run writes into RUN, removed by `restart` (the summary first, so no old result outlives a partial clean-up). */
export const RUN_OUTPUTS = ['metrics.json', 'curves.svg', 'model', 'checkpoints', 'config.json'] as const;

/** RUN/predictions.json: the validation predictions of the top-k ensemble, for paired tests between runs. */
export interface RunPredictionsFile {
  version: 1;
  n: number;
  tasks: string[];
  /** Row-major [n, tasks]. */
  labels: number[];
  /** 1 = the target counts, 0 = masked. */
  mask: number[];
  /** Mean sigmoid probability of the top-k checkpoints, rounded to 1e-6. */
  probs: number[];
}

/** What a run trains: everything that changes its result. Unset fields take {@link TRAIN_DEFAULTS}. */
export interface TrainRunOptions {
  arch: string;
  /**
   * A CheXpert folder holding train.csv / valid.csv (or its parent), a MIMIC-CXR(-JPG) folder, or a labelled CSV
   * (whose header is read here to resolve `tasks`).
   */
  data: string;
  /** Square input side in pixels. */
  imageSize?: number;
  batchSize?: number;
  /** Default {@link TRAIN_DEFAULTS}.epochs unless `maxSteps` is given. */
  epochs?: number;
  maxSteps?: number;
  /** `imagenet` | `none` (default: from scratch) | an http(s) URL | a path (.pth, .safetensors, model.json). */
  weights?: string;
  /** Adam learning rate (default: lrPretrained with weights, lrScratch without). */
  lr?: number;
  lrSchedule?: 'constant' | 'cosine';
  /** Cut the network after this block (`blocks(model)` / `getModelInfo(arch).blocks` lists them) and add a new head. */
  block?: string | null;
  /** Uncertain labels of every task (ones | zeros | ignore). Unset: ones for CheXpert's observations, zeros for other task names. */
  uncertainty?: string;
  /** Default: the 5 competition tasks; a labelled CSV without them: its label columns (`resolveDataTasks`). */
  tasks?: readonly string[];
  views?: ViewName;
  augment?: boolean;
  posWeight?: boolean;
  validEvery?: number;
  topK?: number;
  patience?: number;
  seed?: number;
  /** DICOM intensity policy: `'voi'` (default) or `'minmax'` (as MIMIC-CXR-JPG was made; docs/dicom.md). */
  dicomPolicy?: IntensityPolicy;
}

const VIEWS: readonly ViewName[] = ['all', 'frontal', 'lateral', 'AP', 'PA'];

/**
 * Checks a run's options and fills the defaults: the RUN/config.json of the run (paths made absolute, so a resume
 * can compare them). Throws an error naming the bad option.
 * @example const config = resolveRunConfig({ arch: 'resnet18', data: '/tmp/synth', maxSteps: 20 });
 */
export function resolveRunConfig(o: TrainRunOptions): RunConfig {
  const info = getModelInfo(o.arch);
  const imgSize = o.imageSize ?? TRAIN_DEFAULTS.imageSize;
  if (imgSize < info.minImageSize) throw new Error(`--image-size (imageSize) ${imgSize} is below ${o.arch}'s minimum input of ${info.minImageSize} px.`);
  const weights = runWeights(o.arch, o.weights ?? 'none');
  const lrSchedule = o.lrSchedule ?? 'constant';
  if (lrSchedule !== 'constant' && lrSchedule !== 'cosine') throw new Error(`--lr-schedule must be constant or cosine, got "${String(lrSchedule)}".`);
  const views = o.views ?? 'all';
  if (!VIEWS.includes(views)) throw new Error(`--views must be all, frontal, lateral, AP or PA; got "${views}".`);
  const block = o.block ?? null;
  if (block !== null && !info.blocks.includes(block)) throw new Error(`--truncate: unknown block '${block}'. ${o.arch}'s blocks: ${info.blocks.join(', ')}.`);
  // registered weights other than ImageNet's (the study's cxr init: 'xrv-all') bring their own normalisation
  const pre = getPreprocessConfig(o.arch, weights !== 'none' && hasWeights(o.arch, weights) ? weights : 'imagenet');
  const maxSteps = o.maxSteps;
  const tasks = resolveDataTasks(o.data, o.tasks);
  return {
    arch: o.arch,
    imgSize,
    channels: 3,
    batchSize: o.batchSize ?? TRAIN_DEFAULTS.batchSize,
    tasks,
    uncertainty: normalizeUncertainty(o.uncertainty ?? 'ones'),
    views,
    truncate: block,
    weights,
    lr: o.lr ?? (weights === 'none' ? TRAIN_DEFAULTS.lrScratch : TRAIN_DEFAULTS.lrPretrained),
    lrSchedule,
    epochs: o.epochs ?? (maxSteps === undefined ? TRAIN_DEFAULTS.epochs : null),
    maxSteps: maxSteps ?? null,
    augment: o.augment ?? false,
    posWeight: o.posWeight ?? false,
    seed: o.seed ?? TRAIN_DEFAULTS.seed,
    data: resolve(o.data),
    topK: o.topK ?? TRAIN_DEFAULTS.topK,
    patience: o.patience ?? null,
    validEvery: o.validEvery ?? null,
    preprocess: { mean: pre.mean, std: pre.std, kernel: kernelFor(pre.interpolation) },
    ...(tasks.every(isChexpertObservation) ? {} : { taskUncertainty: taskUncertainty(tasks, { uncertainty: o.uncertainty }) }),
    ...(checkDicomPolicy(o.dicomPolicy) === 'minmax' ? { dicomPolicy: 'minmax' as const } : {}),
  };
}

/** The DICOM policy option, checked (default `'voi'`). */
export function checkDicomPolicy(p: string | undefined): IntensityPolicy {
  if (p === undefined || p === 'voi' || p === 'minmax') return p ?? 'voi';
  throw new Error(`--dicom-policy (dicomPolicy) must be voi or minmax, got "${p}" (docs/dicom.md explains both).`);
}

/** The weights of a run: imagenet | none | an http(s) URL | a path (made absolute, so a resume can compare it). */
function runWeights(arch: string, v: string): string {
  if (v === 'none') return v;
  if (v === 'imagenet') {
    if (!hasWeights(arch)) throw new Error(`--weights imagenet: no ImageNet weights are registered for ${arch}.`);
    return v;
  }
  if (hasWeights(arch, v)) return v; // another registered tag, e.g. 'xrv-all'
  if (v === '') throw new Error('--weights must be imagenet, none or a path.');
  return /^https?:\/\//i.test(v) ? v : resolve(v);
}

/** How a run is carried out (none of it changes the result, so none of it is in RUN/config.json). */
export interface TrainRunControl {
  /** Images per forward/backward pass (default auto). Lower it to resume a run that ran out of memory. */
  microBatch?: number | 'auto';
  /** Save the resumable checkpoint every N steps (default: at each validation). */
  checkpointEvery?: number;
  /** Discard RUN's previous run (checkpoints, model, metrics) and start over. */
  restart?: boolean;
  /** No messages and no progress bar. */
  quiet?: boolean;
  /** After every optimizer step. */
  onStep?: (info: StepInfo) => void;
  /** Replaces process.stderr.write for messages (one line each, ending in a newline). */
  log?: (text: string) => void;
  /** Decode images on this many worker threads (default 0; not part of the resume check: results are the same). */
  decodeWorkers?: number;
}

/** RUN/metrics.json. */
export interface RunMetrics {
  valid: {
    meanAuroc: number | null;
    perTask: Record<string, number | null>;
    ci95: { lower: number | null; upper: number | null; perTask: Record<string, { lower: number | null; upper: number | null }> } | null;
    undefinedTasks: string[];
    n: number;
    models: number;
    prediction: string;
  } | null;
  best: { step: number; meanAuroc: number | null; perTask: Record<string, number | null> } | null;
  last: { step: number; meanAuroc: number | null; perTask: Record<string, number | null> } | null;
  topK: { id: string; step: number; meanAuroc: number | null; path: string }[];
  train: {
    steps: number;
    epochs: number | null;
    seconds: number;
    stoppedEarly: boolean;
    resumedFrom: number | null;
    finalLoss: number | null;
    backend: string;
  };
  /** Per validation: mean and per-task AUROC, and the mean training loss since the previous one. */
  validations: { step: number; meanAuroc: number | null; trainLoss: number | null; perTask?: Record<string, number | null> }[];
  /** Mean training loss per logging interval (every 10 steps), as [step, loss]: the loss curve of RUN/curves.svg. */
  lossHistory?: [number, number][];
  config: RunConfig;
}

/** What {@link trainRun} returns. */
export interface TrainRunOutcome {
  /** Stopped by SIGINT with a checkpoint saved: the same call resumes it. */
  interrupted: boolean;
  result: TrainResult;
  /** RUN/metrics.json as written (undefined when interrupted). */
  metrics: RunMetrics | undefined;
  /** Wall-clock seconds of the training loop. */
  seconds: number;
}

/** Copies a folder into place atomically (temporary sibling, rename). */
const copyDirAtomic = (src: string, dst: string) => replaceDirAtomic(dst, (tmp) => fs.cp(src, tmp, { recursive: true }));

const round = (v: number) => (Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : null);
const roundMap = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round(v)]));

/** Makes sure the weights can be had before any data is read: downloads them into the cache (or finds them there, offline). */
async function fetchWeights(arch: string, weights: string, onProgress: ProgressCallback): Promise<void> {
  if (weights === 'imagenet') await downloadWeights(arch, { onProgress });
  else if (hasWeights(arch, weights)) await downloadWeights(arch, { onProgress, tag: weights });
  else if (/^https?:\/\//i.test(weights)) {
    if (!/model\.json(?:[?#].*)?$/.test(weights)) await downloadWeights(weights, { onProgress });
  } else if (!(await pathExists(weights))) {
    throw new Error(`Weights file not found: '${weights}'. Pass an existing .pth, .safetensors or model.json, imagenet, or none.`);
  }
}

/** `restart`: removes every result of the previous run in RUN (and leftovers of interrupted atomic writes). */
async function clearRun(out: string): Promise<void> {
  for (const f of RUN_OUTPUTS) await fs.rm(join(out, f), { recursive: true, force: true });
  for (const e of await fs.readdir(out)) if (TMP_SIBLING.test(e)) await fs.rm(join(out, e), { recursive: true, force: true });
}

/** A kill between the two renames of a checkpoint replacement leaves only `.last.old-*` (restored on load). */
async function hasAsideCheckpoint(ckptDir: string): Promise<boolean> {
  const entries = await fs.readdir(ckptDir).catch(() => [] as string[]);
  return entries.some((e) => e.startsWith('.last.old-'));
}

/** A resume must use the settings the run was started with: lists every difference, or passes. */
async function checkResumable(out: string, config: RunConfig): Promise<void> {
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(await fs.readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return; // no readable config.json: the checkpoint's own fingerprint is still compared by train()
  }
  const now = config as unknown as Record<string, unknown>;
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  const diffs = [...new Set([...Object.keys(saved), ...Object.keys(now)])]
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((k) => `${k}: ${show(saved[k])} -> ${show(now[k])}`);
  if (diffs.length > 0) {
    throw new Error(
      `${out} holds a run started with other settings (${diffs.join('; ')}). Resume it with the same settings, ` +
        'add --restart to discard it and start over, or use another --out.',
    );
  }
}

/** A fresh run must not leave a previous run's results (metrics.json, model/) next to its own. */
async function checkNoStaleResults(out: string): Promise<void> {
  const stale = [];
  for (const f of ['metrics.json', 'model']) if (await pathExists(join(out, f))) stale.push(f);
  if (stale.length > 0) {
    throw new Error(
      `${out} holds the results of a previous run (${stale.join(', ')}) but no checkpoint to resume from. ` +
        'Add --restart to replace them, or use another --out.',
    );
  }
}

type Say = (s: string) => void;

/** 1. The run folder: one trainer at a time; restart clears the old run's results; a resume must match. */
async function openRunFolder(out: string, config: RunConfig, control: TrainRunControl): Promise<{ lock: RunLock; ckptDir: string; resuming: boolean }> {
  const lock = await acquireRunLock(out);
  try {
    const ckptDir = join(out, 'checkpoints');
    if (control.restart) await clearRun(out);
    const resuming = existsSync(join(ckptDir, 'last')) || (await hasAsideCheckpoint(ckptDir));
    if (resuming) await checkResumable(out, config);
    else await checkNoStaleResults(out);
    return { lock, ckptDir, resuming };
  } catch (e) {
    await lock.release();
    throw e;
  }
}

/**
 * 2. The data files and the weights exist (the pretrained weights are downloaded into the cache now, or found there
 * in offline mode), before the dataset is read and the model built. Returns the backend in use.
 */
async function checkRunInputs(config: RunConfig, say: Say): Promise<string> {
  const layout = detectDataLayout(config.data);
  if (layout.layout === 'chexpert') findChexpertCsv(config.data, 'valid');
  say(`data: ${layout.description}`);
  const backend = await ensureBackend();
  if (config.weights !== 'none') {
    installNodeWeightsResolver();
    const download = downloadProgress(`${config.arch} weights`);
    await fetchWeights(config.arch, config.weights, download);
    download.done();
  }
  return backend;
}

/** 3. The training and validation sets, with the run's preprocessing; unreadable images are skipped with a warning. */
async function loadRunData(config: RunConfig, say: Say, decodeWorkers = 0): Promise<{ trainDs: ChexpertDataset; validDs: ChexpertDataset }> {
  const preprocess = runPreprocess(config);
  const load = (split: string, train: boolean) =>
    loadDataset(config.data, {
      split,
      tasks: config.tasks,
      uncertainty: config.uncertainty,
      ...(config.taskUncertainty ? { taskUncertainty: config.taskUncertainty } : {}),
      views: config.views,
      imageSize: config.imgSize,
      channels: 3,
      ...preprocess,
      batchSize: config.batchSize,
      seed: config.seed,
      augment: train && config.augment,
      shuffle: train,
      dicom: { policy: config.dicomPolicy ?? 'voi' },
      decodeWorkers,
      onSkip: (p, why) => say(`warning: skipping ${p}: ${why}`),
    });
  const trainDs = await load('train', true);
  const validDs = await load('valid', false);
  return { trainDs, validDs };
}

/** 4. The model (from the cache filled in step 2), truncated when asked; the memory plan is refused before any work. */
async function buildRunModel(config: RunConfig, control: TrainRunControl, say: Say): Promise<tf.LayersModel> {
  const { arch, imgSize, tasks, weights, seed } = config;
  const base = await createModel(arch, {
    numClasses: tasks.length,
    inputShape: [imgSize, imgSize, 3],
    seed,
    ...(weights !== 'none' ? { weights } : {}),
  });
  let model = base;
  if (config.truncate) {
    model = truncate(base, config.truncate, { numClasses: tasks.length, seed });
    base.dispose();
  }
  // the outputs' names travel with the model (checkpoints, RUN/model, exports, the demo): getOutputInfo(model).labels
  setOutputInfo(model, { labels: [...tasks], source: 'run' });
  try {
    // refuse a configuration that cannot fit before any training work (MemoryError names the largest micro-batch)
    const plan = planStep(model, config.batchSize, { microBatch: control.microBatch ?? 'auto' });
    if (plan.chunks > 1 || plan.checkpointing) {
      say(`memory: ${plan.checkpointing ? 'gradient checkpointing' : 'plain step'}, ${plan.chunks > 1 ? `${plan.chunks} micro-batches of ${plan.microBatch}` : 'whole batch'} ` +
        `(estimate ${formatBytes(plan.estimateBytes)}${Number.isFinite(plan.limitBytes) ? ` of ${formatBytes(plan.limitBytes)}` : ''})`);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** 5. train() with the run's settings, a file checkpoint store, the progress bar and the caller's callbacks. */
async function trainInFolder(
  model: tf.LayersModel,
  data: { trainDs: ChexpertDataset; validDs: ChexpertDataset },
  run: { config: RunConfig; ckptDir: string; signal: AbortSignal; control: TrainRunControl; quiet: boolean; say: Say },
): Promise<TrainResult> {
  const { config, control, quiet, say } = run;
  const { trainDs, validDs } = data;
  const posWeights = config.posWeight ? balancedPosWeights(trainDs.targets.y, trainDs.targets.mask, config.tasks.length) : undefined;
  const progress = createTrainProgress();
  const onStep = control.onStep;
  const result = await train(model, { train: trainDs, valid: validDs }, {
    lr: config.lr,
    lrSchedule: config.lrSchedule,
    ...(config.epochs !== null ? { epochs: config.epochs } : {}),
    ...(config.maxSteps !== null ? { maxSteps: config.maxSteps } : {}),
    validateEvery: config.validEvery ?? Math.max(1, Math.min(500, Math.ceil(trainDs.numBatches / TRAIN_DEFAULTS.validationsPerEpoch))),
    ...(control.checkpointEvery !== undefined ? { checkpointEvery: control.checkpointEvery } : {}),
    ...(config.patience !== null ? { earlyStopping: { patience: config.patience } } : {}),
    ...(posWeights ? { loss: { posWeights } } : {}),
    topK: config.topK,
    seed: config.seed,
    tasks: config.tasks,
    // what must not change between a run and its resumption: every setting that changes the result
    fingerprint: JSON.stringify(config),
    microBatch: control.microBatch ?? 'auto',
    store: new FileCheckpointStore(run.ckptDir),
    signal: run.signal,
    onResume: ({ step, epoch }) => say(`Resuming from the checkpoint at step ${step} (epoch ${epoch + 1}).`),
    onStep:
      quiet && !onStep
        ? undefined
        : (i) => {
            if (!quiet) progress.step(i);
            onStep?.(i);
          },
    onValidation: quiet
      ? undefined
      : (r) =>
          progress.line(
            `step ${r.step}: valid mean AUROC ${r.meanAuroc.toFixed(4)}${r.isBest ? ' (best)' : ''}, train loss ${r.trainLoss.toFixed(4)} | ` +
              Object.entries(r.perTask).map(([t, v]) => `${t} ${v.toFixed(3)}`).join(', '),
          ),
  });
  progress.done();
  return result;
}

/** RUN/metrics.json of a finished run. */
function runMetrics(result: TrainResult, config: RunConfig, backend: string): RunMetrics {
  const ens = result.ensemble;
  const last = result.validations.at(-1);
  return {
    valid: ens
      ? {
          meanAuroc: round(ens.meanAuroc),
          perTask: roundMap(ens.perTask),
          ci95: ens.ci ? { lower: round(ens.ci.lower), upper: round(ens.ci.upper), perTask: Object.fromEntries(Object.entries(ens.ci.perTask).map(([t, c]) => [t, { lower: round(c.lower), upper: round(c.upper) }])) } : null,
          undefinedTasks: ens.undefinedTasks,
          n: ens.n,
          models: ens.models,
          prediction: `mean probability of the top-${ens.models} checkpoints`,
        }
      : null,
    best: result.topK[0] ? { step: result.topK[0].step, meanAuroc: round(result.topK[0].meanAuroc), perTask: roundMap(result.topK[0].perTask) } : null,
    last: last ? { step: last.step, meanAuroc: round(last.meanAuroc), perTask: roundMap(last.perTask) } : null,
    topK: result.topK.map((e) => ({ id: e.id, step: e.step, meanAuroc: round(e.meanAuroc), path: `checkpoints/${e.id}` })),
    train: {
      steps: result.steps,
      epochs: round(result.epochs),
      seconds: Math.round(result.seconds * 10) / 10,
      stoppedEarly: result.stoppedEarly,
      resumedFrom: result.resumedFrom ?? null,
      finalLoss: result.lossHistory.at(-1)?.[1] ?? null,
      backend,
    },
    validations: result.validations.map((v) => ({ step: v.step, meanAuroc: round(v.meanAuroc), trainLoss: round(v.trainLoss), perTask: roundMap(v.perTask) })),
    lossHistory: result.lossHistory.flatMap(([step, loss]): [number, number][] => (Number.isFinite(loss) ? [[step, round(loss)!]] : [])),
    config,
  };
}

/** 6. RUN/model (the best checkpoint, or the final weights without validation), predictions, metrics, curves. */
async function writeRunResults(out: string, ckptDir: string, result: TrainResult, metrics: RunMetrics): Promise<void> {
  const store = new FileCheckpointStore(ckptDir);
  if (result.topK[0]) await copyDirAtomic(store.pathOf(result.topK[0].id), join(out, 'model'));
  else await copyDirAtomic(join(ckptDir, 'last'), join(out, 'model'));
  // predictions before metrics: a run folder with metrics.json is complete
  const preds = result.ensemblePredictions;
  if (preds) {
    const file: RunPredictionsFile = {
      version: 1,
      n: preds.n,
      tasks: preds.tasks,
      labels: Array.from(preds.labels),
      mask: Array.from(preds.mask),
      probs: Array.from(preds.probs, (v) => Math.round(v * 1e6) / 1e6),
    };
    await writeFileAtomic(join(out, 'predictions.json'), JSON.stringify(file) + '\n');
  }
  await writeFileAtomic(join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  await writeRunCurves(out);
}

/**
 * Trains one run in the folder `out` (resumable): holds `out/.lock`, resumes from `out/checkpoints/last` when the
 * settings match (else refuses with the differences), fetches the weights, reads the dataset, builds (and
 * truncates) the model, trains with a {@link FileCheckpointStore}, and writes RUN/model (best checkpoint),
 * RUN/predictions.json, RUN/metrics.json and RUN/curves.svg. SIGINT saves a checkpoint and resolves `interrupted`
 * (a second one exits).
 * @example const { metrics } = await trainRun(resolveRunConfig({ arch: 'resnet18', data: '/tmp/synth', maxSteps: 20 }), 'runs/r18');
 */
export async function trainRun(config: RunConfig, out: string, control: TrainRunControl = {}): Promise<TrainRunOutcome> {
  const quiet = control.quiet ?? false;
  const stderr = control.log ?? ((t: string) => process.stderr.write(t));
  const say = (s: string) => {
    if (!quiet) stderr(`${s}\n`);
  };
  out = resolve(out);
  let model: tf.LayersModel | undefined;
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    say('\nInterrupted: saving a checkpoint (Ctrl-C again to quit at once)...');
    ac.abort();
  };
  let lock: RunLock | undefined;
  try {
    const folder = await openRunFolder(out, config, control);
    lock = folder.lock;
    const backend = await checkRunInputs(config, say);
    const data = await loadRunData(config, say, control.decodeWorkers);
    if (!folder.resuming) await writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    say(
      `chexzoo train: ${config.arch}${config.truncate ? ` truncated at ${config.truncate}` : ''}, ${config.imgSize}x${config.imgSize}, batch ${config.batchSize}, lr ${config.lr}, ` +
        `weights ${config.weights}, backend ${backend}; ${data.trainDs.size} train / ${data.validDs.size} valid images, tasks ${config.tasks.join(', ')}`,
    );
    model = await buildRunModel(config, control, say);
    process.once('SIGINT', onSigint);
    const t0 = Date.now();
    const result = await trainInFolder(model, data, { config, ckptDir: folder.ckptDir, signal: ac.signal, control, quiet, say });
    const seconds = (Date.now() - t0) / 1000;
    process.removeListener('SIGINT', onSigint);
    if (result.interrupted) {
      say(`Stopped at step ${result.steps}; checkpoint saved. Run the same command again to resume.`);
      return { interrupted: true, result, metrics: undefined, seconds };
    }
    const metrics = runMetrics(result, config, backend);
    await writeRunResults(out, folder.ckptDir, result, metrics);
    return { interrupted: false, result, metrics, seconds };
  } finally {
    process.removeListener('SIGINT', onSigint);
    model?.dispose();
    await lock?.release();
  }
}

/**
 * RUN/config.json of a run folder written by {@link trainRun} (`chexzoo train --out RUN`).
 * @example const config = await readRunConfig('runs/r18'); config.arch; // 'resnet18'
 */
export async function readRunConfig(run: string): Promise<RunConfig> {
  const configPath = join(run, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${configPath} not found: --run must be the --out folder of chexzoo train.`);
  return JSON.parse(await fs.readFile(configPath, 'utf8')) as RunConfig;
}

/** Model folders of a run: its top-k checkpoints (best first), else RUN/model; `best` takes RUN/model only. */
export async function runModelDirs(run: string, best = false): Promise<string[]> {
  const model = join(run, 'model');
  const statePath = join(run, 'checkpoints', 'last', 'state.json');
  if (!best && existsSync(statePath)) {
    const state = JSON.parse(await fs.readFile(statePath, 'utf8')) as TrainState;
    const dirs = state.topK.map((e) => join(run, 'checkpoints', e.id)).filter((d) => existsSync(join(d, 'model.json')));
    if (dirs.length > 0) return dirs;
  }
  if (existsSync(join(model, 'model.json'))) return [model];
  throw new Error(`No trained model in ${run} (expected ${model}/model.json or checkpoints/last/state.json). Pass the --out folder of chexzoo train.`);
}

/** Options of {@link evaluateRun}. */
export interface EvaluateRunOptions {
  /** CSV to evaluate (default valid). */
  split?: string;
  /** RUN/model only, not the top-k ensemble. */
  best?: boolean;
  /** Bootstrap replicates of the 95% intervals (default 1000; 0 = none). */
  bootstrap?: number;
  /** Bootstrap seed (default 0). */
  seed?: number;
  /** DICOM policy (default: the run's own, `'voi'` unless it trained with `'minmax'`). */
  dicomPolicy?: IntensityPolicy;
  /** Decode images on this many worker threads (default 0). */
  decodeWorkers?: number;
  onProgress?: (done: number, total: number | undefined) => void;
}

/** What {@link evaluateRun} returns. */
export interface EvaluateRunResult {
  run: string;
  config: RunConfig;
  split: string;
  /** The data layout found at `data` (chexpert, mimic-cxr-jpg, mimic-cxr, csv). */
  layout?: string;
  /** The model folders whose mean probability was scored. */
  models: string[];
  result: EvaluationResult;
}

/**
 * Evaluates a run (its top-k ensemble, or with `best` its best model) on a CheXpert-format split, with the run's
 * own data pipeline (tasks, label policy, views, input size, preprocessing from RUN/config.json).
 * @example const { result } = await evaluateRun('runs/r18', '/tmp/synth', { bootstrap: 100 }); result.meanAuroc;
 */
export async function evaluateRun(run: string, data: string, options: EvaluateRunOptions = {}): Promise<EvaluateRunResult> {
  run = resolve(run);
  const config = await readRunConfig(run);
  await ensureBackend();
  const dirs = await runModelDirs(run, options.best ?? false);
  const models: tf.LayersModel[] = [];
  try {
    for (const d of dirs) models.push(await loadModel(d));
    const ds = await loadDataset(data, {
      split: options.split ?? 'valid',
      tasks: config.tasks,
      uncertainty: config.uncertainty,
      ...(config.taskUncertainty ? { taskUncertainty: config.taskUncertainty } : {}),
      views: config.views,
      imageSize: config.imgSize,
      channels: config.channels,
      ...runPreprocess(config),
      batchSize: config.batchSize,
      shuffle: false,
      dicom: { policy: checkDicomPolicy(options.dicomPolicy ?? config.dicomPolicy) },
      decodeWorkers: options.decodeWorkers ?? 0,
    });
    const replicates = options.bootstrap ?? 1000;
    const result = await evaluate(models, ds, {
      tasks: config.tasks,
      bootstrap: replicates === 0 ? false : { n: replicates, seed: options.seed ?? 0 },
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { run, config, split: ds.split, ...(ds.layout ? { layout: ds.layout } : {}), models: dirs, result };
  } finally {
    models.forEach((m) => m.dispose());
  }
}
