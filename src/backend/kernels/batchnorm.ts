import * as tf from '@tensorflow/tfjs';
import { callStock, scoped, sizeOf, type Info, type KernelArgs } from './scope.js';

// The FusedBatchNorm kernel of the wasm backend, and its gradient (all backends), registered by registerFastKernels.

/** Above this |mean| / std in any channel, {@link fastFusedBatchNorm} subtracts the mean in a pass of its own. */
const FOLD_MEAN_LIMIT = 1;

/**
 * FusedBatchNorm with per-channel (last-axis) or scalar statistics as one threaded XNNPACK pass: the per-channel
 * factor a = scale / sqrt(variance + eps) and shift b = offset - mean * a are computed once (C values), then
 * y = x * a + b runs as a 1x1 depthwise convolution with bias. This is the form PyTorch's CPU kernels use
 * (alpha / beta per channel). The stock wasm kernel is a single-threaded loop with a square root and a division
 * per element, 3-10x slower; it took a third of a MobileNet-V2 training step. Other layouts go to it.
 */
export function fastFusedBatchNorm(args: KernelArgs, backendName: string): Info {
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, Info | undefined> as {
    x: Info; mean: Info; variance: Info; offset?: Info; scale?: Info;
  };
  const eps = Number((args.attrs as { varianceEpsilon?: number } | undefined)?.varianceEpsilon ?? 0.001);
  const r = x.shape.length;
  const ch = r ? x.shape[r - 1]! : 1;
  const params = [mean, variance, offset, scale].filter((t): t is Info => t !== undefined);
  const fits = (t: Info) => t.dtype === 'float32' && (sizeOf(t.shape) === ch || sizeOf(t.shape) === 1);
  const dw = tf.getKernel('FusedDepthwiseConv2D', backendName);
  if (!dw || x.dtype !== 'float32' || r < 1 || ch < 1 || sizeOf(x.shape) === 0 || !params.every(fits)) {
    return callStock('FusedBatchNorm', backendName, args);
  }
  return scoped(args, backendName, (s) => {
    // every allocation first: a view taken before an allocation may be detached by the heap's growth
    const filter = s.alloc([1, 1, ch, 1]);
    const bias = s.alloc([ch]);
    const meanVec = s.alloc([ch]);
    const at = (t: Info | undefined, dflt: number) => {
      if (!t) return () => dflt;
      const v = s.view(t);
      return v.length === 1 ? () => v[0]! : (c: number) => v[c]!;
    };
    const m = at(mean, 0), v = at(variance, 1), o = at(offset, 0), g = at(scale, 1);
    const a = s.view(filter), b = s.view(bias);
    // x * a + (offset - mean * a) rounds x * a, so when |mean| is large next to the standard deviation its error
    // (float32 eps times |mean * a|) exceeds that of the direct formula: subtract the mean first then.
    let far = false;
    for (let c = 0; c < ch; c++) {
      const sd = Math.sqrt(v(c) + eps);
      a[c] = g(c) / sd;
      if (Math.abs(m(c)) > FOLD_MEAN_LIMIT * sd) far = true;
    }
    for (let c = 0; c < ch; c++) b[c] = far ? o(c) : o(c) - m(c) * a[c]!;
    if (far) {
      const mv = s.view(meanVec);
      for (let c = 0; c < ch; c++) mv[c] = m(c);
    }
    let x4 = r === 4 ? x : s.reshape(x, [1, 1, sizeOf(x.shape) / ch, ch]);
    if (far) x4 = s.run('Sub', { a: x4, b: meanVec });
    const y = s.run('FusedDepthwiseConv2D', { x: x4, filter, bias }, {
      strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC', activation: 'linear',
    });
    return r === 4 ? y : s.reshape(y, x.shape);
  });
}

let registered = false;

/**
 * BatchNorm gradient without `tile`: dx is itself a batch norm of dy (mean 0, offset 0), which the
 * backends run as one fused pass; the per-channel sums are the backend's Sum (on wasm the pooled one).
 */
export function registerBatchNormGradient(): void {
  if (registered) return;
  registered = true;
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
      // Per-channel sums; on wasm this is the pooled Sum kernel.
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

/** Output and batch statistics of {@link batchNormTraining}. */
export interface BatchNormTrainingResult {
  /** The normalized, scaled and shifted input (carries the gradient). */
  y: tf.Tensor;
  /** Per-channel batch mean and biased variance, without gradient; kept outside any tidy: dispose them. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Training-mode BatchNorm over the last axis as one differentiable op: y = (x - mean) / sqrt(var + eps) * gamma +
 * beta with the batch mean and biased variance, and the closed-form gradient of the whole thing (through the batch
 * statistics too):
 *   dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)),  dgamma = sum(dy * xhat),  dbeta = sum(dy).
 * Autodiff of `moments` + `batchNorm` costs about 14 full-size passes per layer in the backward pass (the mean
 * and square gradients broadcast, multiply and divide at full size) and keeps x - mean alive; this costs 4 forward
 * (mean, squared difference, mean, fused batch norm) and 6 backward (two per-channel sums, one product, two fused
 * batch norms, one add), and saves only x and the statistics.
 * @example const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-5); // then update running stats, dispose mean/variance
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined,
  eps: number): BatchNormTrainingResult {
  const ch = x.shape[x.rank - 1]!;
  const rows = x.size / ch;
  const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const xi = args[0] as tf.Tensor;
    const g = gamma ? (args[1] as tf.Tensor1D) : undefined;
    const b = beta ? (args[gamma ? 2 : 1] as tf.Tensor1D) : undefined;
    const x2 = tf.reshape(xi, [rows, ch]);
    const mean = tf.mean(x2, 0) as tf.Tensor1D;
    const variance = tf.mean(tf.squaredDifference(x2, mean), 0) as tf.Tensor1D;
    const y = tf.batchNorm(xi, mean, variance, b, g, eps);
    stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
    save([xi, mean, variance, ...(g ? [g] : [])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, m, v, sg] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D | undefined];
        const dy2 = tf.reshape(dy, [rows, ch]);
        const rstd = tf.rsqrt(tf.add(v, eps));
        const sumDy = tf.sum(dy2, 0);
        // sum(dy * (x - mean)) = sum(dy * x) - mean * sum(dy): one full-size product
        const sumDyXhat = tf.mul(tf.sub(tf.sum(tf.mul(dy2, tf.reshape(xs, [rows, ch])), 0), tf.mul(m, sumDy)), rstd);
        const scale = sg ?? tf.onesLike(m);
        // gamma * rstd * dy, plus the per-channel affine map of xhat: -gamma * rstd * (mean(dy) + xhat * mean(dy * xhat))
        const k = tf.div(tf.mul(scale, rstd), -rows);
        const direct = tf.batchNorm(dy, tf.zerosLike(m), v, undefined, scale, eps);
        const viaStats = tf.batchNorm(xs, m, v, tf.mul(k, sumDy) as tf.Tensor1D, tf.mul(k, sumDyXhat) as tf.Tensor1D, eps);
        const dx = tf.add(direct, viaStats);
        return [dx, ...(gamma ? [sumDyXhat] : []), ...(beta ? [sumDy] : [])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (...a: tf.Tensor[]) => tf.Tensor;
  const y = op(...inputs);
  return { y, ...stats! };
}
