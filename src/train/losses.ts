// Multi-label losses for CheXpert-style targets. Browser-safe.
import * as tf from '@tensorflow/tfjs';

/** Options of {@link maskedSigmoidCrossEntropy}. */
export interface MaskedLossOptions {
  /** Per-task multipliers of the loss (length = tasks), e.g. to up-weight rare findings. */
  classWeights?: readonly number[];
  /**
   * Per-task weight of positive targets (PyTorch `BCEWithLogitsLoss(pos_weight=...)`): values > 1 raise recall.
   * {@link balancedPosWeights} computes negatives / positives from the training targets.
   */
  posWeights?: readonly number[];
}

function checkWeights(name: string, w: readonly number[] | undefined, tasks: number): void {
  if (w === undefined) return;
  if (!Array.isArray(w) && !ArrayBuffer.isView(w)) throw new Error(`${name} must be an array of ${tasks} numbers, one per task.`);
  if (w.length !== tasks) throw new Error(`${name} has ${w.length} values but the model predicts ${tasks} tasks; pass one weight per task.`);
  for (const v of w) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must hold finite, non-negative numbers; got ${JSON.stringify(Array.from(w))}.`);
  }
}

/**
 * Masked binary cross-entropy on logits, averaged over the unmasked (row, task) entries. Numerically stable:
 * `(1 - y) x + (1 + (p - 1) y) (log1p(exp(-|x|)) + max(-x, 0))` never exponentiates a positive number, so huge logits
 * give finite losses and gradients. With no unmasked entry the loss is 0 (and so is every gradient).
 * Class weights multiply each task's terms; the denominator stays the count of unmasked entries.
 * @example const loss = maskedSigmoidCrossEntropy(y, logits, mask, { posWeights: [2, 1, 1, 3, 1] });
 */
export function maskedSigmoidCrossEntropy(
  labels: tf.Tensor,
  logits: tf.Tensor,
  mask?: tf.Tensor,
  options: MaskedLossOptions = {},
): tf.Scalar {
  if (labels.rank !== 2 || logits.rank !== 2) {
    throw new Error(`maskedSigmoidCrossEntropy expects [batch, tasks] labels and logits; got ranks ${labels.rank} and ${logits.rank}.`);
  }
  if (!tf.util.arraysEqual(labels.shape, logits.shape)) {
    throw new Error(`labels shape [${labels.shape}] differs from logits shape [${logits.shape}]; the model head must have one output per task.`);
  }
  if (mask && !tf.util.arraysEqual(mask.shape, labels.shape)) {
    throw new Error(`mask shape [${mask.shape}] differs from labels shape [${labels.shape}].`);
  }
  const tasks = labels.shape[1]!;
  checkWeights('classWeights', options.classWeights, tasks);
  checkWeights('posWeights', options.posWeights, tasks);
  return tf.tidy(() => {
    const x = logits.toFloat();
    const y = labels.toFloat();
    // softplus(-x) = log(1 + exp(-x)) written so exp only sees non-positive arguments
    const softplusNeg = tf.add(tf.log1p(tf.exp(tf.neg(tf.abs(x)))), tf.relu(tf.neg(x)));
    let coef: tf.Tensor = tf.onesLike(y);
    if (options.posWeights) {
      const p = tf.tensor1d(Array.from(options.posWeights), 'float32');
      coef = tf.add(1, tf.mul(tf.sub(p, 1), y));
    }
    let perEntry = tf.add(tf.mul(tf.sub(1, y), x), tf.mul(coef, softplusNeg));
    if (options.classWeights) perEntry = tf.mul(perEntry, tf.tensor1d(Array.from(options.classWeights), 'float32'));
    if (!mask) return tf.mean(perEntry) as tf.Scalar;
    const m = mask.toFloat();
    const count = tf.maximum(tf.sum(m), 1);
    return tf.div(tf.sum(tf.mul(perEntry, m)), count) as tf.Scalar;
  });
}

/**
 * Per-task `negatives / positives` over the unmasked targets (row-major [n, tasks]), the usual `pos_weight`
 * for imbalanced findings. Tasks without positives (or negatives) get 1.
 * @example const posWeights = balancedPosWeights(ds.targets.y, ds.targets.mask, ds.tasks.length);
 */
export function balancedPosWeights(y: ArrayLike<number>, mask: ArrayLike<number> | undefined, tasks: number): number[] {
  if (!Number.isInteger(tasks) || tasks < 1) throw new Error(`tasks must be a positive integer, got ${tasks}.`);
  if (y.length % tasks !== 0) throw new Error(`targets length ${y.length} is not a multiple of ${tasks} tasks.`);
  if (mask && mask.length !== y.length) throw new Error(`mask length ${mask.length} differs from targets length ${y.length}.`);
  const pos = new Array<number>(tasks).fill(0);
  const neg = new Array<number>(tasks).fill(0);
  for (let i = 0; i < y.length; i++) {
    if (mask && !mask[i]) continue;
    if (y[i]! >= 0.5) pos[i % tasks]!++;
    else neg[i % tasks]!++;
  }
  return pos.map((p, j) => (p > 0 && neg[j]! > 0 ? neg[j]! / p : 1));
}
