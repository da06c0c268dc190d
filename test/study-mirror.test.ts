// The study's ImageNet arm end to end: offline it is skipped with the reason; with CHEXZOO_WEIGHTS_MIRROR pointing at
// a local HTTP server on 127.0.0.1 (serving a checkpoint made here) the same study downloads, hash-checks and trains it.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// The registry pins the real torchvision file's hash; the checkpoint served here is ours, so its full sha256
// replaces the pinned prefix for resnet18 (every other field, the file name included, stays the manifest's).
const fake = vi.hoisted(() => ({ sha: {} as Record<string, string> }));
vi.mock('../src/weights/manifest.js', async (orig) => {
  const m = await orig<typeof import('../src/weights/manifest.js')>();
  return {
    ...m,
    getWeightsInfo: (arch: string, tag?: string) => {
      const info = m.getWeightsInfo(arch, tag);
      return fake.sha[arch] ? { ...info, sha256: fake.sha[arch], sha256Prefix: null } : info;
    },
  };
});

import { createModel } from '../src/zoo/registry.js';
import { modelToStateDict } from '../src/weights/remap.js';
import { encodeSafetensors } from '../src/weights/safetensors.js';
import { getWeightsInfo } from '../src/weights/manifest.js';
import { writeSynthDataset } from '../src/node/data/synth-node.js';
import { runStudy } from '../src/node/study/run.js';
import { runWeights } from '../src/cli/weights.js';
import { mirrorSource } from '../src/node/weights/mirror.js';
import { serveMirrorFile, type TestMirror } from './helpers/mirror.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-mirror-'));
const env = { CHEXZOO_CACHE: process.env.CHEXZOO_CACHE, CHEXZOO_OFFLINE: process.env.CHEXZOO_OFFLINE, CHEXZOO_WEIGHTS_MIRROR: process.env.CHEXZOO_WEIGHTS_MIRROR };
let server: TestMirror;
let base = '';
let requests: string[] = [];
let body: Uint8Array;

beforeAll(async () => {
  const m = await createModel('resnet18', { inputShape: [32, 32, 3], seed: 3 } as Parameters<typeof createModel>[1]);
  body = encodeSafetensors(modelToStateDict(m));
  m.dispose();
  fake.sha.resnet18 = createHash('sha256').update(body).digest('hex');
  server = await serveMirrorFile(getWeightsInfo('resnet18').fileName, body);
  base = `${server.base}/`;
  requests = server.requests;
  process.env.CHEXZOO_CACHE = join(tmp, 'cache');
  await writeSynthDataset(join(tmp, 'data'), { train: 48, valid: 40, size: 32, seed: 1 });
});

afterAll(async () => {
  await server.close();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('mirrorSource', () => {
  it('maps a registered file to an HTTP mirror URL or a local folder', () => {
    expect(mirrorSource('https://x/models/a-1.pth', 'a-1.pth', 'http://10.0.0.5/w/')).toEqual({ url: 'http://10.0.0.5/w/a-1.pth' });
    expect(mirrorSource('https://x/models/a-1.pth', 'a-1.pth', '/srv/weights')).toEqual({ path: '/srv/weights/a-1.pth' });
    expect(mirrorSource('https://x/models/a-1.pth', 'a-1.pth', 'file:///srv/w')).toEqual({ path: '/srv/w/a-1.pth' });
    expect(mirrorSource('https://x/models/a-1.pth', 'a-1.pth', undefined)).toBeUndefined();
  });
});

describe('study ImageNet arm', () => {
  const opts = () => ({
    data: join(tmp, 'data'),
    out: join(tmp, 'study'),
    archs: ['resnet18'],
    truncate: 'none' as const,
    maxSteps: 2,
    imageSize: 32,
    batchSize: 8,
    bootstrap: 100,
    log: () => {},
    barStream: null,
  });

  it('offline without cached weights: skipped with the reason in results.json and the report, never faked', async () => {
    process.env.CHEXZOO_OFFLINE = '1';
    delete process.env.CHEXZOO_WEIGHTS_MIRROR;
    const { results } = await runStudy(opts());
    expect(results!.runs.map((r) => r.id)).toEqual(['resnet18.random.full.s0']);
    expect(results!.skipped).toEqual([{ id: 'resnet18.imagenet.full.s0', reason: expect.stringMatching(/^ImageNet weights unavailable \(Offline mode/) }]);
    const md = await fs.readFile(join(tmp, 'study', 'report.md'), 'utf8');
    expect(md).toMatch(/resnet18\.imagenet\.full\.s0`: ImageNet weights unavailable/);
    expect(md).toMatch(/## 3\. Pretraining helps smaller models more\n\nNot computed: needs ImageNet weights/);
    expect(md).toMatch(/## 3\. Pretraining helps smaller models more\n\nNot computed: [^\n]*\n\nPaper: [^\n]*\*\*-0\.72\*\*/);
    expect(requests).toEqual([]);
  }, 300_000);

  it('with CHEXZOO_WEIGHTS_MIRROR on 127.0.0.1: downloaded once (hash-checked), trained, reported; chexzoo weights list sees it', async () => {
    delete process.env.CHEXZOO_OFFLINE;
    process.env.CHEXZOO_WEIGHTS_MIRROR = base;
    const { results, runs } = await runStudy(opts());
    expect(runs.find((r) => r.id === 'resnet18.random.full.s0')!.status).toBe('done'); // not redone
    expect(runs.find((r) => r.id === 'resnet18.imagenet.full.s0')!.status).toBe('trained');
    expect(results!.skipped).toEqual([]);
    const r = results!.runs.find((x) => x.id === 'resnet18.imagenet.full.s0')!;
    expect(r.init).toBe('imagenet');
    expect(r.meanAuroc).toBeGreaterThan(0);
    const boost = results!.findings.pretrainingBoost;
    expect('rows' in boost && boost.rows.map((b) => b.arch)).toEqual(['resnet18']);
    expect(requests.filter((u) => u.endsWith('.pth'))).toHaveLength(1);
    const cfg = JSON.parse(await fs.readFile(join(tmp, 'study', 'runs', 'resnet18.imagenet.full.s0', 'config.json'), 'utf8'));
    expect(cfg.weights).toBe('imagenet');
    // the cache now holds the file: listed as cached with a good hash, even offline
    process.env.CHEXZOO_OFFLINE = '1';
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runWeights(['list', 'resnet18'])).toBe(0);
      expect(await runWeights(['list', 'densenet121'])).toBe(0);
      expect(await runWeights(['fetch'])).toBe(2);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
    expect(out.join('')).toMatch(/resnet18 +cached +hash ok/);
    expect(out.join('')).toMatch(/densenet121 +missing/);
    expect(existsSync(process.env.CHEXZOO_CACHE!)).toBe(true);
  }, 300_000);
});
