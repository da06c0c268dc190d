// The demo's torchxrayvision path (examples/browser/xrv.ts) in Node: the reduced torchxrayvision DenseNet of
// test/fixtures/xrv on the grey radiograph gives torchxrayvision's calibrated outputs (its preprocessing at 64 px,
// forward with op_threshs: tools/make_xrv_fixtures.py), and a Grad-CAM map.
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeXrv, tryLoadXrv } from '../examples/browser/xrv.js';
import { ensureBackend } from '../src/backend/index.js';
import { loadWeights } from '../src/weights/load.js';
import { getOutputInfo } from '../src/weights/outputs.js';
import { buildDenseNet } from '../src/zoo/densenet.js';
import { fixtureUrl, readFixture, readJsonFixture, relErr } from './helpers/index.js';

const ref = readJsonFixture<{ demo: { image: string; size: number; calibrated: number[] }; pathologies: string[] }>('xrv/xrv_ref.json');

beforeAll(async () => {
  await ensureBackend();
});

describe('the demo page on a torchxrayvision checkpoint', () => {
  it("shows torchxrayvision's calibrated probabilities of the 18 pathologies and a Grad-CAM map", async () => {
    // named after its family so that blocks() / Grad-CAM know its stages (same names as DenseNet-121's)
    const model = buildDenseNet(8, [1, 2, 2, 1], 16, { name: 'densenet121', numClasses: 18, inputShape: [64, 64, 1] });
    await loadWeights(model, readFixture('xrv/xrv_tiny_densenet_zip.pt'), { log: () => {} });
    const outputs = getOutputInfo(model)!;
    expect(outputs.labels).toEqual(ref.pathologies);
    const { data, info } = await sharp(fileURLToPath(fixtureUrl(`xrv/${ref.demo.image}`))).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const grey = tf.tensor3d(Int32Array.from(data), [info.height, info.width, 1], 'int32');
    const rgb = tf.tile(grey, [1, 1, 3]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const r = await analyzeXrv({ model, outputs }, rgb);
    expect(tf.memory().numTensors).toBe(before);
    // the fixture's operating points leave output 14 (Lung Lesion) without one, as several torchxrayvision weights do
    expect(r.probabilities.map((p) => p.task)).toEqual(ref.pathologies.map((t, i) => (i === 14 ? `${t} (no operating point)` : t)));
    const ours = r.probabilities.map((p) => p.probability);
    expect(relErr(ours, ref.demo.calibrated)).toBeLessThanOrEqual(1e-4);
    expect(r.cam.heatmap.length).toBe(64 * 64);
    expect(r.inputRgba.length).toBe(64 * 64 * 4);
    tf.dispose([grey, rgb]);
    model.dispose();
  });

  it('leaves other checkpoints to the ordinary path', async () => {
    expect(await tryLoadXrv(readFixture('weights/tiny.pth'), 'tiny.pth')).toBeUndefined();
    expect(await tryLoadXrv(new Uint8Array([1, 2, 3]), 'x.pt')).toBeUndefined();
    // the reduced DenseNet is no DenseNet-121: not taken for a torchxrayvision release model
    expect(await tryLoadXrv(readFixture('xrv/xrv_tiny_densenet_zip.pt'), 'xrv_tiny_densenet_zip.pt')).toBeUndefined();
  });
});
