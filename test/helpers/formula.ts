// Deterministic weights and inputs that tools/formula.py reproduces bit for bit: both sides fill a model
// from the same integer hash, so parity fixtures need only inputs' recipe and expected outputs.
import * as tf from '@tensorflow/tfjs';
import { torchSlots } from '../../src/weights/remap.js';

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** n uniform values in [0, 1) with 24-bit resolution, keyed by a string. */
export function uniform(key: string, n: number): Float64Array {
  const seed = fnv1a(key);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
    out[i] = (h >>> 8) / 16777216;
  }
  return out;
}

/** The value of a reference parameter `key` with PyTorch shape `shape`, as tools/formula.py computes it. */
export function formulaParam(key: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = uniform(key, n);
  const out = new Float32Array(n);
  // one loop per kind (the same expressions as formula.py): a loop calling a per-kind closure ran 5x slower
  if (key.endsWith('running_var')) for (let i = 0; i < n; i++) out[i] = 0.5 + u[i]!;
  else if (key.endsWith('running_mean') || key.endsWith('bias')) for (let i = 0; i < n; i++) out[i] = (2 * u[i]! - 1) * 0.1;
  else if (shape.length === 1) for (let i = 0; i < n; i++) out[i] = 0.8 + 0.4 * u[i]!;
  else {
    const fanIn = n / shape[0]!;
    const a = Math.sqrt(6 / fanIn);
    for (let i = 0; i < n; i++) out[i] = (2 * u[i]! - 1) * a;
  }
  return out;
}

/** Fills every parameter of a zoo model from the formula; returns the reference keys it filled. */
export function fillFromFormula(model: tf.LayersModel): Map<string, number[]> {
  const keys = new Map<string, number[]>();
  for (const s of torchSlots(model)) {
    const t = tf.tensor(s.toTf(formulaParam(s.key, s.torchShape)), s.variable.shape as number[], 'float32');
    s.variable.write(t);
    t.dispose();
    keys.set(s.key, s.torchShape);
  }
  return keys;
}

/** The NHWC input for an H x W case (the formula defines it in NCHW, as PyTorch consumes it). */
export function formulaInput(h: number, w: number, c = 3): tf.Tensor4D {
  const u = uniform(`input:${h}x${w}`, c * h * w);
  const nchw = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) nchw[i] = 2 * u[i]! - 1;
  return tf.tidy(() => tf.tensor4d(nchw, [1, c, h, w]).transpose([0, 2, 3, 1]) as tf.Tensor4D);
}
