// Antialiased resampling equal to PIL's Image.resize (what torchvision's transforms run on PIL images).
// Browser-safe, no TF.js: the filter weights are PIL's (libImaging/Resample.c, `precompute_coeffs`), the 8-bit
// path uses PIL's fixed-point arithmetic, so results are equal pixel for pixel. preprocess() feeds the same
// weights to TF.js (gather + weighted sum), so it runs on every backend.

/** PIL's resampling filters, plus two sharp kernel names (same algorithm, other filter functions). */
export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos' | 'mitchell' | 'lanczos2';

const sinc = (x: number): number => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};

/** Filter function and support (in input pixels at scale 1), as in PIL's Resample.c. */
const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, { support: number; fn: (x: number) => number }> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, fn: (x) => ((x = Math.abs(x)) < 1 ? 1 - x : 0) },
  hamming: {
    support: 1,
    fn: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      return sinc(x) * (0.54 + 0.46 * Math.cos(Math.PI * x));
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  lanczos2: { support: 2, fn: (x) => (x > -2 && x < 2 ? sinc(x) * sinc(x / 2) : 0) },
  // Mitchell-Netravali, B = C = 1/3
  mitchell: {
    support: 2,
    fn: (x) => {
      const B = 1 / 3;
      const C = 1 / 3;
      x = Math.abs(x);
      if (x < 1) return ((12 - 9 * B - 6 * C) * x ** 3 + (-18 + 12 * B + 6 * C) * x ** 2 + (6 - 2 * B)) / 6;
      if (x < 2) return ((-B - 6 * C) * x ** 3 + (6 * B + 30 * C) * x ** 2 + (-12 * B - 48 * C) * x + (8 * B + 24 * C)) / 6;
      return 0;
    },
  },
};

/** Resampling weights of one axis: output `i` reads `taps` inputs from `start[i]` with weights `weights[i * taps + k]`. */
export interface AxisWeights {
  /** Output pixels described (a window of the full output when `from`/`count` were given). */
  count: number;
  taps: number;
  /** First input index of each output; reads past `inSize` never happen (their weights are 0 and indices clamped). */
  start: Int32Array;
  /** Input indices, `count * taps`, clamped into the input (for gathers). */
  index: Int32Array;
  weights: Float64Array;
}

/**
 * PIL's resampling weights for resizing an axis of `inSize` pixels to `outSize` (`precompute_coeffs`): the
 * filter's support is scaled by the downscale factor (antialiasing), taps are normalised to sum 1. `from` and
 * `count` select a window of the output (a centre crop) without computing the rest.
 * @example axisWeights(1200, 298, 'bilinear', 37, 224)
 */
export function axisWeights(inSize: number, outSize: number, filter: ResampleFilter, from = 0, count = outSize - from): AxisWeights {
  for (const [k, v] of Object.entries({ inSize, outSize, from, count })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`Resampling: ${k} must be a non-negative integer, got ${v}.`);
  }
  if (inSize < 1 || outSize < 1) throw new Error(`Resampling: cannot resize ${inSize} pixels to ${outSize}.`);
  if (from + count > outSize) throw new Error(`Resampling: output window ${from}..${from + count} exceeds the output size ${outSize}.`);
  const scale = inSize / outSize;
  if (filter === 'nearest') {
    // PIL's affine nearest: source = floor((x + 0.5) * scale)
    const index = new Int32Array(count);
    for (let i = 0; i < count; i++) index[i] = Math.min(inSize - 1, Math.floor((from + i + 0.5) * scale));
    return { count, taps: 1, start: index.slice(), index, weights: new Float64Array(count).fill(1) };
  }
  const f = FILTERS[filter];
  if (!f) throw new Error(`Unknown resampling filter '${String(filter)}': use ${['nearest', ...Object.keys(FILTERS)].join(', ')}.`);
  const filterscale = Math.max(scale, 1);
  const support = f.support * filterscale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count);
  const index = new Int32Array(count * taps);
  const weights = new Float64Array(count * taps);
  const ss = 1 / filterscale;
  for (let i = 0; i < count; i++) {
    const center = (from + i + 0.5) * scale;
    // C's (int) truncates toward zero
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f.fn((x + xmin - center + 0.5) * ss);
      weights[i * taps + x] = w;
      ww += w;
    }
    for (let x = 0; x < taps; x++) {
      if (x < xmax && ww !== 0) weights[i * taps + x] /= ww;
      index[i * taps + x] = Math.min(inSize - 1, xmin + x);
    }
    start[i] = xmin;
  }
  return { count, taps, start, index, weights };
}

/**
 * torchvision's `Resize(size)` output size for an int `size`: the shorter side becomes `size`, the longer keeps
 * the aspect ratio (truncated), as `[height, width]`.
 */
export function resizeShorterSide(height: number, width: number, size: number): [number, number] {
  return height <= width ? [size, Math.floor((size * width) / height)] : [Math.floor((size * height) / width), size];
}

/** Python's round(): halves go to the even neighbour (torchvision's center_crop uses it). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's center_crop offsets (top, left) of a [cropH, cropW] window in a [height, width] image. */
export function centerCropOffsets(height: number, width: number, cropH: number, cropW: number): [number, number] {
  if (cropH > height || cropW > width) throw new Error(`Cannot crop ${cropH}x${cropW} out of a ${height}x${width} image.`);
  return [pyRound((height - cropH) / 2), pyRound((width - cropW) / 2)];
}

const PRECISION_BITS = 32 - 8 - 2;

/** PIL's `normalize_coeffs_8bpc`: weights as fixed-point integers. */
function fixedWeights(w: Float64Array): Int32Array {
  const out = new Int32Array(w.length);
  const one = 1 << PRECISION_BITS;
  for (let i = 0; i < w.length; i++) out[i] = w[i]! < 0 ? Math.trunc(-0.5 + w[i]! * one) : Math.trunc(0.5 + w[i]! * one);
  return out;
}

/** PIL's clip8 of a fixed-point sum (the sum starts at the rounding half). */
function clip8(ss: number): number {
  if (ss >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (ss <= 0) return 0;
  return Math.floor(ss / 2 ** PRECISION_BITS);
}

/**
 * Resizes an 8-bit single-channel image to `[outH, outW]` exactly as PIL's `Image.resize` does for mode 'L'
 * (horizontal pass, then vertical, in PIL's fixed-point arithmetic), optionally returning only the window
 * `crop = [top, left, height, width]` of the output (a centre crop) without computing the rest.
 * @example const small = resizeGray8(pixels, 900, 1200, 224, 298, 'bilinear', [0, 37, 224, 224]);
 */
export function resizeGray8(
  data: Uint8Array,
  height: number,
  width: number,
  outH: number,
  outW: number,
  filter: ResampleFilter,
  crop: [number, number, number, number] = [0, 0, outH, outW],
): Uint8Array {
  if (data.length !== height * width) throw new Error(`Image buffer has ${data.length} bytes, expected ${height}x${width}.`);
  const [top, left, ch, cw] = crop;
  const wx = axisWeights(width, outW, filter, left, cw);
  const wy = axisWeights(height, outH, filter, top, ch);
  const kx = filter === 'nearest' ? null : fixedWeights(wx.weights);
  const ky = filter === 'nearest' ? null : fixedWeights(wy.weights);
  // source rows the vertical pass reads
  const y0 = wy.start[0]!;
  let y1 = y0;
  for (let i = 0; i < ch; i++) y1 = Math.max(y1, wy.index[i * wy.taps + wy.taps - 1]! + 1);
  const rows = y1 - y0;
  const half = 2 ** (PRECISION_BITS - 1);
  // horizontal pass
  const tmp = new Uint8Array(rows * cw);
  const needH = width !== outW || cw !== width;
  const needV = height !== outH || ch !== height;
  for (let r = 0; r < rows; r++) {
    const src = (y0 + r) * width;
    for (let i = 0; i < cw; i++) {
      if (!needH) {
        tmp[r * cw + i] = data[src + i]!;
      } else if (!kx) {
        tmp[r * cw + i] = data[src + wx.index[i]!]!;
      } else {
        let ss = half;
        const s = wx.start[i]!;
        const o = i * wx.taps;
        const n = Math.min(wx.taps, width - s);
        for (let k = 0; k < n; k++) ss += data[src + s + k]! * kx[o + k]!;
        tmp[r * cw + i] = clip8(ss);
      }
    }
  }
  if (!needV) return tmp.slice(0, ch * cw);
  // vertical pass
  const out = new Uint8Array(ch * cw);
  for (let j = 0; j < ch; j++) {
    const s = wy.start[j]! - y0;
    const o = j * wy.taps;
    if (!ky) {
      out.set(tmp.subarray((wy.index[j]! - y0) * cw, (wy.index[j]! - y0 + 1) * cw), j * cw);
      continue;
    }
    const n = Math.min(wy.taps, rows - s);
    for (let i = 0; i < cw; i++) {
      let ss = half;
      for (let k = 0; k < n; k++) ss += tmp[(s + k) * cw + i]! * ky[o + k]!;
      out[j * cw + i] = clip8(ss);
    }
  }
  return out;
}

/**
 * PIL's `convert('L')` of 8-bit RGB (ITU-R 601-2 luma in PIL's fixed point), from interleaved pixels with
 * `channels` >= 3 (extra channels such as alpha are ignored).
 */
export function rgbToGray8(data: Uint8Array, pixels: number, channels: number): Uint8Array {
  const out = new Uint8Array(pixels);
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    out[i] = (data[o]! * 19595 + data[o + 1]! * 38470 + data[o + 2]! * 7471 + 0x8000) >>> 16;
  }
  return out;
}
