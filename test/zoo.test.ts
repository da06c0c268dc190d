// The zoo's contract: names, exact parameter counts, input validation, output shapes, no tensor leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  countParams,
  createModel,
  getModelInfo,
  listModels,
  resnet18,
} from '../src/index.js';
import { buildGraph, leakCheck, representatives } from './helpers/index.js';

// Trainable parameters with a 1000-class head in torchvision 0.14 (timm for inception_v4).
const REFERENCE_PARAMS: Record<string, number> = {
  resnet18: 11_689_512,
  resnet34: 21_797_672,
  resnet50: 25_557_032,
  resnet101: 44_549_160,
  densenet121: 7_978_856,
  densenet169: 14_149_480,
  densenet201: 20_013_928,
  efficientnet_b0: 5_288_548,
  efficientnet_b1: 7_794_184,
  efficientnet_b2: 9_109_994,
  efficientnet_b3: 12_233_232,
  mobilenet_v2: 3_504_872,
  mobilenet_v3_large: 5_483_032,
  mobilenet_v3_small: 2_542_856,
  mnasnet1_0: 4_383_312,
  inception_v3: 23_834_568,
  inception_v4: 42_679_816,
};

// MobileNetV3's classifier has a hidden layer (torchvision: last_channel).
const HIDDEN: Record<string, number> = { mobilenet_v3_large: 1280, mobilenet_v3_small: 1024 };

describe('zoo', () => {
  it('lists exactly the 17 architectures', () => {
    expect([...listModels()].sort()).toEqual(Object.keys(REFERENCE_PARAMS).sort());
  });

  // One build per architecture keeps this fast: a 5-class model at a small input. Its count plus the
  // difference between a 1000- and a 5-class head must equal the reference count.
  const headDiff = (model: tf.LayersModel) => {
    const fanIn = model.layers[model.layers.length - 1]!.getWeights()[0]!.shape[0]!;
    return fanIn * (1000 - 5) + (1000 - 5);
  };
  // All 17, on the builder's graph alone: the count does not depend on the initial values, and drawing them is
  // what costs time (createModel below, on representatives(), checks the same count after initialisation).
  it.each(Object.entries(REFERENCE_PARAMS))('%s has %i parameters like its reference (graph)', async (name, n) => {
    const s = Math.max(getModelInfo(name).minImageSize, 64);
    const model = await buildGraph(name, { numClasses: 5, inputShape: [s, s, 3] });
    expect(model.name).toBe(name);
    expect(countParams(model) + headDiff(model)).toBe(n);
    expect(getModelInfo(name).params).toBe(n);
    model.dispose();
  });

  // npm test: one architecture per block design; npm run test:full: all 17
  it.each(representatives().map((a) => [a, REFERENCE_PARAMS[a]!] as const))('%s has %i parameters after createModel and predicts', async (name, n) => {
    const s = Math.max(getModelInfo(name).minImageSize, 64);
    const model = await createModel(name, { numClasses: 5, inputShape: [s, s, 3] });
    expect(model.name).toBe(name);
    expect(countParams(model) + headDiff(model)).toBe(n);
    const x = tf.zeros([1, s, s, 3]);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 5]);
    expect(Array.from(await y.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('counts a full 1000-class model exactly (resnet50)', async () => {
    const model = await createModel('resnet50');
    expect(countParams(model)).toBe(25_557_032);
    model.dispose();
  });

  it.each(['resnet18', 'densenet121', 'mobilenet_v3_small', 'inception_v3'])(
    '%s: numClasses 0 gives pooled features',
    async (name) => {
      const s = Math.max(getModelInfo(name).minImageSize, 64);
      // parameter counts read the graph only: no reference initialisation needed
      const feats = await buildGraph(name, { numClasses: 0, inputShape: [s, s, 3] });
      const logits = await buildGraph(name, { numClasses: 5, inputShape: [s, s, 3] });
      expect(feats.outputs[0]!.shape.length).toBe(2);
      // the head is the only difference: Linear C -> 5 (MobileNetV3: Linear C -> hidden, Hardswish, Linear hidden -> 5)
      const c = feats.outputs[0]!.shape[1]!;
      const hidden = HIDDEN[name];
      const head = hidden ? c * hidden + hidden + hidden * 5 + 5 : c * 5 + 5;
      expect(countParams(logits) - countParams(feats)).toBe(head);
      feats.dispose();
      logits.dispose();
    },
  );

  it('rejects an unknown name with the list of valid names', async () => {
    await expect(createModel('resnet19')).rejects.toThrow(/Unknown architecture 'resnet19'. Valid names: resnet18, resnet34/);
  });

  it('rejects bad options with what is accepted', async () => {
    await expect(createModel('resnet18', { numClasses: -1 })).rejects.toThrow(/numClasses must be a whole number >= 0/);
    await expect(createModel('resnet18', { numClasses: 2.5 })).rejects.toThrow(/numClasses/);
    await expect(createModel('resnet18', { inputShape: [224, 224, 4] })).rejects.toThrow(
      /accepts 3 input channels \(RGB\) or 1 \(grayscale/,
    );
    await expect(createModel('resnet18', { inputShape: [16, 16, 3] })).rejects.toThrow(/at least 32x32 pixels/);
    await expect(createModel('inception_v3', { inputShape: [64, 64, 3] })).rejects.toThrow(/at least 75x75/);
    await expect(createModel('resnet18', { inputShape: [224, 224] as unknown as [number, number, number] })).rejects.toThrow(
      /inputShape must be \[height, width, channels\]/,
    );
    await expect(createModel('resnet18', { inChannels: 1, inputShape: [64, 64, 3] })).rejects.toThrow(/make them agree/);
  });

  it('builds a grayscale stem with inChannels: 1', async () => {
    const model = await resnet18({ inChannels: 1, inputShape: [64, 64, 1], numClasses: 2 });
    expect(model.inputs[0]!.shape).toEqual([null, 64, 64, 1]);
    expect(model.getLayer('conv1').getWeights()[0]!.shape).toEqual([7, 7, 1, 64]);
    model.dispose();
  });

  it('does not leak tensors across repeated predict calls', async () => {
    const model = await resnet18({ inputShape: [64, 64, 3], numClasses: 5 });
    const x = tf.randomNormal([2, 64, 64, 3]);
    tf.dispose(model.predict(x) as tf.Tensor);
    const leaks = leakCheck();
    for (let i = 0; i < 3; i++) tf.dispose(model.predict(x) as tf.Tensor);
    leaks.check();
    x.dispose();
    model.dispose();
  });
});
