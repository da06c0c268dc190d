// The demo page: pick a model and a chest X-ray, see the five task probabilities and a Grad-CAM overlay.
// Everything runs in the page (TF.js on WebGL, wasm or cpu); the .wasm files are served next to app.js.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { COMPETITION_TASKS, backendInfo, createModel, ensureBackend, fromStandardArtifacts, listModels, loadWeights, type BackendName } from '../../src/index.js';
import { analyze, archOfModel, checkModel, overlay, blocksOf, type Analysis } from './pipeline.js';
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
}
const state: DemoState = {};
/** The checkpoint last chosen: changing the architecture loads it again for the new one. */
let lastCheckpoint: File[] | undefined;
// read by the browser test (test/browser/run.ts) and handy in the console
(window as unknown as { chexzooDemo: DemoState }).chexzooDemo = state;

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
      checkModel(model);
    } catch (e) {
      model.dispose();
      throw e;
    }
    state.model?.dispose();
    state.model = model;
    state.arch = arch;
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
    const r = await analyze(state.model, state.arch!, state.image, { block, classIndex });
    state.result = r;
    state.error = undefined;
    const rows = r.probabilities.map((p, i) => {
      const tr = document.createElement('tr');
      if (i === r.cam.classIndex) tr.className = 'explained';
      tr.innerHTML = `<td>${p.task}</td><td class="bar"><span style="width:${(100 * p.probability).toFixed(1)}%"></span></td><td>${(100 * p.probability).toFixed(1)}%</td>`;
      return tr;
    });
    $('probs').replaceChildren(...rows);
    taskSel.disabled = false;
    blockSel.disabled = false;
    taskSel.value = String(r.cam.classIndex);
    draw('overlay', overlay(r), r.cam.width, r.cam.height);
    draw('input', r.inputRgba, r.cam.width, r.cam.height);
    $('camCaption').textContent = `Grad-CAM of ${COMPETITION_TASKS[r.cam.classIndex]} at ${r.cam.block} (logit ${r.cam.score.toFixed(3)}, map ${r.cam.camHeight} x ${r.cam.camWidth})`;
    say(`${state.imageName}: explained ${COMPETITION_TASKS[r.cam.classIndex]} at ${r.cam.block}.`);
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
// Backend: WebGL, then wasm, then cpu (or ?backend=wasm|webgl|cpu). The wasm binaries are served with the page.

setWasmPaths(new URL('./', location.href).href);
const wanted = new URLSearchParams(location.search).get('backend') as BackendName | null;
try {
  state.backend = await ensureBackend(wanted ? { backend: wanted } : undefined);
  const info = backendInfo();
  const extra = info?.name === 'wasm' ? ` (${info.simd ? 'SIMD' : 'no SIMD'}${info.threads && info.threads > 1 ? `, ${info.threads} threads` : ''})` : '';
  const skipped = info?.skipped.length ? ` — skipped: ${info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}` : '';
  $('backend').textContent = `${state.backend}${extra}`;
  $('backend').title = skipped;
  setStatus('ready');
} catch (e) {
  $('backend').textContent = 'none';
  say(`No TF.js backend could start: ${errText(e)}`, 'error');
}
