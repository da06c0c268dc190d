// What the demo page computes, without the DOM: shared by the page (app.ts) and by the browser test's Node
// reference (test/browser/run.ts), so both run exactly this code on the same model and pixels.
import * as tf from '@tensorflow/tfjs';
import {
  COMPETITION_TASKS,
  blocks,
  getOutputInfo,
  getWeightsInfo,
  gradCam,
  listModels,
  preprocess,
  type GradCamResult,
  type PreprocessSpec,
} from '../../src/index.js';

export interface Analysis {
  /** Sigmoid of the model's logits, one per output, named by {@link outputNames}. */
  probabilities: { task: string; probability: number }[];
  cam: GradCamResult;
  /** The model input shown to the user: the centre crop, de-normalised to RGBA bytes (cam.width x cam.height). */
  inputRgba: Uint8ClampedArray;
}

/** The zoo architecture of a model: its name, or the part before '/' for truncated models. */
export function archOfModel(model: tf.LayersModel): string | undefined {
  const arch = (model.name ?? '').split('/')[0]!;
  return listModels().includes(arch) ? arch : undefined;
}

/** The architecture's preprocessing, with the crop scaled to the model's input size when it differs. */
export function preprocessSpecFor(arch: string, model: tf.LayersModel): PreprocessSpec {
  const info = getWeightsInfo(arch);
  const [, h, w] = model.inputs[0]!.shape;
  if (h == null || w == null || h !== w) throw new Error(`The demo needs a square model input; '${model.name}' takes ${h} x ${w}.`);
  if (h === info.cropSize) return info;
  return { ...info, cropSize: h, resizeSize: Math.round((h * info.resizeSize) / info.cropSize) };
}

/**
 * The names of a model's outputs: those it carries (a `chexzoo train` model's tasks, e.g. Nodule, Mass; torchxrayvision's
 * pathologies), else the CheXpert competition tasks for 5 outputs, else undefined.
 */
export function outputNames(model: tf.LayersModel): string[] | undefined {
  const out = model.outputs[0]!.shape;
  if (model.outputs.length !== 1 || out.length !== 2) return undefined;
  const own = getOutputInfo(model)?.labels;
  if (own && own.length === out[1]) return own.map((l, i) => l || `output ${i}`);
  return out[1] === COMPETITION_TASKS.length ? [...COMPETITION_TASKS] : undefined;
}

/** Checks that a model can be shown: one output of logits whose names are known (its own, or 5 CheXpert competition tasks). */
export function checkModel(model: tf.LayersModel): void {
  if (!outputNames(model)) {
    const out = model.outputs[0]!.shape;
    throw new Error(
      `This model outputs [${out.join(', ')}], not the ${COMPETITION_TASKS.length} CheXpert task logits ` +
        `(${COMPETITION_TASKS.join(', ')}), and carries no output names. Pick a model trained by chexzoo train (any tasks) or with 5 outputs (createModel(arch, { numClasses: 5 })).`,
    );
  }
}

export function blocksOf(model: tf.LayersModel): string[] {
  return blocks(model).map((b) => b.name);
}

/**
 * Preprocesses an RGB image (int32 [H, W, 3], 0..255), runs the model, and explains task `classIndex`
 * (default: the most probable task) at block `block` (default: the last).
 */
export async function analyze(
  model: tf.LayersModel,
  arch: string,
  rgb: tf.Tensor3D,
  options: { block?: string; classIndex?: number } = {},
): Promise<Analysis> {
  const spec = preprocessSpecFor(arch, model);
  const channels = model.inputs[0]!.shape[3] as 1 | 3;
  const x = preprocess(rgb, spec, { channels });
  try {
    const probs = tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor));
    const p = Array.from(await probs.data());
    probs.dispose();
    const classIndex = options.classIndex ?? p.indexOf(Math.max(...p));
    const cam = await gradCam(model, x, { block: options.block, classIndex });
    const shown = tf.tidy(() => {
      const mean = channels === 1 ? [spec.mean.reduce((a, b) => a + b) / 3] : spec.mean;
      const std = channels === 1 ? [spec.std.reduce((a, b) => a + b) / 3] : spec.std;
      let img = tf.add(tf.mul(tf.squeeze(x, [0]), std), mean);
      if (channels === 1) img = tf.tile(img, [1, 1, 3]);
      const rgba = tf.concat([tf.clipByValue(tf.mul(img, 255), 0, 255), tf.fill([cam.height, cam.width, 1], 255)], -1);
      return tf.cast(tf.round(rgba), 'int32');
    });
    const inputRgba = new Uint8ClampedArray(await shown.data());
    shown.dispose();
    const names = outputNames(model) ?? p.map((_, i) => `output ${i}`);
    return { probabilities: names.map((task, i) => ({ task, probability: p[i]! })), cam, inputRgba };
  } finally {
    x.dispose();
  }
}

/** A perceptual colormap (turbo-like, blue -> red) for a value in [0, 1]. */
export function heatColor(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  const r = Math.max(0, Math.min(1, 1.5 - Math.abs(4 * t - 3)));
  const g = Math.max(0, Math.min(1, 1.5 - Math.abs(4 * t - 2)));
  const b = Math.max(0, Math.min(1, 1.5 - Math.abs(4 * t - 1)));
  return [Math.round(255 * r), Math.round(255 * g), Math.round(255 * b)];
}

/** The input with the heatmap blended over it (alpha grows with the heat), RGBA bytes. */
export function overlay(a: Analysis, maxAlpha = 0.55): Uint8ClampedArray {
  const { heatmap } = a.cam;
  const out = new Uint8ClampedArray(a.inputRgba.length);
  for (let i = 0; i < heatmap.length; i++) {
    const v = heatmap[i]!;
    const [r, g, b] = heatColor(v);
    const al = maxAlpha * Math.min(1, v * 1.5);
    out[4 * i] = a.inputRgba[4 * i]! * (1 - al) + r * al;
    out[4 * i + 1] = a.inputRgba[4 * i + 1]! * (1 - al) + g * al;
    out[4 * i + 2] = a.inputRgba[4 * i + 2]! * (1 - al) + b * al;
    out[4 * i + 3] = 255;
  }
  return out;
}
