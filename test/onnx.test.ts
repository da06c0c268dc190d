// Export to ONNX: onnxruntime-node (an implementation nobody here wrote) runs the exported file and must give our
// model's outputs (rel. err <= 1e-4) at batch 1 and 3; Debian's python3-onnx checker (full_check) accepts every
// file. Plain `npm test` covers every op kind on small inputs (conv + folded BN, depthwise, concat + unfolded BN,
// relu / relu6 / swish / hard-swish / hard-sigmoid, squeeze-excitation, max / avg pools with and without
// count_include_pad, truncated, feature extractor, fine-tuned); FULL_TESTS runs all 17 architectures at default sizes
// and the cross-check with torch.onnx.export of torchvision's module.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { toOnnx } from '../src/onnx/export.js';
import { saveOnnx } from '../src/node/onnx.js';
import { saveModel } from '../src/node/weights/fs-io.js';
import { runExport } from '../src/cli/export.js';
import { createModel, getSpec, listModels, resolveOptions } from '../src/zoo/registry.js';
import { featureExtractor, resetClassifier, truncate } from '../src/truncate.js';
import { fillFromFormula } from './helpers/formula.js';
import { FULL_TESTS, leakCheck, randomArray, relErr } from './helpers/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const written: string[] = []; // every file the checker must accept

/** Our outputs (inference mode) for an NHWC batch, feature maps as NCHW like the ONNX file. */
function ours(model: tf.LayersModel, x: tf.Tensor4D): Float32Array[] {
  return tf.tidy(() => {
    const y = model.predict(x);
    return (Array.isArray(y) ? y : [y]).map((t) => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t).dataSync() as Float32Array);
  });
}

/** onnxruntime-node's outputs for the same batch (NCHW), in the order of the graph's outputs. */
async function theirs(session: ort.InferenceSession, x: tf.Tensor4D): Promise<Float32Array[]> {
  const nchw = tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]));
  const feeds = { pixel_values: new ort.Tensor('float32', nchw.dataSync() as Float32Array, nchw.shape) };
  nchw.dispose();
  const out = await session.run(feeds);
  return session.outputNames.map((n) => out[n]!.data as Float32Array);
}

/** Exports, checks the file's interface, and compares ORT with our model at batch 3 and batch 1. */
async function expectSameOutputs(name: string, model: tf.LayersModel, file?: string): Promise<{ bytes: Uint8Array; err: number }> {
  const path = file ?? join(tmp, `${name.replace(/[^\w.-]/g, '_')}.onnx`);
  if (!file) await saveOnnx(model, path);
  written.push(path);
  const bytes = new Uint8Array(readFileSync(path));
  const session = await ort.InferenceSession.create(bytes);
  expect(session.inputNames).toEqual(['pixel_values']);
  if (model.outputs.length === 1) expect(session.outputNames).toEqual(['logits']);
  const [, h, w, c] = model.inputs[0]!.shape as number[];
  // inputs in [-1, 1] as the parity fixtures use (tools/formula.py): wider ones push the formula-weight nets into
  // a badly conditioned range where float32 rounding alone differs by more than 1e-4 (efficientnet_b3: logits ~700)
  // inputs in [-1, 1] as the parity fixtures' (tools/formula.py): wider ones push the formula-weight nets into a
  // badly conditioned range where float32 rounding alone differs by > 1e-4 (efficientnet_b3 on [-2, 2]: logits ~700)
  const x = tf.tensor4d(randomArray(3 * h! * w! * c!, h! * 7 + c!, -1, 1), [3, h!, w!, c!]);
  const x1 = tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1]);
  let err = 0;
  for (const batch of [x, x1]) {
    const [a, b] = [ours(model, batch), await theirs(session, batch)];
    expect(b.length).toBe(a.length);
    a.forEach((ref, k) => (err = Math.max(err, relErr(b[k]!, ref))));
  }
  tf.dispose([x, x1]);
  await session.release();
  expect(err, `${name}: ORT vs ours`).toBeLessThanOrEqual(1e-4);
  return { bytes, err };
}

/** The architecture's graph with zero weights (no reference init: cheap for models we cut and then fill). */
function bare(arch: string, imageSize: number): tf.LayersModel {
  const spec = getSpec(arch);
  return spec.build(resolveOptions(spec, { imageSize }));
}

/** A zoo model with formula weights (random-looking BN statistics, so folding is exercised). */
async function zoo(arch: string, o: { imageSize?: number; numClasses?: number } = {}): Promise<tf.LayersModel> {
  const m = await createModel(arch, { seed: 1, ...o });
  fillFromFormula(m);
  return m;
}

let shared: tf.LayersModel | undefined;
/** One mobilenet_v3_small (64 px, 5 classes, formula weights) for the tests that only read it. */
async function mv3(): Promise<tf.LayersModel> {
  return (shared ??= await zoo('mobilenet_v3_small', { imageSize: 64, numClasses: 5 }));
}
afterAll(() => shared?.dispose());

describe('toOnnx + onnxruntime-node', () => {
  it('mobilenet_v3_small at 64 px gives our logits (depthwise, hard-swish, hard-sigmoid, squeeze-excitation), leaking no tensor', async () => {
    const m = await mv3();
    const leaks = leakCheck();
    await expectSameOutputs('mobilenet_v3_small', m);
    leaks.check();
  });

  it('efficientnet_b0 after features.4 with a head (swish, sigmoid gate, stochastic depth as identity)', async () => {
    const full = bare('efficientnet_b0', 64);
    const m = truncate(full, 'features.4', { numClasses: 5, seed: 2 });
    full.dispose();
    fillFromFormula(m);
    await expectSameOutputs('efficientnet_b0-features.4', m);
    m.dispose();
  });

  it('five truncated models: resnet18, densenet121 (concat, unfolded BN), inception_v3 (count_include_pad), inception_v4 (no count), mobilenet_v2 (relu6)', async () => {
    const cases: [string, number, string, number][] = [
      ['resnet18', 64, 'layer2', 5], // conv + folded BN, relu, max pool with -inf padding merged, add
      ['densenet121', 64, 'features.transition1', 5], // avg pool of the transition
      ['inception_v3', 107, 'Mixed_5b', 5],
      ['inception_v4', 107, 'features.6', 0], // a feature map out: NCHW
      ['mobilenet_v2', 64, 'features.6', 3],
    ];
    for (const [arch, size, block, numClasses] of cases) {
      const full = bare(arch, size);
      const t = truncate(full, block, { numClasses, seed: 2 });
      full.dispose();
      fillFromFormula(t); // only the kept part (filling all of inception_v4 would take seconds)
      await expectSameOutputs(`${arch}-${block}`, t);
      t.dispose();
    }
  });

  it('a feature extractor (two NCHW outputs named after their layers)', async () => {
    const full = bare('resnet18', 64);
    const fx = featureExtractor(full, ['layer2', 'layer3']);
    full.dispose();
    fillFromFormula(fx);
    const { bytes } = await expectSameOutputs('resnet18-features', fx);
    const s = await ort.InferenceSession.create(bytes);
    expect(s.outputNames).toEqual(fx.outputs.map((o) => o.sourceLayer.name));
    await s.release();
    fx.dispose();
  });

  it('a fine-tuned model (weights and BN statistics moved by training), through `chexzoo export --format onnx`', async () => {
    // mobilenet_v3_small: its saved folder writes hard-swish as Rescaling / relu6 / Multiply (src/weights/portable.ts)
    const m = resetClassifier(await mv3(), { numClasses: 4, seed: 3 }); // a copy: the shared model is not touched
    const opt = tf.train.sgd(0.05);
    const x = tf.tensor4d(randomArray(4 * 64 * 64 * 3, 11, -1, 1), [4, 64, 64, 3]);
    const y = tf.tensor2d(randomArray(16, 12).map((v) => (v > 0.5 ? 1 : 0)), [4, 4]);
    for (let step = 0; step < 1; step++) {
      opt.minimize(() => tf.losses.sigmoidCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
    }
    tf.dispose([x, y]);
    opt.dispose();
    const dir = join(tmp, 'tuned');
    await saveModel(m, dir);
    const out = join(tmp, 'tuned.onnx');
    expect(await runExport(['--format', 'onnx', '--model', dir, '--out', out])).toBe(0);
    // the saved folder holds standard layers (ZeroPadding2D, ...): the file the CLI writes from it runs as our model
    await expectSameOutputs('mobilenet_v3_small-tuned-cli', m, out);
    await expectSameOutputs('mobilenet_v3_small-tuned', m);
    m.dispose();
  });

  it('dynamic batch and size: one file runs at another batch and input size', async () => {
    const s = await ort.InferenceSession.create(toOnnx(await mv3()));
    const x = new ort.Tensor('float32', randomArray(2 * 3 * 96 * 80, 5), [2, 3, 96, 80]);
    const out = await s.run({ pixel_values: x });
    expect(out.logits!.dims).toEqual([2, 5]);
    await s.release();
  });

  it('names initializers after the PyTorch state dict and fails clearly on unsupported layers', async () => {
    const full = bare('resnet18', 64);
    const m = truncate(full, 'layer1', { numClasses: 5, seed: 1 });
    full.dispose();
    const text = Buffer.from(toOnnx(m)).toString('latin1');
    for (const key of ['conv1.weight', 'conv1.bias', 'layer1.0.conv2.weight', 'fc.weight', 'fc.bias']) expect(text).toContain(key);
    m.dispose();
    const odd = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3 }), tf.layers.flatten()] });
    expect(() => toOnnx(odd)).toThrow(/Flatten.*no ONNX conversion/);
    odd.dispose();
  });

  it('chexzoo export refuses bad flags with a clear message (exit 2) and a missing model (exit 1)', async () => {
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    try {
      expect(await runExport(['--model', tmp, '--format', 'tflite', '--out', 'x.tflite'])).toBe(2);
      expect(err.join('')).toMatch(/--format 'tflite' is not one of safetensors, onnx, transformers/);
      expect(await runExport(['--model', tmp, '--format', 'onnx', '--out', 'x.safetensors'])).toBe(2);
      expect(err.join('')).toMatch(/--out 'x\.safetensors' must end in \.onnx/);
      expect(await runExport(['--model', tmp, '--format', 'transformers', '--out', 'served'])).toBe(2);
      expect(err.join('')).toMatch(/--format transformers with --model needs --labels/);
      expect(await runExport(['--model', join(tmp, 'nothing'), '--format', 'onnx', '--out', join(tmp, 'n.onnx')])).toBe(1);
      expect(err.join('')).toMatch(/no saved model at .*model\.json missing/);
    } finally {
      spy.mockRestore();
    }
  });

  it.runIf(FULL_TESTS)('all 17 architectures at their default sizes (FULL_TESTS)', async () => {
    for (const arch of listModels()) {
      const m = await zoo(arch, { numClasses: 14 });
      const { err } = await expectSameOutputs(`full-${arch}`, m);
      console.log(`onnx ${arch}: rel. err ${err.toExponential(2)}`);
      m.dispose();
    }
  });
});

/** Whether /usr/bin/python3 can import these modules. */
function pythonHas(modules: string): boolean {
  return existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;
}
const REQUIRED = process.env.CHEXZOO_REQUIRE_PYTHON === '1';

describe('cross-check with torch.onnx.export (FULL_TESTS)', () => {
  const available = pythonHas('torch, torchvision, onnx');
  it.runIf(!available && REQUIRED && FULL_TESTS)('is required (CHEXZOO_REQUIRE_PYTHON=1) but /usr/bin/python3 lacks torch / torchvision', () => {
    throw new Error('CHEXZOO_REQUIRE_PYTHON=1: install python3-torch and python3-torchvision for the torch.onnx.export cross-check.');
  });
  if (!available && !REQUIRED) console.warn('SKIPPED (not passed): no torch in /usr/bin/python3, the torch.onnx.export cross-check did not run.');
  if (available && !FULL_TESTS) console.warn('SKIPPED (not passed) in plain `npm test`: the torch.onnx.export cross-check runs under FULL_TESTS.');
  it.runIf(available && FULL_TESTS)('mobilenet_v3_small: our file and torchvision\'s, same formula weights, agree in onnxruntime-node', async () => {
    const theirsPath = join(tmp, 'torch-mobilenet_v3_small.onnx');
    const r = spawnSync('/usr/bin/python3', ['tools/onnx_torch_export.py', 'mobilenet_v3_small', '5', '64', theirsPath], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const m = await mv3();
    const [a, b] = await Promise.all([ort.InferenceSession.create(toOnnx(m)), ort.InferenceSession.create(theirsPath)]);
    const x = tf.tensor4d(randomArray(3 * 64 * 64 * 3, 21, -1, 1), [3, 64, 64, 3]);
    const [ya, yb] = [(await theirs(a, x))[0]!, (await theirs(b, x))[0]!];
    expect(relErr(ya, yb)).toBeLessThanOrEqual(1e-4);
    expect(relErr(ya, ours(m, x)[0]!)).toBeLessThanOrEqual(1e-4);
    tf.dispose(x);
    await Promise.all([a.release(), b.release()]);
  });
});

describe('python3-onnx checker', () => {
  const available = pythonHas('onnx');
  const required = REQUIRED;
  it.runIf(!available && required)('is required (CHEXZOO_REQUIRE_PYTHON=1) but /usr/bin/python3 has no onnx', () => {
    throw new Error('CHEXZOO_REQUIRE_PYTHON=1: install python3-onnx (Debian) so tools/onnx_check.py can run.');
  });
  if (!available && !required) console.warn('SKIPPED (not passed): python3-onnx missing, the ONNX checker did not run.');
  it.runIf(available)('accepts every exported file (check_model full_check=True)', async () => {
    if (written.length === 0) {
      // run alone (-t): check one file of our own
      written.push(join(tmp, 'alone.onnx'));
      await saveOnnx(await mv3(), written[0]!);
    }
    const r = spawnSync('/usr/bin/python3', ['tools/onnx_check.py', ...written], { encoding: 'utf8' });
    writeFileSync(join(tmp, 'check.log'), r.stdout + r.stderr);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('OK ')).length).toBe(written.length);
  });
});
