import * as tf from '@tensorflow/tfjs';
import { callStock, KernelScope, scoped, sizeOf, type Info, type KernelArgs, type Pad } from './scope.js';

// Arithmetic kernels of the wasm backend routed to faster stock paths: transposed matrix products,
// leading-axis reductions, scalar minimum; and MaxPool's gradient.

/** matMul with transposed operands: transpose first (fast), then the stock kernel's fast path. */
export function fastBatchMatMul(args: KernelArgs, backendName: string): Info {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return callStock('BatchMatMul', backendName, args);
  return scoped(args, backendName, (s) => {
    const swap = (t: Info) => {
      const perm = t.shape.map((_, i) => i);
      const k = perm.length;
      [perm[k - 2], perm[k - 1]] = [perm[k - 1]!, perm[k - 2]!];
      return s.transpose(t, perm);
    };
    return s.run('BatchMatMul', { a: transposeA ? swap(a) : a, b: transposeB ? swap(b) : b },
      { transposeA: false, transposeB: false });
  });
}

/**
 * Sum / Mean over all axes but the last (per-channel statistics, bias and BatchNorm gradients) as one
 * average pooling over a [1, rows, 1, channels] view: the stock kernels transpose the whole tensor
 * first. Other reductions go to the stock kernels.
 */
export function channelReduction(kernelName: 'Sum' | 'Mean') {
  return (args: KernelArgs, backendName: string): Info => {
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const r = x.shape.length;
    const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + r : a)))].sort((p, q) => p - q);
    const leading = r >= 2 && axes.length === r - 1 && axes.every((a, i) => a === i);
    const ch = x.shape[r - 1]!;
    const rows = sizeOf(x.shape) / Math.max(ch, 1);
    if (x.dtype !== 'float32' || !leading || rows < 2 || ch < 1) return callStock(kernelName, backendName, args);
    return scoped(args, backendName, (s) => {
      let y = s.run('AvgPool', { x: s.reshape(x, [1, rows, 1, ch]) }, { filterSize: [rows, 1], strides: [1, 1], pad: 'valid' });
      if (kernelName === 'Sum') {
        const k = s.alloc([]);
        s.view(k)[0] = rows;
        y = s.run('Multiply', { a: y, b: k });
      }
      const shape = keepDims ? [...x.shape.slice(0, r - 1).map(() => 1), ch] : [ch];
      return s.reshape(y, shape);
    });
  };
}

/**
 * Minimum with a scalar (tfjs-layers' relu6 is `minimum(relu(x), 6)`) as one XNNPACK clamp: the stock wasm
 * kernel broadcasts element by element and was the most expensive op of a MobileNet-V2 forward pass.
 */
export function scalarMinimum(args: KernelArgs, backendName: string): Info {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const [big, small] = sizeOf(b.shape) === 1 ? [a, b] : sizeOf(a.shape) === 1 ? [b, a] : [undefined, undefined];
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
 * MaxPool gradient in JS: each output's dy goes to the first maximum of its window (padding excluded),
 * as the reference kernels do.
 */
export function fastMaxPoolGrad(args: KernelArgs, backendName: string): Info {
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
  return scoped(args, backendName, (s) => {
    const out = s.alloc(input.shape);
    const xv = s.view(input), dv = s.view(dy), ov = s.view(out);
    ov.fill(0);
    // Window positions outermost, channels innermost: every read is a contiguous channel vector.
    const best = new Float32Array(c), at = new Int32Array(c);
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < ho; oh++) {
        const h0 = Math.max(0, oh * sh - pt), h1 = Math.min(h, oh * sh - pt + fh);
        for (let ow = 0; ow < wo; ow++) {
          const w0 = Math.max(0, ow * sw - pl), w1 = Math.min(w, ow * sw - pl + fw);
          if (h1 <= h0 || w1 <= w0) continue;
          let first = true;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const i0 = ((b * h + ih) * w + iw) * c;
              if (first) {
                for (let ch = 0; ch < c; ch++) { best[ch] = xv[i0 + ch]!; at[ch] = i0 + ch; }
                first = false;
                continue;
              }
              for (let ch = 0; ch < c; ch++) {
                const v = xv[i0 + ch]!;
                if (v > best[ch]!) { best[ch] = v; at[ch] = i0 + ch; }
              }
            }
          }
          const d0 = ((b * ho + oh) * wo + ow) * c;
          for (let ch = 0; ch < c; ch++) ov[at[ch]!]! += dv[d0 + ch]!;
        }
      }
    }
    return out;
  });
}

let minimumGradRegistered = false;

/**
 * Minimum's gradient with a cheaper mask when the first operand is a scalar: tfjs-layers' relu6 is
 * `minimum(6, relu(x))`, whose stock gradient for x is `dy * cast(greater(6, x))`, a broadcast comparison the wasm
 * backend runs element by element, and a cast. `greater(a, x)` is `step(a - x)` exactly (a tie gives 0 in both),
 * and a scalar subtraction and step run as fast wasm kernels. Every other case keeps the stock formulas.
 */
export function registerMinimumGradient(): void {
  if (minimumGradRegistered) return;
  minimumGradRegistered = true;
  tf.registerGradient({
    kernelName: 'Minimum',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor;
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const scalarA = a.size === 1 && a.dtype === 'float32' && b.dtype === 'float32' && a.rank <= b.rank;
      return {
        a: () => tf.mul(g, tf.cast(tf.lessEqual(a, b), 'float32')),
        b: () => (scalarA ? tf.mul(g, tf.step(tf.sub(a, b))) : tf.mul(g, tf.cast(tf.greater(a, b), 'float32'))),
      };
    },
  } as unknown as tf.GradConfig);
}
