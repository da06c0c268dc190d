// `chexzoo report`: rebuilds results.json, report.md and figures from any study folders or run folders (shard merge).
import { resolve } from 'node:path';
import { failWith, parseCommand, UsageError } from './args.js';
import { findRunFolders, writeStudyReport } from '../node/study/run.js';

const USAGE = `Usage: chexzoo report DIR [DIR ...] [--out OUT] [--title T] [--json]

Rebuilds the study's results.json, report.md and figures/*.svg from any set of run folders: study folders
(\`chexzoo study --out DIR\`, each shard's or all shards' shared one), folders of \`chexzoo train\` run folders, or run
folders themselves. This is how the shards of a study merge. The runs must share one validation set.

  DIR               a study folder, a folder of run folders, or a run folder (repeatable)
  --out OUT         output folder (default: DIR when a single DIR is given)
  --runs RUN ...    the same as DIR arguments; --runs-dir PARENT likewise
  --title T         report title
  --json            print results.json on stdout
`;

/**
 * Runs `chexzoo report` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runReport(['runs/reproduce']);
 */
export async function runReport(argv: string[]): Promise<number> {
  const parsed = parseCommand('report', USAGE, {
    args: argv,
    options: {
      runs: { type: 'string', multiple: true },
      'runs-dir': { type: 'string', multiple: true },
      out: { type: 'string', short: 'o' },
      title: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  try {
    const dirs = [...positionals, ...(values.runs ?? []), ...(values['runs-dir'] ?? [])];
    if (dirs.length === 0) throw new UsageError('Give at least one study folder or run folder.');
    let out = values.out;
    if (!out) {
      if (dirs.length !== 1) throw new UsageError('--out OUT is required with more than one DIR.');
      out = dirs[0]!;
    }
    for (const d of dirs) await findRunFolders(resolve(d)); // each must hold runs: fail before writing anything
    const results = await writeStudyReport(dirs, resolve(out), values.title ? { title: values.title } : {});
    if (values.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    else process.stdout.write(`Reported ${results.runs.length} runs (${results.skipped.length} skipped): ${resolve(out)}/report.md\n`);
    return 0;
  } catch (e) {
    return failWith('report', USAGE, e);
  }
}
