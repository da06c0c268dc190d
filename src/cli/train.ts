// `chexzoo train`: trains a zoo architecture on a CheXpert-format dataset, resumable, writing RUN/metrics.json,
// RUN/model (best checkpoint) and RUN/checkpoints (top-k + last).
import { promises as fs, existsSync } from 'node:fs';
import { parseCommand } from './args.js';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend/index.js';
import { createModel, getModelInfo, listModels } from '../zoo/registry.js';
import { loadChexpert } from '../data/dataset.js';
import { COMPETITION_TASKS, normalizeUncertainty, resolveTasks, type ViewName } from '../data/chexpert.js';
import { truncate } from '../truncate.js';
import { installNodeWeightsResolver } from '../weights/fetch-node.js';
import { train, type StepInfo, type TrainResult } from '../train/loop.js';
import { balancedPosWeights } from '../train/losses.js';
import { FileCheckpointStore } from '../train/checkpoints.js';
import { createTrainProgress } from '../train/progress.js';
import { downloadProgress } from './progress.js';
import { replaceDirAtomic, writeFileAtomic } from '../utils/atomic.js';

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
after an interruption (Ctrl-C saves a checkpoint; a kill loses at most the steps since the last one).

  --arch A              architecture (chexzoo list)
  --data DIR            dataset folder holding train.csv / valid.csv (or its parent)
  --out RUN             run folder
  --epochs E            epochs (default ${TRAIN_DEFAULTS.epochs} unless --max-steps is given)
  --max-steps N         stop after N optimizer steps
  --img-size S          square input side in pixels (default ${TRAIN_DEFAULTS.imgSize})
  --batch-size B        default ${TRAIN_DEFAULTS.batchSize}
  --lr X                Adam learning rate (default ${TRAIN_DEFAULTS.lrPretrained} with pretrained weights, ${TRAIN_DEFAULTS.lrScratch} from scratch)
  --lr-schedule S       constant (default) or cosine
  --weights W           imagenet | none (default: from scratch) | PATH (.pth, .safetensors, model.json)
  --truncate BLOCK      cut the network after stage BLOCK (chexzoo info A lists stages) and add a new head
  --uncertainty U       ones (default) | zeros | ignore: what uncertain labels become
  --tasks T1,T2         observations to predict (default the 5 competition tasks)
  --views V             all (default) | frontal | lateral | AP | PA
  --augment             random rotation/shift/scale/brightness/contrast on training images
  --pos-weight          weight positives by negatives/positives per task (imbalanced findings)
  --valid-every N       validate every N steps (default: ${TRAIN_DEFAULTS.validationsPerEpoch} times per epoch, at most every 500 steps)
  --checkpoint-every N  save the resumable checkpoint every N steps (default: at each validation)
  --top-k K             checkpoints kept and ensembled (default ${TRAIN_DEFAULTS.topK})
  --patience P          early stopping after P validations without improvement
  --seed S              shuffling and augmentation seed (default ${TRAIN_DEFAULTS.seed})
  --restart             discard RUN's checkpoints and start over
  --quiet               print only the final summary
`;

function num(name: string, v: string | undefined, kind: 'int' | 'float'): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${kind === 'int' ? 'an integer' : 'a number'}, got "${v}".`);
  }
  return n;
}

class UsageError extends Error {}

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
  try {
    for (const req of ['arch', 'data', 'out'] as const) {
      if (!values[req]) throw new UsageError(`--${req} is required.`);
    }
    const arch = values.arch!;
    if (!listModels().includes(arch)) throw new UsageError(`Unknown architecture '${arch}'. Valid: ${listModels().join(', ')}.`);
    const info = getModelInfo(arch);
    const imgSize = num('img-size', values['img-size'], 'int') ?? TRAIN_DEFAULTS.imgSize;
    if (imgSize < info.minInputSize) throw new UsageError(`--img-size ${imgSize} is below ${arch}'s minimum input of ${info.minInputSize} px.`);
    const batchSize = num('batch-size', values['batch-size'], 'int') ?? TRAIN_DEFAULTS.batchSize;
    const maxSteps = num('max-steps', values['max-steps'], 'int');
    const epochs = num('epochs', values.epochs, 'int') ?? (maxSteps === undefined ? TRAIN_DEFAULTS.epochs : undefined);
    const weights = values.weights ?? 'none';
    const lr = num('lr', values.lr, 'float') ?? (weights === 'none' ? TRAIN_DEFAULTS.lrScratch : TRAIN_DEFAULTS.lrPretrained);
    const lrSchedule = values['lr-schedule'] ?? 'constant';
    if (lrSchedule !== 'constant' && lrSchedule !== 'cosine') throw new UsageError(`--lr-schedule must be constant or cosine, got "${lrSchedule}".`);
    const uncertainty = normalizeUncertainty(values.uncertainty ?? 'ones');
    const tasks = resolveTasks(values.tasks ? values.tasks.split(',') : COMPETITION_TASKS);
    const views = (values.views ?? 'all') as ViewName;
    if (!['all', 'frontal', 'lateral', 'AP', 'PA'].includes(views)) throw new UsageError(`--views must be all, frontal, lateral, AP or PA; got "${views}".`);
    const seed = num('seed', values.seed, 'int') ?? TRAIN_DEFAULTS.seed;
    const topK = num('top-k', values['top-k'], 'int') ?? TRAIN_DEFAULTS.topK;
    const patience = num('patience', values.patience, 'int');
    const validEvery = num('valid-every', values['valid-every'], 'int');
    const checkpointEvery = num('checkpoint-every', values['checkpoint-every'], 'int');
    const out = resolve(values.out!);

    const config: RunConfig = {
      arch,
      imgSize,
      channels: 3,
      batchSize,
      tasks,
      uncertainty,
      views,
      truncate: values.truncate ?? null,
      weights,
      lr,
      lrSchedule,
      epochs: epochs ?? null,
      maxSteps: maxSteps ?? null,
      augment: values.augment,
      posWeight: values['pos-weight'],
      seed,
      data: resolve(values.data!),
    };
    // what must not change between a run and its resumption
    const fingerprint = JSON.stringify({ arch, imgSize, batchSize, tasks, uncertainty, views, truncate: config.truncate, augment: config.augment, posWeight: config.posWeight, seed });

    const backend = await ensureBackend();
    if (weights !== 'none') installNodeWeightsResolver();
    const load = (split: string, train: boolean) =>
      loadChexpert(config.data, {
        split,
        tasks,
        uncertainty,
        views,
        imageSize: imgSize,
        channels: 3,
        batchSize,
        seed,
        augment: train && config.augment,
        shuffle: train,
        onSkip: (p, why) => say(`warning: skipping ${p}: ${why}`),
      });
    const trainDs = await load('train', true);
    const validDs = await load('valid', false);

    const ckptDir = join(out, 'checkpoints');
    if (values.restart) await fs.rm(ckptDir, { recursive: true, force: true });
    await fs.mkdir(out, { recursive: true });
    const resuming = existsSync(join(ckptDir, 'last'));
    if (!resuming) await writeFileAtomic(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');

    say(
      `chexzoo train: ${arch}${config.truncate ? ` truncated at ${config.truncate}` : ''}, ${imgSize}x${imgSize}, batch ${batchSize}, lr ${lr}, ` +
        `weights ${weights}, backend ${backend}; ${trainDs.size} train / ${validDs.size} valid images, tasks ${tasks.join(', ')}`,
    );

    const download = downloadProgress(`${arch} weights`);
    const base = await createModel(arch, {
      numClasses: tasks.length,
      inputShape: [imgSize, imgSize, 3],
      ...(weights !== 'none' ? { weights, onProgress: download } : {}),
    });
    download.done();
    if (config.truncate) {
      model = truncate(base, config.truncate, { numClasses: tasks.length });
      base.dispose();
    } else {
      model = base;
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
    if (e instanceof UsageError) {
      stderr(`chexzoo train: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    stderr(`chexzoo train: ${(e as Error).message}\n`);
    return 1;
  } finally {
    model?.dispose();
  }
}
