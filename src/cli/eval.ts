// `chexzoo eval`: evaluates a run written by `chexzoo train` (top-k ensemble or best model) on a dataset split.
import { promises as fs, existsSync } from 'node:fs';
import { failWith, intFlag, parseCommand, UsageError } from './args.js';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend/index.js';
import { loadChexpert } from '../node/data/dataset.js';
import { loadModel } from '../node/weights/fs-io.js';
import { evaluate, type EvaluationResult } from '../train/evaluate.js';
import { runPreprocess, type RunConfig } from './train.js';
import type { TrainState } from '../train/state.js';

const USAGE = `Usage: chexzoo eval --run RUN --data DIR [options]

Evaluates a run of \`chexzoo train\` on a CheXpert-format split: per-task AUROC, mean AUROC and percentile
bootstrap 95% confidence intervals. By default the prediction is the mean probability of the run's top-k
checkpoints (the ensemble \`chexzoo train\` reports); --best uses the single best checkpoint (RUN/model).

  --run RUN        run folder written by chexzoo train
  --data DIR       dataset folder (or its parent)
  --split NAME     CSV to evaluate (default valid)
  --best           evaluate RUN/model only, not the top-k ensemble
  --bootstrap N    bootstrap replicates (default 1000; 0 = no intervals)
  --seed S         bootstrap seed (default 0)
  --json           print the result as JSON
`;

/** Model folders of a run: its top-k checkpoints (best first), else RUN/model. */
async function runModels(run: string, best: boolean): Promise<string[]> {
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

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : '  n/a ';
}

/**
 * Runs `chexzoo eval` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runEval(['--run', 'runs/r18', '--data', '/tmp/synth', '--json']);
 */
export async function runEval(argv: string[]): Promise<number> {
  const parsed = parseCommand('eval', USAGE, {
    args: argv,
    options: {
      run: { type: 'string', short: 'r' },
      data: { type: 'string', short: 'd' },
      split: { type: 'string', default: 'valid' },
      best: { type: 'boolean', default: false },
      bootstrap: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const models: tf.LayersModel[] = [];
  try {
    if (!values.run || !values.data) throw new UsageError('--run and --data are required.');
    const replicates = intFlag('bootstrap', values.bootstrap, { min: 0 }) ?? 1000;
    const seed = intFlag('seed', values.seed, { min: 0 }) ?? 0;
    const run = resolve(values.run);
    const configPath = join(run, 'config.json');
    if (!existsSync(configPath)) throw new Error(`${configPath} not found: --run must be the --out folder of chexzoo train.`);
    const config = JSON.parse(await fs.readFile(configPath, 'utf8')) as RunConfig;
    await ensureBackend();
    const dirs = await runModels(run, values.best);
    for (const d of dirs) models.push(await loadModel(d));
    const data = await loadChexpert(values.data, {
      split: values.split,
      tasks: config.tasks,
      uncertainty: config.uncertainty,
      views: config.views,
      imageSize: config.imgSize,
      channels: config.channels,
      ...runPreprocess(config),
      batchSize: config.batchSize,
      shuffle: false,
    });
    const tty = !values.json && process.stderr.isTTY;
    const r: EvaluationResult = await evaluate(models, data, {
      tasks: config.tasks,
      bootstrap: replicates === 0 ? false : { n: replicates, seed },
      onProgress: tty ? (done, total) => process.stderr.write(`\r  ${done}/${total ?? '?'} batches\x1b[K`) : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (values.json) {
      const out = {
        run,
        split: data.split,
        models: dirs,
        n: r.n,
        meanAuroc: r.meanAuroc,
        perTask: r.perTask,
        ci95: r.ci ? { lower: r.ci.lower, upper: r.ci.upper, perTask: Object.fromEntries(Object.entries(r.ci.perTask).map(([t, c]) => [t, { lower: c.lower, upper: c.upper }])) } : null,
        undefinedTasks: r.undefinedTasks,
      };
      process.stdout.write(JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    } else {
      const w = Math.max(...config.tasks.map((t) => t.length), 'mean AUROC'.length);
      const lines = [
        `${config.arch} on ${data.split} (${r.n} images), ${dirs.length === 1 ? 'single model' : `ensemble of ${dirs.length} checkpoints`}`,
        `${'task'.padEnd(w)}  AUROC   95% CI`,
        ...config.tasks.map((t) => {
          const c = r.ci?.perTask[t];
          return `${t.padEnd(w)}  ${fmt(r.perTask[t]!)}  ${c ? `${fmt(c.lower)}-${fmt(c.upper)}` : ''}`;
        }),
        `${'mean AUROC'.padEnd(w)}  ${fmt(r.meanAuroc)}  ${r.ci ? `${fmt(r.ci.lower)}-${fmt(r.ci.upper)}` : ''}`,
      ];
      if (r.undefinedTasks.length) lines.push(`(undefined: ${r.undefinedTasks.join(', ')} have a single class in this split)`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  } catch (e) {
    return failWith('eval', USAGE, e);
  } finally {
    models.forEach((m) => m.dispose());
  }
}
