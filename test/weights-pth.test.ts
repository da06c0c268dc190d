import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadStateDict, loadWeights, WeightsMismatchError } from '../src/weights/load.js';
import { renameOldDenseNetKey } from '../src/zoo/densenet.js';
import { decodeElements } from '../src/weights/dtype.js';
import { readStridedTensor, parseTorchSave } from '../src/weights/pth.js';
import { modelToStateDict, type StateDict } from '../src/weights/remap.js';
import { encodeSafetensors, parseSafetensors } from '../src/weights/safetensors.js';
import { expectNoLeak, maxAbsDiff } from './helpers/index.js';
import { fixture, quiet, ref, run, tinyModel } from './weights-helpers.js';

async function outputsAfterLoading(file: string): Promise<Float32Array> {
  const model = tinyModel();
  const report = await loadWeights(model, fixture(file), quiet);
  expect(report.loaded.length).toBe(9);
  const out = run(model, ref.input, ref.inputShape);
  model.dispose();
  return out;
}

describe('torch.save and safetensors checkpoints give the reference logits', () => {
  for (const [file, expected] of [
    ['tiny.pth', 'output'],
    ['tiny_legacy.pth', 'output'],
    ['tiny_noncontig.pth', 'output'],
    ['tiny_wrapped.pth', 'output'],
    ['tiny.safetensors', 'output'],
    ['tiny_f16.pth', 'outputF16'],
    ['tiny_f16.safetensors', 'outputF16'],
  ] as const) {
    it(file, async () => {
      const out = await expectNoLeak(() => outputsAfterLoading(file));
      expect(maxAbsDiff(out, ref[expected])).toBeLessThan(1e-5);
    });
  }

  it('float16 checkpoints decode to the float32 weights rounded to half precision', () => {
    const f32 = parseTorchSave(fixture('tiny.pth')).dict;
    for (const f16 of [parseTorchSave(fixture('tiny_f16.pth')).dict, parseSafetensors(fixture('tiny_f16.safetensors')).dict]) {
      let differ = 0;
      for (const [k, t] of f32) {
        if (k.endsWith('num_batches_tracked')) continue;
        const h = f16.get(k)!.data;
        expect(h.length, k).toBe(t.data.length);
        t.data.forEach((v, i) => {
          // half keeps 11 significant bits: rounding moves a value by at most 2^-11 of it (2^-25 absolute below 2^-14)
          expect(Math.abs(h[i]! - v), `${k}[${i}]`).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
          if (h[i] !== v) differ++;
        });
      }
      // most float32 values are not representable in half: the decoder really read half-precision data
      expect(differ).toBeGreaterThan(50);
    }
  });

  it('reads the state dict keys and shapes torch wrote', () => {
    const { dict, format } = parseTorchSave(fixture('tiny.pth'));
    expect(format).toBe('pth');
    expect([...dict.keys()]).toEqual(ref.keys);
    expect(dict.get('dw.weight')!.shape).toEqual([8, 1, 3, 3]);
    expect(dict.get('bn1.num_batches_tracked')!.data[0]).toBe(7);
  });

  it('non-contiguous tensors equal their contiguous originals', () => {
    const a = parseTorchSave(fixture('tiny.pth')).dict;
    const b = parseTorchSave(fixture('tiny_noncontig.pth')).dict;
    for (const k of ['conv1.weight', 'fc.weight', 'dw.bias']) expect(Array.from(b.get(k)!.data)).toEqual(Array.from(a.get(k)!.data));
  });

  it('readStridedTensor honours offset and strides, and refuses out-of-range views', () => {
    const storage = Float32Array.from({ length: 12 }, (_, i) => i);
    expect(Array.from(readStridedTensor(storage, 1, [2, 3], [1, 2], 'x'))).toEqual([1, 3, 5, 2, 4, 6]);
    expect(() => readStridedTensor(storage, 5, [2, 4], [4, 1], 'x')).toThrow(/reaches past its storage/);
    expect(() => readStridedTensor(storage, 0, [1000, 1000], [0, 0], 'x')).toThrow(/more elements than its storage/);
  });

  it('refuses pickles that reference other globals, never executing them', async () => {
    await expect(loadWeights(tinyModel(), fixture('evil.pth'), quiet)).rejects.toThrow(/Refusing global 'posix\.system'/);
    await expect(loadWeights(tinyModel(), fixture('tiny_module.pth'), quiet)).rejects.toThrow(/Refusing global '__main__\.Tiny'.*state_dict/);
  });

  it('accepts an ArrayBuffer and a parsed state dict', async () => {
    const bytes = fixture('tiny.pth');
    const m = tinyModel();
    await loadWeights(m, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, quiet);
    expect(maxAbsDiff(run(m, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
    const m2 = tinyModel();
    await loadWeights(m2, parseTorchSave(bytes).dict, quiet);
    expect(maxAbsDiff(run(m2, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
  });
});

describe('element decoding', () => {
  it('float16, bfloat16 and int64 special values', () => {
    const h = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000]).buffer);
    const f = decodeElements(h, 'float16', 8);
    expect(Array.from(f.slice(0, 5))).toEqual([1, -2, 2 ** -24, Infinity, -Infinity]);
    expect(Number.isNaN(f[5])).toBe(true);
    expect(Object.is(f[7], -0)).toBe(true);
    const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc0a0]).buffer);
    expect(Array.from(decodeElements(bf, 'bfloat16', 2))).toEqual([1, -5]);
    const l = new Uint8Array(new BigInt64Array([7n, -3n]).buffer);
    expect(Array.from(decodeElements(l, 'int64', 2))).toEqual([7, -3]);
    expect(() => decodeElements(l, 'int64', 3)).toThrow(/truncated/);
  });
});

describe('mapping rules', () => {
  const dict = (): StateDict => parseTorchSave(fixture('tiny.pth')).dict;

  it('a 1-channel stem sums the first conv over RGB (grayscale input = RGB replicated)', () => {
    const model = tinyModel({ inChannels: 1 });
    const notes: string[] = [];
    loadStateDict(model, dict(), { log: (m) => notes.push(m) });
    expect(notes.join('\n')).toMatch(/Summed 'conv1.weight' over its RGB/);
    expect(maxAbsDiff(run(model, ref.gray, ref.grayShape), ref.outputGray)).toBeLessThan(1e-5);
  });

  it('skips a classifier with another number of classes, and says so', () => {
    const model = tinyModel({ classes: 3 });
    const fcBefore = Array.from(model.getLayer('fc').getWeights()[0]!.dataSync());
    const notes: string[] = [];
    const report = loadStateDict(model, dict(), { log: (m) => notes.push(m) });
    expect(notes.join('\n')).toMatch(/Skipped the classifier 'fc': the checkpoint has 5 classes, the model 3/);
    expect(report.skipped.map((s) => s.key).sort()).toEqual(['fc.bias', 'fc.weight']);
    expect(Array.from(model.getLayer('fc').getWeights()[0]!.dataSync())).toEqual(fcBefore);
    expect(report.loaded).toContain('conv1.weight');
  });

  it('with skipHead: false a different head is a shape error', () => {
    expect(() => loadStateDict(tinyModel({ classes: 3 }), dict(), { ...quiet, skipHead: false })).toThrow(/fc\.weight model \[3,8\] vs checkpoint \[5,8\]/);
  });

  it('labelOffset drops the background class of a 1001-class head (timm)', () => {
    const d = dict();
    const w = d.get('fc.weight')!;
    const b = d.get('fc.bias')!;
    d.set('fc.weight', { shape: [6, 8], data: Float32Array.from([...new Array(8).fill(9), ...w.data]) });
    d.set('fc.bias', { shape: [6], data: Float32Array.from([9, ...b.data]) });
    const model = tinyModel();
    loadStateDict(model, d, { ...quiet, labelOffset: 1 });
    expect(maxAbsDiff(run(model, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
  });

  it('strict loading lists every missing, unexpected and mismatched key in one error', () => {
    const d = dict();
    d.delete('bn1.running_var');
    d.set('extra.weight', { shape: [1], data: new Float32Array(1) });
    d.set('dw.bias', { shape: [7], data: new Float32Array(7) });
    let err: WeightsMismatchError | undefined;
    try {
      loadStateDict(tinyModel(), d, quiet);
    } catch (e) {
      err = e as WeightsMismatchError;
    }
    expect(err).toBeInstanceOf(WeightsMismatchError);
    expect(err!.missing).toEqual(['bn1.running_var']);
    expect(err!.unexpected).toEqual(['extra.weight']);
    expect(err!.mismatched.map((m) => m.key)).toEqual(['dw.bias']);
    expect(err!.message).toMatch(/missing.*bn1\.running_var.*not in the model.*extra\.weight.*shape mismatch.*dw\.bias/);
    const report = loadStateDict(tinyModel(), d, { ...quiet, strict: false });
    expect(report.loaded.length).toBe(7);
    expect(report.skipped.length).toBe(3);
  });

  it("inception_v3's filter ignores AuxLogits.* with a note; module. and num_batches_tracked are stripped", () => {
    const d = new Map([...dict()].map(([k, v]) => [`module.${k}`, v]));
    d.set('module.AuxLogits.fc.weight', { shape: [2, 2], data: new Float32Array(4) });
    const notes: string[] = [];
    const model = tinyModel();
    // AuxLogits are inception_v3's: for another architecture they are keys the model lacks
    expect(() => loadStateDict(tinyModel(), d, quiet)).toThrow(/not in the model \(1\): AuxLogits\.fc\.weight/);
    loadStateDict(model, d, { log: (m) => notes.push(m), arch: 'inception_v3' });
    expect(notes.join('\n')).toMatch(/module\./);
    expect(notes.join('\n')).toMatch(/Ignored 1 AuxLogits/);
    expect(maxAbsDiff(run(model, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
  });

  it("DenseNet's filter renames old torchvision keys", () => {
    expect(
      [
        'features.denseblock1.denselayer1.norm.1.weight',
        'features.denseblock4.denselayer16.conv.2.weight',
        'features.denseblock1.denselayer1.norm1.weight',
        'features.norm5.running_var',
      ].map(renameOldDenseNetKey),
    ).toEqual([
      'features.denseblock1.denselayer1.norm1.weight',
      'features.denseblock4.denselayer16.conv2.weight',
      'features.denseblock1.denselayer1.norm1.weight',
      'features.norm5.running_var',
    ]);
    const names = { conv1: 'features.denseblock1.denselayer1.conv1', bn1: 'features.denseblock1.denselayer1.norm1', dw: 'features.dw', fc: 'classifier' };
    const old = new Map(
      [...dict()].map(([k, v]) => [
        k.replace('conv1.', 'features.denseblock1.denselayer1.conv.1.').replace('bn1.', 'features.denseblock1.denselayer1.norm.1.').replace('dw.', 'features.dw.').replace('fc.', 'classifier.'),
        v,
      ]),
    );
    const model = tinyModel({ names });
    // the rename is DenseNet's checkpoint filter: it runs for densenet models (named so, or { arch })
    expect(() => loadStateDict(tinyModel({ names }), old, quiet)).toThrow(/missing from the checkpoint/);
    const report = loadStateDict(model, old, { ...quiet, arch: 'densenet121' });
    expect(report.notes.join()).toMatch(/DenseNet/);
    expect(maxAbsDiff(run(model, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
  });

  it('safetensors round trip of modelToStateDict keeps outputs identical', () => {
    const a = tinyModel();
    loadStateDict(a, dict(), quiet);
    const bytes = encodeSafetensors(modelToStateDict(a), { arch: 'tiny' });
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ arch: 'tiny' });
    const b = tinyModel();
    loadStateDict(b, parsed.dict, quiet);
    expect(Array.from(run(b, ref.input, ref.inputShape))).toEqual(Array.from(run(a, ref.input, ref.inputShape)));
  });
});
