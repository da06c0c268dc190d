import * as tf from '@tensorflow/tfjs';

// The FusedBatchNorm gradient (all backends), registered once by registerFastKernels.

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
