// First contact and wasm threads, each in a fresh Node process running a bundle of our entries (ESM and CJS),
// as users run the built package: importing us leaves TF.js usable, threads start (or fall back and say why),
// results equal the cpu backend's, errors surface, and the process exits by itself.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
// inside the project so that the bundles resolve @tensorflow/* from its node_modules
mkdirSync(join(root, '.cache'), { recursive: true });
const dir = mkdtempSync(join(root, '.cache', 'threads-test-'));
// A process that does not exit by itself is killed at this point and the test fails (the machine may be loaded).
const EXIT_TIMEOUT_MS = 90_000;

beforeAll(async () => {
  for (const format of ['esm', 'cjs'] as const) {
    await build({
      entryPoints: { index: join(root, 'src/index.ts'), node: join(root, 'src/node.ts') },
      outdir: dir,
      outExtension: { '.js': format === 'esm' ? '.mjs' : '.cjs' },
      bundle: true,
      platform: 'node',
      format,
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, code: string, opts: { env?: Record<string, string>; nodeArgs?: string[] } = {}) {
  const file = join(dir, name);
  writeFileSync(file, code);
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (!opts.env?.CHEXZOO_THREADS) delete env.CHEXZOO_THREADS;
  delete env.CHEXZOO_BACKEND;
  const r = spawnSync(process.execPath, [...(opts.nodeArgs ?? []), file], {
    cwd: dir, env, encoding: 'utf8', timeout: EXIT_TIMEOUT_MS, killSignal: 'SIGKILL',
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { ...r, json: () => JSON.parse(last) as Record<string, unknown> };
}

// A 3x3 convolution on the active backend against the cpu backend, same inputs: max relative difference.
const CONV_CHECK = `
async function convDiff(tf) {
  const x = tf.randomUniform([2, 17, 19, 24], -1, 1, 'float32', 1);
  const w = tf.randomUniform([3, 3, 24, 40], -1, 1, 'float32', 2);
  const xs = await x.data(), ws = await w.data();
  const y = await tf.conv2d(x, w, 1, 'same').data();
  const active = tf.getBackend();
  await tf.setBackend('cpu');
  const ref = await tf.conv2d(tf.tensor4d(xs, x.shape), tf.tensor4d(ws, w.shape), 1, 'same').data();
  await tf.setBackend(active);
  let m = 0;
  for (let i = 0; i < y.length; i++) m = Math.max(m, Math.abs(y[i] - ref[i]) / (1 + Math.abs(ref[i])));
  return m;
}
`;

describe('first contact: importing us leaves TF.js usable (issue 16)', () => {
  it('tensors work right after importing the root entry, before any ensureBackend', () => {
    const r = run('first.mjs', `
      import * as tf from '@tensorflow/tfjs';
      import { preprocess } from './index.mjs';
      const img = tf.tensor3d(new Float32Array(8 * 6 * 3).fill(0.5), [8, 6, 3]);
      const x = preprocess(img, 'resnet18');
      console.log(JSON.stringify({ backend: tf.getBackend(), shape: x.shape }));
    `);
    expect(r.status, r.stderr.slice(-800)).toBe(0);
    expect(r.json().shape).toEqual([1, 224, 224, 3]);
  });

  it('a loadChexpert dataset iterates before any model is built (CJS)', () => {
    const r = run('first-data.cjs', `
      const tf = require('@tensorflow/tfjs');
      const { writeSynthDataset, loadChexpert } = require('./node.cjs');
      (async () => {
        const info = await writeSynthDataset(${JSON.stringify(join(dir, 'synth'))}, { train: 4, valid: 2, size: 32 });
        const ds = await loadChexpert(info.root, { split: 'valid', imageSize: 32, batchSize: 2 });
        let n = 0;
        for await (const b of ds.batches(0)) { n += b.x.shape[0]; tf.dispose([b.x, b.y, b.mask]); }
        console.log(JSON.stringify({ n, tensors: tf.memory().numTensors }));
      })().catch((e) => { console.error(e); process.exit(1); });
    `);
    expect(r.status, r.stderr.slice(-800)).toBe(0);
    expect(r.json().n).toBe(2);
  });
});

describe('wasm threads in Node (issue 11)', () => {
  it('runs the threaded binary with CHEXZOO_THREADS=2, equals cpu, and the process exits by itself (ESM)', () => {
    const r = run('threads.mjs', `
      import * as tf from '@tensorflow/tfjs';
      import { ensureBackend, backendInfo } from './index.mjs';
      ${CONV_CHECK}
      await ensureBackend();
      console.log(JSON.stringify({ info: backendInfo(), diff: await convDiff(tf) }));
    `, { env: { CHEXZOO_THREADS: '2' } });
    expect(r.signal, 'the process did not exit by itself').toBeNull();
    expect(r.status, r.stderr.slice(-800)).toBe(0);
    const { info, diff } = r.json() as { info: { name: string; threads: number; threadsSource: string; skipped: { name: string }[] }; diff: number };
    expect(info.name).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).not.toContain('wasm-threads');
    expect(info.threads).toBe(2);
    expect(info.threadsSource).toBe('env');
    expect(diff).toBeLessThan(1e-4);
  });

  it('the threads option works from the CJS bundle; a later different count is refused', () => {
    const r = run('threads.cjs', `
      const tf = require('@tensorflow/tfjs');
      const { ensureBackend, backendInfo, createModel } = require('./index.cjs');
      (async () => {
        await ensureBackend({ threads: 2 });
        const m = await createModel('resnet18', { numClasses: 3, inputShape: [32, 32, 3] });
        const y = m.predict(tf.ones([1, 32, 32, 3]));
        const finite = (await y.data()).every(Number.isFinite);
        let refused = '';
        await ensureBackend({ threads: 1 }).catch((e) => { refused = e.message; });
        console.log(JSON.stringify({ threads: backendInfo().threads, source: backendInfo().threadsSource, finite, refused }));
      })().catch((e) => { console.error(e); process.exit(1); });
    `);
    expect(r.signal, 'the process did not exit by itself').toBeNull();
    expect(r.status, r.stderr.slice(-800)).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({ threads: 2, source: 'option', finite: true });
    expect(out.refused).toMatch(/already runs with 2 thread\(s\); 1 cannot be set now/);
  });

  it("a user's uncaught error still surfaces (exit 1, their message) with threads running", () => {
    const r = run('throw.mjs', `
      import { ensureBackend, backendInfo } from './index.mjs';
      await ensureBackend();
      console.log(backendInfo().threads);
      setTimeout(() => { throw new Error('a user bug'); }, 0);
    `, { env: { CHEXZOO_THREADS: '2' } });
    expect(r.stdout.trim()).toBe('2');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Error: a user bug/);
    expect(r.stderr).not.toMatch(/WasmBackendModule/);
  });

  it('falls back to one thread and says why when workers cannot start (permission model denies them)', () => {
    const r = run('denied.mjs', `
      import * as tf from '@tensorflow/tfjs';
      import { ensureBackend, backendInfo } from './index.mjs';
      ${CONV_CHECK}
      await ensureBackend();
      console.log(JSON.stringify({ info: backendInfo(), diff: await convDiff(tf) }));
    `, { env: { CHEXZOO_THREADS: '2' }, nodeArgs: ['--experimental-permission', '--allow-fs-read=*', '--no-warnings'] });
    expect(r.status, r.stderr.slice(-800)).toBe(0);
    const { info, diff } = r.json() as { info: { name: string; threads: number; skipped: { name: string; reason: string }[] }; diff: number };
    expect(info.name).toBe('wasm');
    expect(info.threads).toBe(1);
    const why = info.skipped.find((s) => s.name === 'wasm-threads');
    expect(why?.reason).toMatch(/2 threads could not start, using 1: .*(WorkerThreads|ERR_ACCESS_DENIED|Access to this API has been restricted)/);
    expect(diff).toBeLessThan(1e-4);
  });

  it('rejects a bad CHEXZOO_THREADS with a clear message', () => {
    const r = run('bad.mjs', `
      import { ensureBackend } from './index.mjs';
      await ensureBackend().then(() => console.log('ok'), (e) => console.log(e.message));
    `, { env: { CHEXZOO_THREADS: 'many' } });
    expect(r.status, r.stderr.slice(-800)).toBe(0);
    expect(r.stdout).toMatch(/Bad thread count "many" \(from CHEXZOO_THREADS\): use a whole number from 1 to 256/);
  });
});
