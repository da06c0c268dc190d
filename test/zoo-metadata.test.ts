import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, getModelInfo, listModels } from '../src/zoo/registry.js';
import { getWeightsInfo, listWeights } from '../src/weights/manifest.js';
import { resetClassifier, truncate } from '../src/truncate.js';
import { modelToStateDict } from '../src/weights/remap.js';

// Model metadata has one source: the family files (params, blocks, minImageSize) and weights/manifest.json
// (top-1, the weights' input size). What still repeats them (the README table, the fixture list of
// tools/zoo_fixtures.py) is checked here, so a change to the source that misses a copy fails.
describe('model metadata: one source, copies checked', () => {
  it('getModelInfo takes top-1 and imageSize from the manifest', () => {
    expect(listWeights().sort()).toEqual(listModels().sort());
    for (const name of listModels()) {
      const info = getModelInfo(name);
      const w = getWeightsInfo(name);
      expect(info.top1, name).toBe(w.top1);
      expect(info.imageSize, name).toBe(w.cropSize);
      expect(info, name).not.toHaveProperty('build');
      expect(info, name).not.toHaveProperty('checkpointFilter');
    }
  });

  it("the README's model table says what getModelInfo says", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = new Map<string, string[]>();
    for (const line of readme.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      if (cells.length === 8 && listModels().includes(cells[1]!)) rows.set(cells[1]!, cells.slice(2, 7));
    }
    expect([...rows.keys()]).toEqual(listModels());
    for (const name of listModels()) {
      const info = getModelInfo(name);
      const [family, params, size, top1, reference] = rows.get(name)!;
      expect(family, name).toBe(info.family);
      expect(params, name).toBe(info.params.toLocaleString('en-US'));
      expect(Number(size), name).toBe(info.imageSize);
      expect(top1, name).toBe(info.top1.toFixed(3));
      expect(reference!.startsWith(info.reference), name).toBe(true);
    }
  });

  it('the fixture list of tools/zoo_fixtures.py (test/fixtures/zoo/meta.json, tools/dump_zoo_meta.ts) agrees', () => {
    const meta = JSON.parse(readFileSync(new URL('./fixtures/zoo/meta.json', import.meta.url), 'utf8')) as Record<string, { imageSize: number; family: string }>;
    expect(Object.keys(meta)).toEqual(listModels());
    for (const name of listModels()) expect(meta[name], name).toEqual({ imageSize: getModelInfo(name).imageSize, family: getModelInfo(name).family });
  });
});

describe('imageSize and the head options', () => {
  it('createModel takes imageSize (square side); default the weights\' size; not together with inputShape', async () => {
    const m = await createModel('mobilenet_v3_small', { imageSize: 40, inChannels: 1, seed: 1 });
    expect(m.inputs[0]!.shape).toEqual([null, 40, 40, 1]);
    m.dispose();
    await expect(createModel('resnet18', { imageSize: 40, inputShape: [40, 40, 3] })).rejects.toThrow(/imageSize .* or inputShape .*not both/);
    await expect(createModel('resnet18', { imageSize: 0 })).rejects.toThrow(/imageSize must be a positive whole number/);
    await expect(createModel('resnet18', { imageSize: 16 })).rejects.toThrow(/at least 32x32/);
  });

  it('resetClassifier takes the options truncate takes; the old positional numClasses still works', async () => {
    const m = await createModel('mobilenet_v3_small', { imageSize: 32, numClasses: 7, seed: 2 });
    const before = tf.memory().numTensors;
    const a = resetClassifier(m, { numClasses: 3, seed: 5 });
    const b = resetClassifier(m, 3, { seed: 5 });
    const same = resetClassifier(m, { seed: 5 }); // default: as many classes as the model has
    expect(a.outputs[0]!.shape).toEqual([null, 3]);
    expect(same.outputs[0]!.shape).toEqual([null, 7]);
    const da = modelToStateDict(a);
    const db = modelToStateDict(b);
    expect([...da.keys()]).toEqual([...db.keys()]);
    for (const [k, t] of da) expect(Array.from(db.get(k)!.data), k).toEqual(Array.from(t.data));
    const t = truncate(m, 'features.9', { numClasses: 3, seed: 5, pooling: 'max', dropout: 0.2 });
    const fm = truncate(m, 'features.9', { numClasses: 0 });
    const r = resetClassifier(fm, { numClasses: 3, seed: 5, pooling: 'max', dropout: 0.2 });
    expect(r.layers.map((l) => l.getClassName())).toEqual(t.layers.map((l) => l.getClassName()));
    for (const x of [a, b, same, t, fm, r]) x.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
    m.dispose();
  });
});
