import type * as tf from '@tensorflow/tfjs';

/**
 * The layer whose output is the output of block `block` (a reference module path such as `layer3` or
 * `features.denseblock2`): the last layer, in topological order, named `block` or `block.<...>`. Builders
 * name every layer of a block under its module path, so the block's sink is that layer.
 * @example blockOutputLayer(model, 'layer3')?.name // 'layer3.5.relu'
 */
export function blockOutputLayer(model: tf.LayersModel, block: string): tf.layers.Layer | undefined {
  let found: tf.layers.Layer | undefined;
  const prefix = `${block}.`;
  for (const layer of model.layers) {
    if (layer.name === block || layer.name.startsWith(prefix)) found = layer;
  }
  return found;
}
