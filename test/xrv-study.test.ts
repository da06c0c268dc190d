// The study's third init arm, --init cxr (in-domain chest X-ray pretraining, beyond the paper): torchxrayvision's
// weights for the architectures that have them (densenet121: xrv-all, resnet50: xrv-res512-all), skipped with the
// reason otherwise; a run on them takes their normalisation, and their 1-channel stem serves the RGB pipeline.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBackend } from '../src/backend/index.js';
import { writeSynthDataset } from '../src/node/data/synth-node.js';
import { runStudy } from '../src/node/study/run.js';
import { resolveRunConfig } from '../src/node/train/run.js';
import { buildStudyGrid, CXR_WEIGHTS } from '../src/study/grid.js';
import { loadWeights } from '../src/weights/load.js';
import { buildDenseNet } from '../src/zoo/densenet.js';
import { readFixture, readJsonFixture, relErr } from './helpers/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-xrv-study-'));
const env = { CHEXZOO_CACHE: process.env.CHEXZOO_CACHE, CHEXZOO_OFFLINE: process.env.CHEXZOO_OFFLINE, CHEXZOO_WEIGHTS_MIRROR: process.env.CHEXZOO_WEIGHTS_MIRROR };

beforeAll(async () => {
  await ensureBackend();
  process.env.CHEXZOO_CACHE = join(tmp, 'cache');
  await writeSynthDataset(join(tmp, 'data'), { train: 8, valid: 8, size: 32, seed: 1 });
});
afterAll(() => {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('--init cxr', () => {
  it('is a grid init; runs without chest X-ray weights, or offline without them, are skipped with the reason', async () => {
    expect(buildStudyGrid({ archs: ['densenet121'], inits: ['cxr'], truncate: 'none' }).map((r) => r.id)).toEqual(['densenet121.cxr.full.s0']);
    expect(() => buildStudyGrid({ inits: ['xray' as never] })).toThrow(/Valid: imagenet, random, cxr/);
    process.env.CHEXZOO_OFFLINE = '1';
    delete process.env.CHEXZOO_WEIGHTS_MIRROR;
    const out = join(tmp, 'study');
    await expect(
      runStudy({ data: join(tmp, 'data'), out, archs: ['resnet18', 'densenet121'], inits: ['cxr'], truncate: 'none', maxSteps: 1, imageSize: 32, batchSize: 4, log: () => {}, barStream: null }),
    ).rejects.toThrow(/No finished runs/);
    const reason = (id: string): string => (JSON.parse(readFileSync(join(out, 'runs', id, 'study.json'), 'utf8')) as { status: string; reason: string }).reason;
    expect(reason('resnet18.cxr.full.s0')).toBe('no chest X-ray weights are registered for resnet18 (the cxr init has: densenet121, resnet50)');
    expect(reason('densenet121.cxr.full.s0')).toMatch(/^chest X-ray weights xrv-all unavailable \(Offline mode/);
  });

  it("a cxr run takes the weights' normalisation to [-1024, 1024]", () => {
    const c = resolveRunConfig({ arch: 'densenet121', data: join(tmp, 'data'), weights: CXR_WEIGHTS.densenet121!, maxSteps: 1 });
    expect(c.weights).toBe('xrv-all');
    expect(c.preprocess).toMatchObject({ mean: [0.5], std: [1 / 2048] });
  });

  it("the grey checkpoint in an RGB model gives torchxrayvision's logits on grey replicated to RGB", async () => {
    const ref = readJsonFixture<{ models: { xrv_tiny_densenet: { logits: number[]; input_file: string } } }>('xrv/xrv_ref.json').models.xrv_tiny_densenet;
    const model = buildDenseNet(8, [1, 2, 2, 1], 16, { name: 'xrv_tiny', numClasses: 18, inputShape: [64, 64, 3] });
    const report = await loadWeights(model, readFixture('xrv/xrv_tiny_densenet_zip.pt'), { log: () => {} });
    expect(report.notes.join(' ')).toMatch(/Spread the 1-channel 'features\.conv0\.weight' over the RGB input channels/);
    const b = readFixture(`xrv/${ref.input_file}`);
    const grey = tf.tensor4d(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), [1, 64, 64, 1]);
    const rgb = tf.tile(grey, [1, 1, 1, 3]);
    const y = model.predict(rgb) as tf.Tensor;
    expect(relErr(Array.from(y.dataSync()), ref.logits)).toBeLessThanOrEqual(1e-4);
    tf.dispose([grey, rgb, y]);
    model.dispose();
  });
});
