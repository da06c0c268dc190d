// `chexzoo train`: parses the flags and calls trainRun (src/node/train/run.ts), which trains a zoo architecture on a
// CheXpert-format dataset, resumable, writing RUN/metrics.json, RUN/model (best checkpoint) and RUN/checkpoints (top-k + last).
import { join, resolve } from 'node:path';
import { archFlag, blockFlag, DATA_READ_OPTIONS, DATA_READ_USAGE, dataReadFlags, failWith, IMAGE_SIZE_OPTIONS, imageSizeFlag, intFlag, numberFlag, parseCommand, UsageError } from './args.js';
import type { ViewName } from '../data/chexpert.js';
import type { StepInfo, TrainResult } from '../train/loop.js';
import { resolveRunConfig, trainRun, TRAIN_DEFAULTS, type RunConfig } from '../node/train/run.js';
import { RUN_CURVES } from '../node/train/curves.js';

const USAGE = `Usage: chexzoo train --arch A --data DIR --out RUN [options]

Trains a zoo architecture on a CheXpert-format dataset (real, or made by \`chexzoo synth\`) with Adam on masked
sigmoid cross-entropy, validating on valid.csv (mean AUROC over the tasks). Keeps the top-k checkpoints, writes
RUN/metrics.json, RUN/model (best checkpoint) and RUN/checkpoints. Run the same command again to resume
after an interruption (Ctrl-C saves a checkpoint; a kill loses at most the steps since the last one); a
resume with other settings is refused with the differences. One trainer per RUN (RUN/.lock).
Exit codes: 0 done, 1 failure, 2 usage error, 130 interrupted (resumable).

  --arch A              architecture (chexzoo list)
  --data DIR            a CheXpert folder (train.csv / valid.csv, or its parent), a MIMIC-CXR(-JPG) folder
                        (.jpg or .dcm), or a labelled CSV (docs/data.md); the layout found is printed
  --out RUN             run folder
  --epochs E            epochs (default ${TRAIN_DEFAULTS.epochs} unless --max-steps is given)
  --max-steps N         stop after N optimizer steps
  --image-size S        square input side in pixels (default ${TRAIN_DEFAULTS.imageSize}; --img-size: deprecated alias)
  --batch-size B        default ${TRAIN_DEFAULTS.batchSize}
  --micro-batch N       images per forward/backward pass; gradients of a batch's micro-batches are summed into
                        one step (default auto: the whole batch when it fits the memory, wasm: 4 GiB, else the
                        largest equal split; BatchNorm then uses micro-batch statistics). Not part of the resume
                        check: lower it to resume a run that ran out of memory
  --lr X                Adam learning rate (default ${TRAIN_DEFAULTS.lrPretrained} with pretrained weights, ${TRAIN_DEFAULTS.lrScratch} from scratch)
  --lr-schedule S       constant (default) or cosine
  --weights W           imagenet | none (default: from scratch) | PATH (.pth, .safetensors, model.json) |
                        another registered tag of the architecture (xrv-all: torchxrayvision's chest X-ray weights)
  --truncate BLOCK      cut the network after block BLOCK (chexzoo truncate --arch A lists them; -K drops the last K)
                        and add a new head
  --uncertainty U       ones | zeros | ignore: what uncertain (-1) labels become, for every task (default: ones
                        for CheXpert's observations, zeros for a labelled CSV's other task names)
  --tasks T1,T2         tasks to predict: CheXpert observations, or a labelled CSV's label columns (any names,
                        case-insensitive; default the 5 competition tasks, or every label column of a CSV without them)
  --views V             all (default) | frontal | lateral | AP | PA
  --augment             random rotation/shift/scale/brightness/contrast on training images
  --pos-weight          weight positives by negatives/positives per task (imbalanced findings)
  --valid-every N       validate every N steps (default: ${TRAIN_DEFAULTS.validationsPerEpoch} times per epoch, at most every 500 steps)
  --checkpoint-every N  save the resumable checkpoint every N steps (default: at each validation)
  --top-k K             checkpoints kept and ensembled (default ${TRAIN_DEFAULTS.topK})
  --patience P          early stopping after P validations without improvement
  --seed S              seeds initialisation, shuffling, augmentation, dropout and stochastic depth (default ${TRAIN_DEFAULTS.seed})
${DATA_READ_USAGE}  --restart             discard RUN's previous run (checkpoints, model, metrics) and start over
  --quiet               print only the final summary
`;

/** Hooks of {@link runTrain} for callers that run it in-process (tests). */
export interface RunTrainHooks {
  /** After every optimizer step. */
  onStep?: (info: StepInfo) => void;
  /** Replaces process.stdout.write for the summary lines. */
  write?: (text: string) => void;
  /** Replaces process.stderr.write for messages. */
  log?: (text: string) => void;
}

/** Runs an option check that throws plain errors, turning them into usage errors. */
function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The flags of `chexzoo train`. */
const TRAIN_OPTIONS = {
  arch: { type: 'string', short: 'a' },
  data: { type: 'string', short: 'd' },
  out: { type: 'string', short: 'o' },
  epochs: { type: 'string' },
  'max-steps': { type: 'string' },
  ...IMAGE_SIZE_OPTIONS,
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
  ...DATA_READ_OPTIONS,
  restart: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type TrainFlags = { [K in keyof typeof TRAIN_OPTIONS]?: (typeof TRAIN_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The run configuration (and decode threads) from the flags: exit 2 at once, before anything is read, built or downloaded. */
function configFromFlags(values: TrainFlags): { config: RunConfig; decodeWorkers: number | undefined } {
  for (const req of ['arch', 'data', 'out'] as const) {
    if (!values[req]) throw new UsageError(`--${req} is required.`);
  }
  const arch = archFlag('arch', values.arch);
  const { dicomPolicy, decodeWorkers } = dataReadFlags(values);
  const config = asUsage(() =>
    resolveRunConfig({
      arch,
      data: values.data!,
      imageSize: imageSizeFlag(values, { min: 1 }),
      batchSize: intFlag('batch-size', values['batch-size'], { min: 1 }),
      maxSteps: intFlag('max-steps', values['max-steps'], { min: 1 }),
      epochs: intFlag('epochs', values.epochs, { min: 1 }),
      weights: values.weights ?? 'none',
      lr: numberFlag('lr', values.lr, { above: 0 }),
      lrSchedule: (values['lr-schedule'] ?? 'constant') as RunConfig['lrSchedule'],
      uncertainty: values.uncertainty,
      tasks: values.tasks ? values.tasks.split(',') : undefined,
      views: (values.views ?? 'all') as ViewName,
      seed: intFlag('seed', values.seed, { min: 0 }),
      topK: intFlag('top-k', values['top-k'], { min: 1 }),
      patience: intFlag('patience', values.patience, { min: 1 }),
      validEvery: intFlag('valid-every', values['valid-every'], { min: 1 }),
      block: values.truncate === undefined ? null : blockFlag('truncate', arch, values.truncate),
      augment: values.augment ?? false,
      posWeight: values['pos-weight'] ?? false,
      ...(dicomPolicy ? { dicomPolicy } : {}),
    }),
  );
  return { config, decodeWorkers };
}

/** The lines printed at the end of a finished run. */
function trainSummary(arch: string, out: string, result: TrainResult, seconds: number): string {
  const ens = result.ensemble;
  const summary = ens
    ? `valid mean AUROC ${ens.meanAuroc.toFixed(4)} (95% CI ${ens.ci ? `${ens.ci.lower.toFixed(3)}-${ens.ci.upper.toFixed(3)}` : 'n/a'}, top-${ens.models} ensemble; best single ${result.topK[0]!.meanAuroc.toFixed(4)} at step ${result.topK[0]!.step})`
    : 'no validation result';
  return (
    `Trained ${arch} for ${result.steps} steps in ${seconds.toFixed(1)} s${result.stoppedEarly ? ' (early stop)' : ''}: ${summary}\n` +
    `Wrote ${join(out, 'metrics.json')} and ${join(out, 'model')}\n` +
    `Training curves: ${join(out, RUN_CURVES)}\n`
  );
}

/**
 * Runs `chexzoo train` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runTrain(['--arch', 'resnet18', '--data', '/tmp/synth', '--out', 'runs/r18']);
 */
export async function runTrain(argv: string[], hooks: RunTrainHooks = {}): Promise<number> {
  const parsed = parseCommand('train', USAGE, { args: argv, options: TRAIN_OPTIONS, allowPositionals: false });
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values as TrainFlags;
  const stdout = hooks.write ?? ((t: string) => process.stdout.write(t));
  try {
    const { config, decodeWorkers } = configFromFlags(values);
    const microBatch = values['micro-batch'] === undefined || values['micro-batch'] === 'auto' ? 'auto' : intFlag('micro-batch', values['micro-batch'], { min: 1 })!;
    const checkpointEvery = intFlag('checkpoint-every', values['checkpoint-every'], { min: 1 });
    const out = resolve(values.out!);
    const { interrupted, result, seconds } = await trainRun(config, out, {
      microBatch,
      ...(decodeWorkers ? { decodeWorkers } : {}),
      ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
      restart: values.restart ?? false,
      quiet: values.quiet ?? false,
      ...(hooks.onStep ? { onStep: hooks.onStep } : {}),
      ...(hooks.log ? { log: hooks.log } : {}),
    });
    if (interrupted) return 130;
    stdout(trainSummary(config.arch, out, result, seconds));
    return 0;
  } catch (e) {
    // an in-process caller gets the reason through its log hook
    hooks.log?.(`chexzoo train: ${(e as Error).message}\n`);
    return failWith('train', USAGE, e);
  }
}
