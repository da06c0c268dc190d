// Stored samples to numbers: byte order, Bits Stored masking and sign extension, planar and 4:2:2 layouts,
// and colour to grey the way the JPEG path does (PIL's convert('L') luma, src/utils/resample.ts).
import { interleave } from './codecs.js';
import type { ImageInfo } from './info.js';

/** A native frame's samples, interleaved (planar configuration 1 and YBR_FULL_422 are expanded). */
export function nativeSamples(bytes: Uint8Array, info: ImageInfo, littleEndian: boolean): Int32Array {
  const n = info.bitsAllocated === 16 ? bytes.length >> 1 : bytes.length;
  let s: Int32Array = new Int32Array(n);
  if (info.bitsAllocated === 16) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
    for (let i = 0; i < n; i++) s[i] = v.getUint16(2 * i, littleEndian);
  } else {
    s.set(bytes);
  }
  const pixels = info.rows * info.columns;
  if (info.photometric === 'YBR_FULL_422') s = expand422(s, pixels);
  else if (info.samplesPerPixel === 3 && info.planarConfiguration === 1) s = interleave(s, pixels);
  return s;
}

/** YBR_FULL_422 (Y0 Y1 Cb Cr per pair of pixels) to full YBR, each pixel of a pair taking the pair's chroma. */
function expand422(s: Int32Array, pixels: number): Int32Array {
  const out = new Int32Array(pixels * 3);
  for (let p = 0, i = 0; p + 1 < pixels + 1 && i + 3 < s.length; p += 2, i += 4) {
    out[3 * p] = s[i]!;
    out[3 * p + 1] = s[i + 2]!;
    out[3 * p + 2] = s[i + 3]!;
    if (p + 1 < pixels) {
      out[3 * p + 3] = s[i + 1]!;
      out[3 * p + 4] = s[i + 2]!;
      out[3 * p + 5] = s[i + 3]!;
    }
  }
  return out;
}

/** Keeps the low Bits Stored bits and sign-extends them when Pixel Representation is 1 (in place). */
export function maskBits(s: Int32Array, bitsStored: number, signed: boolean): Int32Array {
  const mask = bitsStored >= 31 ? -1 : (1 << bitsStored) - 1;
  const sign = 1 << (bitsStored - 1);
  const span = bitsStored >= 31 ? 0 : 1 << bitsStored;
  for (let i = 0; i < s.length; i++) {
    const v = s[i]! & mask;
    s[i] = signed && v & sign ? v - span : v;
  }
  return s;
}

/** pydicom's YBR_FULL to RGB (float32 matrix, round half up, clip to [0, 255]), in place. */
export function ybrToRgb(s: Int32Array): Int32Array {
  const f = Math.fround;
  const gb = f(-0.114 * 1.772 / 0.587);
  const gr = f(-0.299 * 1.402 / 0.587);
  const [rr, bb] = [f(1.402), f(1.772)];
  const clip = (x: number): number => Math.min(255, Math.max(0, Math.floor(f(x + 0.5))));
  for (let i = 0; i < s.length; i += 3) {
    const y = s[i]!;
    const cb = s[i + 1]! - 128;
    const cr = s[i + 2]! - 128;
    s[i] = clip(f(y + f(cr * rr)));
    s[i + 1] = clip(f(f(y + f(cb * gb)) + f(cr * gr)));
    s[i + 2] = clip(f(y + f(cb * bb)));
  }
  return s;
}

/** RGB samples to grey in [0, 1] with PIL's convert('L') luma (as decodeGray does for colour JPEGs). */
export function rgbToUnitGray(s: Int32Array, pixels: number): Float32Array {
  const out = new Float32Array(pixels);
  for (let p = 0, o = 0; p < pixels; p++, o += 3) {
    out[p] = ((s[o]! * 19595 + s[o + 1]! * 38470 + s[o + 2]! * 7471 + 0x8000) >>> 16) / 255;
  }
  return out;
}
