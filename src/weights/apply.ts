import type * as tf from '@tensorflow/tfjs';
import type { ProgressCallback } from './fetch.js';
import { loadWeights, type LoadWeightsOptions, type LoadWeightsReport, type WeightsSource } from './load.js';
import { getWeightsInfo, hasWeights } from './manifest.js';
import { getWeightsResolver } from './resolver.js';

export { setWeightsResolver, getWeightsResolver } from './resolver.js';
export type { WeightsRequest, WeightsResolver, ResolvedWeights } from './resolver.js';

/** `'imagenet'` (the registered weights), a path (Node), a URL, bytes, a state dict or TF.js artifacts. */
export type WeightsSpec = 'imagenet' | WeightsSource;

export interface ApplyWeightsOptions {
  /** Classes of the model's head; 0 = built without a head (checkpoint head keys are then ignored). */
  numClasses?: number;
  inChannels?: 1 | 3;
  onProgress?: ProgressCallback;
  /** Passed to loadWeights (strict, log, skipHead, ...). */
  load?: LoadWeightsOptions;
}

/**
 * Puts weights into a freshly built zoo model. 'imagenet' resolves through weights/manifest.json
 * (URL, hash, label offset, ignored keys); other specs go straight to loadWeights. Used by
 * createModel(name, { weights }).
 * @example await applyWeights(model, 'resnet18', 'imagenet', { numClasses: 14 });
 */
export async function applyWeights(
  model: tf.LayersModel,
  arch: string,
  spec: WeightsSpec,
  options: ApplyWeightsOptions = {},
): Promise<LoadWeightsReport> {
  const load: LoadWeightsOptions = { ...options.load };
  if (options.onProgress && !load.onProgress) load.onProgress = options.onProgress;
  const info = hasWeights(arch) ? getWeightsInfo(arch) : undefined;
  const ignore = [...(load.ignoreKeyPrefixes ?? [])];
  // a model built without a head still loads a full checkpoint: its classifier keys are not "unexpected"
  if (options.numClasses === 0 && info) ignore.push(...info.headKeyPrefixes);
  if (spec !== 'imagenet') return loadWeights(model, spec, { ...load, ignoreKeyPrefixes: ignore });
  const w = info ?? getWeightsInfo(arch); // the latter throws the clear "no registered weights" error
  ignore.push(...(w.ignoredKeyPrefixes ?? []));
  const bytes = await getWeightsResolver()({
    url: w.url,
    fileName: w.fileName,
    sha256: w.sha256,
    sha256Prefix: w.sha256Prefix,
    arch,
    ...(load.onProgress ? { onProgress: load.onProgress } : {}),
  });
  return loadWeights(model, bytes, { labelOffset: w.labelOffset, ...load, ignoreKeyPrefixes: ignore });
}
