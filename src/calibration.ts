/**
 * Probabilities from logits, and torchxrayvision's operating-point calibration (`op_norm` in
 * torchxrayvision/models.py): each output is rescaled piecewise-linearly so that its operating point maps to
 * 0.5, values below it to [0, 0.5) and above it to [0.5, 1]. An output without an operating point (NaN or
 * null, where the training data lacked the pathology) gives 0.5, as torchxrayvision does.
 */

/** Any flat numeric array: number[], Float32Array, ... */
export type Numbers = ArrayLike<number>;

/**
 * Logistic sigmoid of each logit (numerically stable for large |x|).
 * @example sigmoid([0, 2]) // Float64Array [0.5, 0.8808]
 */
export function sigmoid(logits: Numbers): Float64Array {
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    out[i] = x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }
  return out;
}

function checkThresholds(opThreshs: ArrayLike<number | null>): void {
  for (let i = 0; i < opThreshs.length; i++) {
    const t = opThreshs[i];
    if (t !== null && !Number.isNaN(t) && !(t! > 0 && t! < 1)) {
      throw new Error(`opNorm: operating point ${i} is ${String(t)}; operating points are probabilities in (0, 1), or NaN/null for none.`);
    }
  }
}

/**
 * torchxrayvision's `op_norm`: probabilities (row-major [n, tasks], tasks = opThreshs.length) rescaled so that
 * each task's operating point maps to 0.5. Below it: p / (2 t); at or above: 1 - (1 - p) / (2 (1 - t)).
 * @example opNorm([0.2], [0.1]) // Float64Array [0.5556]
 */
export function opNorm(probs: Numbers, opThreshs: ArrayLike<number | null>): Float64Array {
  const tasks = opThreshs.length;
  if (tasks === 0 || probs.length % tasks !== 0) {
    throw new Error(`opNorm: ${probs.length} probabilities do not split into rows of ${tasks} operating points; pass [n, tasks] row-major.`);
  }
  checkThresholds(opThreshs);
  const out = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const t = opThreshs[i % tasks];
    const p = probs[i]!;
    if (t === null || t === undefined || Number.isNaN(t)) out[i] = 0.5;
    else out[i] = p < t ? p / (t * 2) : 1 - (1 - p) / ((1 - t) * 2);
  }
  return out;
}

/**
 * What torchxrayvision's models return when they carry operating points: `op_norm(sigmoid(logits))`; plain
 * sigmoid probabilities when `opThreshs` is undefined.
 * @example calibratedProbabilities(logits, getOutputInfo(model)?.opThreshs)
 */
export function calibratedProbabilities(logits: Numbers, opThreshs?: ArrayLike<number | null>): Float64Array {
  const p = sigmoid(logits);
  return opThreshs ? opNorm(p, opThreshs) : p;
}
