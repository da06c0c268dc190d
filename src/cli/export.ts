// `chexzoo export`: a trained run (or a saved model folder) as a `.safetensors` state dict for PyTorch.
import { join } from 'node:path';
import { saveSafetensors } from '../weights/export-node.js';
import { exportStateDict } from '../weights/export.js';
import { loadModel } from '../weights/fs-io.js';
import { pathExists } from '../utils/atomic.js';
import { parseCommand } from './args.js';
import { ensureBackend } from '../backend/index.js';

const USAGE = `Usage: chexzoo export (--run RUN | --model DIR) --out FILE.safetensors

Writes the model's weights and BatchNorm statistics under the PyTorch module paths as .safetensors:
RUN/model (the run's best checkpoint) or a model folder saved by saveModel / chexzoo truncate --out.
In Python, tools/chexzoo_torch.py rebuilds the torchvision (timm) module, truncated ones included:
  model = load_chexzoo("FILE.safetensors")
`;

/**
 * Runs `chexzoo export` with the arguments after the subcommand; resolves to the exit code.
 * @example await runExport(['--run', 'runs/r18', '--out', 'r18.safetensors']);
 */
export async function runExport(argv: string[]): Promise<number> {
  const parsed = parseCommand('export', USAGE, {
    args: argv,
    options: {
      run: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const { run, model: modelDir, out } = parsed.values;
  if (!out || (run === undefined) === (modelDir === undefined)) {
    process.stderr.write(`chexzoo export: give --out and exactly one of --run or --model.\n\n${USAGE}`);
    return 2;
  }
  if (!out.endsWith('.safetensors')) {
    process.stderr.write(`chexzoo export: --out '${out}' must end in .safetensors (the format written).\n\n${USAGE}`);
    return 2;
  }
  const dir = run !== undefined ? join(run, 'model') : modelDir!;
  if (!(await pathExists(join(dir, 'model.json')))) {
    process.stderr.write(
      `chexzoo export: no saved model at '${dir}' (model.json missing)` +
        (run !== undefined ? `; is '${run}' a finished \`chexzoo train\` run folder?\n` : '.\n'),
    );
    return 1;
  }
  await import('../zoo/layers.js');
  await ensureBackend(); // loading makes tensors: without it TF.js stops at the uninitialised wasm backend
  const model = await loadModel(dir);
  const { stateDict, metadata } = exportStateDict(model);
  await saveSafetensors(model, out);
  model.dispose();
  const what = metadata.block ? `${metadata.arch} truncated after ${metadata.block}` : metadata.arch;
  process.stdout.write(`Wrote ${out}: ${what}, ${stateDict.size} tensors, ${metadata.num_classes} outputs.\n`);
  return 0;
}
