// optimizeForInference: the same function as model.predict (which the parity tests prove against torchvision),
// for all 17 architectures, truncated models and multi-output feature extractors, with fewer ops.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { optimizeForInference } from '../src/inference.js';
import { createModel, listModels } from '../src/zoo/registry.js';
import { blocks, featureExtractor, truncate } from '../src/truncate.js';
import { predict, arrayBatchSource } from '../src/train/evaluate.js';

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

/** max |a - b| / max |b|: relative to the output's scale. */
async function relErr(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [av, bv] = [await a.data(), await b.data()];
  expect(a.shape).toEqual(b.shape);
  let d = 0, m = 0;
  for (let i = 0; i < bv.length; i++) {
    d = Math.max(d, Math.abs(av[i]! - bv[i]!));
    m = Math.max(m, Math.abs(bv[i]!));
  }
  return d / Math.max(m, 1e-12);
}

const sizeOf = (arch: string) => (arch.startsWith('inception') ? 75 : 64);

describe('optimizeForInference', () => {
  it.each(listModels())('%s: same outputs as predict, BatchNorms folded, no leak', async (arch) => {
    const size = sizeOf(arch);
    const model = await createModel(arch, { numClasses: 5, inputShape: [size, size, 3] });
    randomizeBatchNorms(model, 7);
    const x = tf.randomUniform([2, size, size, 3], -2, 2, 'float32', 3);
    const ref = model.predict(x) as tf.Tensor;
    const before = tf.memory().numTensors;
    const fast = optimizeForInference(model);
    const y = fast.predict(x) as tf.Tensor;
    expect(await relErr(y, ref)).toBeLessThan(1e-4);
    const bns = model.layers.filter((l) => l.getClassName() === 'ChexzooBatchNorm').length;
    // every BatchNorm right after a convolution is folded (DenseNet's pre-activation norms cannot be)
    if (!arch.startsWith('densenet')) expect(fast.stats.foldedBatchNorms, JSON.stringify(fast.stats)).toBe(bns);
    else expect(fast.stats.foldedBatchNorms).toBeGreaterThan(bns / 2 - 2);
    expect(fast.stats.ops).toBeLessThan(fast.stats.layers);
    y.dispose();
    fast.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ref]);
    model.dispose();
  });

  it('truncated models and multi-output feature extractors', async () => {
    for (const arch of ['resnet18', 'mobilenet_v3_small', 'densenet121']) {
      const model = await createModel(arch, { numClasses: 3, inputShape: [64, 64, 3] });
      randomizeBatchNorms(model, 11);
      const stages = blocks(model).map((b) => b.name);
      const x = tf.randomUniform([1, 64, 64, 3], -2, 2, 'float32', 5);
      const t = truncate(model, stages[Math.floor(stages.length / 2)]!, { numClasses: 4 });
      const fastT = optimizeForInference(t);
      expect(await relErr(fastT.predict(x) as tf.Tensor, t.predict(x) as tf.Tensor), `${arch} truncated`).toBeLessThan(1e-4);
      const fx = featureExtractor(model, [stages[1]!, stages[stages.length - 1]!]);
      const fastF = optimizeForInference(fx);
      const [a, b] = [fastF.predict(x) as tf.Tensor[], fx.predict(x) as tf.Tensor[]];
      expect(a).toHaveLength(2);
      for (let i = 0; i < 2; i++) expect(await relErr(a[i]!, b[i]!), `${arch} features ${i}`).toBeLessThan(1e-4);
      fastT.dispose();
      fastF.dispose();
      tf.dispose([x, ...a, ...b]);
      model.dispose();
    }
  });

  it('predict() uses it and gives the same probabilities as the plain model', async () => {
    const model = await createModel('mobilenet_v2', { numClasses: 3, inputShape: [64, 64, 3] });
    randomizeBatchNorms(model, 13);
    const x = tf.randomUniform([4, 64, 64, 3], -2, 2, 'float32', 9);
    const y = tf.tensor2d([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]);
    const source = () => arrayBatchSource({ x: x as tf.Tensor4D, y: y as tf.Tensor2D }, { batchSize: 2 });
    const fast = await predict(model, source());
    const plain = await predict(model, source(), { optimize: false });
    for (let i = 0; i < plain.probs.length; i++) expect(Math.abs(fast.probs[i]! - plain.probs[i]!)).toBeLessThan(1e-5);
    tf.dispose([x, y]);
    model.dispose();
  });
});
