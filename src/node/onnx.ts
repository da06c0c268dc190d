// Node-only: writes ONNX exports (src/onnx/) to disk atomically: one .onnx file, or a Transformers.js folder.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { replaceDirAtomic, writeFileAtomic } from './utils/atomic.js';
import { toOnnx, type OnnxExportOptions } from '../onnx/export.js';
import { transformersConfig, type TransformersConfigOptions } from '../onnx/transformers.js';

/**
 * Saves the model as an ONNX file (see `toOnnx`), through a temporary file and a rename.
 * @example await saveOnnx(model, 'runs/r18/model.onnx');
 */
export async function saveOnnx(model: tf.LayersModel, path: string, options?: OnnxExportOptions): Promise<void> {
  if (!path.endsWith('.onnx')) throw new Error(`ONNX export path '${path}' must end in .onnx (the format written).`);
  await writeFileAtomic(path, toOnnx(model, options));
}

/**
 * Writes a folder Transformers.js loads offline as an image classifier: `config.json`,
 * `preprocessor_config.json` and `onnx/model.onnx`. The folder is replaced as a whole (old or new, never half).
 * @example await saveTransformersJs(model, 'served/edema', { labels: tasks, size: 224, interpolation: 'bilinear', mean, std });
 */
export async function saveTransformersJs(model: tf.LayersModel, dir: string, options: TransformersConfigOptions): Promise<void> {
  const units = model.outputs.length === 1 ? model.outputs[0]!.shape : [];
  if (units.length !== 2 || units[1] !== options.labels.length) {
    throw new Error(
      `Transformers.js export needs a classifier with one output per label: '${model.name}' outputs [${units.join(', ')}] ` +
        `but ${options.labels.length} labels were given.`,
    );
  }
  if (model.inputs[0]!.shape[3] !== 3) {
    throw new Error(`Transformers.js export needs an RGB model (its processor converts images to RGB); '${model.name}' takes ${model.inputs[0]!.shape[3]} channel(s). Use saveOnnx and feed the grayscale input yourself.`);
  }
  const [, h, w] = model.inputs[0]!.shape;
  if (h !== options.size || w !== options.size) {
    throw new Error(`Transformers.js export: '${model.name}' takes ${h} x ${w} pixels but size is ${options.size}; the processor resizes to size x size, so give the model's (square) input size.`);
  }
  const { config, preprocessor } = transformersConfig(options);
  const bytes = toOnnx(model);
  await replaceDirAtomic(dir, async (tmp) => {
    await fs.mkdir(join(tmp, 'onnx'));
    await fs.writeFile(join(tmp, 'onnx', 'model.onnx'), bytes);
    await fs.writeFile(join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    await fs.writeFile(join(tmp, 'preprocessor_config.json'), `${JSON.stringify(preprocessor, null, 2)}\n`);
  });
}
