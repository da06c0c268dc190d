// One optimizer step within a memory budget: the plain TF.js step when it fits, else gradient checkpointing and/or
// micro-batches whose gradients are accumulated into one Adam update. Browser-safe.
import * as tf from '@tensorflow/tfjs';
import { checkpointedGrads, planCheckpoints, releasingTape, type CheckpointPlan } from '../zoo/checkpointing.js';
import type { Batch } from './evaluate.js';
import { maskedSigmoidCrossEntropy, type MaskedLossOptions } from './losses.js';
import { trainStep } from './step.js';
import { withTrainingRandomness } from '../zoo/layers.js';
import { MemoryError, formatBytes, guardWasmAllocations, isOutOfMemory, planStep, type MemoryOptions, type StepPlan } from './memory.js';

/** Runs training steps of one model with one optimizer. */
export interface StepRunner {
  /** The plan used for a batch of `n` images (computed once per size; throws MemoryError when nothing fits). */
  plan(n: number): StepPlan;
  /** Forward, backward and optimizer update on one batch; returns the batch's loss. */
  step(batch: Batch, ctx?: { seed: number; step: number }): Promise<number>;
}

/**
 * Gradients of the masked loss of a whole batch, computed micro-batch by micro-batch (optionally checkpointed)
 * and summed. Each micro-batch's loss is weighted by its share of the unmasked entries, so without BatchNorm the
 * sum equals the whole batch's gradient; with BatchNorm each micro-batch is normalized with its own statistics.
 * Returns the loss and the gradients by variable name (the caller disposes them).
 */
export async function accumulatedGrads(
  model: tf.LayersModel,
  varList: readonly tf.Variable[],
  batch: Batch,
  options: {
    microBatch: number;
    checkpointing: boolean;
    loss?: MaskedLossOptions;
    checkpointPlan?: CheckpointPlan;
    /**
     * Seed and step of the training randomness (dropout, stochastic depth). Each micro-batch `i` runs under
     * `withTrainingRandomness({ seed, step, part: i })`, so a checkpointed segment's recomputation draws the masks
     * its forward pass drew (without it the masks are unseeded and the recomputation's differ).
     */
    random?: { seed: number; step: number };
  },
): Promise<{ loss: number; grads: Record<string, tf.Tensor> }> {
  const n = batch.x.shape[0];
  const tasks = batch.y.shape[1];
  const m = Math.max(1, Math.min(options.microBatch, n));
  const chunks = Math.ceil(n / m);
  const size = (i: number) => Math.min(m, n - i * m);
  // share of the loss denominator (count of unmasked entries) each micro-batch holds
  let counts: number[];
  if (batch.mask) {
    const mv = await batch.mask.data();
    counts = Array.from({ length: chunks }, (_, i) => {
      let c = 0;
      for (let j = i * m * tasks; j < (i * m + size(i)) * tasks; j++) c += mv[j]!;
      return c;
    });
  } else counts = Array.from({ length: chunks }, (_, i) => size(i) * tasks);
  const total = Math.max(counts.reduce((a, b) => a + b, 0), 1);
  const plan = options.checkpointing ? (options.checkpointPlan ?? planCheckpoints(model, varList)) : undefined;
  const acc: Record<string, tf.Tensor> = {};
  let loss = 0;
  try {
    for (let i = 0; i < chunks; i++) {
      const weight = Math.max(counts[i]!, 1) / total;
      const part = chunks === 1 ? batch : tf.tidy(() => {
        const b = i * m, k = size(i);
        const out: Batch = { x: tf.slice(batch.x, [b, 0, 0, 0], [k, -1, -1, -1]), y: tf.slice(batch.y, [b, 0], [k, -1]) };
        if (batch.mask) out.mask = tf.slice(batch.mask, [b, 0], [k, -1]);
        return out as unknown as tf.TensorContainerObject;
      }) as unknown as Batch;
      try {
        const lossFn = (logits: tf.Tensor) =>
          tf.tidy(() => tf.mul(maskedSigmoidCrossEntropy(part.y, logits, part.mask, options.loss), weight) as tf.Scalar);
        const random = options.random ?? { seed: 0, step: 0 };
        const r = withTrainingRandomness({ ...random, part: i }, () =>
          plan
            ? checkpointedGrads(plan, part.x, lossFn)
            : tf.variableGrads(releasingTape(() => lossFn(model.apply(part.x, { training: true }) as tf.Tensor)), [...varList]),
        );
        loss += (await r.value.data())[0]!;
        r.value.dispose();
        for (const v of varList) {
          const g = r.grads[v.name];
          if (!g) continue;
          const prev = acc[v.name];
          if (prev) {
            acc[v.name] = tf.add(prev, g);
            prev.dispose();
            g.dispose();
          } else acc[v.name] = g;
        }
      } finally {
        if (part !== batch) tf.dispose([part.x, part.y, ...(part.mask ? [part.mask] : [])]);
      }
    }
  } catch (e) {
    tf.dispose(Object.values(acc));
    throw e;
  }
  return { loss, grads: acc };
}

/** Creates the step function {@link train} uses; exposed for custom loops. */
export function createStepRunner(
  model: tf.LayersModel,
  varList: readonly tf.Variable[],
  optimizer: tf.Optimizer,
  options: MemoryOptions & { loss?: MaskedLossOptions } = {},
): StepRunner {
  guardWasmAllocations();
  const plans = new Map<number, StepPlan>();
  let checkpointPlan: CheckpointPlan | undefined;
  const plan = (n: number): StepPlan => {
    let p = plans.get(n);
    if (!p) {
      p = planStep(model, n, options);
      plans.set(n, p);
    }
    return p;
  };
  return {
    plan,
    async step(batch, ctx = { seed: 0, step: 0 }) {
      const p = plan(batch.x.shape[0]);
      try {
        if (!p.checkpointing && p.chunks === 1) {
          return await trainStep(model, optimizer, batch, {
            seed: ctx.seed, step: ctx.step, varList: [...varList], ...(options.loss ? { loss: options.loss } : {}),
          });
        }
        if (p.checkpointing) checkpointPlan ??= planCheckpoints(model, varList);
        const { loss, grads } = await accumulatedGrads(model, varList, batch, {
          microBatch: p.microBatch, checkpointing: p.checkpointing, random: { seed: ctx.seed, step: ctx.step },
          ...(options.loss ? { loss: options.loss } : {}),
          ...(checkpointPlan ? { checkpointPlan } : {}),
        });
        // in varList order: Adam indexes its moments by the order of the first update
        const ordered: Record<string, tf.Tensor> = {};
        for (const v of varList) if (grads[v.name]) ordered[v.name] = grads[v.name]!;
        try {
          optimizer.applyGradients(ordered);
        } finally {
          tf.dispose(Object.values(grads));
        }
        return loss;
      } catch (e) {
        if (!isOutOfMemory(e)) throw e;
        const shape = batch.x.shape;
        throw new MemoryError(
          `Out of memory during a training step of ${model.name} at ${shape[1]}x${shape[2]} px, batch ${shape[0]} ` +
            `(micro-batch ${p.microBatch}${p.checkpointing ? ', checkpointed' : ''}; estimate ${formatBytes(p.estimateBytes)}, limit ${formatBytes(p.limitBytes)}). ` +
            `Set a smaller micro-batch (microBatch / --micro-batch) or a lower memoryLimit.` + (e instanceof MemoryError ? ` ${e.message}` : ''),
          { estimateBytes: p.estimateBytes, limitBytes: p.limitBytes },
        );
      }
    },
  };
}
