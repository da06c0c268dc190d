// The architectures of the zoo, in the order of the README table (by family, as the CheXtransfer study lists
// them), and the lookups by name. Depends only on the family files, so weights/ can ask for a family's
// checkpoint filter without importing createModel.
import type * as tf from '@tensorflow/tfjs';
import { resnetModels } from './resnet.js';
import { densenetModels } from './densenet.js';
import { efficientnetModels } from './efficientnet.js';
import { mobilenetModels } from './mobilenet.js';
import { mnasnetModels } from './mnasnet.js';
import { inceptionModels } from './inception.js';
import type { ModelSpec } from './spec.js';

const SPECS: ModelSpec[] = [
  ...resnetModels,
  ...densenetModels,
  ...efficientnetModels,
  ...mobilenetModels,
  ...mnasnetModels,
  ...inceptionModels,
];

const BY_NAME = new Map(SPECS.map((s) => [s.name, s]));

/**
 * Names of all architectures in the zoo.
 * @example listModels(); // ['resnet18', 'resnet34', ...]
 */
export function listModels(): string[] {
  return SPECS.map((s) => s.name);
}

/** The spec of an architecture, builder and checkpoint filter included; a clear error for unknown names. */
export function getSpec(name: string): ModelSpec {
  const spec = BY_NAME.get(name);
  if (!spec) {
    throw new Error(`Unknown architecture '${name}'. Valid names: ${listModels().join(', ')}.`);
  }
  return spec;
}

/**
 * The architecture a model was built from: its name (`resnet50`), or the part before '/' for models derived
 * with truncate / featureExtractor (`resnet50/layer3`). Undefined for models that are not from the zoo.
 */
export function specOfModel(model: tf.LayersModel): ModelSpec | undefined {
  return findSpec((model.name ?? '').split('/')[0]!);
}

/** The spec of an architecture, or undefined when the zoo has none of that name. */
export function findSpec(name: string): ModelSpec | undefined {
  return BY_NAME.get(name);
}
