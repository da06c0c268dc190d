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
