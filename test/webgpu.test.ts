// WebGPU (issue 23), the cheap part that plain `npm test` runs: the adapter report, the refusal of a software
// adapter unless asked, forward logits equal to wasm's (an independent engine) on one small architecture, and a
// program on webgpu that exits by itself. The sweeps (17 architectures, Adam steps, gradCam, checkpointed steps)
// are in webgpu-full.test.ts. Runs on SwiftShader's Vulkan driver (Debian's chromium) through Dawn; without an
// adapter the tests say so loudly and skip; with CHEXZOO_REQUIRE_WEBGPU=1 (CI) that is a failure.
import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { backendInfo, ensureBackend } from '../src/backend/index.js';
import { relErr, runCommand } from './helpers/index.js';
import { REQUIRE_WEBGPU, logitsOn, reportMissing, webgpuUnavailable } from './helpers/webgpu.js';

const why = await webgpuUnavailable();
if (why) reportMissing(why);

describe('WebGPU adapter', () => {
  it('is there (a missing one fails under CHEXZOO_REQUIRE_WEBGPU=1, else the WebGPU tests are skipped)', (ctx) => {
    if (why && !REQUIRE_WEBGPU) ctx.skip();
    expect(why, 'no WebGPU adapter').toBeUndefined();
  });
});

describe.skipIf(why !== undefined)('webgpu backend on the software adapter', () => {
  it('backendInfo names the adapter (software) and the limits in force', async () => {
    try {
      expect(await ensureBackend({ backend: 'webgpu', allowSoftware: true })).toBe('webgpu');
      const info = backendInfo()!;
      expect(info.name).toBe('webgpu');
      expect(info.webgpu).toBeDefined();
      expect(info.webgpu!.software).toBe(true);
      expect(info.webgpu!.architecture.length + info.webgpu!.description.length).toBeGreaterThan(0);
      expect(info.webgpu!.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 ** 2); // WebGPU's floor
      expect(info.webgpu!.limits.maxBufferSize).toBeGreaterThanOrEqual(256 * 1024 ** 2);
      expect(info.webgpu!.memoryBudget).toBeGreaterThan(0);
      // a software adapter is refused unless asked for, even once started
      await expect(ensureBackend({ backend: 'webgpu', allowSoftware: false })).rejects.toThrow(/software.*CHEXZOO_WEBGPU_SOFTWARE=1/s);
    } finally {
      await ensureBackend({ backend: 'wasm' });
    }
  });

  it('mobilenet_v3_small logits equal wasm\'s (relative error <= 1e-4)', async () => {
    const ref = await logitsOn('wasm', 'mobilenet_v3_small', 32);
    const got = await logitsOn('webgpu', 'mobilenet_v3_small', 32);
    await ensureBackend({ backend: 'wasm' });
    const e = relErr(got, ref);
    console.log(`mobilenet_v3_small 32 px: webgpu vs wasm relative error ${e.toExponential(2)}`);
    expect(e).toBeLessThan(1e-4);
  });

  it('a program that computes on webgpu exits by itself (code 0) and a plain request refuses the software adapter', async () => {
    const script = [
      `import { ensureBackend, backendInfo } from ${JSON.stringify(resolve('src/backend/index.ts'))};`,
      "import * as tf from '@tensorflow/tfjs';",
      "try { await ensureBackend({ backend: 'webgpu' }); console.log('NOT REFUSED'); } catch (e) { console.log('REFUSED ' + e.message); }",
      "await ensureBackend({ backend: 'webgpu', allowSoftware: true });",
      "const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1);",
      "const y = tf.sum(tf.conv2d(x, tf.ones([3, 3, 3, 4]), 1, 'same'));",
      "console.log('SUM ' + (await y.data())[0] + ' ' + backendInfo().name);",
    ].join('\n');
    const started = Date.now();
    const env = { ...process.env, CHEXZOO_WEBGPU_SOFTWARE: '' };
    const r = await runCommand(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, cwd: resolve('.') });
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.err.slice(-1000)).toBe(0);
    expect(r.out).toMatch(/^REFUSED The only WebGPU adapter here is a software one/m);
    expect(r.out).toMatch(/SUM -?\d+\.\d+ webgpu/);
    expect(seconds).toBeLessThan(60); // it ends: Dawn does not hold the process open
  });
});

describe('CLI', () => {
  it('--backend NAME is checked on computing subcommands (exit 2 with the valid names)', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['train', '--backend', 'gpu-magic'])).toBe(2);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/unknown backend 'gpu-magic'.*webgpu/s);
    } finally {
      err.mockRestore();
    }
  });

  it.skipIf(why !== undefined)('`chexzoo backend --json` reports the backend and says the WebGPU adapter here is software', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['backend', '--json'])).toBe(0);
      const out = JSON.parse(String(log.mock.calls.at(-1)?.[0]));
      expect(out.backend.name).toBe('wasm');
      expect(out.webgpu.adapter.software).toBe(true);
      expect(out.webgpu.verdict).toMatch(/only a software adapter/);
    } finally {
      log.mockRestore();
    }
  });
});
