import * as tf from '@tensorflow/tfjs';
import {
  assertNHWC, geometry, isUnitDilation, scoped, type Info, type KernelArgs, type KernelScope, type Pad,
} from './scope.js';

// Convolution gradients (regular and depthwise) built from the backend's fast forward kernels: XNNPACK
// convolutions and matrix products, which run on the wasm thread pool.

/**
 * Picks filter taps [oh::sh, ow::sw] of F = flip(filter) (both spatial axes) as a new filter.
 * Every tap is a contiguous block, so this is a handful of memcpys (wasm's Reverse, GatherV2 and
 * StridedSlice move single elements and cost more than the convolution that follows).
 */
function flippedTaps(s: KernelScope, filter: Info, oh: number, ow: number, sh: number, sw: number): Info {
  const [kh, kw, a, b] = filter.shape as [number, number, number, number];
  const th = Math.floor((kh - 1 - oh) / sh) + 1, tw = Math.floor((kw - 1 - ow) / sw) + 1;
  const block = a * b;
  const out = s.alloc([th, tw, a, b]);
  const src = s.view(filter), dst = s.view(out);
  for (let i = 0; i < th; i++) {
    for (let j = 0; j < tw; j++) {
      // F[fi, fj] = W[kh-1-fi, kw-1-fj]
      const wi = kh - 1 - (oh + i * sh), wj = kw - 1 - (ow + j * sw);
      const from = (wi * kw + wj) * block;
      dst.set(src.subarray(from, from + block), (i * tw + j) * block);
    }
  }
  return out;
}

/**
 * The adjoint of a strided (depthwise) convolution, given dy and the filter W (for a regular
 * convolution with in/out channels already swapped): a forward convolution of dy with the flipped W.
 * Stride 1 is one convolution of padded dy. For stride s, output pixels fall into s x s phases by
 * (row + padTop) mod s; each phase only meets every s-th tap, so it is a stride-1 convolution of the
 * undilated dy with a sub-filter, and the phases are interleaved afterwards. This avoids multiplying
 * the zeros of a dilated dy (4x the work at stride 2).
 */
function transposedConv(s: KernelScope, dy: Info, wt: Info, info: tf.backend_util.Conv2DInfo, depthwise: boolean): Info {
  const [kh, kw, fa, fb] = wt.shape as [number, number, number, number];
  const [n, ho, wo] = dy.shape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const { top: pt, left: pl } = info.padInfo;
  const c = depthwise ? fa : fb;
  const conv = (filt: Info, top: number, bottom: number, left: number, right: number): Info => {
    const cropped = s.padCrop(dy, Math.min(0, top), Math.min(0, bottom), Math.min(0, left), Math.min(0, right));
    const attrs = {
      strides: [1, 1],
      pad: [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]],
      dilations: [1, 1],
      dataFormat: 'NHWC',
    };
    return depthwise ? s.run('DepthwiseConv2dNative', { x: cropped, filter: filt }, attrs)
      : s.run('Conv2D', { x: cropped, filter: filt }, attrs);
  };
  if (sh === 1 && sw === 1) {
    const top = kh - 1 - pt, left = kw - 1 - pl;
    return conv(flippedTaps(s, wt, 0, 0, 1, 1), top, h + kh - 1 - ho - top, left, w + kw - 1 - wo - left);
  }
  // Padded coordinate g = row + pt = s * q + r. Every phase is computed on the same q range.
  const qlo = Math.floor(pt / sh), qhi = Math.floor((pt + h - 1) / sh);
  const plo = Math.floor(pl / sw), phi = Math.floor((pl + w - 1) / sw);
  const qn = qhi - qlo + 1, pn = phi - plo + 1;
  const phases: { rh: number; rw: number; y: Info | null }[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const th = Math.ceil((kh - rh) / sh), tw = Math.ceil((kw - rw) / sw);
      if (th <= 0 || tw <= 0) {
        phases.push({ rh, rw, y: null });
        continue;
      }
      // Taps r, r+s, ... of W are, flipped, taps o, o+s, ... of flip(W).
      const oh = kh - 1 - rh - sh * (th - 1), ow = kw - 1 - rw - sw * (tw - 1);
      const sub = flippedTaps(s, wt, oh, ow, sh, sw);
      const top = th - 1 - qlo, left = tw - 1 - plo;
      phases.push({ rh, rw, y: conv(sub, top, qn + th - 1 - ho - top, left, pn + tw - 1 - wo - left) });
    }
  }
  // Interleave pixel by pixel (each a contiguous channel vector) straight into the cropped result.
  const out = s.alloc([n, h, w, c]);
  const dst = s.view(out);
  for (const { rh, rw, y } of phases) {
    const src = y ? s.view(y) : null;
    const h0 = (((rh - pt) % sh) + sh) % sh, w0 = (((rw - pl) % sw) + sw) % sw;
    for (let b = 0; b < n; b++) {
      for (let row = h0; row < h; row += sh) {
        const q = (row + pt - rh) / sh - qlo;
        for (let col = w0; col < w; col += sw) {
          const p = (col + pl - rw) / sw - plo;
          const o = ((b * h + row) * w + col) * c;
          if (src) {
            const i = ((b * qn + q) * pn + p) * c;
            dst.set(src.subarray(i, i + c), o);
          } else {
            dst.fill(0, o, o + c);
          }
        }
      }
    }
  }
  return out;
}

/**
 * dL/dx of a convolution: a stride-1 forward convolution of dy (zero-interleaved by the stride, then
 * padded so that every input pixel sees each tap once) with the spatially flipped filter whose
 * in/out channels are swapped.
 */
export function conv2dBackpropInput(args: KernelArgs, backendName: string): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as {
    strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: string; inputShape: number[];
  };
  assertNHWC(dataFormat, 'Conv2DBackpropInput');
  const info = geometry(inputShape, filter.shape, strides, pad, dimRoundingMode, false);
  return scoped(args, backendName, (s) => {
    const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
    const [n, ho, wo] = dy.shape as [number, number, number, number];
    const { strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
    const { top: pt, left: pl } = info.padInfo;
    if (kh === 1 && kw === 1) {
      // A 1x1 convolution is a matrix product; strided ones only read every s-th pixel.
      // wasm's matMul is ~10x slower with transposeB; transpose the (small) filter instead.
      const wT = s.transpose(s.reshape(filter, [1, ci, co]), [0, 2, 1]);
      const low = s.run('BatchMatMul', { a: s.reshape(dy, [1, n * ho * wo, co]), b: wT },
        { transposeA: false, transposeB: false });
      const low4 = s.reshape(low, [n, ho, wo, ci]);
      const d = s.dilate(low4, sh, sw);
      // Row r of the interleaved result belongs to input row r - pt.
      return s.padCrop(d, -pt, h - ho * sh + pt, -pl, w - wo * sw + pl);
    }
    const wT = s.transpose(filter, [0, 1, 3, 2]);
    return transposedConv(s, dy, wT, info, false);
  });
}

/**
 * dL/dW of a convolution as one forward convolution: the input with channels moved to the batch axis,
 * dy (batch moved to the channel axis) as the filter, dilation = forward stride. Summation over the
 * batch happens inside the convolution's channel reduction.
 */
export function conv2dBackpropFilter(args: KernelArgs, backendName: string): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as {
    strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: string; filterShape: number[];
  };
  assertNHWC(dataFormat, 'Conv2DBackpropFilter');
  const info = geometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
  return scoped(args, backendName, (s) => {
    const [kh, kw, ci, co] = filterShape as [number, number, number, number];
    const [n, h, w] = x.shape as [number, number, number, number];
    const [, ho, wo] = dy.shape as [number, number, number, number];
    const { strideHeight: sh, strideWidth: sw } = info;
    const { top: pt, left: pl } = info.padInfo;
    if (kh === 1 && kw === 1 && pt === 0 && pl === 0) {
      // dW = x_sampled^T · dy; transposing first is faster on wasm than matMul(transposeA).
      let xs = x;
      if (sh !== 1 || sw !== 1 || ho !== h || wo !== w) {
        xs = s.run('StridedSlice', { x }, {
          begin: [0, 0, 0, 0], end: [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, ci], strides: [1, sh, sw, 1],
          beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
        });
      }
      const rows = n * ho * wo;
      // The stock matMul packs its right operand (rows x channels) on every call with a transposing copy that
      // costs far more per element than the product itself reads: the operand with fewer channels goes right.
      if (co > ci) {
        // dW^T = dy^T · x, then transpose the small result.
        const dyT = s.transpose(s.reshape(dy, [1, rows, co]), [0, 2, 1]);
        const prodT = s.run('BatchMatMul', { a: dyT, b: s.reshape(xs, [1, rows, ci]) }, { transposeA: false, transposeB: false });
        return s.reshape(s.transpose(prodT, [0, 2, 1]), [1, 1, ci, co]);
      }
      const xT = s.transpose(s.reshape(xs, [1, rows, ci]), [0, 2, 1]);
      const prod = s.run('BatchMatMul', { a: xT, b: s.reshape(dy, [1, rows, co]) }, { transposeA: false, transposeB: false });
      return s.reshape(prod, [1, 1, ci, co]);
    }
    const xT = s.transpose(x, [3, 1, 2, 0]); // [ci, h, w, n]
    const dyT = s.transpose(dy, [1, 2, 0, 3]); // [ho, wo, n, co]
    const bottom = kh + (ho - 1) * sh - h - pt;
    const right = kw + (wo - 1) * sw - w - pl;
    const cropped = s.padCrop(xT, Math.min(0, pt), Math.min(0, bottom), Math.min(0, pl), Math.min(0, right));
    const conv = s.run('Conv2D', { x: cropped, filter: dyT }, {
      strides: [1, 1],
      pad: [[0, 0], [Math.max(0, pt), Math.max(0, bottom)], [Math.max(0, pl), Math.max(0, right)], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
    }); // [ci, kh, kw, co]
    return s.transpose(conv, [1, 2, 0, 3]);
  });
}

/** dL/dx of a depthwise convolution: depthwise convolution of the zero-interleaved dy with the flipped filter. */
export function depthwiseBackpropInput(args: KernelArgs, backendName: string): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs as {
    strides: number | [number, number]; dilations?: number | [number, number]; pad: Pad; dimRoundingMode?: string; inputShape: number[];
  };
  if (!isUnitDilation(dilations)) throw new Error('DepthwiseConv2dNativeBackpropInput: fast kernel supports dilation 1 only.');
  const m = filter.shape[3];
  if (m !== 1) throw new Error(`DepthwiseConv2dNativeBackpropInput: fast kernel supports channel multiplier 1 only (got ${m}).`);
  const info = geometry(inputShape, filter.shape, strides, pad, dimRoundingMode, true);
  return scoped(args, backendName, (s) => transposedConv(s, dy, filter, info, true));
}

/** Floats of x windows a depthwise filter gradient gathers at once (16 MB); more taps are done in chunks. */
const TAP_CHUNK_FLOATS = 1 << 22;

/**
 * dL/dW of a depthwise convolution on the backend's threaded kernels: dW[i, j, c] = sum over pixels of
 * window(i, j) of x times dy. The windows of the kernel taps are gathered into one [taps, pixels, c] tensor
 * (block copies of channel vectors; whole rows at stride 1), multiplied by dy (broadcast over the taps) and
 * summed per tap and channel by one average pooling (XNNPACK, on the thread pool). Taps go in chunks of at
 * most {@link TAP_CHUNK_FLOATS} gathered floats, so large inputs need no more than that in temporaries.
 */
export function depthwiseBackpropFilter(args: KernelArgs, backendName: string): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs as {
    strides: number | [number, number]; dilations?: number | [number, number]; pad: Pad; dimRoundingMode?: string; filterShape: number[];
  };
  if (!isUnitDilation(dilations)) throw new Error('DepthwiseConv2dNativeBackpropFilter: fast kernel supports dilation 1 only.');
  const [kh, kw, c, m] = filterShape as [number, number, number, number];
  if (m !== 1) throw new Error(`DepthwiseConv2dNativeBackpropFilter: fast kernel supports channel multiplier 1 only (got ${m}).`);
  const info = geometry(x.shape, filterShape, strides, pad, dimRoundingMode, true);
  return scoped(args, backendName, (s) => {
    const [n, h, w] = x.shape as [number, number, number, number];
    const [, ho, wo] = dy.shape as [number, number, number, number];
    const { strideHeight: sh, strideWidth: sw } = info;
    const { top: pt, left: pl } = info.padInfo;
    const T = kh * kw, rows = n * ho * wo;
    const out = s.alloc(filterShape);
    const dy3 = s.reshape(dy, [1, rows, c]);
    const count = s.alloc([]);
    s.view(count)[0] = rows;
    // Strided: split x once into its sh x sw phases x[:, a::sh, b::sw, :]; every tap window is then a
    // stride-1 window of one phase, gathered by whole rows.
    const phases = stridePhases(s, x, sh, sw);
    const per = Math.max(1, Math.min(T, Math.floor(TAP_CHUNK_FLOATS / (rows * c))));
    for (let first = 0; first < T; first += per) {
      const cnt = Math.min(per, T - first);
      const taps = s.alloc([cnt, rows, c]);
      const xv = s.view(phases.data), tv = s.view(taps);
      for (let t = first; t < first + cnt; t++) {
        const i = Math.floor(t / kw), j = t % kw;
        // tap (i, j) reads input row oh * sh + i - pt = sh * (oh + di) + a: row oh + di of phase row a
        const a = (((i - pt) % sh) + sh) % sh, di = (i - pt - a) / sh;
        const b = (((j - pl) % sw) + sw) % sw, dj = (j - pl - b) / sw;
        const { offset, hp, wp } = phases.at(a, b);
        const ow0 = Math.max(0, -dj), ow1 = Math.min(wo, wp - dj);
        const t0 = (t - first) * rows * c;
        for (let img = 0; img < n; img++) {
          for (let oh = 0; oh < ho; oh++) {
            const d = t0 + (img * ho + oh) * wo * c;
            const ph = oh + di;
            if (ph < 0 || ph >= hp || ow1 <= ow0) {
              tv.fill(0, d, d + wo * c);
              continue;
            }
            if (ow0 > 0) tv.fill(0, d, d + ow0 * c);
            if (ow1 < wo) tv.fill(0, d + ow1 * c, d + wo * c);
            const from = offset + ((img * hp + ph) * wp + ow0 + dj) * c;
            tv.set(xv.subarray(from, from + (ow1 - ow0) * c), d + ow0 * c);
          }
        }
      }
      const prod = s.run('Multiply', { a: taps, b: dy3 });
      s.free(taps);
      const mean = s.run('AvgPool', { x: s.reshape(prod, [cnt, rows, 1, c]) }, { filterSize: [rows, 1], strides: [1, 1], pad: 'valid' });
      const sum = s.run('Multiply', { a: mean, b: count });
      s.view(out).set(s.view(sum), first * c);
      s.free(prod, mean, sum);
    }
    return out;
  });
}

/**
 * The sh x sw stride phases of an NHWC tensor, x[:, a::sh, b::sw, :], stored one after the other in one
 * tensor (x itself at stride 1). `at(a, b)` gives a phase's float offset and its height and width.
 */
function stridePhases(s: KernelScope, x: Info, sh: number, sw: number) {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const dims = (a: number, b: number) => ({ hp: Math.ceil((h - a) / sh), wp: Math.ceil((w - b) / sw) });
  const offsets: number[] = [];
  let total = 0;
  for (let a = 0; a < sh; a++) {
    for (let b = 0; b < sw; b++) {
      offsets.push(total);
      const { hp, wp } = dims(a, b);
      total += n * Math.max(0, hp) * Math.max(0, wp) * c;
    }
  }
  const at = (a: number, b: number) => ({ offset: offsets[a * sw + b]!, ...dims(a, b) });
  if (sh === 1 && sw === 1) return { data: x, at };
  const data = s.alloc([total]);
  const src = s.view(x), dst = s.view(data);
  for (let a = 0; a < sh; a++) {
    for (let b = 0; b < sw; b++) {
      const { offset, hp, wp } = at(a, b);
      let o = offset;
      for (let img = 0; img < n; img++) {
        for (let r = 0; r < hp; r++) {
          const row = (img * h + a + r * sh) * w;
          for (let q = 0; q < wp; q++, o += c) {
            const from = (row + b + q * sw) * c;
            for (let k = 0; k < c; k++) dst[o + k] = src[from + k]!;
          }
        }
      }
    }
  }
  return { data, at };
}
