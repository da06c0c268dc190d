// `chexzoo export`: a trained run (or a saved model folder) as a `.safetensors` state dict for PyTorch, an ONNX
// file (ONNX Runtime), or a Transformers.js folder.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { saveSafetensors } from '../node/weights/export-node.js';
import { saveOnnx, saveTransformersJs } from '../node/onnx.js';
import { exportStateDict } from '../weights/export.js';
import { loadModel } from '../node/weights/fs-io.js';
import { pathExists } from '../node/utils/atomic.js';
import { readRunConfig, runPreprocess } from '../node/train/run.js';
import { getPreprocessConfig } from '../weights/manifest.js';
import { parseCommand } from './args.js';
import { getOutputInfo, OUTPUT_INFO_KEY } from '../weights/outputs.js';
import { ensureBackend } from '../backend/index.js';

const USAGE = `Usage: chexzoo export (--run RUN | --model DIR) --out PATH [--format safetensors|onnx|transformers]

Exports RUN/model (the run's best checkpoint) or a model folder saved by saveModel / chexzoo truncate --out:
  --format safetensors  (default) weights and BatchNorm statistics under the PyTorch module paths; in Python,
                        tools/chexzoo_torch.py rebuilds the module: model = load_chexzoo("FILE.safetensors")
  --format onnx         an ONNX file (opset 17, input pixel_values NCHW, output logits) for ONNX Runtime
  --format transformers a folder for Transformers.js: config.json, preprocessor_config.json, onnx/model.onnx
                        (labels = the run's tasks; with --model, the names the model carries, else give --labels A,B,C)
Options: --labels A,B,C  output names (default: the run's tasks, or the names the model carries); ONNX files
                        record them too (metadata_props "labels", a JSON list)
`;

type Format = 'safetensors' | 'onnx' | 'transformers';
const EXT: Record<Format, string> = { safetensors: '.safetensors', onnx: '.onnx', transformers: '' };

/** Whether a saved model's model.json carries output names (a `chexzoo train` model, torchxrayvision weights). */
function carriesLabels(dir: string): boolean {
  try {
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { userDefinedMetadata?: Record<string, { labels?: unknown } | undefined> };
    return Array.isArray(json.userDefinedMetadata?.[OUTPUT_INFO_KEY]?.labels);
  } catch {
    return false;
  }
}

/** Checks the flags; returns the exit code of a usage error, or the resolved request. */
function resolveArgs(v: { run?: string; model?: string; out?: string; format?: string; labels?: string }): number | { dir: string; out: string; format: Format } {
  const fail = (msg: string) => (process.stderr.write(`chexzoo export: ${msg}\n\n${USAGE}`), 2);
  if (!v.out || (v.run === undefined) === (v.model === undefined)) return fail('give --out and exactly one of --run or --model.');
  const format = (v.format ?? 'safetensors') as Format;
  if (!(format in EXT)) return fail(`--format '${v.format}' is not one of safetensors, onnx, transformers.`);
  if (EXT[format] && !v.out.endsWith(EXT[format])) return fail(`--out '${v.out}' must end in ${EXT[format]} (the format written).`);
  if (format === 'transformers' && v.run === undefined && !v.labels && !carriesLabels(v.model!)) {
    return fail('--format transformers with --model needs --labels A,B,C (a run folder has its tasks; this model carries no output names).');
  }
  return { dir: v.run !== undefined ? join(v.run, 'model') : v.model!, out: v.out, format };
}

/** The output names: --labels, else the run's tasks, else the names the model carries (a run's model, torchxrayvision's). */
async function outputLabels(model: tf.LayersModel, run: string | undefined, labels: string | undefined): Promise<string[] | undefined> {
  if (labels) return labels.split(',').map((s) => s.trim());
  if (run !== undefined) return (await readRunConfig(run)).tasks;
  const own = getOutputInfo(model)?.labels;
  return own && own.length === model.outputs[0]?.shape[1] ? own : undefined;
}

/** Writes the Transformers.js folder: labels and preprocessing from the run's config (or the weights' defaults). */
async function writeTransformers(model: tf.LayersModel, out: string, run: string | undefined, names: string[] | undefined): Promise<string> {
  const arch = (model.name ?? '').split('/')[0]!;
  if (!names) throw new Error(`--format transformers: '${model.name}' carries no output names for its ${model.outputs[0]?.shape[1]} outputs; give --labels A,B,C.`);
  const config = run !== undefined ? await readRunConfig(run) : undefined;
  const pre = getPreprocessConfig(arch);
  const recorded = config ? runPreprocess(config) : undefined;
  const size = model.inputs[0]!.shape[1]!;
  await saveTransformersJs(model, out, {
    labels: names, size, arch, resize: 'squash',
    interpolation: recorded ? ({ linear: 'bilinear', cubic: 'bicubic', nearest: 'nearest' } as const)[recorded.kernel as 'linear'] ?? pre.interpolation : pre.interpolation,
    mean: recorded?.mean ?? pre.mean,
    std: recorded?.std ?? pre.std,
  });
  return `Transformers.js folder, ${names.length} labels (${names.join(', ')}), ${size} px`;
}

/**
 * Runs `chexzoo export` with the arguments after the subcommand; resolves to the exit code.
 * @example await runExport(['--run', 'runs/r18', '--format', 'onnx', '--out', 'r18.onnx']);
 */
export async function runExport(argv: string[]): Promise<number> {
  const parsed = parseCommand('export', USAGE, {
    args: argv,
    options: {
      run: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      labels: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const req = resolveArgs(parsed.values);
  if (typeof req === 'number') return req;
  const { run, labels } = parsed.values;
  if (!(await pathExists(join(req.dir, 'model.json')))) {
    process.stderr.write(
      `chexzoo export: no saved model at '${req.dir}' (model.json missing)` +
        (run !== undefined ? `; is '${run}' a finished \`chexzoo train\` run folder?\n` : '.\n'),
    );
    return 1;
  }
  await import('../zoo/layers.js');
  await ensureBackend(); // loading makes tensors: without it TF.js stops at the uninitialised wasm backend
  const model = await loadModel(req.dir);
  try {
    if (req.format === 'safetensors') {
      const { stateDict, metadata } = exportStateDict(model);
      await saveSafetensors(model, req.out);
      const what = metadata.block ? `${metadata.arch} truncated after ${metadata.block}` : metadata.arch;
      process.stdout.write(`Wrote ${req.out}: ${what}, ${stateDict.size} tensors, ${metadata.num_classes} outputs.\n`);
      return 0;
    }
    const names = await outputLabels(model, run, labels);
    const detail = req.format === 'onnx'
      ? (await saveOnnx(model, req.out, names ? { metadata: { labels: JSON.stringify(names) } } : {}),
        `ONNX opset 17, outputs ${model.outputs.map((o) => `[${o.shape.map((d) => d ?? 'batch').join(', ')}]`).join(' ')} (NHWC maps are NCHW in the file)${names ? `, labels ${names.join(', ')}` : ''}`)
      : await writeTransformers(model, req.out, run, names);
    process.stdout.write(`Wrote ${req.out}: ${model.name}, ${detail}.\n`);
    return 0;
  } finally {
    model.dispose();
  }
}
