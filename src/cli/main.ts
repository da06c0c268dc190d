#!/usr/bin/env node
// The `chexzoo` command: a thin dispatcher; each subcommand lives in its own module and is loaded on demand.
import { getModelInfo, listModels } from '../zoo/registry.js';

const USAGE = `Usage: chexzoo <command> [options]

Commands:
  list                 the architectures, their parameters, input sizes and ImageNet top-1
  info <arch>          one architecture: family, reference, blocks
  synth                write a synthetic CheXpert-format dataset (chexzoo synth --help)
  train                train a model on a CheXpert-format dataset (chexzoo train --help)
  eval                 evaluate a trained run (chexzoo eval --help)
  truncate             truncate an architecture after a block and report/save it (chexzoo truncate --help)
  study                the CheXtransfer study in one command (chexzoo study --help)
  report               rebuild a study's results and report from run folders (chexzoo report --help)
  export               a trained run or saved model as .safetensors for PyTorch (chexzoo export --help)
  weights              fetch ImageNet weights into the cache, or list what is cached (chexzoo weights --help)
  backend              the TF.js backend this machine uses, and whether a GPU is there (WebGPU)

Exit codes: 0 done, 1 failure, 2 usage error (bad command, flag or value).
Computing commands take --backend NAME (wasm, cpu, webgpu, tensorflow).
Environment: CHEXZOO_BACKEND (tensorflow|wasm|cpu|webgpu), CHEXZOO_WEBGPU_SOFTWARE=1, CHEXZOO_GPU_MEMORY, CHEXZOO_CACHE (weights cache), CHEXZOO_OFFLINE=1,
CHEXZOO_WEIGHTS_MIRROR (base URL or folder holding the weights files).
`;

function list(): number {
  const rows = listModels().map((n) => getModelInfo(n));
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'name'.padEnd(w)}  ${'family'.padEnd(12)}  ${'params'.padStart(11)}  input  top-1`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${r.family.padEnd(12)}  ${r.params.toLocaleString('en-US').padStart(11)}  ${String(
        r.imageSize,
      ).padStart(5)}  ${r.top1.toFixed(3)}`,
    );
  }
  return 0;
}

function info(args: string[]): number {
  const arch = args[0];
  if (!arch || args.length > 1 || arch.startsWith('-')) {
    console.error('Usage: chexzoo info <arch>   (see `chexzoo list` for names)');
    return 2;
  }
  if (!listModels().includes(arch)) {
    console.error(`chexzoo info: unknown architecture '${arch}'. Valid: ${listModels().join(', ')}.`);
    return 2;
  }
  const i = getModelInfo(arch);
  console.log(JSON.stringify(i, null, 2));
  return 0;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'list':
        if (rest.length > 0) {
          console.error(`chexzoo ${cmd}: unexpected argument '${rest[0]}' (it takes none).\n\n${USAGE}`);
          return 2;
        }
        return list();
      case 'backend':
        return (await import('./backend.js')).runBackend(rest);
      case 'info':
        return info(rest);
      case 'synth':
        return (await import('./synth.js')).runSynth(rest);
      case 'train':
        return (await import('./train.js')).runTrain(rest);
      case 'eval':
        return (await import('./eval.js')).runEval(rest);
      case 'truncate':
        return (await import('./truncate.js')).runTruncate(rest);
      case 'study':
        return (await import('./study.js')).runStudyCli(rest);
      case 'report':
        return (await import('./report.js')).runReport(rest);
      case 'weights':
        return (await import('./weights.js')).runWeights(rest);
      case 'export':
        return (await import('./export.js')).runExport(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        console.error(`Unknown command '${cmd}'.\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    console.error(`chexzoo ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}

const invokedDirectly =
  typeof process !== 'undefined' && process.argv[1] !== undefined && /(?:^|[\\/])(?:main\.[cm]?[jt]s|cli\.[cm]?js|chexzoo)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
