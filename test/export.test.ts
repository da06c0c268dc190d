// Export back to PyTorch: the .safetensors a zoo model exports is exactly the file torch 1.13 / torchvision 0.14
// loaded with load_state_dict(strict=True) in tools/make_export_fixtures.py, and torch's logits from it equal ours.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { runExport } from '../src/cli/export.js';
import { createModel } from '../src/zoo/registry.js';
import { featureExtractor } from '../src/truncate.js';
import { exportStateDict, toSafetensors } from '../src/weights/export.js';
import { saveSafetensors } from '../src/node/weights/export-node.js';
import { saveModel } from '../src/node/weights/fs-io.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { EXPORT_CASES } from './helpers/export-cases.js';
import { formulaInput } from './helpers/formula.js';
import { leakCheck, readJsonFixture, relErr } from './helpers/index.js';

interface Fixture {
  cases: Record<string, { sha256: string; size: number; tensors: number; logits: number[]; metadata: Record<string, string> }>;
}
const fixture = readJsonFixture<Fixture>('export/meta.json');
const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('export to PyTorch (.safetensors)', () => {
  it('covers every fixture case', () => {
    expect(Object.keys(fixture.cases).sort()).toEqual(EXPORT_CASES.map((c) => c.name).sort());
  });

  for (const c of EXPORT_CASES) {
    it(`${c.name}: torch loads our file strictly and gives our logits`, async () => {
      const ref = fixture.cases[c.name]!;
      const model = await c.build();
      const leaks = leakCheck();
      const bytes = toSafetensors(model);
      leaks.check();
      // the same bytes torch loaded: keys, layouts and values exactly as in the fixture run
      expect(sha256(bytes)).toBe(ref.sha256);
      const parsed = parseSafetensors(bytes);
      expect(parsed.metadata).toEqual(ref.metadata);
      const x = formulaInput(c.size, c.size);
      const y = model.predict(x) as tf.Tensor;
      const ours = Array.from(await y.data());
      tf.dispose([x, y]);
      expect(relErr(ours, ref.logits)).toBeLessThan(1e-4);
      model.dispose();
    });
  }

  it('exportStateDict names every BatchNorm statistic and converts layouts (OIHW, [out, in])', async () => {
    const model = await createModel('resnet18', { numClasses: 5, inputShape: [32, 32, 3] });
    const { stateDict, metadata } = exportStateDict(model);
    expect(metadata).toMatchObject({ arch: 'resnet18', block: '', num_classes: '5' });
    expect(stateDict.get('conv1.weight')!.shape).toEqual([64, 3, 7, 7]);
    expect(stateDict.get('fc.weight')!.shape).toEqual([5, 512]);
    expect(stateDict.has('layer4.1.bn2.running_var')).toBe(true);
    // conv1.weight[o, i, h, w] = kernel[h, w, i, o]
    const kernel = model.getLayer('conv1').getWeights()[0]!;
    const k = (await kernel.data()) as Float32Array;
    const w = stateDict.get('conv1.weight')!.data;
    const [o, i, h, ww] = [7, 2, 3, 5];
    expect(w[((o * 3 + i) * 7 + h) * 7 + ww]).toBe(k[((h * 7 + ww) * 3 + i) * 64 + o]);
    model.dispose();
  });

  it('refuses what it cannot describe: non-zoo models and multi-output feature extractors', async () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const plain = tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 2, kernelSize: 3 }).apply(input) as tf.SymbolicTensor, name: 'mine' });
    expect(() => toSafetensors(plain)).toThrow(/not a zoo model.*createModel/);
    const model = await createModel('resnet18', { numClasses: 0, inputShape: [32, 32, 3] });
    const feats = featureExtractor(model, ['layer1', 'layer2']);
    expect(() => toSafetensors(feats)).toThrow(/feature extractor/);
    for (const m of [plain, model, feats]) m.dispose();
  });

  it('saveSafetensors writes the file atomically and insists on the extension', async () => {
    const model = await EXPORT_CASES[0]!.build();
    const path = join(tmp, 'r18.safetensors');
    await saveSafetensors(model, path);
    expect(sha256(readFileSync(path))).toBe(fixture.cases[EXPORT_CASES[0]!.name]!.sha256);
    await expect(saveSafetensors(model, join(tmp, 'r18.pt'))).rejects.toThrow(/must end in \.safetensors/);
    model.dispose();
  });

  it('chexzoo export --run / --model writes the same file; bad flags exit 2, a missing model exits 1', async () => {
    const c = EXPORT_CASES[0]!;
    const model = await c.build();
    const run = join(tmp, 'run');
    await saveModel(model, join(run, 'model'));
    model.dispose();
    const out = join(tmp, 'cli.safetensors');
    const writes: string[] = [];
    const orig = { out: process.stdout.write, err: process.stderr.write };
    process.stdout.write = ((s: string) => (writes.push(s), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => (writes.push(s), true)) as typeof process.stderr.write;
    try {
      expect(await runExport(['--run', run, '--out', out])).toBe(0);
      expect(sha256(readFileSync(out))).toBe(fixture.cases[c.name]!.sha256);
      expect(await runExport(['--model', join(run, 'model'), '--out', out])).toBe(0);
      expect(sha256(readFileSync(out))).toBe(fixture.cases[c.name]!.sha256);
      expect(await runExport(['--run', run])).toBe(2);
      expect(await runExport(['--run', run, '--model', run, '--out', out])).toBe(2);
      expect(await runExport(['--run', run, '--out', join(tmp, 'x.bin')])).toBe(2);
      expect(await runExport(['--run', join(tmp, 'nope'), '--out', out])).toBe(1);
    } finally {
      process.stdout.write = orig.out;
      process.stderr.write = orig.err;
    }
    expect(writes.join('')).toMatch(/no saved model at .*nope/);
  });
});
