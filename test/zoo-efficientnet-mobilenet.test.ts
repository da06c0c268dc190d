// EfficientNet B0-B3 and MobileNetV2/V3 specifics that the parity fixtures do not pin down on their own:
// torchvision's channel rounding, the broadcasting SE gate, stage layout, the smallest input, and no leaks.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { makeDivisible } from '../src/zoo/efficientnet.js';
import { squeezeExcitation, type ST } from '../src/zoo/layers.js';
import { createModel, getModelInfo } from '../src/zoo/registry.js';
import { blockOutputLayer } from '../src/zoo/blocks.js';
import { leakCheck } from './helpers/index.js';

const ARCHS = [
  'efficientnet_b0',
  'efficientnet_b1',
  'efficientnet_b2',
  'efficientnet_b3',
  'mobilenet_v2',
  'mobilenet_v3_large',
  'mobilenet_v3_small',
];

describe('efficientnet / mobilenet', () => {
  it('rounds channels like torchvision _make_divisible', () => {
    // [v, divisor, torchvision 0.14's _make_divisible(v, divisor)]
    const cases: [number, number, number][] = [
      [32 * 1.1, 8, 32],
      [16 * 1.1, 8, 16],
      [24 * 1.2, 8, 32],
      [40 * 1.1, 8, 48],
      [112 * 1.2, 8, 136],
      [320 * 1.1, 8, 352],
      [240, 8, 240],
      [18, 8, 24],
      [30, 8, 32],
      [10, 8, 16],
      [3, 8, 8],
      [13.2, 4, 12],
    ];
    for (const [v, d, want] of cases) expect(makeDivisible(v, d), `${v}/${d}`).toBe(want);
  });

  it.each([
    ['sigmoid', 'silu'],
    ['hardsigmoid', 'relu'],
  ] as const)('squeezeExcitation gates [N,H,W,C] by a broadcast [N,1,1,C] scale (%s)', async (gate, a) => {
    const input = tf.input({ shape: [5, 7, 6] });
    const out = squeezeExcitation(input as ST, 'se', { squeeze: 3, act: a, gate });
    const model = tf.model({ inputs: input, outputs: out });
    const x = tf.randomNormal([2, 5, 7, 6], 0, 1, 'float32', 1);
    const w1 = tf.randomNormal([1, 1, 6, 3], 0, 1, 'float32', 2);
    const b1 = tf.randomNormal([3], 0, 1, 'float32', 3);
    const w2 = tf.randomNormal([1, 1, 3, 6], 0, 1, 'float32', 4);
    const b2 = tf.randomNormal([6], 0, 1, 'float32', 5);
    model.getLayer('se.fc1').setWeights([w1, b1]);
    model.getLayer('se.fc2').setWeights([w2, b2]);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 5, 7, 6]);
    // Independent formulation: per-sample channel means through two matmuls, then an explicit tile.
    const [want, gates] = tf.tidy(() => {
      const m = tf.mean(x, [1, 2]); // [2, 6]
      let h = tf.add(tf.matMul(m, w1.reshape([6, 3])), b1);
      h = a === 'silu' ? tf.mul(h, tf.sigmoid(h)) : tf.relu(h);
      const z = tf.add(tf.matMul(h, w2.reshape([3, 6])), b2);
      const s = gate === 'sigmoid' ? tf.sigmoid(z) : tf.div(tf.clipByValue(tf.add(z, 3), 0, 6), 6);
      return [tf.mul(x, tf.tile(s.reshape([2, 1, 1, 6]), [1, 5, 7, 1])), s];
    });
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(y, want))).dataSync()[0]!);
    expect(diff).toBeLessThan(1e-5);
    // the gate really varies per sample and channel, so a non-broadcasting bug would show
    const spread = tf.tidy(() => tf.moments(gates).variance.dataSync()[0]!);
    expect(spread).toBeGreaterThan(1e-3);
    tf.dispose([x, w1, b1, w2, b2, y, want, gates]);
    model.dispose();
  });

  it.each(ARCHS)('%s: stages are the children of features, each ending in its own layer', async (name) => {
    const info = getModelInfo(name);
    // stem + 7 MBConv stages + last conv; V2: stem + 17 blocks + last conv; V3: stem + 15 / 11 blocks + last conv
    const n = name.startsWith('efficientnet') ? 9 : { mobilenet_v2: 19, mobilenet_v3_large: 17, mobilenet_v3_small: 13 }[name]!;
    expect(info.blocks).toEqual(Array.from({ length: n }, (_, i) => `features.${i}`));
    const s = info.minImageSize;
    expect(s).toBe(1);
    const model = await createModel(name, { inputShape: [s, s + 1, 3], numClasses: 3 });
    const layers = info.blocks.map((st) => blockOutputLayer(model, st));
    expect(layers.every((l) => l !== undefined)).toBe(true);
    // forward order: each stage's sink comes after the previous one
    const pos = layers.map((l) => model.layers.indexOf(l!));
    expect([...pos].sort((p, q) => p - q)).toEqual(pos);
    const x = tf.ones([1, s, s + 1, 3]);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 3]);
    expect(Array.from(await y.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('does not leak tensors across predict calls (SE, hardswish, residual adds)', async () => {
    const model = await createModel('mobilenet_v3_small', { inputShape: [48, 40, 3], numClasses: 4 });
    const x = tf.randomNormal([2, 48, 40, 3]);
    tf.dispose(model.predict(x) as tf.Tensor);
    const leaks = leakCheck();
    for (let i = 0; i < 3; i++) tf.dispose(model.predict(x) as tf.Tensor);
    leaks.check();
    x.dispose();
    model.dispose();
  });
});
