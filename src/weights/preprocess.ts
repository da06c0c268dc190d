import * as tf from '@tensorflow/tfjs';
import { getWeightsInfo, type PreprocessSpec } from './manifest.js';

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
}

/** Python's round(): halves go to the even neighbour (torchvision's center_crop uses it). */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Resize (shorter side to `resizeSize`), center crop (`cropSize`), scale to [0, 1] and normalize
 * with the weights' mean/std, as torchvision's ImageClassification preset does. Input: an image
 * [H, W, C] or a batch [N, H, W, C] of pixels; output: float32 [N, crop, crop, C].
 * Deviations: TF.js resizes without antialiasing (like torchvision's tensor path with
 * antialias=False, unlike its PIL path), and 'bicubic' weights are resized bilinearly.
 * Integer inputs are rounded back to whole values after resizing, as torchvision does for uint8.
 * A 1-channel output is normalized with the mean of the RGB means and stds.
 * @example const x = preprocess(tf.browser.fromPixels(img), 'resnet50'); // [1, 224, 224, 3]
 */
export function preprocess(image: tf.Tensor3D | tf.Tensor4D, weightsOrArch: string | PreprocessSpec, options: PreprocessOptions = {}): tf.Tensor4D {
  const spec = typeof weightsOrArch === 'string' ? getWeightsInfo(weightsOrArch) : weightsOrArch;
  if (image.rank !== 3 && image.rank !== 4) throw new Error(`preprocess expects an image [H, W, C] or a batch [N, H, W, C]; got rank ${image.rank}.`);
  const inC = image.shape[image.rank - 1]!;
  if (inC !== 1 && inC !== 3) throw new Error(`preprocess expects 1 or 3 channels; got ${inC} (drop the alpha channel first).`);
  const outC = options.channels ?? inC;
  const max = options.maxPixelValue ?? (image.dtype === 'int32' ? 255 : 1);
  const { resizeSize, cropSize, mean, std } = spec;
  if (!(resizeSize >= cropSize)) throw new Error(`Invalid preprocessing: resizeSize ${resizeSize} is smaller than cropSize ${cropSize}.`);
  return tf.tidy(() => {
    let x = (image.rank === 3 ? tf.expandDims(image, 0) : image) as tf.Tensor4D;
    x = tf.cast(x, 'float32');
    const [, h, w] = x.shape;
    // torchvision: the shorter side becomes resizeSize, the longer keeps the aspect ratio (truncated)
    const [nh, nw] = h <= w ? [resizeSize, Math.floor((resizeSize * w) / h)] : [Math.floor((resizeSize * h) / w), resizeSize];
    if (nh !== h || nw !== w) {
      x = spec.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(x, [nh, nw], false, true) : tf.image.resizeBilinear(x, [nh, nw], false, true);
      // integer images stay integer through torchvision's (and PIL's) resize: round back to whole pixel values
      if (image.dtype === 'int32') x = tf.clipByValue(tf.round(x), 0, max);
    }
    const top = pyRound((nh - cropSize) / 2);
    const left = pyRound((nw - cropSize) / 2);
    x = tf.slice(x, [0, top, left, 0], [-1, cropSize, cropSize, -1]);
    x = tf.div(x, max);
    if (inC === 3 && outC === 1) x = tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), -1, true);
    if (inC === 1 && outC === 3) x = tf.tile(x, [1, 1, 1, 3]);
    const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const m = outC === 1 ? [avg(mean)] : mean;
    const s = outC === 1 ? [avg(std)] : std;
    return tf.div(tf.sub(x, tf.tensor1d(m)), tf.tensor1d(s)) as tf.Tensor4D;
  });
}
