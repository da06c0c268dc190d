// The browser side of train-probe.ts: `window.chexzooTrainProbe(options)` on the wasm backend, or the one the
// address names (?backend=webgpu: the software adapter is accepted, this is a test page).
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { ensureBackend } from '../../src/index.js';
import { trainProbe, type TrainProbeOptions } from './train-probe.js';

setWasmPaths(new URL('./', location.href).href);
const wanted = (new URLSearchParams(location.search).get('backend') ?? 'wasm') as 'wasm' | 'webgpu';
const ready = ensureBackend({ backend: wanted, allowSoftware: true });
(window as unknown as Record<string, unknown>).chexzooTrainProbe = async (o: TrainProbeOptions) => {
  await ready;
  return trainProbe(o);
};
document.body.dataset.status = 'ready';
