// Node-only: writes a zoo model as `.safetensors` for PyTorch (see src/weights/export.ts), atomically.
import type * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../utils/atomic.js';
import { toSafetensors } from '../../weights/export.js';

/**
 * Saves the model's state dict under PyTorch module paths as a `.safetensors` file (temp file + rename).
 * Load it in Python with `tools/chexzoo_torch.py` (`load_chexzoo(path)`), or into a torchvision model of the
 * same shape with `load_state_dict(safetensors.torch.load_file(path))`.
 * @example await saveSafetensors(model, 'runs/r18/model.safetensors');
 */
export async function saveSafetensors(model: tf.LayersModel, path: string): Promise<void> {
  if (!path.endsWith('.safetensors')) {
    throw new Error(`Export path '${path}' must end in .safetensors (the format written).`);
  }
  await writeFileAtomic(path, toSafetensors(model));
}
