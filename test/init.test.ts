// Random initialisation as the references draw it: per-tensor mean / std / (mean absolute deviation / std) of our seeded init against
// the reference's (tools/init_stats.py: torchvision 0.14 and timm built with three torch seeds), within
// sampling error; constant tensors (BatchNorm, zeroed biases) counted by value. Plus seeding: same seed, same
// weights; another seed, other weights.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, getModelInfo } from '../src/zoo/registry.js';
import { torchSlots } from '../src/weights/remap.js';
import { drawInit, initRule, type InitTarget } from '../src/zoo/init.js';
import { resetClassifier, truncate } from '../src/truncate.js';
import { leakCheck, readJsonFixture, tick } from './helpers/index.js';

interface Fixture {
  seeds: number[];
  archs: Record<string, { stats: Record<string, [number, number, number, number]>; constants: Record<string, number> }>;
}
const fixture = readJsonFixture<Fixture>('init/stats.json');
const S = fixture.seeds.length;

function moments(x: Float32Array): [number, number, number] {
  let m = 0;
  for (const v of x) m += v;
  m /= x.length;
  let m2 = 0;
  let m1 = 0;
  for (const v of x) {
    m2 += (v - m) ** 2;
    m1 += Math.abs(v - m);
  }
  const s = Math.sqrt(m2 / x.length);
  return [m, s, m1 / x.length / s];
}

/**
 * Which of our tensors fall outside 5 sampling standard errors of the reference's (mean, std, mad / std),
 * and the counts of constant tensors by value.
 */
function compare(model: tf.LayersModel, ref: Fixture['archs'][string]) {
  const bad: string[] = [];
  const constants: Record<string, number> = {};
  let checked = 0;
  for (const slot of torchSlots(model)) {
    const x = slot.variable.read().dataSync() as Float32Array;
    if (x.every((v) => v === x[0])) {
      constants[String(Number(x[0]).toFixed(1))] = (constants[String(Number(x[0]).toFixed(1))] ?? 0) + 1;
      if (ref.stats[slot.key]) bad.push(`${slot.key}: constant ${x[0]}, reference random`);
      continue;
    }
    const r = ref.stats[slot.key];
    if (!r) {
      bad.push(`${slot.key}: random, reference constant`);
      continue;
    }
    const [mr, sr, kr, n] = r;
    expect(x.length).toBe(n);
    const [m, s, k] = moments(x);
    // standard errors of our statistic minus the reference's seed average (normal case: the widest)
    const f = 1 + 1 / S;
    const tolMean = 5 * sr * Math.sqrt(f / n);
    const tolStd = 5 * sr * Math.sqrt((0.5 * f) / n) + 1e-7;
    // E|x - m| / std: 0.798 normal, 0.866 uniform; var(|z|) = 1 - 2/pi for a normal
    const tolMad = 5 * Math.sqrt(((1 - 2 / Math.PI) * f) / n);
    if (Math.abs(m - mr) > tolMean) bad.push(`${slot.key}: mean ${m} vs ${mr} (tol ${tolMean})`);
    if (Math.abs(s - sr) > tolStd) bad.push(`${slot.key}: std ${s} vs ${sr} (tol ${tolStd})`);
    if (tolMad < 0.05 && Math.abs(k - kr) > tolMad) bad.push(`${slot.key}: mad/std ${k} vs ${kr} (tol ${tolMad})`);
    checked++;
  }
  return { bad, constants, checked };
}

describe('random initialisation equals the reference (tools/init_stats.py)', () => {
  it.each(Object.keys(fixture.archs))('%s: every tensor within sampling error', async (arch) => {
    const size = Math.max(getModelInfo(arch).minImageSize, 32);
    const model = await createModel(arch, { inputShape: [size, size, 3], seed: 11 });
    await tick();
    try {
      const ref = fixture.archs[arch]!;
      const { bad, constants, checked } = compare(model, ref);
      expect(bad).toEqual([]);
      expect(checked).toBe(Object.keys(ref.stats).length);
      const want = Object.fromEntries(Object.entries(ref.constants).map(([v, c]) => [Number(v).toFixed(1), c]));
      expect(constants).toEqual(want);
    } finally {
      model.dispose();
    }
  });

  it('the tolerance rejects TF.js defaults (Glorot uniform) and Kaiming fan_in for fan_out', async () => {
    const model = await createModel('resnet18', { inputShape: [32, 32, 3], seed: 3 });
    try {
      const ref = fixture.archs['resnet18']!;
      // Glorot uniform, as tf.layers draw it
      for (const slot of torchSlots(model)) {
        if (!slot.key.endsWith('.weight') || slot.variable.shape.length < 2) continue;
        const v = tf.tidy(() => tf.initializers.glorotUniform({ seed: 1 }).apply(slot.variable.shape));
        slot.variable.write(v);
        v.dispose();
      }
      expect(compare(model, ref).bad.length).toBeGreaterThan(15);
      // Kaiming normal with the wrong fan (fan_in) on the convolutions: the ones whose fans differ are caught
      for (const slot of torchSlots(model)) {
        if (slot.variable.shape.length !== 4) continue;
        const [kh, kw, cin, cout] = slot.variable.shape as number[];
        const t: InitTarget = { key: slot.key, module: 'conv', param: 'weight', fanIn: cin! * kh! * kw!, fanOut: cin! * kh! * kw! };
        const v = tf.tensor(drawInit(initRule('resnet', 'resnet18', t), kh! * kw! * cin! * cout!, 3, slot.key), slot.variable.shape as number[]);
        slot.variable.write(v);
        v.dispose();
      }
      const bad = compare(model, ref).bad;
      expect(bad.some((b) => b.startsWith('conv1.weight: std'))).toBe(true);
      expect(bad.some((b) => b.startsWith('layer2.0.conv1.weight: std'))).toBe(true);
    } finally {
      model.dispose();
    }
  });
});

describe('seeded initialisation', () => {
  const values = async (seed: number | undefined) => {
    const m = await createModel('mobilenet_v3_small', { inputShape: [32, 32, 3], numClasses: 3, ...(seed !== undefined ? { seed } : {}) });
    const w = m.getWeights().map((t) => Array.from(t.dataSync()));
    m.dispose();
    return w;
  };

  it('the same seed gives the same weights, another seed or none other ones', async () => {
    const a = await values(5);
    expect(await values(5)).toEqual(a);
    const b = await values(6);
    const differ = (x: number[][], y: number[][]) => x.some((t, i) => t.some((v, j) => v !== y[i]![j]));
    expect(differ(a, b)).toBe(true);
    expect(differ(a, await values(undefined))).toBe(true);
  });

  it('truncate and resetClassifier draw the new Linear as the reference does, from seed', async () => {
    const m = await createModel('mobilenet_v2', { inputShape: [32, 32, 3], numClasses: 3, seed: 1 });
    const leaks = leakCheck();
    const t1 = truncate(m, 'features.10', { numClasses: 5, seed: 2 });
    const t2 = truncate(m, 'features.10', { numClasses: 5, seed: 2 });
    const r = resetClassifier(m, { numClasses: 4, seed: 9 });
    try {
      const fc = (x: tf.LayersModel) => x.getLayer('classifier.1').getWeights();
      const [k1, b1] = fc(t1);
      expect(Array.from(k1!.dataSync())).toEqual(Array.from(fc(t2)[0]!.dataSync()));
      expect(b1!.dataSync().every((v) => v === 0)).toBe(true);
      // MobileNet's Linear: normal(0, 0.01)
      const [, std] = moments(fc(r)[0]!.dataSync() as Float32Array);
      expect(std).toBeGreaterThan(0.009);
      expect(std).toBeLessThan(0.011);
    } finally {
      [t1, t2, r, m].forEach((x) => x.dispose());
    }
    leaks.check(-m.weights.length);
  });

  it('rejects a bad seed, dropout or stochastic depth with a clear error', async () => {
    await expect(createModel('resnet18', { seed: -1 })).rejects.toThrow(/seed must be a whole number/);
    await expect(createModel('resnet18', { dropout: 1 })).rejects.toThrow(/dropout must be a rate/);
    await expect(createModel('resnet18', { stochasticDepthProb: 0.1 })).rejects.toThrow(/EfficientNets only/);
  });
});
