// `chexzoo weights fetch|list`: fill a weights cache on a connected machine, check one on an air-gapped one.
import { parseCommand } from './args.js';
import { downloadWeights, getCacheDir } from '../weights/fetch-node.js';
import { hasWeights, getWeightsInfo } from '../weights/manifest.js';
import { weightsMirror } from '../weights/mirror.js';
import { listModels } from '../zoo/registry.js';
import { downloadProgress } from './progress.js';

const USAGE = `Usage: chexzoo weights fetch (ARCH ... | --all)
       chexzoo weights list [ARCH ...]

fetch  downloads the registered ImageNet weights of the architectures into the cache (CHEXZOO_CACHE, default
       ~/.cache/chexzoo), hash-checked, with a progress bar. Copy the cache folder to an air-gapped machine (or
       serve it and set CHEXZOO_WEIGHTS_MIRROR there).
list   shows, per architecture, whether its weights are cached (hash ok), missing or corrupt.

Environment: CHEXZOO_CACHE, CHEXZOO_WEIGHTS_MIRROR (a base URL or a local folder holding the manifest's file
names: downloads come from there), CHEXZOO_OFFLINE=1.
`;

const registered = () => listModels().filter((a) => hasWeights(a));

/**
 * Runs `chexzoo weights` with the arguments after the subcommand; resolves to the exit code.
 * @example process.exitCode = await runWeights(['fetch', 'resnet18', 'densenet121']);
 */
export async function runWeights(argv: string[]): Promise<number> {
  const parsed = parseCommand('weights', USAGE, {
    args: argv,
    options: { all: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
  });
  if (typeof parsed === 'number') return parsed;
  const [action, ...names] = parsed.positionals;
  const fail = (msg: string) => {
    process.stderr.write(`chexzoo weights: ${msg}\n\n${USAGE}`);
    return 2;
  };
  if (action !== 'fetch' && action !== 'list') return fail(action ? `Unknown action '${action}': fetch or list.` : 'fetch or list is required.');
  const unknown = names.filter((n) => !registered().includes(n));
  if (unknown.length > 0) return fail(`No registered weights for '${unknown[0]}'. With weights: ${registered().join(', ')}.`);
  if (action === 'fetch' && names.length === 0 && !parsed.values.all) return fail('Name the architectures, or pass --all.');
  const archs = names.length > 0 ? names : registered();
  const mirror = weightsMirror();
  process.stderr.write(`cache ${getCacheDir()}${mirror ? `, mirror ${mirror}` : ''}\n`);
  let bad = 0;
  for (const arch of archs) {
    const file = getWeightsInfo(arch).fileName;
    if (action === 'fetch') {
      const bar = downloadProgress(`${arch}`);
      try {
        const path = await downloadWeights(arch, { onProgress: bar });
        bar.done();
        process.stdout.write(`${arch.padEnd(20)} ok       ${path}\n`);
      } catch (e) {
        bar.done();
        bad++;
        process.stdout.write(`${arch.padEnd(20)} FAILED   ${(e as Error).message.split('\n')[0]}\n`);
      }
    } else {
      try {
        const path = await downloadWeights(arch, { offline: true });
        process.stdout.write(`${arch.padEnd(20)} cached   hash ok  ${path}\n`);
      } catch (e) {
        const msg = (e as Error).message;
        const missing = /not in the cache/.test(msg);
        if (!missing) bad++;
        process.stdout.write(`${arch.padEnd(20)} ${missing ? 'missing ' : 'CORRUPT '} ${missing ? file : msg.split('\n')[0]}\n`);
      }
    }
  }
  return bad > 0 ? 1 : 0;
}
