import * as tf from '@tensorflow/tfjs';

// Fast gradient kernels for the wasm (and cpu) backends.
//
// The stock wasm backend lacks Conv2DBackpropFilter and both depthwise backprops, and its
// Conv2DBackpropInput is a slow direct loop. Every gradient here is rewritten as forward ops the
// backend runs fast (XNNPACK convolutions, matMul, transposes, pads). They are registered at the
// kernel level because tfjs-layers' FusedConv2D / FusedDepthwiseConv2D gradients call these kernels
// directly, so a gradient override of Conv2D would not reach model.fit(). A few generic wasm kernels
// that dominated a training step after that (transposed matMul, tall transposes, leading-axis
// reductions, SplitV, Slice, MaxPoolGrad, copying Identity) are replaced too; docs/performance.md has
// the measurements.

type Info = tf.TensorInfo;
type Pad = 'valid' | 'same' | number | number[][];
type KernelArgs = {
  inputs: Record<string, Info>;
  attrs?: Record<string, unknown>;
  backend: tf.KernelBackend;
};

/** Calls kernels of one backend directly and frees every intermediate it made. */
class KernelScope {
  private readonly temps: Info[] = [];
  constructor(
    private readonly backend: tf.KernelBackend,
    private readonly backendName: string,
  ) {}

  run(kernelName: string, inputs: Record<string, Info> | Info[], attrs: Record<string, unknown> = {}): Info {
    const kernel = tf.getKernel(kernelName, this.backendName);
    if (!kernel) throw new Error(`Kernel ${kernelName} is not registered for the ${this.backendName} backend.`);
    const out = kernel.kernelFunc({
      inputs: inputs as unknown as tf.NamedTensorInfoMap,
      attrs: attrs as tf.NamedAttrMap,
      backend: this.backend,
    }) as Info | Info[];
    const info = Array.isArray(out) ? out[0]! : out;
    this.temps.push(info);
    return info;
  }

  /** Frees all intermediates except `keep`, which becomes the kernel's output. */
  finish(keep: Info): Info {
    for (const t of this.temps) if (t !== keep) this.backend.disposeData(t.dataId);
    return keep;
  }

  /** Frees all intermediates (error path). */
  abort(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
  }

  /** A new float32 output; its memory is uninitialised on wasm. */
  alloc(shape: number[]): Info {
    const be = this.backend as unknown as {
      makeOutput?: (shape: number[], dtype: string) => Info;
      makeTensorInfo: (shape: number[], dtype: string, values: Float32Array) => Info;
    };
    const out = be.makeOutput ? be.makeOutput(shape, 'float32')
      : be.makeTensorInfo(shape, 'float32', new Float32Array(shape.reduce((a, b) => a * b, 1)));
    this.temps.push(out);
    return out;
  }

  /** Live view of a float32 tensor's memory (wasm heap or cpu array). Re-take after any allocation. */
  view(t: Info): Float32Array {
    const be = this.backend as unknown as {
      typedArrayFromHeap?: (t: Info) => Float32Array;
      data?: { get: (id: unknown) => { values: Float32Array } };
    };
    if (be.typedArrayFromHeap) return be.typedArrayFromHeap(t);
    if (be.data) return be.data.get(t.dataId).values;
    throw new Error(`Backend ${this.backendName} exposes no tensor memory to the fast kernels.`);
  }

  /**
   * Picks filter taps [oh::sh, ow::sw] of F = flip(filter) (both spatial axes) as a new filter.
   * Every tap is a contiguous block, so this is a handful of memcpys (wasm's Reverse, GatherV2 and
   * StridedSlice move single elements and cost more than the convolution that follows).
   */
  flippedTaps(filter: Info, oh: number, ow: number, sh: number, sw: number): Info {
    const [kh, kw, a, b] = filter.shape as [number, number, number, number];
    const th = Math.floor((kh - 1 - oh) / sh) + 1, tw = Math.floor((kw - 1 - ow) / sw) + 1;
    const block = a * b;
    const out = this.alloc([th, tw, a, b]);
    const src = this.view(filter), dst = this.view(out);
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

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }
  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }
  /** Pads (positive) or crops (negative) the two spatial axes of an NHWC tensor. */
  padCrop(x: Info, top: number, bottom: number, left: number, right: number): Info {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    let y = x;
    const ct = Math.max(0, -top), cb = Math.max(0, -bottom), cl = Math.max(0, -left), cr = Math.max(0, -right);
    if (ct || cb || cl || cr) {
      y = this.run('Slice', { x: y }, { begin: [0, ct, cl, 0], size: [n, h - ct - cb, w - cl - cr, c] });
    }
    const pt = Math.max(0, top), pb = Math.max(0, bottom), pl = Math.max(0, left), pr = Math.max(0, right);
    if (pt || pb || pl || pr) {
      y = this.run('PadV2', { x: y }, { paddings: [[0, 0], [pt, pb], [pl, pr], [0, 0]], constantValue: 0 });
    }
    return y;
  }
  /** Inserts stride-1 zeros after every row / column (the transpose of a strided read). */
  dilate(x: Info, sh: number, sw: number): Info {
    if (sh === 1 && sw === 1) return x;
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const x6 = this.reshape(x, [n, h, 1, w, 1, c]);
    const p = this.run('PadV2', { x: x6 }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    });
    return this.reshape(p, [n, h * sh, w * sw, c]);
  }
}

function geometry(xShape: number[], filterShape: number[], strides: number | [number, number], pad: Pad,
  dimRoundingMode: unknown, depthwise: boolean, dilations: number | [number, number] = 1) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad as 'valid',
    dimRoundingMode as 'floor' | undefined,
    depthwise,
  );
}

function assertNHWC(dataFormat: unknown, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel}: only NHWC (channelsLast) data is supported by the fast kernels, got ${String(dataFormat)}.`);
  }
}

function isUnitDilation(d: unknown): boolean {
  if (d === undefined || d === null) return true;
  if (typeof d === 'number') return d === 1;
  return (d as number[]).every((v) => v === 1);
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
    return conv(s.flippedTaps(wt, 0, 0, 1, 1), top, h + kh - 1 - ho - top, left, w + kw - 1 - wo - left);
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
      const sub = s.flippedTaps(wt, oh, ow, sh, sw);
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
function conv2dBackpropInput(args: KernelArgs, backendName: string): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as {
    strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: string; inputShape: number[];
  };
  assertNHWC(dataFormat, 'Conv2DBackpropInput');
  const info = geometry(inputShape, filter.shape, strides, pad, dimRoundingMode, false);
  const s = new KernelScope(args.backend, backendName);
  try {
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
      return s.finish(s.padCrop(d, -pt, h - ho * sh + pt, -pl, w - wo * sw + pl));
    }
    const wT = s.transpose(filter, [0, 1, 3, 2]);
    const out = transposedConv(s, dy, wT, info, false);
    return s.finish(out);
  } catch (e) {
    s.abort();
    throw e;
  }
}

/**
 * dL/dW of a convolution as one forward convolution: the input with channels moved to the batch axis,
 * dy (batch moved to the channel axis) as the filter, dilation = forward stride. Summation over the
 * batch happens inside the convolution's channel reduction.
 */
function conv2dBackpropFilter(args: KernelArgs, backendName: string): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as {
    strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: string; filterShape: number[];
  };
  assertNHWC(dataFormat, 'Conv2DBackpropFilter');
  const info = geometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
  const s = new KernelScope(args.backend, backendName);
  try {
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
      if (co < ci) {
        // Transpose the smaller operand: dW^T = dy^T · x, then transpose the small result.
        const dyT = s.transpose(s.reshape(dy, [1, rows, co]), [0, 2, 1]);
        const prodT = s.run('BatchMatMul', { a: dyT, b: s.reshape(xs, [1, rows, ci]) }, { transposeA: false, transposeB: false });
        return s.finish(s.reshape(s.transpose(prodT, [0, 2, 1]), [1, 1, ci, co]));
      }
      const xT = s.transpose(s.reshape(xs, [1, rows, ci]), [0, 2, 1]);
      const prod = s.run('BatchMatMul', { a: xT, b: s.reshape(dy, [1, rows, co]) }, { transposeA: false, transposeB: false });
      return s.finish(s.reshape(prod, [1, 1, ci, co]));
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
    return s.finish(s.transpose(conv, [1, 2, 0, 3]));
  } catch (e) {
    s.abort();
    throw e;
  }
}

/** dL/dx of a depthwise convolution: depthwise convolution of the zero-interleaved dy with the flipped filter. */
function depthwiseBackpropInput(args: KernelArgs, backendName: string): Info {
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs as {
    strides: number | [number, number]; dilations?: number | [number, number]; pad: Pad; dimRoundingMode?: string; inputShape: number[];
  };
  if (!isUnitDilation(dilations)) throw new Error('DepthwiseConv2dNativeBackpropInput: fast kernel supports dilation 1 only.');
  const m = filter.shape[3];
  if (m !== 1) throw new Error(`DepthwiseConv2dNativeBackpropInput: fast kernel supports channel multiplier 1 only (got ${m}).`);
  const info = geometry(inputShape, filter.shape, strides, pad, dimRoundingMode, true);
  const s = new KernelScope(args.backend, backendName);
  try {
    const out = transposedConv(s, dy, filter, info, true);
    return s.finish(out);
  } catch (e) {
    s.abort();
    throw e;
  }
}

/**
 * dL/dW of a depthwise convolution as a direct loop in JS over contiguous channel vectors. Depthwise
 * filters are tiny and the work is a few multiply-adds per activation; composing it from wasm kernels
 * (strided slices per tap) costs 30x more in copies than this loop does in arithmetic.
 */
function depthwiseBackpropFilter(args: KernelArgs, backendName: string): Info {
  const { x, dy } = args.inputs as { x: Info; dy: Info };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs as {
    strides: number | [number, number]; dilations?: number | [number, number]; pad: Pad; dimRoundingMode?: string; filterShape: number[];
  };
  if (!isUnitDilation(dilations)) throw new Error('DepthwiseConv2dNativeBackpropFilter: fast kernel supports dilation 1 only.');
  const [kh, kw, c, m] = filterShape as [number, number, number, number];
  if (m !== 1) throw new Error(`DepthwiseConv2dNativeBackpropFilter: fast kernel supports channel multiplier 1 only (got ${m}).`);
  const info = geometry(x.shape, filterShape, strides, pad, dimRoundingMode, true);
  const s = new KernelScope(args.backend, backendName);
  try {
    const [n, h, w] = x.shape as [number, number, number, number];
    const [, ho, wo] = dy.shape as [number, number, number, number];
    const { strideHeight: sh, strideWidth: sw } = info;
    const { top: pt, left: pl } = info.padInfo;
    const acc = new Float64Array(kh * kw * c);
    const xv = s.view(x), dv = s.view(dy);
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < ho; oh++) {
        for (let ow = 0; ow < wo; ow++) {
          const d0 = ((b * ho + oh) * wo + ow) * c;
          for (let i = 0; i < kh; i++) {
            const ih = oh * sh + i - pt;
            if (ih < 0 || ih >= h) continue;
            for (let j = 0; j < kw; j++) {
              const iw = ow * sw + j - pl;
              if (iw < 0 || iw >= w) continue;
              const x0 = ((b * h + ih) * w + iw) * c;
              const a0 = (i * kw + j) * c;
              for (let k = 0; k < c; k++) acc[a0 + k]! += xv[x0 + k]! * dv[d0 + k]!;
            }
          }
        }
      }
    }
    const out = s.alloc(filterShape);
    s.view(out).set(acc);
    return s.finish(out);
  } catch (e) {
    s.abort();
    throw e;
  }
}

/** Stock kernels replaced by ours, for delegation. */
const stock = new Map<string, tf.KernelFunc>();
function callStock(kernelName: string, backendName: string, args: KernelArgs): Info {
  const f = stock.get(`${kernelName}@${backendName}`);
  if (!f) throw new Error(`No stock ${kernelName} kernel for ${backendName}.`);
  return f(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
}

/** Cache-blocked transpose of `batch` row-major [rows, cols] matrices. */
function transpose2d(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  const B = 32;
  for (let b = 0; b < batch; b++) {
    const o = b * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(r0 + B, rows);
      for (let c0 = 0; c0 < cols; c0 += B) {
        const c1 = Math.min(c0 + B, cols);
        for (let r = r0; r < r1; r++) {
          const si = o + r * cols;
          for (let c = c0; c < c1; c++) dst[o + c * rows + r] = src[si + c]!;
        }
      }
    }
  }
}

/**
 * Transpose that swaps the last two non-trivial axes in JS with cache blocking: the stock wasm kernel
 * takes ~20 ns per element on tall matrices with power-of-two sizes (cache-set conflicts), which the
 * tensors of these networks have. Every other permutation goes to the stock kernel.
 */
function fastTranspose(args: KernelArgs, backendName: string): Info {
  const { x } = args.inputs as { x: Info };
  const { perm } = args.attrs as { perm: number[] };
  const keep = x.shape.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  const p = perm.filter((a) => x.shape[a] !== 1);
  const r = keep.length;
  const size = x.shape.reduce((a, b) => a * b, 1);
  const swapsLastTwo = r >= 2 && p.slice(0, r - 2).every((a, i) => a === keep[i]) &&
    p[r - 2] === keep[r - 1] && p[r - 1] === keep[r - 2];
  if (x.dtype !== 'float32' || !swapsLastTwo || size < 4096) return callStock('Transpose', backendName, args);
  const rows = x.shape[keep[r - 2]!]!, cols = x.shape[keep[r - 1]!]!;
  const s = new KernelScope(args.backend, backendName);
  const out = s.alloc(perm.map((a) => x.shape[a]!));
  transpose2d(s.view(x), s.view(out), size / (rows * cols), rows, cols);
  return s.finish(out);
}

/** matMul with transposed operands: transpose first (fast), then the stock kernel's fast path. */
function fastBatchMatMul(args: KernelArgs, backendName: string): Info {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return callStock('BatchMatMul', backendName, args);
  const s = new KernelScope(args.backend, backendName);
  try {
    const swap = (t: Info) => {
      const perm = t.shape.map((_, i) => i);
      const k = perm.length;
      [perm[k - 2], perm[k - 1]] = [perm[k - 1]!, perm[k - 2]!];
      return s.transpose(t, perm);
    };
    const out = s.run('BatchMatMul', { a: transposeA ? swap(a) : a, b: transposeB ? swap(b) : b },
      { transposeA: false, transposeB: false });
    return s.finish(out);
  } catch (e) {
    s.abort();
    throw e;
  }
}

/**
 * Sum / Mean over all axes but the last (per-channel statistics, bias and BatchNorm gradients) as one
 * average pooling over a [1, rows, 1, channels] view: the stock kernels transpose the whole tensor
 * first. Other reductions go to the stock kernels.
 */
function channelReduction(kernelName: 'Sum' | 'Mean') {
  return (args: KernelArgs, backendName: string): Info => {
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const r = x.shape.length;
    const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + r : a)))].sort((p, q) => p - q);
    const leading = r >= 2 && axes.length === r - 1 && axes.every((a, i) => a === i);
    const ch = x.shape[r - 1]!;
    const rows = x.shape.reduce((p, q) => p * q, 1) / Math.max(ch, 1);
    if (x.dtype !== 'float32' || !leading || rows < 2 || ch < 1) return callStock(kernelName, backendName, args);
    const s = new KernelScope(args.backend, backendName);
    try {
      let y = s.run('AvgPool', { x: s.reshape(x, [1, rows, 1, ch]) }, { filterSize: [rows, 1], strides: [1, 1], pad: 'valid' });
      if (kernelName === 'Sum') {
        const k = s.alloc([]);
        s.view(k)[0] = rows;
        y = s.run('Multiply', { a: y, b: k });
      }
      const shape = keepDims ? [...x.shape.slice(0, r - 1).map(() => 1), ch] : [ch];
      return s.finish(s.reshape(y, shape));
    } catch (e) {
      s.abort();
      throw e;
    }
  };
}

/**
 * SplitV (the gradient of Concat, e.g. DenseNet's feature concatenation) as contiguous block copies in
 * JS; the stock wasm kernel slices element by element.
 */
function fastSplitV(args: KernelArgs, backendName: string): Info[] {
  const { x } = args.inputs as { x: Info };
  const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
  const r = x.shape.length;
  const ax = axis < 0 ? axis + r : axis;
  const sizes = typeof numOrSizeSplits === 'number'
    ? new Array<number>(numOrSizeSplits).fill(x.shape[ax]! / numOrSizeSplits)
    : [...numOrSizeSplits];
  const neg = sizes.indexOf(-1);
  if (neg >= 0) sizes[neg] = x.shape[ax]! - sizes.reduce((p, q) => p + (q === -1 ? 0 : q), 0);
  if (x.dtype !== 'float32') return callStock('SplitV', backendName, args) as unknown as Info[];
  const outer = x.shape.slice(0, ax).reduce((p, q) => p * q, 1);
  const inner = x.shape.slice(ax + 1).reduce((p, q) => p * q, 1);
  const s = new KernelScope(args.backend, backendName);
  const outs = sizes.map((sz) => s.alloc(x.shape.map((d, i) => (i === ax ? sz : d))));
  const src = s.view(x);
  const rowLen = x.shape[ax]! * inner;
  let off = 0;
  sizes.forEach((sz, k) => {
    const dst = s.view(outs[k]!);
    const len = sz * inner;
    for (let o = 0; o < outer; o++) dst.set(src.subarray(o * rowLen + off, o * rowLen + off + len), o * len);
    off += len;
  });
  return outs;
}

/**
 * Identity sharing the buffer (as the cpu backend does) instead of copying it: the engine clones every
 * tensor it saves for the backward pass, and tensors are immutable, so the copy is pure overhead.
 */
function sharedIdentity(args: KernelArgs): Info {
  const { x } = args.inputs as { x: Info };
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Minimum with a scalar (tfjs-layers' relu6 is `minimum(relu(x), 6)`) as one XNNPACK clamp: the stock wasm
 * kernel broadcasts element by element and was the most expensive op of a MobileNet-V2 forward pass.
 */
function scalarMinimum(args: KernelArgs, backendName: string): Info {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const size = (t: Info) => t.shape.reduce((p, q) => p * q, 1);
  const [big, small] = size(b) === 1 ? [a, b] : size(a) === 1 ? [b, a] : [undefined, undefined];
  const clip = tf.getKernel('ClipByValue', backendName);
  if (!big || !small || !clip || big.dtype !== 'float32' || small.dtype !== 'float32' || small.shape.length > big.shape.length) {
    return callStock('Minimum', backendName, args);
  }
  const v = new KernelScope(args.backend, backendName).view(small)[0]!;
  if (Number.isNaN(v)) return callStock('Minimum', backendName, args);
  return clip.kernelFunc({
    inputs: { x: big } as unknown as tf.NamedTensorInfoMap,
    attrs: { clipValueMin: -Infinity, clipValueMax: v },
    backend: args.backend,
  }) as Info;
}

/**
 * Slice as contiguous block copies (the innermost run of full axes is copied at once); the stock wasm
 * kernel copies element by element. Used by padding gradients and crops.
 */
function fastSlice(args: KernelArgs, backendName: string): Info {
  const { x } = args.inputs as { x: Info };
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  const [b, sz] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
  const r = x.shape.length;
  if (x.dtype !== 'float32' || r === 0 || sz.some((v) => v <= 0)) return callStock('Slice', backendName, args);
  // Innermost axes that are taken whole form one contiguous run together with the first partial one.
  let k = r - 1;
  let run = sz[k]!;
  while (k > 0 && sz[k] === x.shape[k] && b[k] === 0) {
    k--;
    run *= sz[k]!;
  }
  const strides = new Array<number>(r).fill(1);
  for (let i = r - 2; i >= 0; i--) strides[i] = strides[i + 1]! * x.shape[i + 1]!;
  const s = new KernelScope(args.backend, backendName);
  const out = s.alloc(sz);
  const src = s.view(x), dst = s.view(out);
  const outerShape = sz.slice(0, k);
  const count = outerShape.reduce((p, q) => p * q, 1);
  const idx = new Array<number>(k).fill(0);
  let base = b.reduce((acc, v, i) => acc + v * strides[i]!, 0);
  for (let o = 0; o < count; o++) {
    dst.set(src.subarray(base, base + run), o * run);
    // Odometer over the outer axes.
    for (let i = k - 1; i >= 0; i--) {
      idx[i]!++;
      base += strides[i]!;
      if (idx[i]! < sz[i]!) break;
      base -= idx[i]! * strides[i]!;
      idx[i] = 0;
    }
  }
  return s.finish(out);
}

/**
 * MaxPool gradient in JS: each output's dy goes to the first maximum of its window (padding excluded),
 * as the reference kernels do.
 */
function fastMaxPoolGrad(args: KernelArgs, backendName: string): Info {
  const { dy, input } = args.inputs as { dy: Info; input: Info };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as {
    filterSize: number | [number, number]; strides: number | [number, number]; pad: Pad; dimRoundingMode?: string;
  };
  if (input.dtype !== 'float32') return callStock('MaxPoolGrad', backendName, args);
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1,
    pad as 'valid', dimRoundingMode as 'floor' | undefined);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo, strideHeight: sh,
    strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const s = new KernelScope(args.backend, backendName);
  const out = s.alloc(input.shape);
  const xv = s.view(input), dv = s.view(dy), ov = s.view(out);
  ov.fill(0);
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < ho; oh++) {
      const h0 = Math.max(0, oh * sh - pt), h1 = Math.min(h, oh * sh - pt + fh);
      for (let ow = 0; ow < wo; ow++) {
        const w0 = Math.max(0, ow * sw - pl), w1 = Math.min(w, ow * sw - pl + fw);
        const d0 = ((b * ho + oh) * wo + ow) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity, at = -1;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const i = ((b * h + ih) * w + iw) * c + ch;
              const v = xv[i]!;
              if (v > best || at < 0) { best = v; at = i; }
            }
          }
          if (at >= 0) ov[at]! += dv[d0 + ch]!;
        }
      }
    }
  }
  return s.finish(out);
}

type Impl = (args: KernelArgs, backendName: string) => Info | Info[];

const WASM_KERNELS: Record<string, Impl> = {
  Conv2DBackpropInput: conv2dBackpropInput,
  Conv2DBackpropFilter: conv2dBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  Transpose: fastTranspose,
  BatchMatMul: fastBatchMatMul,
  Sum: channelReduction('Sum'),
  Mean: channelReduction('Mean'),
  SplitV: fastSplitV,
  Identity: sharedIdentity,
  Slice: fastSlice,
  MaxPoolGrad: fastMaxPoolGrad,
  Minimum: scalarMinimum,
};

// The cpu backend has correct kernels for everything; only its backprop-filter loops are pathological.
const CPU_KERNELS: Record<string, Impl> = {
  Conv2DBackpropFilter: conv2dBackpropFilter,
};

const registered = new Map<string, string[]>();

/** The kernel functions registered by {@link registerFastKernels}, to tell them from TF.js' own. */
const ours = new WeakSet<object>();

/**
 * Whether TF.js currently dispatches `kernelName` on `backendName` to one of our fast kernels (not the stock one).
 * @example isFastKernel('Conv2DBackpropFilter', 'wasm'); // true after registerFastKernels('wasm')
 */
export function isFastKernel(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName);
  return k !== undefined && ours.has(k.kernelFunc);
}

/**
 * Registers the fast gradient kernels for a backend ('wasm' or 'cpu'; default: the active one) and the
 * tile-free BatchNorm gradient. Idempotent. `ensureBackend()` calls it for you; call it yourself only
 * when you pick the backend with `tf.setBackend`.
 * @example await tf.setBackend('wasm'); registerFastKernels();
 */
export function registerFastKernels(backendName: string = tf.getBackend()): string[] {
  const done = registered.get(backendName);
  if (done) return done;
  const table = backendName === 'wasm' ? WASM_KERNELS : backendName === 'cpu' ? CPU_KERNELS : {};
  const names: string[] = [];
  for (const [kernelName, impl] of Object.entries(table)) {
    const old = tf.getKernel(kernelName, backendName);
    if (old) {
      stock.set(`${kernelName}@${backendName}`, old.kernelFunc);
      tf.unregisterKernel(kernelName, backendName);
    }
    const kernelFunc = ((args: KernelArgs) => impl(args, backendName)) as unknown as tf.KernelFunc;
    ours.add(kernelFunc);
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc,
      // The stock kernel we delegate to still needs its one-time setup when the backend initialises later.
      ...(old?.setupFunc ? { setupFunc: old.setupFunc } : {}),
      ...(old?.disposeFunc ? { disposeFunc: old.disposeFunc } : {}),
    });
    names.push(`${kernelName}@${backendName}`);
  }
  registerBatchNormGradient();
  names.push('FusedBatchNorm gradient');
  registered.set(backendName, names);
  return names;
}

let bnGradRegistered = false;

/**
 * BatchNorm gradient without `tile`: dx is itself a batch norm of dy (mean 0, offset 0), which the
 * backends run as one fused pass; the per-channel sums are matrix products with a row of ones.
 */
function registerBatchNormGradient(): void {
  if (bnGradRegistered) return;
  bnGradRegistered = true;
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const g = dy as tf.Tensor;
      const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
      const perChannel = mean.rank === 1 && x.rank >= 2 && mean.shape[0] === x.shape[x.rank - 1];
      if (!perChannel) return stockShapedBatchNormGrad(g, x, mean, variance, scale, eps);
      const ch = mean.shape[0]!;
      const rows = x.size / ch;
      const rsqrt = () => tf.rsqrt(tf.add(variance, eps));
      // Per-channel sums; on wasm this is the pooled Sum kernel above.
      const colSum = (t: tf.Tensor) => tf.sum(tf.reshape(t, [rows, ch]), 0);
      const scaleT = () => (scale ?? tf.onesLike(mean)) as tf.Tensor1D;
      // sum(dy * (x - mean)) = sum(dy * x) - mean * sum(dy): one full-size product instead of two.
      const dyXc = () => tf.sub(colSum(tf.mul(g, x)), tf.mul(mean, colSum(g)));
      return {
        x: () => {
          const x4 = g.rank === 4 ? g : tf.reshape(g, [1, 1, rows, ch]);
          const out = tf.batchNorm(x4 as tf.Tensor4D, tf.zerosLike(mean) as tf.Tensor1D, variance as tf.Tensor1D,
            undefined, scaleT(), eps);
          return g.rank === 4 ? out : tf.reshape(out, g.shape);
        },
        mean: () => tf.neg(tf.mul(tf.mul(colSum(g), rsqrt()), scaleT())),
        variance: () => {
          const r = rsqrt();
          return tf.mul(tf.mul(dyXc(), tf.mul(tf.mul(r, tf.mul(r, r)), -0.5)), scaleT());
        },
        scale: () => tf.mul(dyXc(), rsqrt()),
        offset: () => colSum(g),
      };
    },
  } as unknown as tf.GradConfig);
}

/** Mean / variance broadcast along other axes than the last: the straightforward formulas. */
function stockShapedBatchNormGrad(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor,
  scale: tf.Tensor | undefined, eps: number) {
  const scaleV = scale ?? tf.scalar(1);
  const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
  const red = (t: tf.Tensor, like: tf.Tensor) => tf.reshape(axes.length ? tf.sum(t, axes) : t, like.shape);
  const r = () => tf.rsqrt(tf.add(variance, eps));
  return {
    x: () => tf.mul(tf.mul(dy, r()), scaleV),
    mean: () => red(tf.neg(tf.mul(tf.mul(dy, r()), scaleV)), mean),
    variance: () => {
      const rr = r();
      return red(tf.mul(tf.mul(tf.mul(dy, tf.sub(x, mean)), scaleV), tf.mul(tf.pow(rr, 3), -0.5)), mean);
    },
    scale: () => red(tf.mul(tf.mul(dy, tf.sub(x, mean)), r()), scale ?? mean),
    offset: () => red(dy, mean),
  };
}
