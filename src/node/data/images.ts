// Image decoding with sharp (Node-only). Decoding runs in libvips' native threads, so several images decode
// at once while TF.js computes on the main thread; resizing is PIL's resampling (src/utils/resample.ts).
import sharp, { type OutputInfo } from 'sharp';
import { type AugmentParams, IMAGENET_MEAN, IMAGENET_STD, grayToUnit, normalizeInto } from '../../data/augment.js';
import { centerCropOffsets, resizeGray8, rgbToGray8, type ResampleFilter } from '../../utils/resample.js';
import { looksLikeDicom, readDicomGray, type DicomReadOptions } from './dicom-image.js';
import { MAX_DICOM_PIXELS } from '../../dicom/info.js';

/** How an image reaches the target size: `crop` keeps the aspect ratio and centre-crops; `squash` stretches. */
export type ResizeMode = 'crop' | 'squash';
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

/**
 * Largest PNG / JPEG (width x height) that is decoded: the same bound as DICOM frames (`MAX_DICOM_PIXELS`, where
 * the reasoning is). sharp's own default (268 MP) would let one image take ~1 GB.
 */
export const MAX_INPUT_PIXELS = MAX_DICOM_PIXELS;

export interface DecodeOptions {
  /** Output size in pixels: a square side or [height, width]. */
  size: number | readonly [number, number];
  /** Default `crop`. */
  resize?: ResizeMode;
  /** Default `linear`: PIL's antialiased bilinear (torchvision's default); `cubic` is PIL's bicubic. */
  kernel?: ResizeKernel;
  /** Refuse images with more pixels than this (default {@link MAX_INPUT_PIXELS}). */
  maxInputPixels?: number;
  /** How DICOM files (.dcm, or any file starting with DICM) become grey: default policy `'voi'` (docs/dicom.md). */
  dicom?: DicomReadOptions;
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

/** PIL's filter for each kernel name (sharp's names; `linear` is PIL's BILINEAR, `cubic` PIL's BICUBIC). */
const KERNEL_FILTERS: Record<ResizeKernel, ResampleFilter> = {
  nearest: 'nearest',
  linear: 'bilinear',
  cubic: 'bicubic',
  mitchell: 'mitchell',
  lanczos2: 'lanczos2',
  lanczos3: 'lanczos',
};

/** The kernel name for a weights' interpolation (`getPreprocessConfig(arch).interpolation`). */
export function kernelFor(interpolation: 'bilinear' | 'bicubic' | 'nearest'): ResizeKernel {
  const k = ({ bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest' } as const)[interpolation];
  if (!k) throw new Error(`Unknown interpolation '${String(interpolation)}': use bilinear, bicubic or nearest.`);
  return k;
}

/**
 * Resizes 8-bit grayscale pixels to `[height, width]` as torchvision does on a PIL image: `crop` scales the
 * image so it covers the target (for a square target: the shorter side becomes the size, the longer keeps the
 * aspect ratio, truncated) and takes the centre (`Resize(size)` + `CenterCrop(size)`); `squash` resizes each
 * axis to the target. The resampling is PIL's (antialiased, fixed point), equal pixel for pixel.
 * @example const g = resizeGray({ data, height: 2320, width: 2828 }, { size: 320 });
 */
export function resizeGray(image: GrayImage, options: DecodeOptions): GrayImage {
  const [height, width] = imageSize(options.size);
  const mode = options.resize ?? 'crop';
  if (mode !== 'crop' && mode !== 'squash') throw new Error(`Unknown resize mode "${String(mode)}": use 'crop' (keep aspect, centre crop) or 'squash'.`);
  const kernel = options.kernel ?? 'linear';
  const filter = KERNEL_FILTERS[kernel];
  if (!filter) throw new Error(`Unknown resize kernel "${String(kernel)}": use ${Object.keys(KERNEL_FILTERS).join(', ')}.`);
  const { height: h, width: w } = image;
  let [rh, rw] = [height, width];
  if (mode === 'crop') {
    // the axis that binds gets the target exactly, the other keeps the aspect ratio (truncated, as torchvision)
    if (height * w >= width * h) rw = Math.max(width, Math.floor((height * w) / h));
    else rh = Math.max(height, Math.floor((width * h) / w));
  }
  const [top, left] = centerCropOffsets(rh, rw, height, width);
  if (rh === h && rw === w && top === 0 && left === 0) return { data: image.data, height, width };
  return { data: resizeGray8(image.data, h, w, rh, rw, filter, [top, left, height, width]), height, width };
}

/**
 * Decodes an image file or buffer (JPEG, PNG, ..., or DICOM) to 8-bit grayscale at the requested size. sharp
 * decodes the full image; colour images become gray with PIL's `convert('L')` luma; DICOM goes through
 * `decodeDicom` (options.dicom); the resize is `resizeGray` (PIL's antialiased resampling), so the pixels equal
 * torchvision's `Resize` + `CenterCrop` on a PIL image.
 * @example const g = await decodeGray('view1_frontal.jpg', { size: 224, resize: 'crop' });
 */
export async function decodeGray(source: string | Uint8Array, options: DecodeOptions): Promise<GrayImage> {
  imageSize(options.size);
  const limit = options.maxInputPixels ?? MAX_INPUT_PIXELS;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`maxInputPixels must be a positive integer, got ${String(limit)}.`);
  if (await looksLikeDicom(source)) return resizeGray(await readDicomGray(source, options.dicom, limit), options);
  const input = typeof source === 'string' ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  let out: { data: Buffer; info: OutputInfo };
  let colour: boolean;
  try {
    const meta = await sharp(input, { failOn: 'error', limitInputPixels: limit }).metadata();
    if ((meta.width ?? 0) * (meta.height ?? 0) > limit) throw new Error('Input image exceeds pixel limit');
    colour = (meta.channels ?? 1) - (meta.hasAlpha ? 1 : 0) >= 3;
    // gray sources go through libvips' greyscale (16-bit scaled to 8); colour ones get PIL's luma below
    const img = sharp(input, { failOn: 'error', limitInputPixels: limit });
    out = await (colour ? img.removeAlpha().toColourspace('srgb') : img.greyscale().extractChannel(0))
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    if (/exceeds pixel limit/i.test((e as Error).message)) {
      throw new Error(`Image has more than ${limit} pixels (maxInputPixels); refusing to decode it. Downscale it, or raise maxInputPixels.`);
    }
    throw e;
  }
  const { data, info } = out;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const pixels = info.width * info.height;
  if (info.channels !== (colour ? 3 : 1)) throw new Error(`Decoder returned ${info.channels} channels, expected ${colour ? 3 : 1}.`);
  const gray = colour ? rgbToGray8(bytes, pixels, 3) : bytes;
  return resizeGray({ data: gray, height: info.height, width: info.width }, options);
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
