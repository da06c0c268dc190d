import * as tf from '@tensorflow/tfjs';
import { getPreprocessConfig, type PreprocessSpec } from './manifest.js';
import { axisWeights, centerCropOffsets, resizeShorterSide, type ResampleFilter } from '../utils/resample.js';
import { xrvPreprocess } from './xrv-preprocess.js';
import type { DicomImage } from '../dicom/index.js';

export interface PreprocessOptions {
  /**
   * Value of a white pixel in the input. Default 255 for int32 tensors (tf.browser.fromPixels,
   * decoded images) and 1 for float32 tensors (already scaled to [0, 1]).
   */
  maxPixelValue?: number;
  /**
   * Channels of the output: 3 (RGB weights) or 1 (grayscale stem). Default: the input's channels.
   * 1 -> 3 replicates the gray channel; 3 -> 1 uses ITU-R 601 luma (as PIL's convert('L')).
   */
  channels?: 1 | 3;
  /**
   * Default true: antialiased resize equal to PIL's `Image.resize` (torchvision's transforms on PIL images,
   * what `Weights.transforms()` users run). false: plain bilinear/nearest sampling, like torchvision's
   * tensor path with `antialias=False` (its default for tensors in 0.14); bicubic weights are then resized bilinearly.
   */
  antialias?: boolean;
}

/**
 * One axis of PIL's resampling as TF.js ops (a gather of each output's taps and a weighted sum), so it runs on
 * every backend. `axis` is 1 (rows) or 2 (columns) of an NHWC batch.
 */
function resampleAxis(x: tf.Tensor4D, axis: 1 | 2, outSize: number, from: number, count: number, filter: ResampleFilter): tf.Tensor4D {
  const inSize = x.shape[axis];
  const w = axisWeights(inSize, outSize, filter, from, count);
  const g = tf.gather(x, tf.tensor1d(w.index, 'int32'), axis);
  const [n, h, wd, c] = x.shape;
  const wt = tf.tensor1d(Float32Array.from(w.weights));
  if (axis === 2) {
    const taps = tf.reshape(g, [n, h, count, w.taps, c]);
    return tf.sum(tf.mul(taps, tf.reshape(wt, [1, 1, count, w.taps, 1])), 3) as tf.Tensor4D;
  }
  const taps = tf.reshape(g, [n, count, w.taps, wd, c]);
  return tf.sum(tf.mul(taps, tf.reshape(wt, [1, count, w.taps, 1, 1])), 2) as tf.Tensor4D;
}

/**
 * Resize (shorter side to `resizeSize`), center crop (`cropSize`), scale to [0, 1] and normalize
 * with the weights' mean/std, as torchvision's ImageClassification preset does on a PIL image
 * (`ResNet18_Weights.IMAGENET1K_V1.transforms()`). Input: an image [H, W, C] or a batch [N, H, W, C] of
 * pixels; output: float32 [N, crop, crop, C]. The resize is PIL's antialiased bilinear / bicubic (filter
 * support widened by the downscale factor; only the cropped window is computed). Integer inputs are
 * rounded and clipped to whole pixel values after each resize pass, as PIL does for 8-bit images: measured
 * against torchvision 0.14 + PIL 9.4 on a 1200x900 image with fine detail, mean |diff| < 1e-4 and max
 * 0.018 (one 8-bit level) in normalised units (test/fixtures/preprocess).
 * A 1-channel output is normalized with the mean of the RGB means and stds.
 * Weights tagged `preprocessing: 'xrv'` ('xrv-all' ...) get torchxrayvision's own pipeline instead
 * (src/weights/xrv-preprocess.ts): grey, [-1024, 1024], centre crop, skimage resize; output [N, size, size, 1].
 * A decoded DICOM (`decodeDicom`) is taken as a float image in [0, 1], replicated to 3 channels unless
 * `options.channels` says 1 or the weights are torchxrayvision's (one channel).
 * @example const x = preprocess(tf.browser.fromPixels(img), 'resnet50'); // [1, 224, 224, 3]
 * @example const x = preprocess(await decodeDicom(bytes), 'densenet121');
 */
export function preprocess(image: tf.Tensor3D | tf.Tensor4D | DicomImage, weightsOrArch: string | PreprocessSpec, options: PreprocessOptions = {}): tf.Tensor4D {
  if (!(image instanceof tf.Tensor)) {
    if (!(image?.pixels instanceof Float32Array)) throw new Error('preprocess expects a tensor [H, W, C] / [N, H, W, C] or a decoded DICOM ({ width, height, pixels }).');
    const t = tf.tensor3d(image.pixels, [image.height, image.width, 1], 'float32');
    // torchxrayvision's weights take one grey channel; ImageNet weights take three
    const spec = typeof weightsOrArch === 'string' ? getPreprocessConfig(weightsOrArch) : weightsOrArch;
    const channels = options.channels ?? (spec.preprocessing === 'xrv' ? 1 : 3);
    try {
      return preprocess(t, spec, { ...options, channels, maxPixelValue: 1 });
    } finally {
      t.dispose();
    }
  }
  const spec = typeof weightsOrArch === 'string' ? getPreprocessConfig(weightsOrArch) : weightsOrArch;
  if (image.rank !== 3 && image.rank !== 4) throw new Error(`preprocess expects an image [H, W, C] or a batch [N, H, W, C]; got rank ${image.rank}.`);
  if (spec.preprocessing === 'xrv') {
    const x = xrvPreprocess(image, spec.cropSize, options.maxPixelValue !== undefined ? { maxPixelValue: options.maxPixelValue } : {});
    if (options.channels !== 3) return x;
    const rgb = tf.tile(x, [1, 1, 1, 3]) as tf.Tensor4D;
    x.dispose();
    return rgb;
  }
  const inC = image.shape[image.rank - 1]!;
  if (inC !== 1 && inC !== 3) throw new Error(`preprocess expects 1 or 3 channels; got ${inC} (drop the alpha channel first).`);
  const outC = options.channels ?? inC;
  const max = options.maxPixelValue ?? (image.dtype === 'int32' ? 255 : 1);
  const { resizeSize, cropSize, mean, std } = spec;
  if (!(resizeSize >= cropSize)) throw new Error(`Invalid preprocessing: resizeSize ${resizeSize} is smaller than cropSize ${cropSize}.`);
  const interpolation = spec.interpolation;
  if (!['bilinear', 'bicubic', 'nearest'].includes(interpolation)) throw new Error(`Unknown interpolation '${String(interpolation)}': use bilinear, bicubic or nearest.`);
  return tf.tidy(() => {
    let x = (image.rank === 3 ? tf.expandDims(image, 0) : image) as tf.Tensor4D;
    x = tf.cast(x, 'float32');
    const [, h, w] = x.shape;
    // torchvision: the shorter side becomes resizeSize, the longer keeps the aspect ratio (truncated)
    const [nh, nw] = resizeShorterSide(h, w, resizeSize);
    const [top, left] = centerCropOffsets(nh, nw, cropSize, cropSize);
    const integer = image.dtype === 'int32';
    // PIL keeps 8-bit images 8-bit after each pass: round half up and clip
    const toPixels = (t: tf.Tensor4D): tf.Tensor4D => (integer ? (tf.clipByValue(tf.floor(tf.add(t, 0.5)), 0, max) as tf.Tensor4D) : t);
    if (options.antialias === false) {
      if (nh !== h || nw !== w) {
        x = interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(x, [nh, nw], false, true) : tf.image.resizeBilinear(x, [nh, nw], false, true);
        if (integer) x = tf.clipByValue(tf.round(x), 0, max);
      }
      x = tf.slice(x, [0, top, left, 0], [-1, cropSize, cropSize, -1]);
    } else {
      // PIL order: horizontal pass, then vertical; a dimension that keeps its size is only cropped
      x = nw !== w ? toPixels(resampleAxis(x, 2, nw, left, cropSize, interpolation)) : (tf.slice(x, [0, 0, left, 0], [-1, -1, cropSize, -1]) as tf.Tensor4D);
      x = nh !== h ? toPixels(resampleAxis(x, 1, nh, top, cropSize, interpolation)) : (tf.slice(x, [0, top, 0, 0], [-1, cropSize, -1, -1]) as tf.Tensor4D);
    }
    x = tf.div(x, max);
    if (inC === 3 && outC === 1) x = tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), -1, true);
    if (inC === 1 && outC === 3) x = tf.tile(x, [1, 1, 1, 3]);
    const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const m = outC === 1 ? [avg(mean)] : mean;
    const s = outC === 1 ? [avg(std)] : std;
    return tf.div(tf.sub(x, tf.tensor1d(m)), tf.tensor1d(s)) as tf.Tensor4D;
  });
}
