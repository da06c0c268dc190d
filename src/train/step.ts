// One optimizer step of the training loop, as PyTorch's `loss.backward(); optimizer.step()` with torch.optim.Adam
// defaults. Browser-safe.
import * as tf from '@tensorflow/tfjs';
import { maskedSigmoidCrossEntropy, type MaskedLossOptions } from './losses.js';
import { withTrainingRandomness } from '../zoo/layers.js';
import { releasingTape } from '../zoo/checkpointing.js';

/** torch.optim.Adam's defaults (betas 0.9 / 0.999, eps 1e-8; TF.js' own default eps is 1e-7). */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  beta1: number;
  beta2: number;
  iterations: number;
}

/**
 * TF.js Adam whose bias-correction powers are always recomputed as beta^(t + 1), the way TF.js restores them
 * from a checkpoint (its own update multiplies them step by step, which differs in the last bits): a resumed run
 * then continues bit for bit as the uninterrupted one.
 */
class ResumableAdam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    super.applyGradients(variableGradients);
    const self = this as unknown as AdamInternals;
    tf.tidy(() => {
      self.accBeta1.assign(tf.pow(self.beta1, self.iterations + 1));
      self.accBeta2.assign(tf.pow(self.beta2, self.iterations + 1));
    });
  }
}

/** Adam with PyTorch's defaults at learning rate `lr` (checkpoints restore it exactly). */
export function createAdam(lr: number): tf.AdamOptimizer {
  return new ResumableAdam(lr, ADAM.beta1, ADAM.beta2, ADAM.epsilon);
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
      // the backward pass frees each op's saved tensors as soon as its gradient is computed
      releasingTape(() => {
        const logits = model.apply(batch.x, { training: true }) as tf.Tensor;
        return maskedSigmoidCrossEntropy(batch.y, logits, batch.mask, o.loss);
      }),
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
