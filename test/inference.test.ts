// optimizeForInference: the same function as model.predict (which the parity tests prove against torchvision),
// for every block design (one architecture each; `npm run test:full` runs all 17), truncated models and
// multi-output feature extractors, with fewer ops.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { optimizeForInference } from '../src/inference.js';
import { blocks, featureExtractor, truncate } from '../src/truncate.js';
import { predict, arrayBatchSource } from '../src/train/evaluate.js';
import { buildGraph, leakCheck, relErr, representatives } from './helpers/index.js';

/** BatchNorm statistics and affine parameters away from their (identity) initial values, so folding matters. */
function randomizeBatchNorms(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const l of model.layers) {
    if (l.getClassName() !== 'ChexzooBatchNorm') continue;
    const shapes = l.getWeights().map((w) => w.shape);
    const ranges: [number, number][] = [[0.5, 1.5], [-0.3, 0.3], [-0.3, 0.3], [0.5, 2]]; // gamma, beta, mean, var
    l.setWeights(shapes.map((shape, i) => tf.randomUniform(shape, ...ranges[i]!, 'float32', ++s)));
  }
}

/** Seeded He-uniform kernels (every weight of rank >= 2): deterministic, and cheap next to the reference init. */
function seedKernels(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const w of model.weights) {
    const shape = w.shape as number[]; // weights have concrete shapes
    if (shape.length < 2) continue;
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const bound = Math.sqrt(6 / fanIn);
    const v = tf.randomUniform(shape, -bound, bound, 'float32', ++s);
    w.write(v);
    v.dispose();
  }
}

/** Relative error of `a` against `b` (same shape). */
async function relErrT(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  return relErr(await a.data(), await b.data());
}

const sizeOf = (arch: string) => (arch.startsWith('inception') ? 75 : 64);

// Built once per file (model building dominates this file's time) and shared by the tests below.
const models = new Map<string, tf.LayersModel>();
async function model(arch: string): Promise<tf.LayersModel> {
  let m = models.get(arch);
  if (!m) {
    const size = sizeOf(arch);
    // seeded kernels serve as well as the reference initialisation here (both sides run the same weights), and
    // drawing the reference initialisation cost more than the comparison itself
    m = await buildGraph(arch, { numClasses: 3, inputShape: [size, size, 3] });
    seedKernels(m, 1);
    randomizeBatchNorms(m, 7);
    models.set(arch, m);
  }
  return m;
}
/** Models a later test uses again; the others are disposed after their own test. */
const REUSED = new Set(['resnet18', 'mobilenet_v3_small', 'densenet121', 'mobilenet_v2']);
afterAll(() => models.forEach((m) => m.dispose()));

describe('optimizeForInference', () => {
  it.each(representatives())('%s: same outputs as predict, BatchNorms folded, no leak', async (arch) => {
    const size = sizeOf(arch);
    const m = await model(arch);
    const x = tf.randomUniform([2, size, size, 3], -2, 2, 'float32', 3);
    const ref = m.predict(x) as tf.Tensor;
    const leaks = leakCheck();
    const fast = optimizeForInference(m);
    const y = fast.predict(x) as tf.Tensor;
    expect(await relErrT(y, ref)).toBeLessThan(1e-4);
    const bns = m.layers.filter((l) => l.getClassName() === 'ChexzooBatchNorm').length;
    // every BatchNorm right after a convolution is folded (DenseNet's pre-activation norms cannot be)
    if (!arch.startsWith('densenet')) expect(fast.stats.foldedBatchNorms, JSON.stringify(fast.stats)).toBe(bns);
    else expect(fast.stats.foldedBatchNorms).toBeGreaterThan(bns / 2 - 2);
    expect(fast.stats.ops).toBeLessThan(fast.stats.layers);
    y.dispose();
    fast.dispose();
    leaks.check();
    tf.dispose([x, ref]);
    if (!REUSED.has(arch)) {
      m.dispose();
      models.delete(arch);
    }
  });

  it('truncated models and multi-output feature extractors', async () => {
    for (const arch of ['resnet18', 'mobilenet_v3_small', 'densenet121']) {
      const m = await model(arch);
      const stages = blocks(m).map((b) => b.name);
      const x = tf.randomUniform([1, 64, 64, 3], -2, 2, 'float32', 5);
      const t = truncate(m, stages[Math.floor(stages.length / 2)]!, { numClasses: 4 });
      const fastT = optimizeForInference(t);
      expect(await relErrT(fastT.predict(x) as tf.Tensor, t.predict(x) as tf.Tensor), `${arch} truncated`).toBeLessThan(1e-4);
      const fx = featureExtractor(m, [stages[1]!, stages[stages.length - 1]!]);
      const fastF = optimizeForInference(fx);
      const [a, b] = [fastF.predict(x) as tf.Tensor[], fx.predict(x) as tf.Tensor[]];
      expect(a).toHaveLength(2);
      for (let i = 0; i < 2; i++) expect(await relErrT(a[i]!, b[i]!), `${arch} features ${i}`).toBeLessThan(1e-4);
      fastT.dispose();
      fastF.dispose();
      t.dispose();
      tf.dispose([x, ...a, ...b]);
    }
  });

  it('predict() uses it and gives the same probabilities as the plain model', async () => {
    const m = await model('mobilenet_v2');
    const x = tf.randomUniform([4, 64, 64, 3], -2, 2, 'float32', 9);
    const y = tf.tensor2d([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]);
    const source = () => arrayBatchSource({ x: x as tf.Tensor4D, y: y as tf.Tensor2D }, { batchSize: 2 });
    const fast = await predict(m, source());
    const plain = await predict(m, source(), { optimize: false });
    for (let i = 0; i < plain.probs.length; i++) expect(Math.abs(fast.probs[i]! - plain.probs[i]!)).toBeLessThan(1e-5);
    tf.dispose([x, y]);
  });
});
