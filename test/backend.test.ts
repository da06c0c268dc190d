import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { backendInfo, ensureBackend, getBackendName, registerFastKernels } from '../src/backend/index.js';
import { createModel } from '../src/zoo/registry.js';
import { isFastKernel } from '../src/backend/kernels.js';

describe('backend choice', () => {
  it('picks wasm with SIMD here (tfjs-node is not installed) and reports it', async () => {
    const name = await ensureBackend();
    expect(name).toBe('wasm');
    expect(getBackendName()).toBe('wasm');
    const info = backendInfo()!;
    expect(info.name).toBe('wasm');
    expect(info.simd).toBe(true);
    expect(info.fastKernels).toContain('Conv2DBackpropFilter@wasm');
    // every core unless CHEXZOO_THREADS says otherwise (test/backend-threads.test.ts checks the threads themselves)
    expect(info.threads).toBe(Number(process.env.CHEXZOO_THREADS ?? availableParallelism()));
    if (info.source === 'auto') expect(info.skipped.map((s) => s.name)).toContain('tensorflow');
  });

  it('an explicit option switches backend and registers the cpu kernel', async () => {
    try {
      expect(await ensureBackend({ backend: 'cpu' })).toBe('cpu');
      expect(backendInfo()!.source).toBe('option');
      expect(backendInfo()!.fastKernels).toContain('Conv2DBackpropFilter@cpu');
      expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).toBeDefined();
      // the explicit choice is remembered: a plain call (createModel makes one) keeps it (issue 10, point 13)
      expect(await ensureBackend()).toBe('cpu');
      const m = await createModel('resnet18', { numClasses: 2, inputShape: [32, 32, 3] });
      expect(getBackendName()).toBe('cpu');
      m.dispose();
    } finally {
      expect(await ensureBackend('wasm')).toBe('wasm');
    }
  });

  it('rejects unknown names and explains a missing tfjs-node', async () => {
    await expect(ensureBackend({ backend: 'gpu-magic' as 'cpu' })).rejects.toThrow(/Unknown TF.js backend 'gpu-magic'/);
    await expect(ensureBackend('tensorflow')).rejects.toThrow(/tfjs-node/);
    expect(getBackendName()).toBe('wasm');
  });

  it('CHEXZOO_BACKEND overrides the automatic choice (fresh process)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chexzoo-backend-'));
    const script = join(dir, 'probe.mts');
    const mod = resolve('src/backend/index.ts');
    writeFileSync(script, `import { ensureBackend, backendInfo } from ${JSON.stringify(mod)};\n` +
      'const name = await ensureBackend();\nconsole.log(JSON.stringify({ name, info: backendInfo() }));\n');
    const run = (env: string) => spawnSync(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, CHEXZOO_BACKEND: env }, encoding: 'utf8', cwd: resolve('.'),
    });
    const ok = run('cpu');
    expect(ok.status, ok.stderr.slice(-500)).toBe(0);
    const out = JSON.parse(ok.stdout.trim().split('\n').pop()!);
    expect(out.name).toBe('cpu');
    expect(out.info.source).toBe('env');
    const bad = run('quantum');
    rmSync(dir, { recursive: true, force: true });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Unknown TF.js backend 'quantum' \(from CHEXZOO_BACKEND\)/);
  });

  it("leaves a user's uncaught errors alone after wasm starts (fresh process)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'chexzoo-backend-'));
    const script = join(dir, 'throw.mts');
    const mod = resolve('src/backend/index.ts');
    writeFileSync(script, `import { ensureBackend } from ${JSON.stringify(mod)};\n` +
      "console.log(await ensureBackend(), process.listeners('uncaughtException').length);\n" +
      "setTimeout(() => { throw new Error('a user bug'); }, 0);\n");
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: resolve('.') });
    rmSync(dir, { recursive: true, force: true });
    expect(r.stdout.trim()).toBe('wasm 0');
    // Node's own report (exit 1, the user's line), not emscripten's rethrow (exit 7, the minified wasm glue)
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Error: a user bug/);
    expect(r.stderr).not.toMatch(/WasmBackendModule/);
  });

  it('registerFastKernels is idempotent: a second call leaves the registered kernels alone', async () => {
    await ensureBackend('wasm');
    const a = registerFastKernels('wasm');
    const kernels = a.filter((n) => n.endsWith('@wasm')).map((n) => n.slice(0, -'@wasm'.length));
    expect(kernels.length).toBeGreaterThan(5);
    // what TF.js dispatches to is ours, and stays the very same function after another call (a second
    // registration would wrap our kernel as the "stock" one it delegates to, and recurse)
    const before = kernels.map((k) => tf.getKernel(k, 'wasm')!.kernelFunc);
    for (const k of kernels) expect(isFastKernel(k, 'wasm'), k).toBe(true);
    const b = registerFastKernels('wasm');
    expect(b).toEqual(a);
    expect(kernels.map((k) => tf.getKernel(k, 'wasm')!.kernelFunc)).toEqual(before);
    kernels.forEach((k, i) => expect(tf.getKernel(k, 'wasm')!.kernelFunc, k).toBe(before[i]));
  });
});
