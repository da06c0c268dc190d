// Grad-CAM against PyTorch: tools/gradcam_ref.py runs the same formula-filled torchvision models on the same
// inputs and computes Grad-CAM with autograd (test/fixtures/gradcam/reference.json).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { gradCam } from '../src/gradcam.js';
import { blocks, truncate } from '../src/truncate.js';
import { createModel } from '../src/zoo/registry.js';
import { fillFromFormula, formulaInput } from './helpers/formula.js';
import { buildGraph, leakCheck, maxAbsDiff, readJsonFixture } from './helpers/index.js';

interface RefCase {
  label: string;
  arch: string;
  stage: string;
  classIndex: number;
  requestedClass: number | null;
  truncated: boolean;
  size: [number, number];
  score: number;
  camShape: [number, number];
  cam: number[];
  heatmapIdx: number[];
  heatmap: number[];
}
const ref = readJsonFixture<{ cases: RefCase[] }>('gradcam/reference.json');

async function build(c: RefCase): Promise<tf.LayersModel> {
  const [h, w] = c.size;
  // every weight comes from the formula: the graph without the reference initialisation is enough
  const full = await buildGraph(c.arch, { inputShape: [h, w, 3] });
  if (!c.truncated) {
    fillFromFormula(full);
    return full;
  }
  const t = truncate(full, c.stage, { numClasses: 5 });
  full.dispose();
  fillFromFormula(t);
  return t;
}

describe('gradCam equals PyTorch autograd Grad-CAM (torchvision, formula weights)', () => {
  for (const c of ref.cases) {
    it(c.label, async () => {
      const model = await build(c);
      const x = formulaInput(c.size[0], c.size[1]);
      const leaks = leakCheck();
      const r = await gradCam(model, x, { block: c.stage, classIndex: c.requestedClass ?? undefined });
      leaks.check(); // no leak
      expect(r.block).toBe(c.stage);
      expect(r.classIndex).toBe(c.classIndex);
      expect(Math.abs(r.score - c.score)).toBeLessThan(1e-4 * Math.max(1, Math.abs(c.score)));
      expect([r.camHeight, r.camWidth]).toEqual(c.camShape);
      expect([r.height, r.width]).toEqual(c.size);
      expect(r.heatmap.length).toBe(c.size[0] * c.size[1]);
      expect(maxAbsDiff(r.cam, c.cam)).toBeLessThan(2e-4);
      expect(maxAbsDiff(c.heatmapIdx.map((i) => r.heatmap[i]!), c.heatmap)).toBeLessThan(2e-4);
      if (Math.max(...c.cam) > 0) expect(Math.max(...r.cam)).toBeCloseTo(1, 6);
      expect(Math.max(...r.heatmap)).toBeLessThanOrEqual(1);
      expect(Math.min(...r.heatmap)).toBeGreaterThanOrEqual(0);
      x.dispose();
      model.dispose();
    });
  }
});

describe('gradCam', () => {
  it('defaults to the last stage, accepts -k and [H, W, C], and explains any stage of a model', async () => {
    const model = await createModel('resnet18', { inputShape: [48, 48, 3], numClasses: 5 });
    const x = tf.randomNormal([48, 48, 3]) as tf.Tensor3D;
    const leaks = leakCheck();
    const last = await gradCam(model, x, { classIndex: 1 });
    expect(last.block).toBe('layer4');
    expect((await gradCam(model, x, { block: -1, classIndex: 1 })).block).toBe('layer3');
    for (const b of blocks(model)) {
      const r = await gradCam(model, x, { block: b.name, classIndex: 1 });
      expect(r.camHeight).toBe(Math.ceil(48 / b.reduction));
      expect(r.heatmap.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
    // the score is the class logit (before the sigmoid)
    const logits = tf.tidy(() => (model.predict(tf.expandDims(x, 0)) as tf.Tensor).arraySync() as number[][]);
    expect(last.score).toBeCloseTo(logits[0]![1]!, 4);
    leaks.check();
    x.dispose();
    model.dispose();
  });

  it('explains the logit of a final Dense with a sigmoid, and BatchNorm stays in inference mode', async () => {
    const base = await createModel('resnet18', { inputShape: [32, 32, 3], numClasses: 0 });
    const out = tf.layers.dense({ units: 3, activation: 'sigmoid', name: 'fc' }).apply(base.outputs[0]!) as tf.SymbolicTensor;
    const model = tf.model({ inputs: base.inputs, outputs: out, name: 'resnet18' });
    const x = tf.randomNormal([1, 32, 32, 3]) as tf.Tensor4D;
    const r1 = await gradCam(model, x, { classIndex: 2 });
    const p = tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);
    expect(1 / (1 + Math.exp(-r1.score))).toBeCloseTo(p[0]![2]!, 5);
    // BatchNorm in training mode would normalise with this batch's statistics and change the result
    const r2 = await gradCam(model, x, { classIndex: 2 });
    expect(maxAbsDiff(r1.heatmap, r2.heatmap)).toBe(0);
    x.dispose();
    model.dispose();
  });

  it('says what is wrong with bad input', async () => {
    const model = await createModel('resnet18', { inputShape: [32, 32, 3], numClasses: 5 });
    const x = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
    await expect(gradCam(model, x)).rejects.toThrow(/one image at a time/);
    await expect(gradCam(model, tf.zeros([1, 32, 32, 3]) as tf.Tensor4D, { classIndex: 5 })).rejects.toThrow(/classIndex must be an integer in \[0, 4\]/);
    await expect(gradCam(model, tf.zeros([1, 32, 32, 3]) as tf.Tensor4D, { block: 'layer9' })).rejects.toThrow(/Unknown block "layer9".*Valid blocks: layer1/);
    const features = truncate(model, 'layer2', { numClasses: 0 });
    await expect(gradCam(features, tf.zeros([1, 32, 32, 3]) as tf.Tensor4D)).rejects.toThrow(/ends in class logits/);
    tf.dispose(x);
    model.dispose();
    features.dispose();
  });
});
