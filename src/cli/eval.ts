// `chexzoo eval`: parses the flags and calls evaluateRun (src/node/train/run.ts) on a run written by `chexzoo train`
// (top-k ensemble or best model) and a dataset split; prints the table or JSON.
import { DATA_READ_OPTIONS, DATA_READ_USAGE, dataReadFlags, failWith, intFlag, parseCommand, UsageError } from './args.js';
import { evaluateRun } from '../node/train/run.js';

const USAGE = `Usage: chexzoo eval --run RUN --data DIR [options]

Evaluates a run of \`chexzoo train\` on a CheXpert-format split: per-task AUROC, mean AUROC and percentile
bootstrap 95% confidence intervals. By default the prediction is the mean probability of the run's top-k
checkpoints (the ensemble \`chexzoo train\` reports); --best uses the single best checkpoint (RUN/model).

  --run RUN             run folder written by chexzoo train
  --data DIR            a CheXpert folder (or its parent), a MIMIC-CXR(-JPG) folder or a labelled CSV
  --split NAME          CSV to evaluate (default valid)
  --best                evaluate RUN/model only, not the top-k ensemble
  --bootstrap N         bootstrap replicates (default 1000; 0 = no intervals)
  --seed S              bootstrap seed (default 0)
  --json                print the result as JSON
${DATA_READ_USAGE}                        (--dicom-policy default here: the run's own, voi unless it trained with minmax)
`;

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
      ...DATA_READ_OPTIONS,
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  try {
    if (!values.run || !values.data) throw new UsageError('--run and --data are required.');
    const replicates = intFlag('bootstrap', values.bootstrap, { min: 0 }) ?? 1000;
    const seed = intFlag('seed', values.seed, { min: 0 }) ?? 0;
    const tty = !values.json && process.stderr.isTTY;
    const { run, config, split, layout, models: dirs, result: r } = await evaluateRun(values.run, values.data, {
      split: values.split,
      best: values.best,
      bootstrap: replicates,
      seed,
      ...dataReadFlags(values),
      ...(tty ? { onProgress: (done: number, total: number | undefined) => process.stderr.write(`\r  ${done}/${total ?? '?'} batches\x1b[K`) } : {}),
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (values.json) {
      const out = {
        run,
        split,
        layout: layout ?? 'chexpert',
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
        `${config.arch} on ${split} (${r.n} images, ${layout ?? 'chexpert'} layout), ${dirs.length === 1 ? 'single model' : `ensemble of ${dirs.length} checkpoints`}`,
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
  }
}
