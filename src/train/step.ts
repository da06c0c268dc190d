// One optimizer step of the training loop, as PyTorch's `loss.backward(); optimizer.step()` with torch.optim.Adam
// defaults. Browser-safe.
import * as tf from '@tensorflow/tfjs';
import { maskedSigmoidCrossEntropy, type MaskedLossOptions } from './losses.js';
import { withTrainingRandomness } from '../zoo/layers.js';

/** torch.optim.Adam's defaults (betas 0.9 / 0.999, eps 1e-8; TF.js' own default eps is 1e-7). */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/** Adam with PyTorch's defaults at learning rate `lr`. */
export function createAdam(lr: number): tf.AdamOptimizer {
  return tf.train.adam(lr, ADAM.beta1, ADAM.beta2, ADAM.epsilon);
}

/** One training batch. */
export interface StepBatch {
  x: tf.Tensor;
  y: tf.Tensor;
  mask?: tf.Tensor;
}

/**
 * Forward in training mode (batch statistics, running statistics updated, dropout and stochastic-depth masks
 * drawn from (`seed`, `step`)), masked sigmoid cross-entropy, gradients of `varList`, one `optimizer` update.
 * Returns the loss before the update. Does not dispose the batch.
 * @example const loss = await trainStep(model, createAdam(1e-3), batch, { seed: 0, step: 0 });
 */
export async function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  batch: StepBatch,
  o: { seed: number; step: number; loss?: MaskedLossOptions; varList?: tf.Variable[] },
): Promise<number> {
  const varList = o.varList ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = withTrainingRandomness({ seed: o.seed, step: o.step }, () =>
    optimizer.minimize(
      () => {
        const logits = model.apply(batch.x, { training: true }) as tf.Tensor;
        return maskedSigmoidCrossEntropy(batch.y, logits, batch.mask, o.loss);
      },
      true,
      varList,
    ),
  )!;
  try {
    return (await loss.data())[0]!;
  } finally {
    loss.dispose();
  }
}
