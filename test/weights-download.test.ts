import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgressBar } from '../src/node/progress.js';
import { WeightsHashError } from '../src/weights/fetch.js';
import { cachePath, downloadWeights, installNodeWeightsResolver, nodeWeightsResolver } from '../src/node/weights/fetch-node.js';
import { loadWeights } from '../src/weights/load.js';
import { getWeightsInfo } from '../src/weights/manifest.js';
import { createModel } from '../src/zoo/registry.js';
import { setWeightsResolver } from '../src/weights/resolver.js';
import { maxAbsDiff } from './helpers/index.js';
import { fixture, quiet, ref, run, tinyModel } from './weights-helpers.js';

const body = fixture('tiny.pth');
const sha = createHash('sha256').update(body).digest('hex');
const bodyA = fixture('tiny.safetensors');
const bodyB = fixture('tiny_f16.safetensors');
const requests: string[] = [];
let server: Server;
let tlsServer: ReturnType<typeof createHttpsServer>;
let base = '';
let tlsBase = '';
let cache = '';

function handle(req: IncomingMessage, res: ServerResponse): void {
  {
    requests.push(req.url ?? '');
    if (req.url === '/w/a/model.safetensors' || req.url === '/w/b/model.safetensors') {
      const b = req.url.startsWith('/w/a/') ? bodyA : bodyB;
      res.writeHead(200, { 'content-length': b.length });
      res.end(b);
    } else if (req.url === '/w/to-http.pth') {
      res.writeHead(302, { location: `${base}/tiny.pth` });
      res.end();
    } else if (req.url === '/w/to-https.pth') {
      res.writeHead(301, { location: '/w/tiny.pth' });
      res.end();
    } else if (req.url === '/w/loop.pth') {
      res.writeHead(302, { location: '/w/loop.pth' });
      res.end();
    } else if (req.url === '/w/trickle.pth') {
      // never idle for long, never done: one byte every 50 ms of 100
      res.writeHead(200, { 'content-length': 100 });
      let sent = 0;
      const t = setInterval(() => {
        if (res.destroyed || sent === 100) {
          clearInterval(t);
          res.end();
          return;
        }
        res.write(Buffer.from([sent++]));
      }, 50);
    } else if (req.url === '/w/tiny.pth' || req.url === '/w/other/tiny.pth') {
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
  }
}

const TLS = new URL('./fixtures/tls/', import.meta.url);

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/w`;
  // a local https server (self-signed certificate, tools/make_tls_fixture.sh) for the redirect rules
  tlsServer = createHttpsServer({ key: readFileSync(new URL('127.0.0.1.key', TLS)), cert: readFileSync(new URL('127.0.0.1.crt', TLS)) }, handle);
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  tlsBase = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}/w`;
  installNodeWeightsResolver();
});
afterAll(async () => {
  setWeightsResolver(undefined);
  await new Promise((r) => server.close(r));
  await new Promise((r) => tlsServer.close(r));
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

/** Every file under the cache (folders left out). */
const files = (): string[] =>
  (readdirSync(cache, { recursive: true }) as string[]).filter((n) => statSync(join(cache, n)).isFile()).sort();
const noTemp = (): void => expect(files().filter((n) => n.endsWith('.part'))).toEqual([]);
const port = (u: string): string => new URL(u).port;

describe('download cache', () => {
  it('downloads with progress, verifies, caches, and serves cache hits without a request', async () => {
    const progress: [number, number | undefined][] = [];
    const path = await downloadWeights(`${base}/tiny.pth`, { sha256: sha, onProgress: (a, b) => progress.push([a, b]) });
    // keyed by the whole URL, as a readable path
    expect(path).toBe(join(cache, 'http', `127.0.0.1_${port(base)}`, 'w', 'tiny.pth'));
    expect(path).toBe(cachePath(`${base}/tiny.pth`));
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
    const path = cachePath(`${base}/tiny.pth`);
    expect(existsSync(path)).toBe(true);
    // without a full hash, the first download's hash is recorded (trust on first use)
    expect(readFileSync(`${path}.sha256`, 'utf8').startsWith(sha)).toBe(true);
  });

  it('loadWeights with a URL and a progress callback', async () => {
    let calls = 0;
    const report = await loadWeights(tinyModel(), `${base}/tiny.pth`, { onProgress: () => calls++, ...quiet });
    expect(report.format).toBe('pth');
    expect(calls).toBeGreaterThan(0);
  });

  it('hash mismatch is an error and nothing is kept', async () => {
    await expect(downloadWeights(`${base}/tampered.pth`, { sha256Prefix: sha.slice(0, 8) })).rejects.toThrow(WeightsHashError);
    await expect(downloadWeights(`${base}/tampered.pth`, { sha256: sha })).rejects.toThrow(/Hash mismatch.*expected sha256/);
    expect(files()).toEqual([]);
  });

  it('404 says not found', async () => {
    await expect(downloadWeights(`${base}/nope.pth`)).rejects.toThrow(/not found \(HTTP 404\)/);
    expect(files()).toEqual([]);
  });

  it('a truncated transfer is an error and never lands in the cache', async () => {
    await expect(downloadWeights(`${base}/truncated.pth`)).rejects.toThrow(/interrupted|Truncated/);
    expect(files()).toEqual([]);
  });

  it('a stalled server is abandoned after the idle timeout', async () => {
    const t0 = Date.now();
    await expect(downloadWeights(`${base}/stall.pth`, { idleTimeoutMs: 300 })).rejects.toThrow(/stalled/);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(files()).toEqual([]);
  });

  it('leftover partial files of killed downloads are removed; a live download\'s is kept', async () => {
    const dir = join(cache, 'http', `127.0.0.1_${port(base)}`, 'w');
    mkdirSync(dir, { recursive: true });
    // a process that has exited: its pid is free
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const old = new Date(Date.now() - 5 * 60_000);
    writeFileSync(join(dir, `.tiny.pth.${dead}.abc.part`), body.subarray(0, 100));
    utimesSync(join(dir, `.tiny.pth.${dead}.abc.part`), old, old);
    writeFileSync(join(dir, `.tiny.pth.${process.pid}.def.part`), body.subarray(0, 100)); // this process: alive
    writeFileSync(join(dir, '.tiny.pth.1.ghi.part'), body.subarray(0, 100)); // pid 1 is alive but this is a day old
    const dayOld = new Date(Date.now() - 25 * 3600_000);
    utimesSync(join(dir, '.tiny.pth.1.ghi.part'), dayOld, dayOld);
    const path = await downloadWeights(`${base}/tiny.pth`, { sha256: sha });
    expect(readFileSync(path).length).toBe(body.length);
    expect(readdirSync(dir).filter((n) => n.endsWith('.part'))).toEqual([`.tiny.pth.${process.pid}.def.part`]);
  });

  it('two URLs with the same file name are two cache entries', async () => {
    const a = await downloadWeights(`${base}/a/model.safetensors`);
    const b = await downloadWeights(`${base}/b/model.safetensors`);
    expect(a).not.toBe(b);
    expect(readFileSync(a).equals(Buffer.from(bodyA))).toBe(true);
    expect(readFileSync(b).equals(Buffer.from(bodyB))).toBe(true);
    expect(requests).toEqual(['/w/a/model.safetensors', '/w/b/model.safetensors']);
    // a query string is part of the key too; fileName only renames the file
    expect(cachePath('https://h.org/m.pth?v=1')).not.toBe(cachePath('https://h.org/m.pth?v=2'));
    expect(cachePath('https://h.org/x/m.pth', { fileName: 'r.pth' })).not.toBe(cachePath('https://h.org/y/m.pth', { fileName: 'r.pth' }));
    expect(cachePath('https://h.org/m.pth', { fileName: 'r.pth' })).not.toBe(cachePath('https://h.org/n.pth', { fileName: 'r.pth' }));
    expect(cachePath('http://h.org/m.pth')).not.toBe(cachePath('https://h.org/m.pth'));
  });

  it('uses the bytes it hashed: a file swapped after the check is never returned', async () => {
    const url = `${base}/tiny.pth`;
    const path = await downloadWeights(url, { sha256: sha });
    const bad = Buffer.from(body);
    bad[70] ^= 1;
    // every read of the cached file through fs.promises.readFile sees a tampered copy (as if swapped after hashing)
    const orig = fsp.readFile.bind(fsp);
    const spy = vi.spyOn(fsp, 'readFile').mockImplementation((async (p: unknown, ...rest: unknown[]) =>
      p === path ? bad : (orig as (...a: unknown[]) => Promise<unknown>)(p, ...rest)) as typeof fsp.readFile);
    try {
      const got = (await nodeWeightsResolver({ url, sha256: sha })) as Uint8Array;
      expect(createHash('sha256').update(got).digest('hex')).toBe(sha);
    } finally {
      spy.mockRestore();
    }
  });

  it('an overall deadline ends a download that trickles forever', async () => {
    const t0 = Date.now();
    await expect(downloadWeights(`${base}/trickle.pth`, { idleTimeoutMs: 1000, timeoutMs: 400 })).rejects.toThrow(
      /did not finish within 0\.4 s/,
    );
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(files()).toEqual([]);
  });

  it('refuses a redirect from https to http, follows https to https, and stops redirect loops', async () => {
    const prev = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the self-signed local test certificate
    try {
      await expect(downloadWeights(`${tlsBase}/to-http.pth`, { sha256: sha })).rejects.toThrow(/downgrades https to plain http/);
      expect(requests).toEqual(['/w/to-http.pth']);
      const path = await downloadWeights(`${tlsBase}/to-https.pth`, { sha256: sha });
      expect(readFileSync(path).equals(Buffer.from(body))).toBe(true);
      await expect(downloadWeights(`${tlsBase}/loop.pth`)).rejects.toThrow(/Too many redirects/);
      // the browser path (fetch follows, the final URL is checked before the bytes are used)
      setWeightsResolver(undefined);
      await expect(loadWeights(tinyModel(), `${tlsBase}/to-http.pth`, quiet)).rejects.toThrow(/downgrades https to plain http/);
    } finally {
      installNodeWeightsResolver();
      if (prev === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = prev;
    }
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
    const err = await loadWeights(tinyModel(), 'imagenet', { ...quiet, arch: 'resnet18' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(info.url);
    expect((err as Error).message).toContain(cachePath(info.url, { fileName: info.fileName }));
    expect(cachePath(info.url, { fileName: info.fileName })).toBe(join(cache, 'https', 'download.pytorch.org', 'models', info.fileName));
    expect(requests).toEqual([]);
  });

  it("downloadWeights takes a registered architecture (its manifest URL and hashes) as well as a URL", async () => {
    process.env.CHEXZOO_OFFLINE = '1';
    const info = getWeightsInfo('densenet121');
    const err = await downloadWeights('densenet121').catch((e: Error) => e);
    expect((err as Error).message).toContain(info.url);
    expect((err as Error).message).toContain(cachePath(info.url, { fileName: info.fileName }));
    await expect(downloadWeights('densenet12')).rejects.toThrow(/not a URL, and no architecture of that name.*densenet121/);
    // a zoo model finds its own registered weights: 'imagenet' needs no arch
    const model = await createModel('resnet18', { imageSize: 32, numClasses: 0, seed: 1 });
    await expect(loadWeights(model, 'imagenet', quiet)).rejects.toThrow(getWeightsInfo('resnet18').url);
    model.dispose();
    await expect(loadWeights(tinyModel(), 'imagenet', quiet)).rejects.toThrow(/needs a zoo model .* or \{ arch: 'resnet18' \}/);
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
      expect(files()).toEqual([]);
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
