// Export back to PyTorch: a zoo model (full, fine-tuned, truncated or with a new head) as a `.safetensors` state
// dict under the reference module paths, plus the metadata tools/chexzoo_torch.py needs to rebuild the module.
// Browser-safe: returns bytes; src/weights/export-node.ts writes them to disk.
import * as tf from '@tensorflow/tfjs';
import { getSpec } from '../zoo/catalog.js';
import { modelToStateDict, type StateDict } from './remap.js';
import { encodeSafetensors } from './safetensors.js';

/** What a reader needs to rebuild the PyTorch module for an exported state dict (safetensors `__metadata__`). */
export interface ExportMetadata {
  /** Who wrote the file. */
  producer: '@chexzoo/models';
  /** The zoo architecture (torchvision name; timm's for inception_v4). */
  arch: string;
  /** The last block kept by `truncate()`, or '' for a full model. (Files written before 0.1.0 said `stage`.) */
  block: string;
  /** Units of the final Linear ('0' when the model ends in features). */
  num_classes: string;
  /** Global pooling before the classifier of a truncated model: 'avg' or 'max'. */
  pooling: string;
}

/** Architecture and truncation block of a zoo model, from its name (`<arch>` or `<arch>/<block>`). */
function describe(model: tf.LayersModel): ExportMetadata {
  const [arch = '', block = ''] = (model.name ?? '').split('/');
  try {
    getSpec(arch);
  } catch {
    throw new Error(
      `Model '${model.name}' is not a zoo model: export needs a model made by createModel() or derived from one ` +
        '(truncate, resetClassifier), whose name says its architecture.',
    );
  }
  if (block === 'features') {
    throw new Error(
      `Model '${model.name}' is a multi-output feature extractor; export the model it was made from, or truncate() it.`,
    );
  }
  const out = model.outputs.length === 1 ? model.outputLayers[0] : undefined;
  const numClasses = out && out.getClassName() === 'Dense' ? (out.getConfig().units as number) : 0;
  const pooling = model.layers.some((l) => l.getClassName() === 'GlobalMaxPooling2D') ? 'max' : 'avg';
  return { producer: '@chexzoo/models', arch, block, num_classes: String(numClasses), pooling };
}

/**
 * The model's parameters and BatchNorm statistics as a PyTorch state dict (reference keys and layouts),
 * and the metadata that says which module they belong to.
 * @example const { stateDict, metadata } = exportStateDict(truncate(model, 'layer3', { numClasses: 5 }));
 */
export function exportStateDict(model: tf.LayersModel): { stateDict: StateDict; metadata: ExportMetadata } {
  const metadata = describe(model);
  return { stateDict: modelToStateDict(model), metadata };
}

/**
 * Encodes a zoo model as `.safetensors` bytes that `torchvision` (timm for inception_v4) loads with
 * `load_state_dict(strict=True)`; `tools/chexzoo_torch.py` rebuilds truncated models from the metadata.
 * The bytes depend only on the weights and the metadata (no time stamps), so equal models give equal files.
 * @example await fs.writeFile('model.safetensors', toSafetensors(model));
 */
export function toSafetensors(model: tf.LayersModel): Uint8Array {
  const { stateDict, metadata } = exportStateDict(model);
  return encodeSafetensors(stateDict, { format: 'pt', ...metadata });
}
