// `npm run test:browser`: the demo page (examples/browser) in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core, which never downloads a browser). A small saved model and a synthetic phantom go
// through the page's file inputs; the probabilities, the Grad-CAM heatmap and the overlay's canvas pixels must
// equal what the same code computes in Node for the same model and image. The page's server is stopped before
// the files are given, so the page works offline once loaded. Runs on wasm, and on WebGL when headless
// Chromium offers it (SwiftShader); screenshots go to test/browser/screenshots/.
// ONNX: the page's ONNX panel runs toOnnx exports (resnet18/layer3, mobilenet_v3_small) in onnxruntime-web on wasm,
// and resnet18/layer3 on its WebGPU provider (Chromium's WebGPU on SwiftShader; skipped, said so, without an adapter);
// the logits must equal Node's TF.js ones (onnx-check.ts).
// Training: one step through the memory planner (train-probe.ts) in the page on wasm, with a small `memoryLimit`
// that makes the planner choose checkpointing and micro-batches; loss and gradients must equal Node's.
// WebGPU (issue 23): the demo and a training step also run on WebGPU, on the SwiftShader adapter Chromium exposes
// with --enable-unsafe-webgpu --use-webgpu-adapter=swiftshader (the page's ?software=1 accepts it); the training
// step is compared with Node's on WebGPU (Dawn on Debian's SwiftShader Vulkan driver). Without an adapter these
// checks say so and are skipped; CHEXZOO_REQUIRE_WEBGPU=1 makes that a failure.
// `npm run test:browser -- --train-full resnet18` instead measures one step at 320 px, batch 16 in the page
// (minutes and up to 4 GiB: not part of the test).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { chromium, type Page } from 'playwright-core';
import { build } from 'esbuild';
import { createModel, decodeDicom, ensureBackend, estimateStepBytes, listModels, loadWeights, renderSynthImage, synthRecords, toSafetensors, truncate } from '../../src/index.js';
import { loadModel, saveModel } from '../../src/node.js';
import { analyze, overlay, type Analysis } from '../../examples/browser/pipeline.js';
// @ts-expect-error plain ESM script without types
import { buildDemo, serveDemo } from '../../examples/browser/serve.mjs';
import { fillFromFormula } from '../helpers/formula.js';
import { SWIFTSHADER_ICD } from '../helpers/webgpu.js';
import { trainProbe, type TrainProbeOptions, type TrainProbeResult } from './train-probe.js';
import { nodeLogits, onnxPanelCheck, onnxWebGpuCheck } from './onnx-check.js';
import { toOnnx } from '../../src/onnx/export.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SIZE = 128; // model input
const IMAGE = 160; // phantom side (the page resizes and centre-crops it)
const here = new URL('.', import.meta.url).pathname;
const shots = join(here, 'screenshots');
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];
const REQUIRE_WEBGPU = process.env.CHEXZOO_REQUIRE_WEBGPU === '1';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD; // Node's Dawn
const BASE_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let passed = 0;
let failed = 0;
const T0 = Date.now();
const log = (s: string) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${s}`);
function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed++;
  else failed++;
  log(`${ok ? '  ok  ' : '  FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

if (!existsSync(CHROMIUM)) {
  console.error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH.`);
  process.exit(1);
}

// --- the model and the image, and what Node computes for them -----------------------------------------------
await ensureBackend('wasm');
const work = mkdtempSync(join(tmpdir(), 'chexzoo-browser-test-'));
const modelDir = join(work, 'model');
{
  const full = await createModel('resnet18', { inputShape: [SIZE, SIZE, 3], numClasses: 5 });
  const small = truncate(full, 'layer3', { numClasses: 5 }); // 'resnet18/layer3': residual adds, 5 logits
  full.dispose();
  fillFromFormula(small);
  await saveModel(small, modelDir);
  writeFileSync(join(work, 'model.onnx'), toOnnx(small)); // for the page's ONNX panel (onnx-check.ts)
  small.dispose();
}
// a valid-split phantom with findings on both sides (cardiomegaly and effusion are drawn large)
const rec = synthRecords('valid', 200, 7).find((r) => r.view === 'frontal' && r.truth.cardiomegaly > 0.5 && r.truth.effusion[0] > 0.4)!;
const phantom = renderSynthImage(rec, IMAGE);
const pngPath = join(work, 'phantom.png');
writeFileSync(pngPath, await sharp(Buffer.from(phantom.data), { raw: { width: IMAGE, height: IMAGE, channels: 1 } }).png().toBuffer());
const badPath = join(work, 'notes.txt');
writeFileSync(badPath, 'not a model\n');

// a checkpoint as a PyTorch user would bring it: mobilenet_v3_small with a 5-class head, as .safetensors
const ckptPath = join(work, 'mobilenet_v3_small-chexpert.safetensors');
let expectedCkpt: Analysis;
let expectedCkptLogits: number[];
const ckptOnnx = join(work, 'mobilenet_v3_small.onnx'); // hard-swish / hard-sigmoid in onnxruntime-web
{
  const m = await createModel('mobilenet_v3_small', { numClasses: 5 });
  fillFromFormula(m);
  const bytes = toSafetensors(m);
  writeFileSync(ckptPath, bytes);
  writeFileSync(ckptOnnx, toOnnx(m));
  m.dispose();
  // what the page does with it: build the architecture with 5 outputs and load the checkpoint
  const fresh = await createModel('mobilenet_v3_small', { numClasses: 5 });
  await loadWeights(fresh, bytes);
  const g = tf.tensor3d(Int32Array.from(phantom.data), [IMAGE, IMAGE, 1], 'int32');
  const c3 = tf.tile(g, [1, 1, 3]) as tf.Tensor3D;
  expectedCkpt = await analyze(fresh, 'mobilenet_v3_small', c3);
  expectedCkptLogits = nodeLogits(fresh, 'mobilenet_v3_small', c3);
  tf.dispose([g, c3]);
  fresh.dispose();
}

const nodeModel = await loadModel(modelDir);
const gray = tf.tensor3d(Int32Array.from(phantom.data), [IMAGE, IMAGE, 1], 'int32');
const rgb = tf.tile(gray, [1, 1, 3]) as tf.Tensor3D;
const expected: Analysis = await analyze(nodeModel, 'resnet18', rgb);
const expectedLayer2: Analysis = await analyze(nodeModel, 'resnet18', rgb, { block: 'layer2', classIndex: 1 });
const expectedLogits = nodeLogits(nodeModel, 'resnet18', rgb); // for the ONNX panel
tf.dispose([gray, rgb]);
// DICOM fixtures as the page decodes them: decodeDicom, 0-255 grey replicated to RGB. JPEG-LS (cornerstone's
// CharLS) on every backend; 12-bit lossy JPEG (dcmjs-codecs, its wasm fetched on demand) on wasm
async function expectDicom(name: string): Promise<{ path: string; analysis: Analysis }> {
  const path = new URL(`../fixtures/dicom/${name}`, import.meta.url).pathname;
  const img = await decodeDicom(new Uint8Array(readFileSync(path)), { name });
  const rgb3 = tf.tile(tf.tensor3d(Int32Array.from(img.pixels, (v) => Math.round(v * 255)), [img.height, img.width, 1], 'int32'), [1, 1, 3]) as tf.Tensor3D;
  const analysis = await analyze(nodeModel, 'resnet18', rgb3, { block: 'layer2' });
  rgb3.dispose();
  return { path, analysis };
}
const { path: dicomPath, analysis: expectedDicom } = await expectDicom('u12_jpegls_lossless.dcm');
const { path: dicom12Path, analysis: expectedDicom12 } = await expectDicom('u12_jpeg_extended.dcm');
nodeModel.dispose();
log(`Node (wasm): probabilities ${expected.probabilities.map((p) => p.probability.toFixed(4)).join(' ')}, explained class ${expected.cam.classIndex} at ${expected.cam.block}`);

const files = await buildDemo();
mkdirSync(shots, { recursive: true });

interface PageResult {
  probabilities: number[];
  heatmap: number[];
  classIndex: number;
  block: string;
  score: number;
  overlay: number[];
  message: string;
  backend: string;
}
/** Drops a DICOM file on the page's drop zone; resolves to the DICOM line once it names `syntax` (or on an error). */
async function dropDicom(page: Page, path: string, syntax: string): Promise<string> {
  const name = basename(path);
  const dt = await page.evaluateHandle(
    ([b64, fileName]) => {
      const u = Uint8Array.from(atob(b64!), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([u], fileName!, { type: 'application/dicom' }));
      return d;
    },
    [readFileSync(path).toString('base64'), name],
  );
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  const done = (ts: string) => ((document.getElementById('dicomInfo')!.textContent ?? '').includes(ts) && document.body.dataset.status === 'done') || document.body.dataset.status === 'error';
  await page.waitForFunction(done, syntax, { timeout: 60_000 });
  return (await page.textContent('#dicomInfo')) ?? '';
}

async function readPage(page: Page): Promise<PageResult> {
  return page.evaluate(() => {
    const s = (window as unknown as { chexzooDemo: { result: Analysis } }).chexzooDemo;
    const c = document.getElementById('overlay') as HTMLCanvasElement;
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return {
      probabilities: s.result.probabilities.map((p) => p.probability),
      heatmap: Array.from(s.result.cam.heatmap),
      classIndex: s.result.cam.classIndex,
      block: s.result.cam.block,
      score: s.result.cam.score,
      overlay: Array.from(px),
      message: document.getElementById('message')!.textContent ?? '',
      backend: document.getElementById('backend')!.textContent ?? '',
    };
  });
}
const waitStatus = (page: Page, status: string, timeout = 60_000) =>
  page.waitForFunction((s) => document.body.dataset.status === s, status, { timeout });

// `camTol`: a Grad-CAM map at an inner block is divided by its maximum, which magnifies float32 differences of
// the GPU path (WebGL via SwiftShader: measured 1.1e-3 at layer2); wasm must match to `tol` everywhere.
async function runOn(backend: 'wasm' | 'webgl' | 'webgpu', tol: number, extraArgs: string[], camTol = tol): Promise<void> {
  log(`\n[${backend}]`);
  const { server, url } = await serveDemo(files, 0);
  const profile = mkdtempSync(join(tmpdir(), 'chexzoo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', ...BASE_ARGS, ...extraArgs],
    viewport: { width: 1100, height: 760 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(`${url}?backend=${backend}${backend === 'webgpu' ? '&software=1' : ''}`);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.status ?? ''), null, { timeout: 60_000 });
    const status = await page.evaluate(() => document.body.dataset.status);
    if (status !== 'ready') {
      const why = await page.evaluate(() => document.getElementById('message')!.textContent);
      if (backend === 'webgl') {
        log(`  skip WebGL: headless Chromium offers no WebGL backend here (${why})`);
        return;
      }
      if (backend === 'webgpu' && !REQUIRE_WEBGPU) {
        log(`  SKIP WebGPU (NOT RUN, not passed): headless Chromium offers no WebGPU adapter here (${why})`);
        return;
      }
      check(`page starts on ${backend}`, false, String(why));
      return;
    }
    const shownBackend = await page.textContent('#backend');
    const shownOk = backend === 'webgpu' ? /^WebGPU \(.+\)/.test(shownBackend ?? '') : (shownBackend ?? '').startsWith(backend);
    check(`page shows the backend in use`, shownOk, String(shownBackend));
    // offline from here on: the page has everything it needs
    const closed = new Promise((r) => server.close(r));
    server.closeAllConnections();
    await closed;

    // wrong files get clear messages
    await page.setInputFiles('#modelFiles', badPath);
    await waitStatus(page, 'error');
    const m1 = (await page.textContent('#message')) ?? '';
    check('a wrong model file is named in a clear message', /Not a model: 'notes\.txt'.*saved model folder.*\.pth/.test(m1), m1);
    await page.setInputFiles('#imageFile', join(modelDir, 'model.json'));
    await waitStatus(page, 'error');
    const m2 = (await page.textContent('#message')) ?? '';
    check('a non-image is refused with a clear message', /'model\.json' is not a PNG or JPEG image/.test(m2), m2);

    // the saved model folder, then the phantom
    await page.setInputFiles('#modelDir', modelDir);
    await page.waitForFunction(() => /Model ready/.test(document.getElementById('message')!.textContent ?? '') || document.body.dataset.status === 'error', null, { timeout: 60_000 });
    const m3 = (await page.textContent('#message')) ?? '';
    check('the saved model folder loads', /Model ready: saved model 'resnet18\/layer3'/.test(m3), m3);
    await page.setInputFiles('#imageFile', pngPath);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status ?? '') && /explained/.test(document.getElementById('message')!.textContent ?? '') || document.body.dataset.status === 'error', null, { timeout: 90_000 });
    let r = await readPage(page);
    const dp = maxAbsDiff(r.probabilities, expected.probabilities.map((p) => p.probability));
    const dh = maxAbsDiff(r.heatmap, expected.cam.heatmap);
    const ds = Math.abs(r.score - expected.cam.score) / Math.max(1, Math.abs(expected.cam.score));
    check(`class logit equals Node's (${r.score.toFixed(4)}, rel. diff ${ds.toExponential(2)} <= ${tol})`, ds <= tol);
    check(`probabilities equal Node's (max |diff| ${dp.toExponential(2)} <= ${tol})`, dp <= tol);
    check(`heatmap equals Node's (${r.heatmap.length} px, max |diff| ${dh.toExponential(2)} <= ${tol})`, dh <= tol);
    check('explains the most probable task at the last block', r.classIndex === expected.cam.classIndex && r.block === 'layer3', `${r.classIndex} at ${r.block}`);
    const want = overlay(expected);
    const dpx = maxAbsDiff(r.overlay, want);
    let heated = 0;
    for (let i = 0; i < want.length; i += 4) if (Math.abs(r.overlay[i]! - expected.inputRgba[i]!) + Math.abs(r.overlay[i + 2]! - expected.inputRgba[i + 2]!) > 20) heated++;
    check(`overlay canvas drawn as computed in Node (max pixel diff ${dpx})`, dpx <= 2);
    check(`overlay shows heat over the image (${((100 * heated) / (want.length / 4)).toFixed(0)}% of pixels tinted)`, heated > 0.05 * (want.length / 4));
    await page.screenshot({ path: join(shots, `demo-${backend}.png`) });
    if (backend === 'wasm') await onnxPanelCheck(page, join(work, 'model.onnx'), expectedLogits, tol, check);

    // another block and task through the pickers
    await page.selectOption('#block', 'layer2');
    await page.waitForFunction(() => /at layer2/.test(document.getElementById('message')!.textContent ?? ''), null, { timeout: 60_000 });
    await page.selectOption('#task', '1');
    await page.waitForFunction(() => /Cardiomegaly at layer2/.test(document.getElementById('message')!.textContent ?? ''), null, { timeout: 60_000 });
    r = await readPage(page);
    const dh2 = maxAbsDiff(r.heatmap, expectedLayer2.cam.heatmap);
    check(`block and task pickers: Cardiomegaly at layer2 equals Node's (max |diff| ${dh2.toExponential(2)} <= ${camTol})`, dh2 <= camTol && r.block === 'layer2' && r.classIndex === 1);
    await page.screenshot({ path: join(shots, `demo-${backend}-layer2.png`) });

    // a DICOM dropped on the page: decoded by decodeDicom in the page (JPEG-LS codec), window and policy shown
    let info = await dropDicom(page, dicomPath, 'JPEG-LS Lossless');
    check('a dropped DICOM shows its window and the policy', /DICOM 64 x 48, MONOCHROME2, JPEG-LS Lossless; policy 'voi': window LINEAR centre 2000 width 3000/.test(info), info);
    r = await readPage(page);
    const dpd = maxAbsDiff(r.probabilities, expectedDicom.probabilities.map((p) => p.probability));
    const dhd = maxAbsDiff(r.heatmap, expectedDicom.cam.heatmap);
    check(`DICOM: probabilities and heatmap equal Node's decodeDicom path (${dpd.toExponential(2)}, ${dhd.toExponential(2)})`, dpd <= tol && dhd <= camTol, r.message);
    if (backend === 'wasm') {
      info = await dropDicom(page, dicom12Path, 'JPEG Extended');
      r = await readPage(page);
      const d12 = maxAbsDiff(r.probabilities, expectedDicom12.probabilities.map((p) => p.probability));
      check(`12-bit lossy JPEG DICOM decodes in the page (dcmjs-codecs) as in Node (${d12.toExponential(2)})`, /JPEG Extended/.test(info) && d12 <= tol, `${info} ${r.message}`);
    }
    await page.screenshot({ path: join(shots, `demo-${backend}-dicom.png`) });
    // the phantom again, so the checks below see the image they expect
    await page.setInputFiles('#imageFile', pngPath);
    await page.waitForFunction(() => document.getElementById('dicomInfo')!.textContent === '' && ['done', 'error'].includes(document.body.dataset.status ?? ''), null, { timeout: 60_000 });
    if (backend === 'wasm') {
      // a .safetensors checkpoint: refused with a clear message for the wrong architecture, loaded for the right one
      await page.selectOption('#arch', 'resnet18');
      await page.setInputFiles('#modelFiles', ckptPath);
      await waitStatus(page, 'error');
      const m4 = (await page.textContent('#message')) ?? '';
      check('a checkpoint for another architecture gets a clear message', /'mobilenet_v3_small-chexpert\.safetensors' does not fit resnet18: .*Pick the architecture the checkpoint was trained with/s.test(m4), m4.slice(0, 160));
      // picking the right architecture loads the chosen checkpoint again
      await page.selectOption('#arch', 'mobilenet_v3_small');
      await page.waitForFunction(() => {
        const st = document.body.dataset.status;
        return st === 'done' || (st === 'error' && !/does not fit resnet18/.test(document.getElementById('message')!.textContent ?? ''));
      }, null, { timeout: 90_000 });
      r = await readPage(page);
      const dpc = maxAbsDiff(r.probabilities, expectedCkpt.probabilities.map((p) => p.probability));
      const dhc = maxAbsDiff(r.heatmap, expectedCkpt.cam.heatmap);
      check(`.safetensors checkpoint (mobilenet_v3_small, 224 x 224): probabilities and heatmap equal Node's (${dpc.toExponential(2)}, ${dhc.toExponential(2)})`, dpc <= tol && dhc <= tol && r.block === expectedCkpt.cam.block, r.message);
      await page.screenshot({ path: join(shots, `demo-${backend}-checkpoint.png`) });
      await onnxPanelCheck(page, ckptOnnx, expectedCkptLogits, tol, check);
    }
    check('no uncaught page errors', consoleErrors.length === 0, consoleErrors.join('; '));
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The training page (train-page.ts) next to the demo's files (same server, same wasm binaries). */
async function addTrainPage(): Promise<void> {
  const out = await build({
    entryPoints: [join(here, 'train-page.ts')], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
    minify: true, write: false, logLevel: 'warning',
  });
  files.set('/train', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><meta charset="utf-8"><title>train probe</title><script type="module" src="./train.js"></script>') });
  files.set('/train.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(out.outputFiles[0]!.contents) });
}

/** Runs `trainProbe(o)` in a fresh headless Chromium page on wasm (or WebGPU on SwiftShader). */
async function probeInBrowser(o: TrainProbeOptions, timeout: number, backend: 'wasm' | 'webgpu' = 'wasm'): Promise<TrainProbeResult> {
  const { server, url } = await serveDemo(files, 0);
  const profile = mkdtempSync(join(tmpdir(), 'chexzoo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ['--headless', ...BASE_ARGS, ...(backend === 'webgpu' ? WEBGPU_ARGS : ['--disable-gpu'])],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(timeout);
    await page.goto(`${url}train?backend=${backend}`);
    await page.waitForFunction(() => document.body?.dataset.status === 'ready', null, { timeout: 60_000 });
    return await page.evaluate((opts) => (window as unknown as { chexzooTrainProbe: typeof trainProbe }).chexzooTrainProbe(opts), o);
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A memory limit between the checkpointed micro-batch of 2 and the whole batch: checkpointing + 2 micro-batches. */
async function limitToTwoMicroBatches(o: TrainProbeOptions): Promise<void> {
  const m = await createModel(o.arch, { numClasses: 5, inputShape: [o.size, o.size, 3], seed: o.seed });
  o.memoryLimit = estimateStepBytes(m, 2, true) + 1;
  m.dispose();
}

async function trainCheck(): Promise<void> {
  log('\n[training step through the memory planner, wasm]');
  const o: TrainProbeOptions = { arch: 'resnet18', size: 32, batch: 4, seed: 3 };
  await limitToTwoMicroBatches(o);
  const node = await trainProbe(o);
  const web = await probeInBrowser(o, 180_000);
  log(`  Node: plan ${JSON.stringify(node.plan)}, loss ${node.gradLoss}; Chromium: plan ${JSON.stringify(web.plan)}, loss ${web.gradLoss}, step ${web.stepSeconds.toFixed(1)} s`);
  check('the planner picks checkpointing with 2 micro-batches of 2 in the page, as in Node',
    web.backend === 'wasm' && web.plan.checkpointing && web.plan.microBatch === 2 && web.plan.chunks === 2 && JSON.stringify(web.plan) === JSON.stringify(node.plan), JSON.stringify(web.plan));
  let worst = 0;
  node.gradNorms.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - web.gradNorms[i]!) / Math.max(Math.abs(g), 1e-6))));
  const dl = Math.abs(web.gradLoss - node.gradLoss);
  check(`accumulated checkpointed gradients equal Node's (${web.gradNorms.length} variables, max rel. diff of norms ${worst.toExponential(2)} <= 1e-4; loss diff ${dl.toExponential(2)})`,
    web.gradNorms.length === node.gradNorms.length && node.gradNorms.length > 0 && worst <= 1e-4 && dl <= 1e-5);
  check(`the optimizer step runs in the page with the same loss (${web.stepLoss.toFixed(6)}), leaking no tensor`,
    Math.abs(web.stepLoss - node.stepLoss) <= 1e-5 && web.leaked === 0 && node.leaked === 0, `leaked ${web.leaked}`);
}

/** The same training step on WebGPU in Node (Dawn) and in the page (Chromium's WebGPU), both on SwiftShader. */
async function trainCheckWebGPU(): Promise<void> {
  log('\n[training step through the memory planner, webgpu]');
  const o: TrainProbeOptions = { arch: 'mobilenet_v3_small', size: 32, batch: 4, seed: 3 };
  await limitToTwoMicroBatches(o);
  let node: TrainProbeResult;
  try {
    await ensureBackend({ backend: 'webgpu', allowSoftware: true });
    node = await trainProbe(o);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    if (REQUIRE_WEBGPU) check('WebGPU in Node (Dawn) for the training step', false, why);
    else log(`  SKIP WebGPU training step (NOT RUN, not passed): no WebGPU adapter in Node (${why})`);
    return;
  } finally {
    await ensureBackend({ backend: 'wasm' });
  }
  const web = await probeInBrowser(o, 600_000, 'webgpu');
  log(`  Node: plan ${JSON.stringify(node.plan)}, loss ${node.gradLoss}; Chromium: ${web.backend}, plan ${JSON.stringify(web.plan)}, loss ${web.gradLoss}`);
  if (web.backend !== 'webgpu' && !REQUIRE_WEBGPU) {
    log(`  SKIP WebGPU training step in the page (NOT RUN, not passed): the page runs on ${web.backend}`);
    return;
  }
  let worst = 0;
  node.gradNorms.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - web.gradNorms[i]!) / Math.max(Math.abs(g), 1e-6))));
  check(`WebGPU in the page: the plan, the accumulated checkpointed gradients and the step equal Node's on WebGPU (max rel. diff of norms ${worst.toExponential(2)} <= 1e-4; losses ${web.gradLoss} / ${node.gradLoss}, step ${web.stepLoss} / ${node.stepLoss})`,
    web.backend === 'webgpu' && JSON.stringify(web.plan) === JSON.stringify(node.plan) && web.plan.checkpointing && web.plan.chunks === 2 &&
      web.gradNorms.length === node.gradNorms.length && worst <= 1e-4 && Math.abs(web.gradLoss - node.gradLoss) <= 1e-5 &&
      Math.abs(web.stepLoss - node.stepLoss) <= 1e-5 && web.leaked === 0 && node.leaked === 0);
}

/**
 * Under CHEXZOO_TEST_FULL=1 (CI): every one of the 17 architectures takes a training step in the page on WebGPU
 * (SwiftShader; 32 px, 75 for the Inceptions, batch 2): a missing kernel would throw; the loss is finite and
 * nothing leaks. Training parity on WebGPU is proven in Node (test/webgpu-full.test.ts) and above for one model.
 */
async function trainAllWebGPU(): Promise<void> {
  if (process.env.CHEXZOO_TEST_FULL !== '1') {
    log('\n[every architecture trains in the page on WebGPU] NOT RUN here (CHEXZOO_TEST_FULL=1 runs it; CI does)');
    return;
  }
  log('\n[every architecture trains in the page on WebGPU]');
  for (const arch of listModels()) {
    const size = arch.startsWith('inception') ? 75 : 32;
    let r: TrainProbeResult;
    try {
      r = await probeInBrowser({ arch, size, batch: 2, seed: 1, grads: false }, 600_000, 'webgpu');
    } catch (e) {
      const why = (e as Error).message.split('\n')[0];
      if (!REQUIRE_WEBGPU && /webgpu|adapter/i.test(why ?? '')) {
        log(`  SKIP (NOT RUN, not passed): no WebGPU in the page (${why})`);
        return;
      }
      check(`${arch}: a training step in the page on WebGPU`, false, why);
      continue;
    }
    if (r.backend !== 'webgpu' && !REQUIRE_WEBGPU) {
      log(`  SKIP (NOT RUN, not passed): the page runs on ${r.backend}, not WebGPU`);
      return;
    }
    check(`${arch}: a training step in the page on WebGPU (loss ${r.stepLoss.toFixed(4)}, ${r.stepSeconds.toFixed(1)} s, ${r.leaked} tensors leaked)`,
      r.backend === 'webgpu' && Number.isFinite(r.stepLoss) && r.leaked === 0);
  }
}

const full = process.argv.indexOf('--train-full');
if (full > 0) {
  // measurement, not a test: one step at the paper's settings in Chromium
  await addTrainPage();
  const arch = process.argv[full + 1] ?? 'resnet18';
  const r = await probeInBrowser({ arch, size: 320, batch: 16, seed: 0, grads: false }, 3_600_000);
  console.log(JSON.stringify({ arch, ...r, heapMiB: r.heapBytes / 2 ** 20 }));
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

const t0 = Date.now();
try {
  await runOn('wasm', 1e-4, ['--disable-gpu']);
  // WebGL in headless Chromium without a GPU: ANGLE on SwiftShader (float32 textures; a looser tolerance)
  await runOn('webgl', 1e-3, ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'], 5e-3);
  // WebGPU on Chromium's SwiftShader adapter (float32 like wasm; Grad-CAM at an inner block magnifies noise)
  await runOn('webgpu', 1e-4, WEBGPU_ARGS, 1e-3);
  await onnxWebGpuCheck({ files, serveDemo, chromium, executablePath: CHROMIUM, baseArgs: BASE_ARGS, modelDir, imagePath: pngPath, onnxPath: join(work, 'model.onnx'), expected: expectedLogits, profile: mkdtempSync(join(tmpdir(), 'chexzoo-chromium-')) }, check, log);
  await addTrainPage();
  await trainCheck();
  await trainCheckWebGPU();
  await trainAllWebGPU();
} finally {
  rmSync(work, { recursive: true, force: true });
}
log(`\nbrowser test: ${((Date.now() - t0) / 1000).toFixed(0)} s; screenshots in ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
