// `chexzoo report`: compares runs written by `chexzoo train` in one markdown report with SVG figures.
import { promises as fs } from 'node:fs';
import { failWith, parseCommand, UsageError } from './args.js';
import { basename, join, relative, resolve } from 'node:path';
import { countParams, createModel, getModelInfo, listModels } from '../zoo/registry.js';
import { truncate } from '../truncate.js';
import { studyReport, type StudyReport, type StudyRow } from '../report/study.js';
import { writeFileAtomic } from '../utils/atomic.js';

const USAGE = `Usage: chexzoo report (--runs RUN [RUN ...] | --runs-dir PARENT) --out REPORT_DIR [--title T] [--json]

Compares runs trained with \`chexzoo train\` the way the CheXtransfer study does: a table sorted by validation
mean AUROC, Spearman/Kendall correlations of AUROC with ImageNet top-1 and with parameter count (full models),
per-family means, truncated-vs-full parameter-efficiency gains, and two SVG figures. Writes
REPORT_DIR/report.md and REPORT_DIR/figures/*.svg.

  --runs RUN [RUN ...]  run folders (each holding metrics.json and config.json)
  --runs-dir PARENT     every sub-folder of PARENT that holds a run
  --out REPORT_DIR      output folder
  --title T             report title
  --json                also print the rows and statistics as JSON on stdout
`;


interface RunMetrics {
  valid?: { meanAuroc?: number | null; ci95?: { lower?: number | null; upper?: number | null } | null } | null;
  config?: Partial<RunConfigLike>;
}

interface RunConfigLike {
  arch: string;
  tasks: string[];
  truncate: string | null;
  weights: string;
}

async function readJson(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message}). Re-run \`chexzoo train\` for that run to rewrite it.`);
  }
}

// Parameters do not depend on the input size for these fully convolutional networks + global pooling, so the
// model is built at its smallest input; building is cheaper than reading a saved model's weights from disk.
const paramCache = new Map<string, Promise<number>>();
function paramsOf(arch: string, block: string | null, numClasses: number): Promise<number> {
  const key = `${arch}|${block ?? ''}|${numClasses}`;
  let p = paramCache.get(key);
  if (!p) {
    p = (async () => {
      const s = getModelInfo(arch).minInputSize;
      const base = await createModel(arch, { numClasses, inputShape: [s, s, 3] });
      if (!block) {
        try {
          return countParams(base);
        } finally {
          base.dispose();
        }
      }
      let cut;
      try {
        cut = truncate(base, block, { numClasses });
      } finally {
        base.dispose();
      }
      try {
        return countParams(cut);
      } finally {
        cut.dispose();
      }
    })();
    p.catch(() => paramCache.delete(key));
    paramCache.set(key, p);
  }
  return p;
}

/**
 * Reads one run folder written by `chexzoo train` into a study row (family, parameters and ImageNet top-1 from the
 * zoo registry). Throws an Error naming the folder and the fix when metrics.json/config.json is missing or unusable.
 * @example const row = await readRun('runs/r18');
 */
export async function readRun(dir: string, name = basename(resolve(dir))): Promise<StudyRow> {
  const metricsPath = join(dir, 'metrics.json');
  const metrics = (await readJson(metricsPath)) as RunMetrics | undefined;
  if (metrics === undefined) {
    throw new Error(
      `Run '${dir}' has no metrics.json: it is not a finished \`chexzoo train\` run. Finish it (run the same \`chexzoo train\` command again to resume) or leave it out of --runs.`,
    );
  }
  const config = ((await readJson(join(dir, 'config.json'))) ?? metrics.config) as Partial<RunConfigLike> | undefined;
  if (!config) {
    throw new Error(`Run '${dir}' has no config.json (and metrics.json holds no config): re-run \`chexzoo train\` with the run's options to rewrite it.`);
  }
  const arch = config.arch;
  if (typeof arch !== 'string' || !listModels().includes(arch)) {
    throw new Error(`Run '${dir}': config.json names architecture '${String(arch)}', which the zoo does not know. Valid: ${listModels().join(', ')}.`);
  }
  const auroc = metrics.valid?.meanAuroc;
  if (typeof auroc !== 'number' || !Number.isFinite(auroc)) {
    throw new Error(
      `Run '${dir}': metrics.json has no validation mean AUROC (valid.meanAuroc is ${String(auroc)}). Train with validation (valid.csv with both classes per task) or leave the run out.`,
    );
  }
  const numClasses = Array.isArray(config.tasks) && config.tasks.length > 0 ? config.tasks.length : 5;
  const truncatedAt = typeof config.truncate === 'string' && config.truncate !== '' ? config.truncate : null;
  const info = getModelInfo(arch);
  let params: number;
  try {
    params = await paramsOf(arch, truncatedAt, numClasses);
  } catch (e) {
    throw new Error(`Run '${dir}': cannot rebuild ${arch}${truncatedAt ? ` truncated at ${truncatedAt}` : ''} to count its parameters: ${(e as Error).message}`);
  }
  const ci = metrics.valid?.ci95;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    name,
    arch,
    family: info.family,
    params,
    imagenetTop1: info.top1,
    meanAuroc: auroc,
    lower: num(ci?.lower),
    upper: num(ci?.upper),
    truncatedAt,
    weights: typeof config.weights === 'string' ? config.weights : 'none',
  };
}

/** Run folders under `parent`: sub-folders holding metrics.json or config.json (unfinished runs included, so they error). */
async function runsIn(parent: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(parent, { withFileTypes: true });
  } catch {
    throw new UsageError(`--runs-dir '${parent}' is not a readable folder.`);
  }
  const dirs: string[] = [];
  for (const e of entries.filter((d) => d.isDirectory() && !d.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name))) {
    const d = join(parent, e.name);
    const has = async (f: string) => fs.stat(join(d, f)).then(() => true, () => false);
    if ((await has('metrics.json')) || (await has('config.json'))) dirs.push(d);
  }
  if (dirs.length === 0) throw new UsageError(`--runs-dir '${parent}' holds no run folders (sub-folders with metrics.json from \`chexzoo train\`).`);
  return dirs;
}

/**
 * Runs `chexzoo report` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runReport(['--runs-dir', 'runs', '--out', 'report']);
 */
export async function runReport(argv: string[]): Promise<number> {
  const parsed = parseCommand('report', USAGE, {
    args: argv,
    options: {
      runs: { type: 'string', multiple: true },
      'runs-dir': { type: 'string' },
      out: { type: 'string', short: 'o' },
      title: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    // `--runs a b c`: parseArgs takes only `a` as the option value, the rest arrive as positionals
    allowPositionals: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  try {
    const runs = values.runs ?? [];
    if (positionals.length > 0 && runs.length === 0) throw new UsageError(`Unexpected argument '${positionals[0]}': run folders follow --runs.`);
    runs.push(...positionals);
    if (runs.length > 0 && values['runs-dir']) throw new UsageError('Give either --runs or --runs-dir, not both.');
    if (runs.length === 0 && !values['runs-dir']) throw new UsageError('--runs RUN [RUN ...] or --runs-dir PARENT is required.');
    if (!values.out) throw new UsageError('--out REPORT_DIR is required.');
    const dirs = runs.length > 0 ? runs : await runsIn(values['runs-dir']!);

    const rows: StudyRow[] = [];
    const base = values['runs-dir'] ? resolve(values['runs-dir']) : process.cwd();
    for (const d of dirs) {
      let name = basename(resolve(d));
      // two runs of the same folder name (different parents) stay distinguishable
      if (rows.some((r) => r.name === name)) name = relative(base, resolve(d)) || name;
      rows.push(await readRun(d, name));
    }
    const report: StudyReport = studyReport(rows, values.title ? { title: values.title } : {});
    const out = resolve(values.out);
    await fs.mkdir(join(out, 'figures'), { recursive: true });
    for (const f of report.figures) await writeFileAtomic(join(out, 'figures', f.name), f.svg);
    await writeFileAtomic(join(out, 'report.md'), report.markdown + '\n');
    const files = [join(out, 'report.md'), ...report.figures.map((f) => join(out, 'figures', f.name))];
    if (values.json) {
      const { markdown: _m, figures: _f, ...stats } = report;
      process.stdout.write(JSON.stringify({ rows, ...stats, files }, null, 2) + '\n');
    } else {
      const best = [...rows].sort((a, b) => b.meanAuroc - a.meanAuroc)[0]!;
      process.stdout.write(`Compared ${rows.length} runs (best: ${best.name}, mean AUROC ${best.meanAuroc.toFixed(4)}). Wrote ${files[0]} and ${report.figures.length} figures.\n`);
    }
    return 0;
  } catch (e) {
    return failWith('report', USAGE, e);
  }
}
