// `chexzoo train`: trains a zoo architecture on a CheXpert-format dataset, resumable, writing RUN/metrics.json,
// RUN/model (best checkpoint) and RUN/checkpoints (top-k + last).
import { promises as fs, existsSync } from 'node:fs';
import { archFlag, failWith, intFlag, numberFlag, parseCommand, stageFlag, UsageError } from './args.js';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend/index.js';
import { createModel, getModelInfo } from '../zoo/registry.js';
import { findChexpertCsv, loadChexpert } from '../data/dataset.js';
import { COMPETITION_TASKS, normalizeUncertainty, resolveTasks, type ViewName } from '../data/chexpert.js';
import { truncate } from '../truncate.js';
import { downloadWeights, installNodeWeightsResolver } from '../weights/fetch-node.js';
import { hasWeights } from '../weights/manifest.js';
import type { ProgressCallback } from '../weights/fetch.js';
import { train, type StepInfo, type TrainResult } from '../train/loop.js';
import { balancedPosWeights } from '../train/losses.js';
import { formatBytes, planStep } from '../train/memory.js';
import { FileCheckpointStore } from '../train/checkpoints.js';
import { acquireRunLock, type RunLock } from '../train/lock.js';
import { createTrainProgress } from '../train/progress.js';
import { downloadProgress } from './progress.js';
import { pathExists, replaceDirAtomic, TMP_SIBLING, writeFileAtomic } from '../utils/atomic.js';
import { getPreprocessConfig } from '../weights/manifest.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/augment.js';
import { kernelFor, type ResizeKernel } from '../data/images.js';

/** Defaults of `chexzoo train`, chosen so `chexzoo synth` + `chexzoo train --arch resnet18` fits in ~10 min on 2 cores. */
export const TRAIN_DEFAULTS = {
  imgSize: 64,
  batchSize: 16,
  epochs: 1,
  /** Validations per epoch (unless --valid-every), at most every 500 steps. */
  validationsPerEpoch: 3,
  /** Adam learning rate with pretrained weights / from scratch. */
  lrPretrained: 1e-4,
  lrScratch: 1e-3,
  topK: 3,
  seed: 0,
} as const;

const USAGE = `Usage: chexzoo train --arch A --data DIR --out RUN [options]

Trains a zoo architecture on a CheXpert-format dataset (real, or made by \`chexzoo synth\`) with Adam on masked
sigmoid cross-entropy, validating on valid.csv (mean AUROC over the tasks). Keeps the top-k checkpoints, writes
RUN/metrics.json, RUN/model (best checkpoint) and RUN/checkpoints. Run the same command again to resume
after an interruption (Ctrl-C saves a checkpoint; a kill loses at most the steps since the last one); a
resume with other settings is refused with the differences. One trainer per RUN (RUN/.lock).
Exit codes: 0 done, 1 failure, 2 usage error, 130 interrupted (resumable).

  --arch A              architecture (chexzoo list)
  --data DIR            dataset folder holding train.csv / valid.csv (or its parent)
  --out RUN             run folder
  --epochs E            epochs (default ${TRAIN_DEFAULTS.epochs} unless --max-steps is given)
  --max-steps N         stop after N optimizer steps
  --img-size S          square input side in pixels (default ${TRAIN_DEFAULTS.imgSize})
  --batch-size B        default ${TRAIN_DEFAULTS.batchSize}
  --micro-batch N       images per forward/backward pass; gradients of a batch's micro-batches are summed into
                        one step (default auto: the whole batch when it fits the memory, wasm: 4 GiB, else the
                        largest equal split; BatchNorm then uses micro-batch statistics). Not part of the resume
                        check: lower it to resume a run that ran out of memory
  --lr X                Adam learning rate (default ${TRAIN_DEFAULTS.lrPretrained} with pretrained weights, ${TRAIN_DEFAULTS.lrScratch} from scratch)
  --lr-schedule S       constant (default) or cosine
  --weights W           imagenet | none (default: from scratch) | PATH (.pth, .safetensors, model.json)
  --truncate BLOCK      cut the network after stage BLOCK (chexzoo info A lists stages; -K drops the last K)
                        and add a new head
  --uncertainty U       ones (default) | zeros | ignore: what uncertain labels become
  --tasks T1,T2         observations to predict (default the 5 competition tasks)
  --views V             all (default) | frontal | lateral | AP | PA
  --augment             random rotation/shift/scale/brightness/contrast on training images
  --pos-weight          weight positives by negatives/positives per task (imbalanced findings)
  --valid-every N       validate every N steps (default: ${TRAIN_DEFAULTS.validationsPerEpoch} times per epoch, at most every 500 steps)
  --checkpoint-every N  save the resumable checkpoint every N steps (default: at each validation)
  --top-k K             checkpoints kept and ensembled (default ${TRAIN_DEFAULTS.topK})
  --patience P          early stopping after P validations without improvement
  --seed S              seeds initialisation, shuffling, augmentation, dropout and stochastic depth (default ${TRAIN_DEFAULTS.seed})
  --restart             discard RUN's previous run (checkpoints, model, metrics) and start over
  --quiet               print only the final summary
`;

/** Copies a folder into place atomically (temporary sibling, rename). */
const copyDirAtomic = (src: string, dst: string) => replaceDirAtomic(dst, (tmp) => fs.cp(src, tmp, { recursive: true }));

const round = (v: number) => (Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : null);
const roundMap = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round(v)]));

/** The run configuration written to RUN/config.json; `chexzoo eval` rebuilds the data pipeline from it. */
export interface RunConfig {
  arch: string;
  imgSize: number;
  channels: 3;
  batchSize: number;
  tasks: string[];
  uncertainty: string;
  views: ViewName;
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

/** What `chexzoo train` writes into RUN, removed by `--restart` (the summary first, so no old result outlives a partial clean-up). */
export const RUN_OUTPUTS = ['metrics.json', 'model', 'checkpoints', 'config.json'] as const;

/** Runs an option parser that throws plain errors, turning them into usage errors. */
function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `--weights`: imagenet | none | an http(s) URL | a path (made absolute, so a resume can compare it). */
function weightsFlag(arch: string, v: string): string {
  if (v === 'none') return v;
  if (v === 'imagenet') {
    if (!hasWeights(arch)) throw new UsageError(`--weights imagenet: no ImageNet weights are registered for ${arch}.`);
    return v;
  }
  if (v === '') throw new UsageError('--weights must be imagenet, none or a path.');
  return /^https?:\/\//i.test(v) ? v : resolve(v);
}

/** Makes sure the weights can be had before any data is read: downloads them into the cache (or finds them there, offline). */
async function fetchWeights(arch: string, weights: string, onProgress: ProgressCallback): Promise<void> {
  if (weights === 'imagenet') await downloadWeights(arch, { onProgress });
  else if (/^https?:\/\//i.test(weights)) {
    if (!/model\.json(?:[?#].*)?$/.test(weights)) await downloadWeights(weights, { onProgress });
  } else if (!(await pathExists(weights))) {
    throw new Error(`Weights file not found: '${weights}'. Pass an existing .pth, .safetensors or model.json, imagenet, or none.`);
  }
}

/** `--restart`: removes every result of the previous run in RUN (and leftovers of interrupted atomic writes). */
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

/** Hooks of {@link runTrain} for callers that run it in-process (the study). */
export interface RunTrainHooks {
  /** After every optimizer step. */
  onStep?: (info: StepInfo) => void;
  /** Replaces process.stdout.write for the summary lines. */
  write?: (text: string) => void;
  /** Replaces process.stderr.write for messages. */
  log?: (text: string) => void;
}

/**
 * Runs `chexzoo train` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runTrain(['--arch', 'resnet18', '--data', '/tmp/synth', '--out', 'runs/r18']);
 */
export async function runTrain(argv: string[], hooks: RunTrainHooks = {}): Promise<number> {
  const parsed = parseCommand('train', USAGE, {
    args: argv,
    options: {
      arch: { type: 'string', short: 'a' },
      data: { type: 'string', short: 'd' },
      out: { type: 'string', short: 'o' },
      epochs: { type: 'string' },
      'max-steps': { type: 'string' },
      'img-size': { type: 'string' },
      'batch-size': { type: 'string' },
      'micro-batch': { type: 'string' },
      lr: { type: 'string' },
      'lr-schedule': { type: 'string' },
      weights: { type: 'string' },
      truncate: { type: 'string' },
      uncertainty: { type: 'string' },
      tasks: { type: 'string' },
      views: { type: 'string' },
      augment: { type: 'boolean', default: false },
      'pos-weight': { type: 'boolean', default: false },
      'valid-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'top-k': { type: 'string' },
      patience: { type: 'string' },
      seed: { type: 'string' },
      restart: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const stdout = hooks.write ?? ((t: string) => process.stdout.write(t));
  const stderr = hooks.log ?? ((t: string) => process.stderr.write(t));
  const say = (s: string) => {
    if (!values.quiet) stderr(`${s}\n`);
  };
  let model: tf.LayersModel | undefined;
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    say('\nInterrupted: saving a checkpoint (Ctrl-C again to quit at once)...');
    ac.abort();
  };
  let lock: RunLock | undefined;
  try {
    // 1. flags (exit 2 at once, before anything is read, built or downloaded)
    for (const req of ['arch', 'data', 'out'] as const) {
      if (!values[req]) throw new UsageError(`--${req} is required.`);
    }
    const arch = archFlag('arch', values.arch);
    const info = getModelInfo(arch);
    const imgSize = intFlag('img-size', values['img-size'], { min: 1 }) ?? TRAIN_DEFAULTS.imgSize;
    if (imgSize < info.minImageSize) throw new UsageError(`--img-size ${imgSize} is below ${arch}'s minimum input of ${info.minImageSize} px.`);
    const batchSize = intFlag('batch-size', values['batch-size'], { min: 1 }) ?? TRAIN_DEFAULTS.batchSize;
    const microBatch = values['micro-batch'] === undefined || values['micro-batch'] === 'auto' ? 'auto' : intFlag('micro-batch', values['micro-batch'], { min: 1 })!;
    const maxSteps = intFlag('max-steps', values['max-steps'], { min: 1 });
    const epochs = intFlag('epochs', values.epochs, { min: 1 }) ?? (maxSteps === undefined ? TRAIN_DEFAULTS.epochs : undefined);
    const weights = weightsFlag(arch, values.weights ?? 'none');
    const lr = numberFlag('lr', values.lr, { above: 0 }) ?? (weights === 'none' ? TRAIN_DEFAULTS.lrScratch : TRAIN_DEFAULTS.lrPretrained);
    const lrSchedule = values['lr-schedule'] ?? 'constant';
    if (lrSchedule !== 'constant' && lrSchedule !== 'cosine') throw new UsageError(`--lr-schedule must be constant or cosine, got "${lrSchedule}".`);
    const uncertainty = asUsage(() => normalizeUncertainty(values.uncertainty ?? 'ones'));
    const tasks = asUsage(() => resolveTasks(values.tasks ? values.tasks.split(',') : COMPETITION_TASKS));
    const views = (values.views ?? 'all') as ViewName;
    if (!['all', 'frontal', 'lateral', 'AP', 'PA'].includes(views)) throw new UsageError(`--views must be all, frontal, lateral, AP or PA; got "${views}".`);
    const seed = intFlag('seed', values.seed, { min: 0 }) ?? TRAIN_DEFAULTS.seed;
    const topK = intFlag('top-k', values['top-k'], { min: 1 }) ?? TRAIN_DEFAULTS.topK;
    const patience = intFlag('patience', values.patience, { min: 1 });
    const validEvery = intFlag('valid-every', values['valid-every'], { min: 1 });
    const checkpointEvery = intFlag('checkpoint-every', values['checkpoint-every'], { min: 1 });
    const truncateAt = values.truncate === undefined ? null : stageFlag('truncate', arch, values.truncate);
    const out = resolve(values.out!);
    const pre = getPreprocessConfig(arch);
    const preprocess: RunPreprocess = { mean: pre.mean, std: pre.std, kernel: kernelFor(pre.interpolation) };

    const config: RunConfig = {
      arch,
      imgSize,
      channels: 3,
      batchSize,
      tasks,
      uncertainty,
      views,
      truncate: truncateAt,
      weights,
      lr,
      lrSchedule,
      epochs: epochs ?? null,
      maxSteps: maxSteps ?? null,
      augment: values.augment,
      posWeight: values['pos-weight'],
      seed,
      data: resolve(values.data!),
      topK,
      patience: patience ?? null,
      validEvery: validEvery ?? null,
      preprocess,
    };
    // what must not change between a run and its resumption: every setting that changes the result
    const fingerprint = JSON.stringify(config);

    // 2. the run folder: one trainer at a time; --restart clears the old run's results; a resume must match
    lock = await acquireRunLock(out);
    const ckptDir = join(out, 'checkpoints');
    if (values.restart) await clearRun(out);
    const resuming = existsSync(join(ckptDir, 'last')) || (await hasAsideCheckpoint(ckptDir));
    if (resuming) await checkResumable(out, config);
    else await checkNoStaleResults(out);

    // 3. the data files and the weights exist (the ImageNet weights are downloaded into the cache now, or
    //    found there in offline mode), before the dataset is read and the model built
    findChexpertCsv(config.data, 'train');
    findChexpertCsv(config.data, 'valid');
    const backend = await ensureBackend();
    if (weights !== 'none') {
      installNodeWeightsResolver();
      const download = downloadProgress(`${arch} weights`);
      await fetchWeights(arch, weights, download);
      download.done();
    }

    // 4. the dataset, the model
    const load = (split: string, train: boolean) =>
      loadChexpert(config.data, {
        split,
        tasks,
        uncertainty,
        views,
        imageSize: imgSize,
        channels: 3,
        ...preprocess,
        batchSize,
        seed,
        augment: train && config.augment,
        shuffle: train,
        onSkip: (p, why) => say(`warning: skipping ${p}: ${why}`),
      });
    const trainDs = await load('train', true);
    const validDs = await load('valid', false);
    if (!resuming) await writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');

    say(
      `chexzoo train: ${arch}${config.truncate ? ` truncated at ${config.truncate}` : ''}, ${imgSize}x${imgSize}, batch ${batchSize}, lr ${lr}, ` +
        `weights ${weights}, backend ${backend}; ${trainDs.size} train / ${validDs.size} valid images, tasks ${tasks.join(', ')}`,
    );

    const base = await createModel(arch, {
      numClasses: tasks.length,
      inputShape: [imgSize, imgSize, 3],
      seed,
      ...(weights !== 'none' ? { weights } : {}), // from the cache filled above
    });
    if (config.truncate) {
      model = truncate(base, config.truncate, { numClasses: tasks.length, seed });
      base.dispose();
    } else {
      model = base;
    }

    // refuse a configuration that cannot fit before any training work (MemoryError names the largest micro-batch)
    const plan = planStep(model, batchSize, { microBatch });
    if (plan.chunks > 1 || plan.checkpointing) {
      say(`memory: ${plan.checkpointing ? 'gradient checkpointing' : 'plain step'}, ${plan.chunks > 1 ? `${plan.chunks} micro-batches of ${plan.microBatch}` : 'whole batch'} ` +
        `(estimate ${formatBytes(plan.estimateBytes)}${Number.isFinite(plan.limitBytes) ? ` of ${formatBytes(plan.limitBytes)}` : ''})`);
    }
    const posWeights = config.posWeight ? balancedPosWeights(trainDs.targets.y, trainDs.targets.mask, tasks.length) : undefined;
    const progress = createTrainProgress();
    const quiet = values.quiet;
    process.once('SIGINT', onSigint);
    const t0 = Date.now();
    const result: TrainResult = await train(model, { train: trainDs, valid: validDs }, {
      lr,
      lrSchedule,
      ...(epochs !== undefined ? { epochs } : {}),
      ...(maxSteps !== undefined ? { maxSteps } : {}),
      validateEvery: validEvery ?? Math.max(1, Math.min(500, Math.ceil(trainDs.numBatches / TRAIN_DEFAULTS.validationsPerEpoch))),
      ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
      ...(patience !== undefined ? { earlyStopping: { patience } } : {}),
      ...(posWeights ? { loss: { posWeights } } : {}),
      topK,
      seed,
      tasks,
      fingerprint,
      microBatch,
      store: new FileCheckpointStore(ckptDir),
      signal: ac.signal,
      onResume: ({ step, epoch }) => say(`Resuming from the checkpoint at step ${step} (epoch ${epoch + 1}).`),
      onStep:
        quiet && !hooks.onStep
          ? undefined
          : (i) => {
              if (!quiet) progress.step(i);
              hooks.onStep?.(i);
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
    process.removeListener('SIGINT', onSigint);
    if (result.interrupted) {
      say(`Stopped at step ${result.steps}; checkpoint saved. Run the same command again to resume.`);
      return 130;
    }

    // RUN/model: the best checkpoint (or the final weights without validation results)
    const store = new FileCheckpointStore(ckptDir);
    if (result.topK[0]) await copyDirAtomic(store.pathOf(result.topK[0].id), join(out, 'model'));
    else await copyDirAtomic(join(ckptDir, 'last'), join(out, 'model'));

    const ens = result.ensemble;
    const last = result.validations.at(-1);
    const metrics = {
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
      validations: result.validations.map((v) => ({ step: v.step, meanAuroc: round(v.meanAuroc), trainLoss: round(v.trainLoss) })),
      config,
    };
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
    const summary = ens
      ? `valid mean AUROC ${ens.meanAuroc.toFixed(4)} (95% CI ${ens.ci ? `${ens.ci.lower.toFixed(3)}-${ens.ci.upper.toFixed(3)}` : 'n/a'}, top-${ens.models} ensemble; best single ${result.topK[0]!.meanAuroc.toFixed(4)} at step ${result.topK[0]!.step})`
      : 'no validation result';
    stdout(
      `Trained ${arch} for ${result.steps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s${result.stoppedEarly ? ' (early stop)' : ''}: ${summary}\n` +
        `Wrote ${join(out, 'metrics.json')} and ${join(out, 'model')}\n`,
    );
    return 0;
  } catch (e) {
    process.removeListener('SIGINT', onSigint);
    // an in-process caller (the study) gets the reason through its log hook
    hooks.log?.(`chexzoo train: ${(e as Error).message}\n`);
    return failWith('train', USAGE, e);
  } finally {
    model?.dispose();
    await lock?.release();
  }
}
