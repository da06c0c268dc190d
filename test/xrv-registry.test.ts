// torchxrayvision's published weights in the registry (weights/manifest.json), compared with torchxrayvision's own
// model_urls (dumped by tools/make_xrv_fixtures.py into test/fixtures/xrv/xrv_ref.json), and resolved by tag through
// the Node resolver: a local HTTP server on 127.0.0.1 stands in for the GitHub release (CHEXZOO_WEIGHTS_MIRROR).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBackend } from '../src/backend/index.js';
import { cachePath, installNodeWeightsResolver } from '../src/node/weights/fetch-node.js';
import { loadModel, saveModel } from '../src/node/weights/fs-io.js';
import { loadWeights } from '../src/weights/load.js';
import { findWeightsByTag, getPreprocessConfig, getWeightsInfo, weightsTags } from '../src/weights/manifest.js';
import { getOutputInfo } from '../src/weights/outputs.js';
import { setWeightsResolver } from '../src/weights/resolver.js';
import { buildDenseNet } from '../src/zoo/densenet.js';
import { readFixture, readJsonFixture, relErr } from './helpers/index.js';
import { serveMirrorFile, type TestMirror } from './helpers/mirror.js';

interface Published {
  url: string;
  labels: string[];
  op_threshs: (number | null)[];
  input_resolution: number;
}
const ref = readJsonFixture<{ model_urls: Record<string, Published>; models: Record<string, { logits: number[]; input_file: string; files: { zip: string } }> }>('xrv/xrv_ref.json');

/** Our tag -> torchxrayvision's weights name. */
const TAGS: [string, string, string][] = [
  ['densenet121', 'xrv-all', 'densenet121-res224-all'],
  ['densenet121', 'xrv-nih', 'densenet121-res224-nih'],
  ['densenet121', 'xrv-pc', 'densenet121-res224-pc'],
  ['densenet121', 'xrv-chex', 'densenet121-res224-chex'],
  ['densenet121', 'xrv-mimic_nb', 'densenet121-res224-mimic_nb'],
  ['densenet121', 'xrv-mimic_ch', 'densenet121-res224-mimic_ch'],
  ['densenet121', 'xrv-rsna', 'densenet121-res224-rsna'],
  ['resnet50', 'xrv-res512-all', 'resnet50-res512-all'],
];

describe('registry entries equal torchxrayvision/models.py', () => {
  it('lists every published DenseNet-121 and the ResNet-50 512 px weights', () => {
    expect(Object.keys(ref.model_urls).sort()).toEqual(TAGS.map((t) => t[2]).sort());
    expect(weightsTags('densenet121').filter((t) => t.startsWith('xrv-')).length).toBe(7);
    expect(weightsTags('resnet50')).toContain('xrv-res512-all');
  });

  it.each(TAGS)('%s %s: URL, labels, operating points, size, 1 channel, preprocessing', (arch, tag, name) => {
    const w = getWeightsInfo(arch, tag);
    const p = ref.model_urls[name]!;
    expect(w.url).toBe(p.url);
    expect(w.fileName).toBe(p.url.split('/').pop());
    expect(w.labels).toEqual(p.labels);
    expect(w.labels!.length).toBe(18);
    expect(w.opThreshs).toEqual(p.op_threshs);
    expect(w.cropSize).toBe(p.input_resolution);
    expect([w.inChannels, w.numClasses, w.preprocessing, w.top1]).toEqual([1, 18, 'xrv', null]);
    expect(findWeightsByTag(tag)).toBe(w);
    expect(getPreprocessConfig(tag).preprocessing).toBe('xrv');
  });
});

describe('a tag resolves like imagenet: cache, trust on first use, mirror, offline', () => {
  const tiny = readFixture(`xrv/${ref.models.xrv_tiny_densenet!.files.zip}`);
  const info = getWeightsInfo('densenet121', 'xrv-all');
  let requests: string[] = [];
  let server: TestMirror;
  let mirror = '';
  let cache = '';

  beforeAll(async () => {
    await ensureBackend();
    server = await serveMirrorFile(info.fileName, tiny);
    ({ base: mirror, requests } = server);
    installNodeWeightsResolver();
  });
  afterAll(async () => {
    setWeightsResolver(undefined);
    await server.close();
  });
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), 'chexzoo-xrv-'));
    process.env.CHEXZOO_CACHE = cache;
    process.env.CHEXZOO_WEIGHTS_MIRROR = mirror;
    delete process.env.CHEXZOO_OFFLINE;
    requests.length = 0;
  });
  afterEach(() => {
    rmSync(cache, { recursive: true, force: true });
    for (const k of ['CHEXZOO_CACHE', 'CHEXZOO_WEIGHTS_MIRROR', 'CHEXZOO_OFFLINE']) delete process.env[k];
  });

  // the reduced torchxrayvision DenseNet of test/fixtures/xrv stands in for the release file (same keys, smaller)
  const model = (): tf.LayersModel => buildDenseNet(8, [1, 2, 2, 1], 16, { name: 'xrv_tiny', numClasses: 18, inputShape: [64, 64, 1] });
  const logits = (m: tf.LayersModel): number[] => {
    const bytes = readFixture(`xrv/${ref.models.xrv_tiny_densenet!.input_file}`);
    const x = tf.tensor4d(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), [1, 64, 64, 1]);
    const y = m.predict(x) as tf.Tensor;
    const out = Array.from(y.dataSync());
    tf.dispose([x, y]);
    return out;
  };

  it("'xrv-all' downloads once from the mirror, records its sha256, labels the outputs, then works offline", async () => {
    const m = model();
    const report = await loadWeights(m, 'xrv-all', { arch: 'densenet121', log: () => {} });
    expect(requests).toEqual([`/mirror/${info.fileName}`]);
    expect(relErr(logits(m), ref.models.xrv_tiny_densenet!.logits)).toBeLessThanOrEqual(1e-4);
    expect(getOutputInfo(m)).toEqual({ labels: info.labels, opThreshs: info.opThreshs, source: 'xrv-all' });
    expect(report.outputs?.source).toBe('xrv-all');
    const cached = cachePath(`${mirror}/${info.fileName}`, { fileName: info.fileName });
    expect(existsSync(`${cached}.sha256`)).toBe(true);
    // kept in the model's metadata: a saved model still knows its outputs
    const saved = join(cache, 'saved');
    await saveModel(m, saved);
    const back = await loadModel(saved);
    expect(getOutputInfo(back)).toEqual(getOutputInfo(m));
    back.dispose();
    process.env.CHEXZOO_OFFLINE = '1';
    const m2 = model();
    await loadWeights(m2, 'xrv-all', { arch: 'densenet121', log: () => {} });
    expect(requests.length).toBe(1);
    m.dispose();
    m2.dispose();
  });

  it('a tag of another architecture is an error that names the right one', async () => {
    const m = model();
    await expect(loadWeights(m, 'xrv-res512-all', { arch: 'densenet121', log: () => {} })).rejects.toThrow(/'xrv-res512-all' are registered for resnet50, not for densenet121/);
    m.dispose();
  });

  it('offline with an empty cache says which URL and where to put the file', async () => {
    delete process.env.CHEXZOO_WEIGHTS_MIRROR;
    process.env.CHEXZOO_OFFLINE = '1';
    const m = model();
    const err = await loadWeights(m, 'xrv-nih', { arch: 'densenet121', log: () => {} }).catch((e: Error) => e);
    expect((err as Error).message).toContain(getWeightsInfo('densenet121', 'xrv-nih').url);
    expect(requests).toEqual([]);
    m.dispose();
  });
});
