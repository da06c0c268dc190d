import type * as tf from '@tensorflow/tfjs';

/**
 * The layer whose output is the output of stage `stage` (a reference module path such as `layer3` or
 * `features.denseblock2`): the last layer, in topological order, named `stage` or `stage.<...>`. Builders
 * name every layer of a stage under its module path, so the stage's sink is that layer.
 */
export function stageOutputLayer(model: tf.LayersModel, stage: string): tf.layers.Layer | undefined {
  let found: tf.layers.Layer | undefined;
  const prefix = `${stage}.`;
  for (const layer of model.layers) {
    if (layer.name === stage || layer.name.startsWith(prefix)) found = layer;
  }
  return found;
}
