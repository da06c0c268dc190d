// The demo's ONNX panel in Chromium (called by test/browser/run.ts): the exported .onnx of the page's model, run by
// onnxruntime-web (wasm; WebGPU when the browser offers it), must show the probabilities Node's TF.js computes.
import * as tf from '@tensorflow/tfjs';
import type { Page } from 'playwright-core';
import { preprocess } from '../../src/index.js';
import { preprocessSpecFor } from '../../examples/browser/pipeline.js';

interface PanelState { provider?: string; logits?: number[]; probabilities?: number[]; maxDiffVsTfjs?: number; error?: string }

/** Node's TF.js logits for the page's input (the page's preprocessing), to compare unsaturated values. */
export function nodeLogits(model: tf.LayersModel, arch: string, rgb: tf.Tensor3D): number[] {
  return tf.tidy(() => {
    const x = preprocess(rgb, preprocessSpecFor(arch, model), { channels: model.inputs[0]!.shape[3] as 1 | 3 });
    return Array.from((model.predict(x) as tf.Tensor).dataSync());
  });
}

/**
 * Loads `onnxPath` through the page's #onnxFile input (model and image already loaded) and checks the ORT-web
 * logits against `expected` (Node, TF.js) within relative error `tol`, and the shown probabilities against the page's TF.js ones.
 */
export async function onnxPanelCheck(page: Page, onnxPath: string, expected: number[], tol: number, check: (name: string, ok: boolean, detail?: string) => void): Promise<void> {
  await page.evaluate(() => void (document.getElementById('onnxStatus')!.dataset.state = '')); // forget an earlier run
  await page.setInputFiles('#onnxFile', onnxPath);
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('onnxStatus')?.dataset.state ?? ''), null, { timeout: 90_000 });
  const st = await page.evaluate(() => (window as unknown as { chexzooOnnx: PanelState }).chexzooOnnx);
  const text = (await page.textContent('#onnxStatus')) ?? '';
  const got = st.logits ?? [];
  let d = got.length === expected.length ? 0 : Infinity;
  expected.forEach((z, i) => (d = Math.max(d, Math.abs(z - got[i]!))));
  d /= Math.max(...expected.map(Math.abs));
  check(`ONNX panel: onnxruntime-web (${st.provider ?? '?'}) gives Node's TF.js logits (rel. err ${d.toExponential(2)} <= ${tol}; probabilities vs the page's TF.js: max |diff| ${st.maxDiffVsTfjs?.toExponential(2) ?? '—'})`,
    !st.error && d <= tol && (st.maxDiffVsTfjs ?? Infinity) <= tol, st.error ?? text);
}

/** What {@link onnxWebGpuCheck} needs from run.ts: the demo's files, its inputs, and Node's logits for them. */
export interface WebGpuCase {
  files: unknown;
  serveDemo: (files: unknown, port: number) => Promise<{ server: { close(): void; closeAllConnections(): void }; url: string }>;
  chromium: typeof import('playwright-core').chromium;
  executablePath: string;
  baseArgs: string[];
  modelDir: string;
  imagePath: string;
  onnxPath: string;
  expected: number[];
  profile: string;
}

/**
 * The ONNX panel on onnxruntime-web's WebGPU provider: Chromium with WebGPU on SwiftShader (Vulkan, CPU), the
 * TF.js side on wasm. Skipped (said loudly, not passed) when the browser offers no WebGPU adapter.
 * Tolerance 1e-3: WebGPU shaders round differently (measured below it here).
 */
export async function onnxWebGpuCheck(c: WebGpuCase, check: (name: string, ok: boolean, detail?: string) => void, log: (s: string) => void): Promise<void> {
  log('\n[onnxruntime-web on WebGPU (SwiftShader)]');
  const { server, url } = await c.serveDemo(c.files, 0);
  const context = await c.chromium.launchPersistentContext(c.profile, {
    executablePath: c.executablePath, headless: true,
    args: ['--headless', ...c.baseArgs, '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface'],
    env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json' },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${url}?backend=wasm`);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.status ?? ''), null, { timeout: 60_000 });
    const hasGpu = await page.evaluate(async () => Boolean(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter().catch(() => null)));
    if (!hasGpu) {
      log('  SKIPPED (not passed): this Chromium offers no WebGPU adapter, the WebGPU provider was not tested');
      return;
    }
    await page.setInputFiles('#modelDir', c.modelDir);
    await page.waitForFunction(() => /Model ready/.test(document.getElementById('message')!.textContent ?? '') || document.body.dataset.status === 'error', null, { timeout: 60_000 });
    await page.setInputFiles('#imageFile', c.imagePath);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status ?? ''), null, { timeout: 90_000 });
    await onnxPanelCheck(page, c.onnxPath, c.expected, 1e-3, check);
    const provider = await page.evaluate(() => (window as unknown as { chexzooOnnx: PanelState }).chexzooOnnx.provider ?? '');
    check('the ONNX panel chose WebGPU when the browser offers it', provider.startsWith('webgpu'), provider);
  } finally {
    await context.close();
    server.close();
  }
}
