import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { gatherStrided, permute, rowMajorStrides } from '../src/utils/strided.js';
import { torchLayout } from '../src/weights/layout.js';
import { torchSlots, modelToStateDict, type StateDict } from '../src/weights/remap.js';
import { loadWeights } from '../src/weights/load.js';
import { getSpec } from '../src/zoo/catalog.js';
import { rng } from '../src/utils/rng.js';

/** The definition, one element at a time. */
function naiveGather(src: Float32Array, offset: number, size: number[], stride: number[]): number[] {
  const n = size.reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let o = 0; o < n; o++) {
    let rem = o;
    let at = offset;
    for (let d = size.length - 1; d >= 0; d--) {
      at += (rem % size[d]!) * stride[d]!;
      rem = Math.floor(rem / size[d]!);
    }
    out.push(src[at]!);
  }
  return out;
}

describe('utils/strided: the one strided gather', () => {
  it('equals the definition on random views (contiguous runs, size-1 axes, offsets, transposes)', () => {
    const r = rng(7);
    const src = Float32Array.from({ length: 4096 }, (_, i) => i);
    for (let t = 0; t < 300; t++) {
      const rank = 1 + Math.floor(r() * 5);
      const size = Array.from({ length: rank }, () => 1 + Math.floor(r() * 4));
      // mostly row-major strides (so runs merge), sometimes permuted or padded ones
      let stride = rowMajorStrides(size);
      if (r() < 0.5) stride = stride.map((s) => s * (r() < 0.3 ? 2 : 1));
      if (r() < 0.3) stride = [...stride].reverse();
      const offset = Math.floor(r() * 100);
      expect(Array.from(gatherStrided(src, offset, size, stride)), `${size} / ${stride} @${offset}`).toEqual(naiveGather(src, offset, size, stride));
    }
    // into a given array, and zero-size views
    const out = new Float32Array(6);
    expect(gatherStrided(src, 1, [2, 3], [1, 2], out)).toBe(out);
    expect(Array.from(out)).toEqual([1, 3, 5, 2, 4, 6]);
    expect(gatherStrided(src, 0, [2, 0], [1, 1]).length).toBe(0);
  });

  it('permute equals tf.transpose', () => {
    const shape = [2, 3, 4, 5];
    const data = Float32Array.from({ length: 120 }, (_, i) => i * 0.5 - 7);
    for (const perm of [[3, 2, 0, 1], [2, 3, 1, 0], [2, 3, 0, 1], [0, 1, 2, 3], [1, 0, 3, 2]]) {
      const want = tf.tidy(() => tf.transpose(tf.tensor(data, shape), perm).dataSync());
      expect(Array.from(permute(data, shape, perm)), String(perm)).toEqual(Array.from(want));
    }
  });
});

describe('weights/layout: the one TF.js <-> PyTorch table', () => {
  it('maps every kind to the PyTorch shape and back without loss', () => {
    const cases: [string, number[], string, number[]][] = [
      ['kernel', [3, 5, 2, 4], 'weight', [4, 2, 3, 5]],
      ['depthwise_kernel', [3, 3, 4, 2], 'weight', [8, 1, 3, 3]],
      ['kernel', [6, 3], 'weight', [3, 6]],
      ['bias', [4], 'bias', [4]],
      ['beta', [4], 'bias', [4]],
      ['gamma', [4], 'weight', [4]],
      ['moving_mean', [4], 'running_mean', [4]],
      ['moving_variance', [4], 'running_var', [4]],
    ];
    for (const [kind, tfShape, suffix, torchShape] of cases) {
      const l = torchLayout(kind, tfShape)!;
      expect(l.suffix, kind).toBe(suffix);
      expect(l.torchShape, kind).toEqual(torchShape);
      const x = Float32Array.from({ length: tfShape.reduce((a, b) => a * b, 1) }, (_, i) => i);
      expect(Array.from(l.toTf(l.toTorch(x))), kind).toEqual(Array.from(x));
    }
    expect(torchLayout('embeddings', [4, 2])).toBeUndefined();
  });

  it('HWIO -> OIHW puts w[kh][kw][i][o] at [o][i][kh][kw]; depthwise channel c*M+m is input c, multiplier m', () => {
    const conv = torchLayout('kernel', [2, 2, 3, 4])!;
    const x = Float32Array.from({ length: 48 }, (_, i) => i);
    const t = conv.toTorch(x);
    const at = (kh: number, kw: number, i: number, o: number): number => ((kh * 2 + kw) * 3 + i) * 4 + o;
    expect(t[((1 * 3 + 2) * 2 + 0) * 2 + 1]).toBe(at(0, 1, 2, 1));
    const dw = torchLayout('depthwise_kernel', [1, 1, 3, 2])!;
    // TF [1, 1, C=3, M=2] -> torch [6, 1, 1, 1] with out channel c * M + m
    expect(Array.from(dw.toTorch(Float32Array.of(0, 1, 2, 3, 4, 5)))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a TF.js model directory loads through the same table (artifacts -> state dict -> model)', async () => {
    const make = (): tf.LayersModel => {
      const input = tf.input({ shape: [6, 6, 2] });
      let x = tf.layers.conv2d({ name: 'conv', filters: 3, kernelSize: 3 }).apply(input) as tf.SymbolicTensor;
      x = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2 }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.batchNormalization({ name: 'bn', betaInitializer: 'randomNormal', movingMeanInitializer: 'randomNormal' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.dense({ name: 'fc', units: 2 }).apply(x) as tf.SymbolicTensor });
    };
    const a = make();
    let artifacts: tf.io.ModelArtifacts | undefined;
    await a.save(tf.io.withSaveHandler(async (art) => ((artifacts = art), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const fresh = make();
    await loadWeights(fresh, artifacts!, { log: () => {} });
    const want = modelToStateDict(a);
    const got = modelToStateDict(fresh);
    expect([...got.keys()]).toEqual(torchSlots(a).map((s) => s.key));
    for (const [k, t] of want) expect(Array.from(got.get(k)!.data), k).toEqual(Array.from(t.data));
    a.dispose();
    fresh.dispose();
  });
});

describe('checkpoint filters belong to their family and are pure', () => {
  const t = (n: number) => ({ shape: [n], data: new Float32Array(n) });

  it("densenet's renames torchvision's old keys; inception_v3's drops AuxLogits the model lacks; the rest have none", () => {
    const dense = getSpec('densenet121').checkpointFilter!;
    const input: StateDict = new Map([
      ['features.denseblock1.denselayer1.norm.1.weight', t(2)],
      ['features.norm5.weight', t(2)],
    ]);
    const r = dense(input, new Set());
    expect([...r.dict.keys()]).toEqual(['features.denseblock1.denselayer1.norm1.weight', 'features.norm5.weight']);
    expect(r.notes.join()).toMatch(/DenseNet/);
    expect([...input.keys()][0]).toBe('features.denseblock1.denselayer1.norm.1.weight'); // input untouched

    const inc = getSpec('inception_v3').checkpointFilter!;
    const ck: StateDict = new Map([['AuxLogits.fc.weight', t(1)], ['fc.weight', t(1)]]);
    expect([...inc(ck, new Set(['fc.weight'])).dict.keys()]).toEqual(['fc.weight']);
    expect(inc(ck, new Set(['fc.weight'])).skipped).toEqual([{ key: 'AuxLogits.fc.weight', reason: 'ignored prefix AuxLogits.' }]);
    // a model that has an auxiliary head keeps it
    expect([...inc(ck, new Set(['AuxLogits.fc.weight', 'fc.weight'])).dict.keys()]).toEqual(['AuxLogits.fc.weight', 'fc.weight']);
    expect(ck.size).toBe(2);

    for (const name of ['resnet18', 'densenet169', 'efficientnet_b0', 'mobilenet_v2', 'mnasnet1_0', 'inception_v4']) {
      const has = getSpec(name).checkpointFilter !== undefined;
      expect(has, name).toBe(name.startsWith('densenet'));
    }
  });
});
