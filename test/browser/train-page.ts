// The browser side of train-probe.ts: `window.chexzooTrainProbe(options)` on the wasm backend.
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { ensureBackend } from '../../src/index.js';
import { trainProbe, type TrainProbeOptions } from './train-probe.js';

setWasmPaths(new URL('./', location.href).href);
const ready = ensureBackend({ backend: 'wasm' });
(window as unknown as Record<string, unknown>).chexzooTrainProbe = async (o: TrainProbeOptions) => {
  await ready;
  return trainProbe(o);
};
document.body.dataset.status = 'ready';
