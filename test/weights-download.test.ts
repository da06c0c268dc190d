import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createProgressBar } from '../src/cli/progress.js';
import { applyWeights } from '../src/weights/apply.js';
import { WeightsHashError } from '../src/weights/fetch.js';
import { downloadWeights, installNodeWeightsResolver } from '../src/weights/fetch-node.js';
import { loadWeights } from '../src/weights/load.js';
import { getWeightsInfo } from '../src/weights/manifest.js';
import { setWeightsResolver } from '../src/weights/resolver.js';
import { fixture, maxAbsDiff, quiet, ref, run, tinyModel } from './weights-helpers.js';

const body = fixture('tiny.pth');
const sha = createHash('sha256').update(body).digest('hex');
const requests: string[] = [];
let server: Server;
let base = '';
let cache = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/w/tiny.pth' || req.url === '/w/other/tiny.pth') {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else if (req.url === '/w/tampered.pth') {
      const b = Buffer.from(body);
      b[b.length - 30] ^= 0xff;
      res.writeHead(200, { 'content-length': b.length });
      res.end(b);
    } else if (req.url === '/w/truncated.pth') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 1000));
      setTimeout(() => res.destroy(), 20);
    } else if (req.url === '/w/stall.pth') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 100));
      setTimeout(() => res.destroy(), 3000);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/w`;
  installNodeWeightsResolver();
});
afterAll(async () => {
  setWeightsResolver(undefined);
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'chexzoo-cache-'));
  process.env.CHEXZOO_CACHE = cache;
  delete process.env.CHEXZOO_OFFLINE;
  requests.length = 0;
});
afterEach(() => {
  rmSync(cache, { recursive: true, force: true });
  delete process.env.CHEXZOO_CACHE;
  delete process.env.CHEXZOO_OFFLINE;
});

const noTemp = (): void => expect(readdirSync(cache).filter((n) => n.endsWith('.part'))).toEqual([]);

describe('download cache', () => {
  it('downloads with progress, verifies, caches, and serves cache hits without a request', async () => {
    const progress: [number, number | undefined][] = [];
    const path = await downloadWeights(`${base}/tiny.pth`, { sha256: sha, onProgress: (a, b) => progress.push([a, b]) });
    expect(path).toBe(join(cache, 'tiny.pth'));
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(sha);
    expect(progress.at(-1)).toEqual([body.length, body.length]);
    expect(requests).toEqual(['/tiny.pth'].map((p) => `/w${p}`));
    await downloadWeights(`${base}/tiny.pth`, { sha256: sha });
    expect(requests.length).toBe(1);
    noTemp();
  });

  it('loadWeights(model, url) goes through the cache and gives the reference logits', async () => {
    const model = tinyModel();
    await loadWeights(model, `${base}/tiny.pth`, { ...quiet, sha256Prefix: sha.slice(0, 8) });
    expect(maxAbsDiff(run(model, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
    expect(existsSync(join(cache, 'tiny.pth'))).toBe(true);
    // without a full hash, the first download's hash is recorded (trust on first use)
    expect(readFileSync(join(cache, 'tiny.pth.sha256'), 'utf8').startsWith(sha)).toBe(true);
  });

  it('applyWeights with a URL spec and a progress callback', async () => {
    let calls = 0;
    const report = await applyWeights(tinyModel(), 'tiny', `${base}/tiny.pth`, { onProgress: () => calls++, load: quiet });
    expect(report.format).toBe('pth');
    expect(calls).toBeGreaterThan(0);
  });

  it('hash mismatch is an error and nothing is kept', async () => {
    await expect(downloadWeights(`${base}/tampered.pth`, { sha256Prefix: sha.slice(0, 8) })).rejects.toThrow(WeightsHashError);
    await expect(downloadWeights(`${base}/tampered.pth`, { sha256: sha })).rejects.toThrow(/Hash mismatch.*expected sha256/);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('404 says not found', async () => {
    await expect(downloadWeights(`${base}/nope.pth`)).rejects.toThrow(/not found \(HTTP 404\)/);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a truncated transfer is an error and never lands in the cache', async () => {
    await expect(downloadWeights(`${base}/truncated.pth`)).rejects.toThrow(/interrupted|Truncated/);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a stalled server is abandoned after the idle timeout', async () => {
    const t0 = Date.now();
    await expect(downloadWeights(`${base}/stall.pth`, { idleTimeoutMs: 300 })).rejects.toThrow(/stalled/);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a leftover partial file from a killed download is ignored', async () => {
    writeFileSync(join(cache, '.tiny.pth.999.abc.part'), body.subarray(0, 100));
    const path = await downloadWeights(`${base}/tiny.pth`, { sha256: sha });
    expect(readFileSync(path).length).toBe(body.length);
  });

  it('a corrupted cache entry is re-downloaded when online, and an error when offline', async () => {
    const path = await downloadWeights(`${base}/tiny.pth`, { sha256: sha });
    const bad = Buffer.from(body);
    bad[50] ^= 1;
    writeFileSync(path, bad);
    await downloadWeights(`${base}/tiny.pth`, { sha256: sha });
    expect(requests.length).toBe(2);
    expect(readFileSync(path).equals(Buffer.from(body))).toBe(true);
    writeFileSync(path, bad);
    process.env.CHEXZOO_OFFLINE = '1';
    await expect(downloadWeights(`${base}/tiny.pth`, { sha256: sha })).rejects.toThrow(/Hash mismatch for cached/);
  });

  it('trust on first use: a cached file that changed since its download is refused', async () => {
    const path = await downloadWeights(`${base}/tiny.pth`);
    const bad = Buffer.from(body);
    bad[60] ^= 1;
    writeFileSync(path, bad);
    process.env.CHEXZOO_OFFLINE = '1';
    await expect(downloadWeights(`${base}/tiny.pth`)).rejects.toThrow(/changed on disk/);
  });
});

describe('offline mode', () => {
  it('uses the cache and local files only', async () => {
    await downloadWeights(`${base}/tiny.pth`, { sha256: sha });
    process.env.CHEXZOO_OFFLINE = '1';
    requests.length = 0;
    const model = tinyModel();
    await loadWeights(model, `${base}/tiny.pth`, { ...quiet, sha256: sha });
    expect(requests).toEqual([]);
    await expect(downloadWeights(`${base}/other/missing.pth`)).rejects.toThrow(/Offline mode \(CHEXZOO_OFFLINE=1\).*not in the cache.*download .*missing\.pth/);
    expect(requests).toEqual([]);
  });

  it("'imagenet' resolves through the manifest and, offline, says where to put the file", async () => {
    process.env.CHEXZOO_OFFLINE = '1';
    const info = getWeightsInfo('resnet18');
    const err = await applyWeights(tinyModel(), 'resnet18', 'imagenet', { load: quiet }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(info.url);
    expect((err as Error).message).toContain(join(cache, info.fileName));
    expect(requests).toEqual([]);
  });
});

describe('browser resolver (fetch, in memory)', () => {
  it('loads by URL, and reports 404 and truncation clearly', async () => {
    setWeightsResolver(undefined);
    try {
      const model = tinyModel();
      await loadWeights(model, `${base}/tiny.pth`, { ...quiet, sha256: sha });
      expect(maxAbsDiff(run(model, ref.input, ref.inputShape), ref.output)).toBeLessThan(1e-5);
      await expect(loadWeights(model, `${base}/nope.pth`, quiet)).rejects.toThrow(/HTTP 404/);
      await expect(loadWeights(model, `${base}/truncated.pth`, quiet)).rejects.toThrow(/interrupted|Truncated/);
      await expect(loadWeights(model, `${base}/tampered.pth`, { ...quiet, sha256: sha })).rejects.toThrow(/Hash mismatch/);
      expect(readdirSync(cache)).toEqual([]);
    } finally {
      installNodeWeightsResolver();
    }
  });
});

describe('CLI progress bar', () => {
  it('prints every 10% on a non-terminal and a bar on a terminal', () => {
    const lines: string[] = [];
    const bar = createProgressBar('w', { stream: { write: (s: string) => lines.push(s) } });
    for (let i = 0; i <= 100; i++) bar(i * 1000, 100_000);
    bar.done();
    expect(lines.length).toBe(11);
    expect(lines.at(-1)).toMatch(/^w \[#+\] 100% 0\.1\/0\.1 MB/);
    const tty: string[] = [];
    const bar2 = createProgressBar('w', { stream: { write: (s: string) => tty.push(s), isTTY: true }, width: 10 });
    bar2(5, 10);
    bar2(10, 10);
    bar2.done();
    expect(tty[0]).toMatch(/^\rw \[#####-----\]  50%/);
    expect(tty.at(-1)).toMatch(/100%.*\n$/);
  });
});
