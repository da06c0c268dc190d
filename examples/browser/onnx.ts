// The demo's ONNX panel: load a `.onnx` exported by `chexzoo export --format onnx` (or toOnnx) and run it with
// onnxruntime-web (WebGPU where the browser offers it, else wasm) on the same preprocessed image as the TF.js
// model, showing both probabilities side by side. app.ts only calls initOnnxPanel, awaits `ready` and calls
// refresh(). ORT-web's loader and binary (its WebGPU build, which also runs wasm) are served next to app.js
// (serve.mjs) and read into memory while the page starts, so the page keeps working offline once loaded.
import * as tf from '@tensorflow/tfjs';
import type * as Ort from 'onnxruntime-web';
import { preprocess } from '../../src/index.js';
import { outputNames, preprocessSpecFor } from './pipeline.js';

/** What the panel reads from the page: the TF.js model (for the preprocessing), its arch, the image, its probabilities. */
export interface OnnxPanelSource {
  model?: tf.LayersModel;
  arch?: string;
  image?: tf.Tensor3D;
  tfjsProbabilities?: number[];
}

/** The panel's state, read by the browser test (window.chexzooOnnx). */
export interface OnnxPanelState {
  provider?: string;
  file?: string;
  logits?: number[];
  probabilities?: number[];
  maxDiffVsTfjs?: number;
  error?: string;
}

const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'] as const;
let ortModule: typeof Ort | undefined;
let ortFiles: Promise<{ mjs: string; wasm: string }> | undefined;

/** ORT-web's loader and binary as in-memory blob URLs (fetched once from the page's server). */
function preloadOrtFiles(): Promise<{ mjs: string; wasm: string }> {
  ortFiles ??= Promise.all(ORT_FILES.map(async (f) => {
    const r = await fetch(new URL(f, location.href));
    if (!r.ok) throw new Error(`${f}: HTTP ${r.status} (serve the page with npm run demo)`);
    return URL.createObjectURL(new Blob([await r.arrayBuffer()], { type: f.endsWith('.mjs') ? 'text/javascript' : 'application/wasm' }));
  })).then(([mjs, wasm]) => ({ mjs: mjs!, wasm: wasm! }));
  return ortFiles;
}

async function loadOrt(): Promise<typeof Ort> {
  if (!ortModule) {
    const paths = await preloadOrtFiles();
    ortModule = await import('onnxruntime-web');
    ortModule.env.wasm.wasmPaths = paths;
  }
  return ortModule;
}

/** The ONNX session's logits for the page's image, preprocessed as for the TF.js model. */
async function runSession(ort: typeof Ort, session: Ort.InferenceSession, src: OnnxPanelSource): Promise<number[]> {
  const spec = preprocessSpecFor(src.arch!, src.model!);
  const channels = src.model!.inputs[0]!.shape[3] as 1 | 3;
  const nchw = tf.tidy(() => tf.transpose(preprocess(src.image!, spec, { channels }), [0, 3, 1, 2]));
  const data = (await nchw.data()) as Float32Array;
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', data, nchw.shape) };
  nchw.dispose();
  const out = await session.run(feeds);
  const logits = out[session.outputNames[0]!]!;
  const z = Array.from(logits.data as Float32Array);
  for (const t of Object.values(out)) t.dispose();
  return z;
}

function render(table: HTMLElement, st: OnnxPanelState, tfjs?: number[], names?: string[]): void {
  if (!st.probabilities) return;
  const rows = st.probabilities.map((p, i) => {
    const tr = document.createElement('tr');
    const t = tfjs?.[i];
    tr.innerHTML = `<td>${names?.[i] ?? `output ${i}`}</td><td>${(100 * p).toFixed(2)}%</td><td><small>TF.js ${t === undefined ? '—' : `${(100 * t).toFixed(2)}%`}</small></td>`;
    return tr;
  });
  table.replaceChildren(...rows);
}

/**
 * Wires the ONNX file input (#onnxFile) to onnxruntime-web and the result table (#onnxProbs, #onnxStatus).
 * `source()` is read at each run; call `refresh()` after the TF.js model or the image changed.
 * @example const panel = initOnnxPanel(() => ({ model: state.model, arch: state.arch, image: state.image }));
 */
export function initOnnxPanel(source: () => OnnxPanelSource): { refresh(): Promise<void>; ready: Promise<void> } {
  const input = document.getElementById('onnxFile') as HTMLInputElement | null;
  const status = document.getElementById('onnxStatus')!;
  const table = document.getElementById('onnxProbs')!;
  const st: OnnxPanelState = {};
  (window as unknown as { chexzooOnnx: OnnxPanelState }).chexzooOnnx = st;
  let session: Ort.InferenceSession | undefined;
  const say = (text: string, state: 'ready' | 'done' | 'error' | 'busy') => {
    status.textContent = text;
    status.dataset.state = state;
    if (state === 'error') st.error = text;
  };
  const refresh = async () => {
    const src = source();
    if (!session) return;
    if (!src.model || !src.image || !src.arch) return say(`ONNX model ready on ${st.provider}: load the TF.js model (for its preprocessing) and an image.`, 'ready');
    try {
      say('Running the ONNX model…', 'busy');
      st.logits = await runSession(await loadOrt(), session, src);
      st.probabilities = st.logits.map((v) => 1 / (1 + Math.exp(-v)));
      const tfjs = src.tfjsProbabilities;
      st.maxDiffVsTfjs = tfjs ? Math.max(...st.probabilities.map((p, i) => Math.abs(p - (tfjs[i] ?? NaN)))) : undefined;
      const names = outputNames(src.model); // the TF.js model's, when it has as many outputs as the ONNX file
      render(table, st, tfjs, names?.length === st.probabilities.length ? names : undefined);
      say(`${st.file} on onnxruntime-web (${st.provider}): max |difference| from TF.js ${st.maxDiffVsTfjs?.toExponential(2) ?? '—'}.`, 'done');
    } catch (e) {
      say(`The ONNX model could not run: ${e instanceof Error ? e.message : String(e)}`, 'error');
    }
  };
  input?.addEventListener('change', () => {
    const f = input.files?.[0];
    input.value = '';
    if (f) void load(f);
  });
  async function load(f: File): Promise<void> {
    st.error = undefined;
    if (!/\.onnx$/i.test(f.name)) return say(`'${f.name}' is not an .onnx file: export one with chexzoo export --format onnx.`, 'error');
    try {
      say(`Loading ${f.name}…`, 'busy');
      const ort = await loadOrt();
      const bytes = new Uint8Array(await f.arrayBuffer());
      const gpu = 'gpu' in navigator && (await (navigator as unknown as { gpu: { requestAdapter(): Promise<unknown> } }).gpu.requestAdapter().catch(() => null));
      const providers = gpu ? ['webgpu', 'wasm'] : ['wasm'];
      await session?.release();
      session = await ort.InferenceSession.create(bytes, { executionProviders: providers });
      st.provider = gpu ? 'webgpu (wasm fallback)' : 'wasm';
      st.file = f.name;
      await refresh();
    } catch (e) {
      say(`'${f.name}' could not be loaded by onnxruntime-web: ${e instanceof Error ? e.message : String(e)}`, 'error');
    }
  }
  // a failed preload leaves the TF.js page working; the panel reports it when a file is chosen
  const ready = preloadOrtFiles().then(() => undefined, (e: unknown) => void say(`onnxruntime-web is unavailable: ${e instanceof Error ? e.message : String(e)}`, 'error'));
  return { refresh, ready };
}
