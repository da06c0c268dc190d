// Pixel-level preprocessing on decoded grayscale images: seeded augmentation and normalisation.
// Browser-safe (no decoding here): images.ts feeds it sharp's output in Node, a canvas can feed it in a browser.
import { randInt } from '../utils/rng.js';

/** ImageNet statistics (torchvision), on pixels scaled to [0, 1]. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * Augmentation ranges. Horizontal flips are off by default: a chest radiograph has a side (the heart lies on
 * the patient's left), so a flipped image shows dextrocardia; turn them on only if that is acceptable.
 */
export interface AugmentOptions {
  /** Maximum rotation in degrees (uniform in [-rotate, rotate]). Default 7. */
  rotate?: number;
  /** Maximum shift as a fraction of the image size, per axis. Default 0.05. */
  shift?: number;
  /** Maximum relative zoom in or out. Default 0.05. */
  scale?: number;
  /** Maximum brightness offset on [0, 1] pixels. Default 0.08. */
  brightness?: number;
  /** Maximum relative contrast change. Default 0.15. */
  contrast?: number;
  /** Probability of a horizontal flip. Default 0 (see above). */
  hflip?: number;
}

/** One drawn augmentation. */
export interface AugmentParams {
  angle: number;
  dx: number;
  dy: number;
  zoom: number;
  brightness: number;
  contrast: number;
  flip: boolean;
}

export const DEFAULT_AUGMENT: Required<AugmentOptions> = { rotate: 7, shift: 0.05, scale: 0.05, brightness: 0.08, contrast: 0.15, hflip: 0 };

/**
 * Draws augmentation parameters from a generator made by `rng`.
 * @example const p = sampleAugment(rng(1), { rotate: 5 });
 */
export function sampleAugment(rand: () => number, options: AugmentOptions = {}): AugmentParams {
  const o = { ...DEFAULT_AUGMENT, ...options };
  for (const [k, v] of Object.entries(o)) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`Augmentation option "${k}" must be a non-negative number, got ${v}.`);
  }
  if (o.hflip > 1) throw new Error(`Augmentation option "hflip" is a probability in [0, 1], got ${o.hflip}.`);
  const sym = (m: number) => (rand() * 2 - 1) * m;
  return {
    angle: (sym(o.rotate) * Math.PI) / 180,
    dx: sym(o.shift),
    dy: sym(o.shift),
    zoom: 1 + sym(o.scale),
    brightness: sym(o.brightness),
    contrast: 1 + sym(o.contrast),
    flip: o.hflip > 0 && rand() < o.hflip,
  };
}

/** Whether parameters change the image geometry (rotation, shift, zoom or flip). */
function isGeometric(p: AugmentParams): boolean {
  return p.angle !== 0 || p.dx !== 0 || p.dy !== 0 || p.zoom !== 1 || p.flip;
}

/**
 * Converts 8-bit grayscale to [0, 1] floats, applying augmentation if given: an affine warp about the centre
 * (bilinear, black outside), then contrast about mid-grey and a brightness offset, clipped to [0, 1].
 * @example const g = grayToUnit(pixels, 128, 128, sampleAugment(rng(0)));
 */
export function grayToUnit(gray: Uint8Array, height: number, width: number, params?: AugmentParams): Float32Array {
  if (gray.length !== height * width) throw new Error(`Image buffer has ${gray.length} bytes, expected ${height}x${width} = ${height * width}.`);
  const out = new Float32Array(height * width);
  if (!params || !isGeometric(params)) {
    for (let i = 0; i < out.length; i++) out[i] = gray[i] / 255;
  } else {
    const cx = (width - 1) / 2;
    const cy = (height - 1) / 2;
    const c = Math.cos(params.angle) / params.zoom;
    const s = Math.sin(params.angle) / params.zoom;
    const sx = params.dx * width;
    const sy = params.dy * height;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // Inverse map: output pixel -> source position.
        const ox = (params.flip ? width - 1 - x : x) - cx - sx;
        const oy = y - cy - sy;
        const fx = c * ox + s * oy + cx;
        const fy = -s * ox + c * oy + cy;
        const x0 = Math.floor(fx);
        const y0 = Math.floor(fy);
        const ax = fx - x0;
        const ay = fy - y0;
        // No closure here: per-pixel function objects dominated the time (and tsx wraps each one).
        const inX0 = x0 >= 0 && x0 < width;
        const inX1 = x0 + 1 >= 0 && x0 + 1 < width;
        const inY0 = y0 >= 0 && y0 < height;
        const inY1 = y0 + 1 >= 0 && y0 + 1 < height;
        const r0 = y0 * width;
        const r1 = r0 + width;
        const p00 = inX0 && inY0 ? gray[r0 + x0] : 0;
        const p10 = inX1 && inY0 ? gray[r0 + x0 + 1] : 0;
        const p01 = inX0 && inY1 ? gray[r1 + x0] : 0;
        const p11 = inX1 && inY1 ? gray[r1 + x0 + 1] : 0;
        const top = p00 + (p10 - p00) * ax;
        const bottom = p01 + (p11 - p01) * ax;
        out[y * width + x] = (top + (bottom - top) * ay) / 255;
      }
    }
  }
  if (params && (params.contrast !== 1 || params.brightness !== 0)) {
    for (let i = 0; i < out.length; i++) {
      const v = (out[i] - 0.5) * params.contrast + 0.5 + params.brightness;
      out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/**
 * Resolves mean/std for a channel count: one value is broadcast; three values on a 1-channel input are averaged
 * (a grey image replicated to RGB would see the same average).
 */
export function channelStats(values: readonly number[], channels: number, name: string): number[] {
  if (values.length === channels) return [...values];
  if (values.length === 1) return Array(channels).fill(values[0]);
  if (channels === 1) return [values.reduce((a, b) => a + b, 0) / values.length];
  throw new Error(`${name} has ${values.length} values but the images have ${channels} channels: give 1 or ${channels} values.`);
}

/**
 * Writes a [0, 1] grayscale image as NHWC channels, normalised `(x - mean) / std` per channel (torchvision's
 * `Normalize` after `ToTensor`), into `out` at `offset`; grey is replicated to every channel.
 * @example normalizeInto(unit, 128 * 128, 3, IMAGENET_MEAN, IMAGENET_STD, batch, k * 128 * 128 * 3);
 */
export function normalizeInto(
  unit: Float32Array,
  pixels: number,
  channels: number,
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  offset = 0,
): void {
  const m = channelStats(mean, channels, 'mean');
  const sd = channelStats(std, channels, 'std');
  if (sd.some((v) => !(v > 0))) throw new Error(`std values must be positive, got [${sd.join(', ')}].`);
  const inv = sd.map((v) => 1 / v);
  if (channels === 1) {
    for (let i = 0; i < pixels; i++) out[offset + i] = (unit[i] - m[0]) * inv[0];
    return;
  }
  for (let i = 0; i < pixels; i++) {
    const v = unit[i];
    const o = offset + i * channels;
    for (let c = 0; c < channels; c++) out[o + c] = (v - m[c]) * inv[c];
  }
}

/**
 * A seeded permutation of 0..n-1 (Fisher-Yates).
 * @example shuffledIndices(10, rng(3));
 */
export function shuffledIndices(n: number, rand: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randInt(rand, i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}
