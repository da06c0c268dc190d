// The demo page: pick a model and a chest X-ray, see the five task probabilities and a Grad-CAM overlay.
// Everything runs in the page (TF.js on WebGPU, WebGL, wasm or cpu); the .wasm files are served next to app.js.
import * as tf from '@tensorflow/tfjs';
import { COMPETITION_TASKS, createModel, fromStandardArtifacts, listModels, loadWeights } from '../../src/index.js';
import { backendLabel, mountBackendPicker, startBackend } from './backend.js';
import { analyze, archOfModel, checkModel, outputNames, overlay, blocksOf, type Analysis } from './pipeline.js';
import { analyzeXrv, labelledOutputs, tryLoadXrv, type XrvModel } from './xrv.js';
import { initOnnxPanel } from './onnx.js';
import { loadDicomFile, looksLikeDicomFile, pagePolicy } from './dicom.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const archSel = $<HTMLSelectElement>('arch');
const blockSel = $<HTMLSelectElement>('block');
const taskSel = $<HTMLSelectElement>('task');
const message = $<HTMLDivElement>('message');

interface DemoState {
  backend?: string;
  arch?: string;
  model?: tf.LayersModel;
  image?: tf.Tensor3D;
  imageName?: string;
  result?: Analysis;
  error?: string;
  /** Set for a torchxrayvision checkpoint (examples/browser/xrv.ts): its 18 outputs' names and operating points. */
  xrv?: XrvModel['outputs'];
}
const state: DemoState = {};
/** The checkpoint last chosen: changing the architecture loads it again for the new one. */
let lastCheckpoint: File[] | undefined;
// read by the browser test (test/browser/run.ts) and handy in the console
(window as unknown as { chexzooDemo: DemoState }).chexzooDemo = state;
// an exported .onnx run by onnxruntime-web beside the TF.js model (examples/browser/onnx.ts)
const onnxPanel = initOnnxPanel(() => ({ model: state.model, arch: state.arch, image: state.image, tfjsProbabilities: state.result?.probabilities.map((p) => p.probability) }));

function setStatus(s: 'loading' | 'ready' | 'busy' | 'done' | 'error'): void {
  document.body.dataset.status = s;
}
function say(text: string, kind: 'error' | 'info' = 'info'): void {
  message.textContent = text;
  message.className = kind;
  if (kind === 'error') {
    state.error = text;
    setStatus('error');
  }
}
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

for (const a of listModels()) archSel.add(new Option(a, a, a === 'densenet121', a === 'densenet121'));
COMPETITION_TASKS.forEach((t, i) => taskSel.add(new Option(t, String(i))));

// ----------------------------------------------------------------------------------------------------------
// Model: a saved folder (model.json + weights.bin) or a PyTorch / safetensors checkpoint for the chosen arch

async function loadModelFiles(files: File[]): Promise<void> {
  if (files.length === 0) return;
  setStatus('busy');
  say('Loading the model…');
  try {
    const json = files.find((f) => f.name === 'model.json') ?? files.find((f) => f.name.endsWith('.json'));
    const ckpt = files.find((f) => /\.(pth|pt|safetensors|ckpt)$/i.test(f.name));
    let model: tf.LayersModel;
    let arch: string;
    let how: string;
    let xrv: XrvModel | undefined;
    if (json) {
      lastCheckpoint = undefined;
      const bins = files.filter((f) => f.name.endsWith('.bin'));
      let manifest: { weightsManifest?: { paths: string[] }[]; modelTopology?: unknown };
      try {
        manifest = JSON.parse(await json.text());
      } catch {
        throw new Error(`'${json.name}' is not valid JSON: choose the model.json written by saveModel / chexzoo train.`);
      }
      if (!manifest.modelTopology || !manifest.weightsManifest) {
        throw new Error(`'${json.name}' is not a TF.js layers model (no modelTopology / weightsManifest). Choose the folder written by saveModel.`);
      }
      const needed = manifest.weightsManifest.flatMap((g) => g.paths.map((p) => p.split('/').pop()!));
      const missing = needed.filter((n) => !bins.some((b) => b.name === n));
      if (missing.length) throw new Error(`The model folder lacks ${missing.join(', ')}: choose the whole folder, or model.json together with its weight files.`);
      // saveModel writes standard TF.js classes; fromStandardArtifacts restores ours (as loadModel does in Node),
      // so the page runs the very layers Node runs
      const handler = tf.io.browserFiles([json, ...bins.filter((b) => needed.includes(b.name))]);
      model = await tf.loadLayersModel({ load: async () => fromStandardArtifacts(await handler.load!()) });
      const a = archOfModel(model);
      if (!a) {
        model.dispose();
        throw new Error(`Model '${model.name}' is not a chexzoo model (its name must start with one of: ${listModels().join(', ')}).`);
      }
      arch = a;
      archSel.value = a;
      how = `saved model '${model.name}'`;
    } else if (ckpt && (xrv = /\.pt$/i.test(ckpt.name) ? await tryLoadXrv(new Uint8Array(await ckpt.arrayBuffer()), ckpt.name) : undefined)) {
      lastCheckpoint = undefined;
      ({ model, arch, how } = xrv);
      archSel.value = arch;
    } else if (ckpt) {
      lastCheckpoint = [ckpt];
      arch = archSel.value;
      model = await createModel(arch, { numClasses: COMPETITION_TASKS.length });
      try {
        const report = await loadWeights(model, new Uint8Array(await ckpt.arrayBuffer()));
        how = `${arch} with '${ckpt.name}' (${report.format}, ${report.loaded.length} tensors${report.skipped.length ? `, ${report.skipped.length} skipped` : ''})`;
      } catch (e) {
        model.dispose();
        const why = errText(e);
        throw new Error(`'${ckpt.name}' does not fit ${arch}: ${why.length > 400 ? `${why.slice(0, 400)}…` : why}\nPick the architecture the checkpoint was trained with.`);
      }
    } else {
      throw new Error(`Not a model: ${files.map((f) => `'${f.name}'`).join(', ')}. Choose a saved model folder (model.json + weights.bin) or a .pth / .safetensors checkpoint.`);
    }
    try {
      if (!xrv) checkModel(model);
    } catch (e) {
      model.dispose();
      throw e;
    }
    state.model?.dispose();
    state.model = model;
    state.arch = arch;
    state.xrv = xrv?.outputs;
    const tasks = xrv ? labelledOutputs(xrv.outputs) : outputNames(model)!.map((t, i) => [t, i] as const);
    taskSel.replaceChildren(...tasks.map(([t, i]) => new Option(t, String(i))));
    const blocks = blocksOf(model);
    blockSel.replaceChildren(...blocks.map((s) => new Option(s, s)));
    blockSel.value = blocks[blocks.length - 1]!;
    $('modelStatus').textContent = `Loaded ${how}; input ${model.inputs[0]!.shape.slice(1).join(' x ')}.`;
    say(`Model ready: ${how}.`);
    await run();
  } catch (e) {
    say(errText(e), 'error');
  }
}

// ----------------------------------------------------------------------------------------------------------
// Image

async function loadImageFile(file: File): Promise<void> {
  setStatus('busy');
  try {
    if (looksLikeDicomFile(file)) {
      // DICOM hook (examples/browser/dicom.ts): decodeDicom with the page's policy; the window is shown
      const d = await loadDicomFile(file, pagePolicy());
      state.image?.dispose();
      state.image = d.image;
      state.imageName = file.name;
      $('dicomInfo').textContent = d.description;
      say(`Image: ${file.name} (${d.width} x ${d.height}).`);
      await run();
      return;
    }
    $('dicomInfo').textContent = '';
    const isImage = /^image\/(png|jpeg)$/.test(file.type) || /\.(png|jpe?g)$/i.test(file.name);
    if (!isImage) throw new Error(`'${file.name}' is not a PNG or JPEG image (${file.type || 'unknown type'}). Drop a chest X-ray as .png, .jpg or .dcm.`);
    let bitmap: ImageBitmap;
    try {
      // exact pixels: no colour management, no premultiplication
      bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch {
      throw new Error(`'${file.name}' could not be decoded as an image: the file is damaged or not really a PNG/JPEG.`);
    }
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(bitmap, 0, 0);
    const pixels = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    bitmap.close();
    state.image?.dispose();
    state.image = tf.browser.fromPixels(pixels, 3);
    state.imageName = file.name;
    say(`Image: ${file.name} (${pixels.width} x ${pixels.height}).`);
    await run();
  } catch (e) {
    say(errText(e), 'error');
  }
}

// ----------------------------------------------------------------------------------------------------------
// Results

function draw(canvasId: string, rgba: Uint8ClampedArray, w: number, h: number): void {
  const c = $<HTMLCanvasElement>(canvasId);
  c.width = w;
  c.height = h;
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), w, h), 0, 0);
}

async function run(classIndex?: number): Promise<void> {
  if (!state.model || !state.image) {
    setStatus('ready');
    return;
  }
  setStatus('busy');
  try {
    const block = blockSel.value || undefined;
    const r = state.xrv
      ? await analyzeXrv({ model: state.model, outputs: state.xrv }, state.image, { block, classIndex })
      : await analyze(state.model, state.arch!, state.image, { block, classIndex });
    const names = state.xrv ? state.xrv.labels! : outputNames(state.model)!;
    const taskName = (i: number): string => names[i]!;
    state.result = r;
    state.error = undefined;
    const rows = r.probabilities.map((p, i) => {
      const tr = document.createElement('tr');
      if (('index' in p ? p.index : i) === r.cam.classIndex) tr.className = 'explained';
      tr.innerHTML = `<td>${p.task}</td><td class="bar"><span style="width:${(100 * p.probability).toFixed(1)}%"></span></td><td>${(100 * p.probability).toFixed(1)}%</td>`;
      return tr;
    });
    $('probs').replaceChildren(...rows);
    taskSel.disabled = false;
    blockSel.disabled = false;
    taskSel.value = String(r.cam.classIndex);
    draw('overlay', overlay(r), r.cam.width, r.cam.height);
    draw('input', r.inputRgba, r.cam.width, r.cam.height);
    $('camCaption').textContent = `Grad-CAM of ${taskName(r.cam.classIndex)} at ${r.cam.block} (logit ${r.cam.score.toFixed(3)}, map ${r.cam.camHeight} x ${r.cam.camWidth})`;
    say(`${state.imageName}: explained ${taskName(r.cam.classIndex)} at ${r.cam.block}${state.xrv?.opThreshs ? ' (probabilities calibrated: an operating point maps to 50%)' : ''}.`);
    await onnxPanel.refresh();
    setStatus('done');
  } catch (e) {
    say(errText(e), 'error');
  }
}

// inputs are cleared after reading, so choosing the same file again (e.g. after fixing the architecture) loads it
for (const id of ['modelDir', 'modelFiles']) {
  $<HTMLInputElement>(id).addEventListener('change', (e) => {
    const input = e.target as HTMLInputElement;
    const files = Array.from(input.files ?? []);
    input.value = '';
    void loadModelFiles(files);
  });
}
$<HTMLInputElement>('imageFile').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  input.value = '';
  if (f) void loadImageFile(f);
});
archSel.addEventListener('change', () => {
  if (lastCheckpoint) void loadModelFiles(lastCheckpoint);
});
blockSel.addEventListener('change', () => void run(Number(taskSel.value)));
taskSel.addEventListener('change', () => void run(Number(taskSel.value)));
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void loadImageFile(f);
});

// ----------------------------------------------------------------------------------------------------------
// Backend: hardware WebGPU, then WebGL, then wasm, then cpu (or ?backend=webgpu|webgl|wasm|cpu; backend.ts).

try {
  const info = await startBackend();
  state.backend = info.name;
  $('backend').textContent = backendLabel(info);
  $('backend').title = info.skipped.length ? `skipped: ${info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}` : '';
  mountBackendPicker($<HTMLSelectElement>('backendPick'), info.name);
  await onnxPanel.ready; // onnxruntime-web's files in memory: the page works offline from here
  setStatus('ready');
} catch (e) {
  $('backend').textContent = 'none';
  mountBackendPicker($<HTMLSelectElement>('backendPick'));
  say(`No TF.js backend could start: ${errText(e)}`, 'error');
}
