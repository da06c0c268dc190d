// torchxrayvision checkpoints on the demo page: a .pt file that is a whole pickled torchxrayvision model (or the
// ResNet-50 state dict it publishes) becomes a 1-channel, 18-output zoo model; the page shows its pathologies with
// calibrated probabilities (sigmoid + op_norm when the weights carry operating points) and Grad-CAM. No DOM here:
// app.ts calls tryLoadXrv / analyzeXrv, and test/xrv-demo.test.ts runs the same code in Node.
import * as tf from '@tensorflow/tfjs';
import {
  calibratedProbabilities,
  createModel,
  getOutputInfo,
  getWeightsInfo,
  gradCam,
  loadWeights,
  parseCheckpoint,
  preprocess,
  weightsTags,
  type OutputInfo,
  type PreprocessSpec,
  type StateDict,
  type WeightsInfo,
} from '../../src/index.js';
import type { Analysis } from './pipeline.js';

/** A loaded torchxrayvision model: what the page needs besides the model. */
export interface XrvModel {
  model: tf.LayersModel;
  arch: string;
  outputs: OutputInfo;
  how: string;
}

/** The registered torchxrayvision weights (xrv-* tags) of the zoo: by release file name, and the default labels. */
function xrvEntries(): WeightsInfo[] {
  return ['densenet121', 'resnet50'].flatMap((a) => weightsTags(a).filter((t) => t.startsWith('xrv-')).map((t) => getWeightsInfo(a, t)));
}

/** The architecture of a torchxrayvision state dict: DenseNet-121 (features.conv0, 1024 features) or ResNet-50 (conv1, 2048). */
function archOf(dict: StateDict): string | undefined {
  const conv0 = dict.get('features.conv0.weight');
  const head = dict.get('classifier.weight');
  if (conv0?.shape[1] === 1 && head?.shape[1] === 1024 && dict.has('features.denseblock4.denselayer16.conv2.weight')) return 'densenet121';
  const conv1 = dict.get('conv1.weight');
  if (conv1?.shape[1] === 1 && dict.get('fc.weight')?.shape[1] === 2048 && dict.has('layer3.5.conv3.weight')) return 'resnet50';
  return undefined;
}

/**
 * Loads a torchxrayvision checkpoint, or returns undefined when the bytes are not one (a 1-channel DenseNet-121 or
 * ResNet-50 with 18 outputs). Labels and operating points: the file's own (pathologies, op_threshs), else the
 * registry entry whose release file name matches, else torchxrayvision's default 18 pathologies without operating points.
 * @example const xrv = await tryLoadXrv(new Uint8Array(await file.arrayBuffer()), file.name);
 */
export async function tryLoadXrv(bytes: Uint8Array, fileName: string, options: { imageSize?: number } = {}): Promise<XrvModel | undefined> {
  let parsed;
  try {
    parsed = parseCheckpoint(bytes);
  } catch {
    return undefined; // not readable here: the page's ordinary path reports why
  }
  const arch = archOf(parsed.dict);
  const classes = parsed.dict.get(arch === 'resnet50' ? 'fc.weight' : 'classifier.weight')?.shape[0];
  if (!arch || classes !== 18) return undefined;
  const entry = xrvEntries().find((w) => w.fileName === fileName);
  const size = options.imageSize ?? (arch === 'resnet50' ? 512 : 224);
  const model = await createModel(arch, { numClasses: 18, inChannels: 1, imageSize: size });
  try {
    await loadWeights(model, bytes, { log: () => {} });
  } catch (e) {
    model.dispose();
    throw e;
  }
  const fallback = entry ?? xrvEntries()[0]!;
  const own = getOutputInfo(model);
  const outputs: OutputInfo = {
    labels: own?.labels ?? [...fallback.labels!],
    ...(own?.opThreshs ? { opThreshs: own.opThreshs } : entry?.opThreshs ? { opThreshs: [...entry.opThreshs] } : {}),
    source: own?.labels ? `'${fileName}'` : entry ? `registry entry of '${fileName}'` : "torchxrayvision's default pathologies",
  };
  const module = parsed.module ? `whole ${parsed.module.className}` : 'state dict';
  return { model, arch, outputs, how: `torchxrayvision ${arch} from '${fileName}' (${module}, ${parsed.format}; labels from ${outputs.source})` };
}

/** The outputs that have a name, with their index ('' marks an output the training data had no label for). */
export function labelledOutputs(outputs: OutputInfo): (readonly [string, number])[] {
  return (outputs.labels ?? []).map((l, i) => [l, i] as const).filter(([l]) => l !== '');
}

/** The page's analysis, each row keeping its output index (rows without a label are left out). */
export type XrvAnalysis = Analysis & { probabilities: { task: string; probability: number; index: number }[] };

/** torchxrayvision's preprocessing at the model's input size. */
function xrvSpec(model: tf.LayersModel): PreprocessSpec {
  const size = model.inputs[0]!.shape[1]!;
  return { ...getWeightsInfo('densenet121', 'xrv-all'), resizeSize: size, cropSize: size };
}

/**
 * Preprocesses an RGB image (int32 [H, W, 3]) as torchxrayvision does, runs the model, calibrates the outputs
 * with the operating points (outputs without a label are left out), and explains `classIndex` (default: the
 * most probable labelled output) at `block`.
 */
export async function analyzeXrv(xrv: Pick<XrvModel, 'model' | 'outputs'>, rgb: tf.Tensor3D, options: { block?: string; classIndex?: number } = {}): Promise<XrvAnalysis> {
  const { model, outputs } = xrv;
  const x = preprocess(rgb, xrvSpec(model));
  try {
    const y = model.predict(x) as tf.Tensor;
    const logits = await y.data();
    y.dispose();
    const p = Array.from(calibratedProbabilities(logits, outputs.opThreshs));
    const labelled = labelledOutputs(outputs);
    const best = labelled.reduce((b, [, i]) => (p[i]! > p[b]! ? i : b), labelled[0]?.[1] ?? 0);
    const cam = await gradCam(model, x, { block: options.block, classIndex: options.classIndex ?? best });
    const shown = tf.tidy(() => {
      // [-1024, 1024] back to grey bytes
      const g = tf.clipByValue(tf.mul(tf.add(tf.squeeze(x, [0]), 1024), 255 / 2048), 0, 255);
      return tf.cast(tf.round(tf.concat([tf.tile(g, [1, 1, 3]), tf.fill([cam.height, cam.width, 1], 255)], -1)), 'int32');
    });
    const inputRgba = new Uint8ClampedArray(await shown.data());
    shown.dispose();
    // torchxrayvision gives 0.5 where an output has no operating point: say so rather than show a bare 50%
    const noOp = (i: number): boolean => outputs.opThreshs !== undefined && (outputs.opThreshs[i] === null || Number.isNaN(outputs.opThreshs[i]));
    const rows = labelled.map(([task, i]) => ({ task: noOp(i) ? `${task} (no operating point)` : task, probability: p[i]!, index: i }));
    return { probabilities: rows, cam, inputRgba };
  } finally {
    x.dispose();
  }
}
