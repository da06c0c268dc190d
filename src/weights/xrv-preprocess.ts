import * as tf from '@tensorflow/tfjs';

/**
 * torchxrayvision's preprocessing, for the weights tagged `preprocessing: 'xrv'` (xrv-all ...):
 * `normalize(img, maxval)` (pixels to [-1024, 1024]), `XRayCenterCrop()` (a square of the shorter side, centred
 * with Python's floor divisions) and `XRayResizer(size)`, which is skimage 0.19's
 * `resize(img, (1, size, size), mode='constant', preserve_range=True)`: when shrinking, a Gaussian blur
 * (sigma = (factor - 1) / 2, truncated at 4 sigma, zero padding: scipy.ndimage.gaussian_filter) and then
 * linear interpolation at (i + 0.5) * factor - 0.5 (scipy.ndimage.zoom, grid mode, zeros outside), clipped to
 * the input's range. Written out here (not with tf.image) because no TF.js op has that blur and sampling grid;
 * computed per image on the CPU in float64 with float32 results, as numpy does.
 */

/** scipy.ndimage's 1-D Gaussian kernel (order 0): radius int(4 sigma + 0.5), weights normalised to 1. */
function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.floor(4 * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-0.5 / (sigma * sigma)) * i * i);
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/** One pass of scipy's correlate1d along rows (axis 0) or columns (axis 1) of an n x n image, zeros outside. */
function blurAxis(src: Float32Array, n: number, k: Float64Array, axis: 0 | 1): Float32Array {
  const r = (k.length - 1) / 2;
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const at = axis === 0 ? y : x;
      let acc = 0;
      for (let j = -r; j <= r; j++) {
        const p = at + j;
        if (p < 0 || p >= n) continue;
        acc += k[j + r]! * src[axis === 0 ? p * n + x : y * n + p]!;
      }
      out[y * n + x] = acc;
    }
  }
  return out;
}

/** Linear taps of scipy.ndimage.zoom in grid mode: source index and weight pairs per output index (-1: outside, zero). */
function zoomTaps(inSize: number, outSize: number): { i0: Int32Array; w1: Float64Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize);
  const w1 = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const c = (o + 0.5) * scale - 0.5;
    i0[o] = Math.floor(c);
    w1[o] = c - Math.floor(c);
  }
  return { i0, w1 };
}

/** skimage.transform.resize of an n x n float32 image to size x size (order 1, mode constant, preserve_range, clip). */
export function skimageResize(img: Float32Array, n: number, size: number): Float32Array {
  if (n === size) return img.slice();
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of img) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let src = img;
  const sigma = Math.max(0, (n / size - 1) / 2);
  // scipy skips an axis whose sigma is (nearly) zero
  if (sigma > 1e-15) {
    const k = gaussianKernel(sigma);
    src = blurAxis(blurAxis(src, n, k, 0), n, k, 1);
  }
  const { i0, w1 } = zoomTaps(n, size);
  const at = (y: number, x: number): number => (y < 0 || y >= n || x < 0 || x >= n ? 0 : src[y * n + x]!);
  const out = new Float32Array(size * size);
  for (let oy = 0; oy < size; oy++) {
    const y = i0[oy]!;
    const fy = w1[oy]!;
    for (let ox = 0; ox < size; ox++) {
      const x = i0[ox]!;
      const fx = w1[ox]!;
      const v = (1 - fy) * ((1 - fx) * at(y, x) + fx * at(y, x + 1)) + fy * ((1 - fx) * at(y + 1, x) + fx * at(y + 1, x + 1));
      out[oy * size + ox] = Math.min(hi, Math.max(lo, v));
    }
  }
  return out;
}

/** normalize(img, maxval) on the mean of the channels, float32 step by step as numpy computes it. */
function normalizeGray(data: Float32Array | Int32Array | Uint8Array, pixels: number, channels: number, maxval: number): Float32Array {
  const out = new Float32Array(pixels);
  const f = Math.fround;
  for (let p = 0; p < pixels; p++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += data[p * channels + c]!;
    const v = f(s / channels);
    if (v > maxval) {
      throw new Error(`xrv preprocessing: a pixel is ${v}, above the white level ${maxval}; pass maxPixelValue (e.g. 65535 for 16-bit images).`);
    }
    out[p] = f(f(f(2 * f(v / maxval)) - 1) * 1024);
  }
  return out;
}

/** XRayCenterCrop: the centred square of the shorter side (numpy slicing with floor divisions). */
function centerCrop(img: Float32Array, h: number, w: number): { data: Float32Array; n: number } {
  const n = Math.min(h, w);
  const sx = Math.floor(w / 2) - Math.floor(n / 2);
  const sy = Math.floor(h / 2) - Math.floor(n / 2);
  const out = new Float32Array(n * n);
  for (let y = 0; y < n; y++) out.set(img.subarray((sy + y) * w + sx, (sy + y) * w + sx + n), y * n);
  return { data: out, n };
}

/**
 * torchxrayvision's normalize + XRayCenterCrop + XRayResizer(size) of an image [H, W, C] or batch [N, H, W, C]
 * (C = 1, or 3 averaged to grey as torchxrayvision's README does): output [N, size, size, 1] in [-1024, 1024].
 * @example const x = xrvPreprocess(tf.browser.fromPixels(img, 1), 224);
 */
export function xrvPreprocess(image: tf.Tensor3D | tf.Tensor4D, size: number, options: { maxPixelValue?: number } = {}): tf.Tensor4D {
  const [n, h, w, c] = (image.rank === 3 ? [1, ...image.shape] : image.shape) as [number, number, number, number];
  const maxval = options.maxPixelValue ?? (image.dtype === 'int32' ? 255 : 1);
  const all = image.dataSync() as Float32Array | Int32Array;
  const out = new Float32Array(n * size * size);
  for (let b = 0; b < n; b++) {
    const gray = normalizeGray(all.subarray(b * h * w * c, (b + 1) * h * w * c), h * w, c, maxval);
    const crop = centerCrop(gray, h, w);
    out.set(skimageResize(crop.data, crop.n, size), b * size * size);
  }
  return tf.tensor4d(out, [n, size, size, 1]);
}
