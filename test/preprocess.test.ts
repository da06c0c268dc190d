// Preprocessing against torchvision 0.14 + PIL (fixtures by tools/make_preprocess_fixtures.py).
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { preprocess } from '../src/weights/preprocess.js';
import { getPreprocessConfig } from '../src/weights/manifest.js';
import { centerCropOffsets, resizeGray8 } from '../src/utils/resample.js';
import { decodeGray, loadImage } from '../src/node/data/images.js';
import { leakCheck, readFixture, readJsonFixture } from './helpers/index.js';

interface Case {
  resizeSize: number;
  cropSize: number;
  interpolation: 'bilinear' | 'bicubic';
  mean: number[];
  std: number[];
  shape: number[];
  rowSums: number[];
  colSums: number[];
  sampleIndex: number[];
  sample: number[];
}
const REF = readJsonFixture<{ cases: Record<string, Case> }>('preprocess/reference.json');
const u8 = (name: string) => new Uint8Array(gunzipSync(readFixture(`preprocess/${name}.u8.gz`)));

// The fixture's input, in the same integer arithmetic as tools/make_preprocess_fixtures.py.
const H = 900;
const W = 1200;
function testImage(): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const hi = ((x * 7 + y * 13) % 17) * 8;
      const ramps = [Math.floor((x * 127) / (W - 1)), Math.floor((y * 127) / (H - 1)), Math.floor(((x + y) * 127) / (W + H - 2))];
      for (let c = 0; c < 3; c++) out[(y * W + x) * 3 + c] = hi + ramps[c]!;
    }
  }
  return out;
}
const IMG = testImage();

function stats(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; max: number } {
  expect(a.length).toBe(b.length);
  let s = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    s += d;
    m = Math.max(m, d);
  }
  return { mean: s / a.length, max: m };
}

describe("preprocess equals torchvision's transforms() on a PIL image", () => {
  for (const arch of ['resnet18', 'inception_v3', 'efficientnet_b0']) {
    it(`${arch}: mean |diff| <= 0.01 and max <= 0.05 over the whole 1200x900 image`, () => {
      const ref = REF.cases[arch]!;
      const cfg = getPreprocessConfig(arch);
      expect([cfg.resizeSize, cfg.cropSize, cfg.interpolation, cfg.mean, cfg.std]).toEqual([ref.resizeSize, ref.cropSize, ref.interpolation, ref.mean, ref.std]);
      const leaks = leakCheck();
      const img = tf.tensor3d(IMG, [H, W, 3], 'int32');
      const y = preprocess(img, arch);
      const out = y.dataSync();
      tf.dispose([img, y]);
      leaks.check();
      const [c] = ref.shape as [number, number, number];
      expect(out.length).toBe(c * c * 3);
      // dense random sample of the normalised output
      const s = stats(ref.sampleIndex.map((i) => out[i]!), ref.sample);
      expect(s.mean).toBeLessThanOrEqual(0.01);
      expect(s.max).toBeLessThanOrEqual(0.05);
      // every pixel enters the row and column sums: their mean per-pixel deviation stays under the bound
      const rows = Array.from({ length: c }, (_, r) => Array.from(out.subarray(r * c * 3, (r + 1) * c * 3)).reduce((a, b) => a + b, 0));
      const cols = new Float64Array(c * 3);
      for (let i = 0; i < out.length; i++) cols[i % (c * 3)] += out[i]!;
      expect(stats(rows, ref.rowSums).max / (c * 3)).toBeLessThanOrEqual(0.01);
      expect(stats(cols, ref.colSums).max / c).toBeLessThanOrEqual(0.01);
      if (arch === 'resnet18') {
        // the whole image: PIL's 8-bit output, normalised as torchvision does
        const px = u8(arch);
        const want = Float32Array.from(px, (v, i) => (v / 255 - ref.mean[i % 3]!) / ref.std[i % 3]!);
        const all = stats(out, want);
        expect(all.mean).toBeLessThanOrEqual(0.001);
        expect(all.max).toBeLessThanOrEqual(0.05);
      }
    });
  }

  it('antialias: false keeps the old unfiltered resize (torchvision tensor path), far from the PIL path', () => {
    const img = tf.tensor3d(IMG, [H, W, 3], 'int32');
    const y = preprocess(img, 'resnet18', { antialias: false });
    const ref = REF.cases.resnet18!;
    const px = u8('resnet18');
    const want = Float32Array.from(px, (v, i) => (v / 255 - ref.mean[i % 3]!) / ref.std[i % 3]!);
    expect(stats(y.dataSync(), want).mean).toBeGreaterThan(0.1);
    tf.dispose([img, y]);
  });

  it('float input in [0, 1] gives the same result within float rounding', () => {
    const img = tf.tidy(() => tf.div(tf.tensor3d(IMG, [H, W, 3], 'float32'), 255)) as tf.Tensor3D;
    const y = preprocess(img, 'resnet18');
    const px = u8('resnet18');
    const ref = REF.cases.resnet18!;
    const want = Float32Array.from(px, (v, i) => (v / 255 - ref.mean[i % 3]!) / ref.std[i % 3]!);
    const s = stats(y.dataSync(), want);
    // no 8-bit rounding between and after the passes (PIL rounds twice): within one level
    expect(s.max).toBeLessThanOrEqual(1 / 255 / 0.224 + 1e-4);
    expect(s.mean).toBeLessThanOrEqual(0.01);
    tf.dispose([img, y]);
  });
});

describe('the data pipeline resizes as PIL does', () => {
  const gray = new Uint8Array(H * W);
  for (let i = 0; i < H * W; i++) gray[i] = (IMG[3 * i]! * 19595 + IMG[3 * i + 1]! * 38470 + IMG[3 * i + 2]! * 7471 + 0x8000) >>> 16;

  it('resizeGray8 equals PIL pixel for pixel (224 and 64, centre crop)', () => {
    for (const size of [224, 64]) {
      const rw = Math.floor((size * W) / H);
      const [, left] = centerCropOffsets(size, rw, size, size);
      const got = resizeGray8(gray, H, W, size, rw, 'bilinear', [0, left, size, size]);
      expect(stats(got, u8(`gray${size}`)).max).toBe(0);
    }
  });

  it('decodeGray of an RGB PNG equals PIL convert("L") + Resize + CenterCrop exactly; loadImage normalises per arch', async () => {
    const png = await sharp(Buffer.from(IMG), { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
    for (const size of [224, 64]) {
      const g = await decodeGray(png, { size });
      expect([g.height, g.width]).toEqual([size, size]);
      expect(stats(g.data, u8(`gray${size}`)).max).toBe(0);
    }
    const grayPng = await sharp(Buffer.from(gray), { raw: { width: W, height: H, channels: 1 } }).png({ compressionLevel: 1 }).toBuffer();
    const g = await decodeGray(grayPng, { size: 224 });
    expect(stats(g.data, u8('gray224')).max).toBe(0);
    const cfg = getPreprocessConfig('inception_v3');
    const x = await loadImage(grayPng, { size: 64, channels: 1, mean: cfg.mean, std: cfg.std });
    const want = Float32Array.from(u8('gray64'), (v) => (v / 255 - 0.5) / 0.5);
    expect(stats(x, want).max).toBeLessThan(1e-6);
  });
});

describe('one per-architecture preprocessing config (issue 10, point 12)', () => {
  it('getPreprocessConfig reads the manifest: inception_v3/v4 use mean = std = 0.5, the others ImageNet', () => {
    for (const arch of ['inception_v3', 'inception_v4']) expect([getPreprocessConfig(arch).mean, getPreprocessConfig(arch).std]).toEqual([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]);
    expect(getPreprocessConfig('resnet18')).toMatchObject({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resizeSize: 256, cropSize: 224, interpolation: 'bilinear' });
    expect(getPreprocessConfig('efficientnet_b3')).toMatchObject({ resizeSize: 320, cropSize: 300, interpolation: 'bicubic' });
    expect(() => getPreprocessConfig('vgg16')).toThrow(/No registered weights for architecture 'vgg16'/);
    // a copy: callers cannot change the manifest
    getPreprocessConfig('resnet18').mean[0] = 9;
    expect(getPreprocessConfig('resnet18').mean[0]).toBe(0.485);
  });

  it("loadChexpert({ arch }) normalises with the arch's statistics (inception: (p - 0.5) / 0.5)", async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { writeSynthDataset } = await import('../src/node/data/synth-node.js');
    const { loadChexpert } = await import('../src/node/data/dataset.js');
    const dir = mkdtempSync(join(tmpdir(), 'chexzoo-pre-'));
    try {
      await writeSynthDataset(dir, { train: 4, valid: 4, size: 40, seed: 1 });
      const opts = { split: 'valid', imageSize: 32, batchSize: 4, channels: 1 } as const;
      const inc = await loadChexpert(dir, { ...opts, arch: 'inception_v3' });
      const res = await loadChexpert(dir, { ...opts, arch: 'resnet18' });
      const first = async (ds: typeof inc) => {
        for await (const b of ds.batches(0)) {
          const x = b.x.dataSync().slice();
          tf.dispose([b.x, b.y, b.mask]);
          return x;
        }
        throw new Error('no batch');
      };
      const [xi, xr] = [await first(inc), await first(res)];
      const g = await decodeGray(join(inc.root, inc.records[0]!.path.split('/').slice(1).join('/')), { size: 32 });
      const want = Float32Array.from(g.data, (v) => (v / 255 - 0.5) / 0.5);
      expect(stats(xi.subarray(0, 32 * 32), want).max).toBeLessThan(1e-6);
      const m = (0.485 + 0.456 + 0.406) / 3;
      const s = (0.229 + 0.224 + 0.225) / 3;
      expect(stats(xr.subarray(0, 32 * 32), Float32Array.from(g.data, (v) => (v / 255 - m) / s)).max).toBeLessThan(1e-5);
      // without imageSize the arch's crop size is used
      const full = await loadChexpert(dir, { split: 'valid', arch: 'inception_v3' });
      expect(full.imageShape).toEqual([299, 299, 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
