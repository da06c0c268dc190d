// preprocess(image, 'xrv-all') against torchxrayvision's normalize + XRayCenterCrop + XRayResizer(224) (skimage 0.19,
// scipy 1.10) on a grey 8-bit radiograph-like PNG (600 x 520): test/fixtures/xrv/ from tools/make_xrv_fixtures.py.
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBackend } from '../src/backend/index.js';
import { preprocess } from '../src/weights/preprocess.js';
import { fileURLToPath } from 'node:url';
import { fixtureUrl, readFixture, readJsonFixture } from './helpers/index.js';

const ref = readJsonFixture<{ preprocess: { image: string; shape: [number, number]; output: string; size: number } }>('xrv/xrv_ref.json').preprocess;

beforeAll(async () => {
  await ensureBackend();
});

describe("preprocess(image, 'xrv-all') is torchxrayvision's preprocessing", () => {
  it('equals normalize + XRayCenterCrop + XRayResizer(224) on a grey radiograph (max abs diff < 1e-3 of the 2048 range; measured 6e-5, one float32 step)', async () => {
    const { data, info } = await sharp(fileURLToPath(fixtureUrl(`xrv/${ref.image}`))).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([info.height, info.width, info.channels]).toEqual([...ref.shape, 1]);
    const img = tf.tensor3d(Int32Array.from(data), [info.height, info.width, 1], 'int32');
    const before = tf.memory().numTensors;
    const x = preprocess(img, 'xrv-all');
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(x.shape).toEqual([1, 224, 224, 1]);
    const ours = x.dataSync();
    const bytes = readFixture(`xrv/${ref.output}`);
    const theirs = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    let max = 0;
    let sum = 0;
    for (let i = 0; i < theirs.length; i++) {
      const d = Math.abs(ours[i]! - theirs[i]!);
      max = Math.max(max, d);
      sum += d;
    }
    console.log(`xrv preprocess vs torchxrayvision: mean |diff| ${(sum / theirs.length).toExponential(2)}, max ${max.toExponential(2)} (units of [-1024, 1024])`);
    expect(max).toBeLessThan(1e-3);
    // an RGB copy of the grey image gives the same (the channels' mean)
    const rgb = tf.tile(img, [1, 1, 3]) as tf.Tensor3D;
    const x3 = preprocess(rgb, 'xrv-all');
    expect(Array.from(x3.dataSync())).toEqual(Array.from(ours));
    tf.dispose([img, x, rgb, x3]);
  });

  it('a pixel above the white level is an error that names the fix', () => {
    const img = tf.tensor3d([300, 0, 0, 0], [2, 2, 1], 'int32');
    expect(() => preprocess(img, 'xrv-all')).toThrow(/above the white level 255; pass maxPixelValue/);
    img.dispose();
  });
});
