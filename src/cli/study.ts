// `chexzoo study`: the CheXtransfer study in one command (src/study/run.ts does the work).
import { DATA_READ_OPTIONS, DATA_READ_USAGE, dataReadFlags, failWith, IMAGE_SIZE_OPTIONS, imageSizeFlag, intFlag, parseCommand } from './args.js';
import { runStudy, type StudyOptions } from '../node/study/run.js';
import type { StudyInit } from '../study/grid.js';

const USAGE = `Usage: chexzoo study [--preset quick|paper] [--data DIR] [--out DIR] [--archs a,b] [--init imagenet,random,cxr]
       [--truncate BLOCK,...|none] [--epochs E] [--max-steps N] [--image-size S] [--batch-size B]
       [--seeds N] [--seed S] [--shard I/N | --shards N] [--tasks T1,T2] [--dicom-policy P] [--decode-workers N]

Runs the CheXtransfer study grid: each architecture from ImageNet weights and from random init, full and truncated
before its final block(s). Every run is an ordinary \`chexzoo train\` run folder under OUT/runs/<id> (plus its
validation predictions); finished runs are not redone and an interrupted one resumes from its checkpoint. Writes
OUT/results.json, OUT/report.md and OUT/figures/*.svg (the four findings, next to the paper's numbers).

  --preset P        quick (default: synthetic phantoms, minutes) | paper (the study's protocol; needs --data)
  --data DIR        a CheXpert, MIMIC-CXR(-JPG) or labelled-CSV dataset (default with quick: a synthetic set
                    made once in OUT/data)
  --tasks T1,T2     tasks of every run (default the 5 competition tasks; a labelled CSV without them: its
                    label columns). On other tasks the report does not compare with the paper's numbers
  --out DIR         output folder (default runs/study)
  --archs a,b       architectures (default: the preset's)
  --init L          imagenet,random (default both); cxr: in-domain chest X-ray weights (torchxrayvision's, for
                    densenet121 and resnet50; beyond the paper; other architectures are skipped with the reason)
  --truncate L      blocks to cut after (each applied to the architectures that have it), or none
                    (default: the preset's per-family truncation points; see docs/study.md)
  --epochs E        epochs per run (default: the preset's)
  --max-steps N     optimizer steps per run (default: the preset's)
  --image-size S    input side in pixels (default: the preset's; --img-size: deprecated alias)
  --batch-size B    batch size (default 16)
  --seeds N         repeat every configuration with N seeds (default 1); the report shows the spread
  --seed S          first seed (default 0)
  --shard I/N       run only shard I (0-based) of N; merge with \`chexzoo report OUT\`
  --shards N        the shard count when the index comes from JOB_COMPLETION_INDEX (Kubernetes) or
                    SLURM_ARRAY_TASK_ID (Slurm; count from SLURM_ARRAY_TASK_COUNT unless given)
${DATA_READ_USAGE}
ImageNet weights come from the cache or a download (hash-checked); with CHEXZOO_OFFLINE=1 or no network and no
cached copy, those runs are skipped with the reason. CHEXZOO_WEIGHTS_MIRROR points at a mirror (URL or folder).
`;

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

/**
 * Runs `chexzoo study` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runStudyCli(['--preset', 'quick', '--out', 'runs/reproduce']);
 */
export async function runStudyCli(argv: string[]): Promise<number> {
  const parsed = parseCommand('study', USAGE, {
    args: argv,
    options: {
      preset: { type: 'string' },
      data: { type: 'string' },
      tasks: { type: 'string' },
      out: { type: 'string', short: 'o' },
      archs: { type: 'string' },
      init: { type: 'string' },
      truncate: { type: 'string' },
      epochs: { type: 'string' },
      'max-steps': { type: 'string' },
      ...IMAGE_SIZE_OPTIONS,
      'batch-size': { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      shard: { type: 'string' },
      shards: { type: 'string' },
      ...DATA_READ_OPTIONS,
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  try {
    const truncate = values.truncate === 'none' ? 'none' : list(values.truncate);
    const opts: StudyOptions = {
      ...(values.preset !== undefined ? { preset: values.preset as 'quick' | 'paper' } : {}),
      ...(values.data !== undefined ? { data: values.data } : {}),
      ...(values.tasks !== undefined ? { tasks: values.tasks.split(',') } : {}),
      ...(values.out !== undefined ? { out: values.out } : {}),
      ...(values.archs !== undefined ? { archs: list(values.archs)! } : {}),
      ...(values.init !== undefined ? { inits: list(values.init) as StudyInit[] } : {}),
      ...(truncate !== undefined ? { truncate } : {}),
      ...dataReadFlags(values),
    };
    const imageSize = imageSizeFlag(values);
    if (imageSize !== undefined) opts.imageSize = imageSize;
    const nums = { epochs: 'epochs', 'max-steps': 'maxSteps', 'batch-size': 'batchSize', seeds: 'seeds', seed: 'seed', shards: 'shards' } as const;
    for (const [flag, key] of Object.entries(nums)) {
      const v = intFlag(flag, values[flag as keyof typeof nums]);
      if (v !== undefined) (opts as Record<string, unknown>)[key] = v;
    }
    if (values.shard !== undefined) opts.shard = values.shard;
    const outcome = await runStudy(opts);
    const failed = outcome.runs.filter((r) => r.status === 'failed');
    const interrupted = outcome.runs.some((r) => r.status === 'interrupted');
    if (outcome.results) {
      const f = outcome.results.findings;
      process.stdout.write(
        `${outcome.results.runs.length} runs, ${outcome.results.skipped.length} skipped in ${outcome.seconds.toFixed(0)} s. ` +
          `Report: ${outcome.out}/report.md${'reason' in f.truncation ? '' : ` (truncation mean gain ${f.truncation.meanGain?.toFixed(2) ?? 'n/a'}x)`}\n`,
      );
    }
    return interrupted ? 130 : failed.length > 0 ? 1 : 0;
  } catch (e) {
    return failWith('study', USAGE, e);
  }
}
