// Opt-in: CHEXZOO_E2E_DIR=<dir written by tools/make_e2e_checkpoints.py> npx vitest run test/weights-e2e.test.ts
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadWeights } from '../src/weights/load.js';
import { createModel, getModelInfo, listModels } from '../src/zoo/registry.js';
import { maxAbsDiff } from './helpers/index.js';

const dir = process.env.CHEXZOO_E2E_DIR;

describe.skipIf(!dir)('torchvision state dicts load into the zoo and give torch logits', () => {
  for (const arch of listModels()) {
    const pth = dir ? join(dir, `${arch}.pth`) : '';
    it.skipIf(!dir || !existsSync(pth))(arch, async () => {
      const s = getModelInfo(arch).imageSize;
      const model = await createModel(arch, { inputShape: [s, s, 3] });
      const notes: string[] = [];
      const t0 = Date.now();
      await loadWeights(model, new Uint8Array(readFileSync(pth)), { log: (m) => notes.push(m) });
      const loadMs = Date.now() - t0;
      const f32 = (name: string): Float32Array => {
        const b = readFileSync(join(dir!, name));
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      };
      const x = f32(`${arch}.x.bin`);
      const y = f32(`${arch}.y.bin`);
      const out = tf.tidy(() => (model.predict(tf.tensor4d(x, [1, 3, s, s]).transpose([0, 2, 3, 1])) as tf.Tensor).dataSync());
      const maxDiff = maxAbsDiff(out, y);
      const maxRef = maxAbsDiff(y, new Float32Array(y.length));
      console.log(`${arch}: load ${loadMs} ms, max |diff| ${maxDiff.toExponential(2)} (max |logit| ${maxRef.toFixed(2)}) ${notes.join(' | ')}`);
      expect(maxDiff).toBeLessThan(1e-4 * Math.max(1, maxRef));
      expect(getModelInfo(arch).name).toBe(arch);
      model.dispose();
    });
  }
});

describe.skipIf(!dir || !existsSync(join(dir ?? '', 'resnet18.pth')))('zoo options with real checkpoints', () => {
  it('inChannels 1 sums the stem over RGB; another numClasses skips the head; numClasses 0 ignores it', async () => {
    const bytes = new Uint8Array(readFileSync(join(dir!, 'resnet18.pth')));
    const s = 224;
    const rgb = await createModel('resnet18', { inputShape: [s, s, 3] });
    await loadWeights(rgb, bytes, { log: () => {} });
    const gray = await createModel('resnet18', { inputShape: [s, s, 1], numClasses: 14 });
    const notes: string[] = [];
    await loadWeights(gray, bytes, { log: (m) => notes.push(m) });
    expect(notes.join('\n')).toMatch(/Summed 'conv1.weight'/);
    expect(notes.join('\n')).toMatch(/Skipped the classifier 'fc': the checkpoint has 1000 classes, the model 14/);
    const feats = await createModel('resnet18', { inputShape: [s, s, 1], numClasses: 0 });
    const r = await loadWeights(feats, bytes, { log: () => {} });
    expect(r.skipped.map((k) => k.key).sort()).toEqual(['fc.bias', 'fc.weight']);
    // pooled features of the gray model on x equal the RGB model's on x replicated (same weights up to the head)
    const rgbFeat = await createModel('resnet18', { inputShape: [s, s, 3], numClasses: 0 });
    await loadWeights(rgbFeat, bytes, { log: () => {} });
    const [a, b] = tf.tidy(() => {
      const x = tf.randomUniform([1, s, s, 1], 0, 1, 'float32', 5);
      return [(feats.predict(x) as tf.Tensor).dataSync(), (rgbFeat.predict(tf.tile(x, [1, 1, 1, 3])) as tf.Tensor).dataSync()];
    });
    let d = 0;
    for (let i = 0; i < a!.length; i++) d = Math.max(d, Math.abs(a![i]! - b![i]!));
    expect(d).toBeLessThan(1e-4);
  });
});
