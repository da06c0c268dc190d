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
