import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNodeWeightsResolver } from '../src/node/weights/fetch-node.js';
import { loadModel, saveModel } from '../src/node/weights/fs-io.js';
import { loadWeights } from '../src/weights/load.js';
import { getWeightsInfo, listWeights } from '../src/weights/manifest.js';
import { preprocess } from '../src/weights/preprocess.js';
import { setWeightsResolver } from '../src/weights/resolver.js';
import { createModel } from '../src/zoo/registry.js';
import { leakCheck, maxAbsDiff, readJsonFixture } from './helpers/index.js';
import { FIX, quiet, ref, run, tinyModel } from './weights-helpers.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'chexzoo-io-'));
  installNodeWeightsResolver();
});
afterAll(() => {
  setWeightsResolver(undefined);
  rmSync(tmp, { recursive: true, force: true });
});

describe('saveModel / loadModel (file system, no tfjs-node)', () => {
  it('round trip of a model with custom zoo layers gives identical outputs', async () => {
    const model = await createModel('mobilenet_v3_small', { numClasses: 3, inputShape: [64, 64, 3] });
    const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 3);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const dir = join(tmp, 'mnv3');
    await saveModel(model, dir);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const back = await loadModel(dir);
    const b = (back.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(back.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    // overwriting an existing model directory works and leaves no temporary siblings
    await saveModel(back, dir);
    expect(readdirSync(tmp).filter((n) => n.startsWith('.'))).toEqual([]);
    tf.dispose(x);
    model.dispose();
    back.dispose();
  });

  it('refuses to overwrite a directory that is not a saved model', async () => {
    const dir = join(tmp, 'other');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'keep me');
    await expect(saveModel(tinyModel(), dir)).rejects.toThrow(/Refusing to overwrite/);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('loadModel on a missing directory says what is wrong', async () => {
    await expect(loadModel(join(tmp, 'nope'))).rejects.toThrow(/No TF\.js model at .*saveModel/);
  });

  it('loadWeights reads a TF.js model directory written by saveModel (and by path to .pth)', async () => {
    const src = tinyModel();
    await loadWeights(src, new URL('tiny.pth', FIX).pathname, quiet);
    const dir = join(tmp, 'tiny');
    await saveModel(src, dir);
    const dst = tinyModel();
    const report = await loadWeights(dst, dir, quiet);
    expect(report.format).toBe('tfjs');
    expect(maxAbsDiff(run(dst, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
    // a model with another head: the head is skipped, the rest loads
    const other = tinyModel({ classes: 2 });
    const r2 = await loadWeights(other, join(dir, 'model.json'), quiet);
    expect(r2.notes.join()).toMatch(/Skipped the classifier 'fc'/);
  });

  it('a missing weights file gives a clear error', async () => {
    await expect(loadWeights(tinyModel(), join(tmp, 'missing.pth'), quiet)).rejects.toThrow(/Weights file not found/);
  });

  it('without the Node resolver, paths are refused with advice', async () => {
    setWeightsResolver(undefined);
    try {
      await expect(loadWeights(tinyModel(), 'some/file.pth', quiet)).rejects.toThrow(/needs Node.*@chexzoo\/models\/node/);
    } finally {
      installNodeWeightsResolver();
    }
  });
});

describe('manifest', () => {
  it('covers the 17 architectures with consistent metadata', () => {
    const names = listWeights();
    expect(names.length).toBe(17);
    for (const n of names) {
      const w = getWeightsInfo(n);
      expect(w.url).toMatch(/^https:\/\//);
      expect(w.url.endsWith(w.fileName)).toBe(true);
      if (w.sha256Prefix) expect(w.fileName).toContain(`-${w.sha256Prefix}.`);
      expect(w.resizeSize).toBeGreaterThanOrEqual(w.cropSize);
      expect(w.mean.length).toBe(3);
      expect(w.top1).toBeGreaterThan(60);
      expect(w.headKeyPrefixes.length).toBeGreaterThan(0);
    }
    expect(getWeightsInfo('inception_v4').labelOffset).toBe(1);
    expect(() => getWeightsInfo('vgg16')).toThrow(/No registered weights for architecture 'vgg16'/);
  });
});

describe('preprocess', () => {
  const pre = readJsonFixture<{
    image: number[];
    imageShape: [number, number, number];
    spec: { resizeSize: number; cropSize: number; interpolation: 'bilinear'; mean: number[]; std: number[] };
    output: number[];
  }>('weights/preprocess_ref.json');

  it("antialias: false matches torchvision's ImageClassification tensor path (antialias=False) on a uint8 image", () => {
    const leaks = leakCheck();
    const img = tf.tensor3d(pre.image, pre.imageShape, 'int32');
    const y = preprocess(img, pre.spec, { antialias: false });
    expect(y.shape).toEqual([1, 24, 24, 3]);
    const out = y.dataSync();
    // uint8 rounding after resize: a value within float error of .5 may land on the other pixel value
    const off = Array.from(out).filter((v, i) => Math.abs(v - pre.output[i]!) > 1e-4).length;
    expect(off).toBeLessThanOrEqual(3);
    expect(maxAbsDiff(out, pre.output)).toBeLessThan(1.01 / 255 / 0.224);
    tf.dispose([img, y]);
    leaks.check();
  });

  it('uses the registered metadata by architecture name, and handles gray images', () => {
    const img = tf.fill([300, 400, 1], 128, 'int32') as tf.Tensor3D;
    const y = preprocess(img, 'inception_v4');
    expect(y.shape).toEqual([1, 299, 299, 1]);
    expect(y.dataSync()[0]).toBeCloseTo((128 / 255 - 0.5) / 0.5, 5);
    const y3 = preprocess(img, 'resnet18', { channels: 3 });
    expect(y3.shape).toEqual([1, 224, 224, 3]);
    expect(Array.from(y3.dataSync().slice(0, 3)).map((v) => +v.toFixed(4))).toEqual(
      [0, 1, 2].map((c) => +((128 / 255 - [0.485, 0.456, 0.406][c]!) / [0.229, 0.224, 0.225][c]!).toFixed(4)),
    );
    tf.dispose([img, y, y3]);
  });
});

