// Image decoding with sharp (Node-only). Decoding and resizing run in libvips' native threads, so several
// images decode at once while TF.js computes on the main thread.
import sharp, { type OutputInfo } from 'sharp';
import { type AugmentParams, IMAGENET_MEAN, IMAGENET_STD, grayToUnit, normalizeInto } from './augment.js';

/** How an image reaches the target size: `crop` keeps the aspect ratio and centre-crops; `squash` stretches. */
export type ResizeMode = 'crop' | 'squash';
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

/**
 * Largest image (width x height) that is decoded: 50 megapixels, about 7070 x 7070. Full-resolution CheXpert
 * radiographs are about 2320 x 2828 (6.6 MP) and other chest X-ray sets stay under ~4300 x 3500 (15 MP), so
 * every real image passes, while a decompression bomb (a small file declaring gigapixels) is refused from its
 * header before any memory is allocated. sharp's own default (268 MP) would let one image take ~1 GB.
 */
export const MAX_INPUT_PIXELS = 50_000_000;

export interface DecodeOptions {
  /** Output size in pixels: a square side or [height, width]. */
  size: number | readonly [number, number];
  /** Default `crop`. */
  resize?: ResizeMode;
  /** Default `linear` (bilinear with antialiasing when shrinking). */
  kernel?: ResizeKernel;
  /** Refuse images with more pixels than this (default {@link MAX_INPUT_PIXELS}). */
  maxInputPixels?: number;
}

export interface ImageOptions extends DecodeOptions {
  /** 1 (grey) or 3 (grey replicated to RGB, for ImageNet weights). Default 3. */
  channels?: 1 | 3;
  /** Per-channel mean / std on [0, 1] pixels, from the weights' metadata. Default ImageNet. */
  mean?: readonly number[];
  std?: readonly number[];
}

/** A decoded 8-bit grayscale image. */
export interface GrayImage {
  data: Uint8Array;
  height: number;
  width: number;
}

/** [height, width] from a size option, validated. */
export function imageSize(size: number | readonly [number, number]): [number, number] {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  for (const v of [h, w]) {
    if (!Number.isInteger(v) || v < 1 || v > 8192) throw new Error(`Image size must be a positive integer number of pixels (at most 8192), got ${JSON.stringify(size)}.`);
  }
  return [h, w];
}

/**
 * Decodes an image file or buffer (JPEG, PNG, ...) to 8-bit grayscale at the requested size.
 * @example const g = await decodeGray('view1_frontal.jpg', { size: 224, resize: 'crop' });
 */
export async function decodeGray(source: string | Uint8Array, options: DecodeOptions): Promise<GrayImage> {
  const [height, width] = imageSize(options.size);
  const mode = options.resize ?? 'crop';
  if (mode !== 'crop' && mode !== 'squash') throw new Error(`Unknown resize mode "${String(mode)}": use 'crop' (keep aspect, centre crop) or 'squash'.`);
  const limit = options.maxInputPixels ?? MAX_INPUT_PIXELS;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`maxInputPixels must be a positive integer, got ${String(limit)}.`);
  const input = typeof source === 'string' ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(input, { failOn: 'error', limitInputPixels: limit })
      .greyscale()
      .resize(width, height, { fit: mode === 'crop' ? 'cover' : 'fill', position: 'centre', kernel: options.kernel ?? 'linear' })
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    if (/exceeds pixel limit/i.test((e as Error).message)) {
      throw new Error(`Image has more than ${limit} pixels (maxInputPixels); refusing to decode it. Downscale it, or raise maxInputPixels.`);
    }
    throw e;
  }
  const { data, info } = out;
  if (info.width !== width || info.height !== height || info.channels !== 1) {
    throw new Error(`Decoder returned ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x1.`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height, width };
}

/**
 * Decodes, optionally augments, and normalises one image to NHWC float32 (`[h, w, channels]` flattened).
 * @example const x = await loadImage('view1_frontal.jpg', { size: 224, channels: 3 });
 */
export async function loadImage(source: string | Uint8Array, options: ImageOptions, augment?: AugmentParams): Promise<Float32Array> {
  const g = await decodeGray(source, options);
  const channels = options.channels ?? 3;
  const unit = grayToUnit(g.data, g.height, g.width, augment);
  const out = new Float32Array(g.height * g.width * channels);
  normalizeInto(unit, g.height * g.width, channels, options.mean ?? IMAGENET_MEAN, options.std ?? IMAGENET_STD, out, 0);
  return out;
}

/**
 * Encodes 8-bit grayscale pixels as a baseline JPEG (what the CheXpert release ships).
 * @example const jpg = await encodeGrayJpeg(img.data, 128, 128);
 */
export async function encodeGrayJpeg(data: Uint8Array, width: number, height: number, quality = 90): Promise<Buffer> {
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .jpeg({ quality, chromaSubsampling: '4:4:4' })
    .toBuffer();
}
