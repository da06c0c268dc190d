// WebGPU for the tests: the software adapter (SwiftShader, from Debian's chromium package) through Dawn, and the
// rule for a missing adapter: the tests say so loudly and skip, and with CHEXZOO_REQUIRE_WEBGPU=1 (CI) they fail.
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../../src/backend/index.js';
import { createModel } from '../../src/zoo/registry.js';
import { createAdam, trainStep } from '../../src/train/step.js';
import { torchSlots } from '../../src/weights/remap.js';
import { fillFromFormula, formulaInput, uniform } from './formula.js';
import { tick } from './tick.js';

/** Debian's chromium ships SwiftShader's Vulkan driver here; Dawn accepts it (Mesa's lavapipe 22 it refuses). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export const REQUIRE_WEBGPU = process.env.CHEXZOO_REQUIRE_WEBGPU === '1';

/**
 * Starts WebGPU on the software adapter once (setting VK_ICD_FILENAMES when the SwiftShader driver is there and
 * nothing else was set), then goes back to wasm. Returns why it is unavailable, or undefined when it works.
 */
export async function webgpuUnavailable(): Promise<string | undefined> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  try {
    await ensureBackend({ backend: 'webgpu', allowSoftware: true });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await ensureBackend({ backend: 'wasm' });
  }
}

/** Prints the loud notice of a missing adapter; under CHEXZOO_REQUIRE_WEBGPU=1 the caller's test then fails. */
export function reportMissing(why: string): void {
  const line = '!'.repeat(100);
  console.warn(
    `\n${line}\nWEBGPU TESTS NOT RUN: no WebGPU adapter (${why}).\n` +
      `They are skipped, not passed. Install Debian's chromium (SwiftShader: ${SWIFTSHADER_ICD}) to run them; ` +
      `CHEXZOO_REQUIRE_WEBGPU=1 makes this a failure.\n${line}\n`,
  );
}

/** The formula batch at `size` px: NHWC images in [-1, 1), 0/1 labels for `classes`. */
export function formulaBatch(size: number, n: number, classes: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const u = uniform(`train-batch:${size}`, n * 3 * size * size);
  const x = tf.tidy(() => tf.tensor4d(Float32Array.from(u, (v) => 2 * v - 1), [n, 3, size, size]).transpose([0, 2, 3, 1]) as tf.Tensor4D);
  const y = tf.tensor2d(Float32Array.from(uniform('train-labels', n * classes), (v) => (v >= 0.5 ? 1 : 0)), [n, classes]);
  return { x, y };
}

/** A zoo model with formula weights, built on the active backend (dropout and stochastic depth off). */
export async function formulaModel(arch: string, size: number, classes: number): Promise<tf.LayersModel> {
  const model = await createModel(arch, {
    numClasses: classes, inputShape: [size, size, 3], seed: 0, dropout: 0,
    ...(arch.startsWith('efficientnet') ? { stochasticDepthProb: 0 } : {}),
  });
  await tick();
  fillFromFormula(model);
  return model;
}

/** Eval-mode logits of `arch` with formula weights on `backend` for a formula input (async reads only). */
export async function logitsOn(backend: 'wasm' | 'cpu' | 'webgpu', arch: string, size: number, classes = 3): Promise<Float32Array> {
  await ensureBackend({ backend, allowSoftware: true });
  const model = await formulaModel(arch, size, classes);
  const x = formulaInput(size, size);
  try {
    const out = model.predict(x) as tf.Tensor;
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  } finally {
    x.dispose();
    model.dispose();
  }
}

/** Every parameter and running statistic of a model, concatenated (async reads). */
export async function readParams(model: tf.LayersModel): Promise<Float32Array> {
  const parts = await Promise.all(torchSlots(model).map((s) => s.variable.read().data() as Promise<Float32Array>));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Losses, the parameters before and every parameter (reference layout, concatenated) after `steps` Adam steps on `backend`. */
export async function stepsOn(
  backend: 'wasm' | 'cpu' | 'webgpu', arch: string, o: { size: number; batch: number; steps: number; classes?: number; lr?: number },
): Promise<{ loss: number[]; before: Float32Array; params: Float32Array }> {
  await ensureBackend({ backend, allowSoftware: true });
  const classes = o.classes ?? 3;
  const model = await formulaModel(arch, o.size, classes);
  const { x, y } = formulaBatch(o.size, o.batch, classes);
  const optimizer = createAdam(o.lr ?? 1e-3);
  try {
    const before = await readParams(model);
    const loss: number[] = [];
    for (let step = 0; step < o.steps; step++) loss.push(await trainStep(model, optimizer, { x, y }, { seed: 0, step }));
    return { loss, before, params: await readParams(model) };
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  }
}
