import type * as tf from '@tensorflow/tfjs';
import type { ModuleInfo } from './modules.js';
import type { WeightsInfo } from './manifest.js';

/**
 * What a model's outputs mean, when its weights say: names (torchxrayvision's 18 pathologies, '' for an output
 * the training data had no label for; a `chexzoo train` run's tasks) and operating points. Kept in the model's `userDefinedMetadata`, so
 * `saveModel` / `loadModel` keep it too.
 */
export interface OutputInfo {
  labels?: string[];
  /** Per-output operating points (null: none); feed them to `calibratedProbabilities` / `opNorm`. */
  opThreshs?: (number | null)[];
  /** Where they come from: the weights tag ('xrv-all'), 'checkpoint', or 'run' (a `chexzoo train` run's tasks). */
  source: string;
}

/** The userDefinedMetadata key (model.json) that holds a model's {@link OutputInfo}. */
export const OUTPUT_INFO_KEY = 'chexzoo_outputs';
const KEY = OUTPUT_INFO_KEY;

/** Output info from a registry entry (tags) or, failing that, from a whole-module checkpoint. */
export function outputInfoOf(info: WeightsInfo | undefined, tag: string | undefined, module: ModuleInfo | undefined): OutputInfo | undefined {
  if (info?.labels) return { labels: [...info.labels], ...(info.opThreshs ? { opThreshs: [...info.opThreshs] } : {}), source: tag ?? info.variant };
  if (!module?.labels && !module?.opThreshs) return undefined;
  return {
    ...(module.labels ? { labels: [...module.labels] } : {}),
    ...(module.opThreshs ? { opThreshs: module.opThreshs.map((v) => (Number.isNaN(v) ? null : v)) } : {}),
    source: 'checkpoint',
  };
}

/** Records what the outputs mean on the model (one entry of its userDefinedMetadata). */
export function setOutputInfo(model: tf.LayersModel, outputs: OutputInfo): void {
  const prev = (model.getUserDefinedMetadata() ?? {}) as Record<string, unknown>;
  model.setUserDefinedMetadata({ ...prev, [KEY]: outputs });
}

/**
 * The names and operating points of a model's outputs, when its weights carried them (torchxrayvision weights
 * loaded by tag or from a whole-module .pt file, or a model trained by `chexzoo train`: its tasks); undefined otherwise.
 * @example const { labels, opThreshs } = getOutputInfo(model) ?? {};
 */
export function getOutputInfo(model: tf.LayersModel): OutputInfo | undefined {
  const meta = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const o = meta?.[KEY] as OutputInfo | undefined;
  return o && typeof o === 'object' ? o : undefined;
}
