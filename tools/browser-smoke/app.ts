// Runs in a browser page (bundled by run.mjs): the root entry's zoo, truncation, metrics and a training step.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { auroc, backendInfo, blocks, createModel, ensureBackend, truncate } from '../../src/index.js';

const params = new URLSearchParams(location.search);
const backend = params.get('backend') ?? undefined;
setWasmPaths('/');
const out: Record<string, unknown> = {};
try {
  out.backend = await ensureBackend(backend ? { backend: backend as 'wasm' | 'webgl' | 'cpu' } : undefined);
  out.info = backendInfo();
  const model = await createModel('mobilenet_v3_small', { inputShape: [64, 64, 3], numClasses: 2 });
  const y = model.predict(tf.ones([1, 64, 64, 3])) as tf.Tensor;
  out.shape = y.shape;
  out.finite = Array.from(await y.data()).every(Number.isFinite);
  out.stages = blocks(model).length;
  const small = truncate(model, -2, { numClasses: 2 });
  small.compile({ optimizer: tf.train.adam(1e-3), loss: (t: tf.Tensor, p: tf.Tensor) => tf.losses.sigmoidCrossEntropy(t, p) });
  out.loss = await small.trainOnBatch(tf.randomNormal([2, 64, 64, 3]), tf.tensor2d([[1, 0], [0, 1]]));
  out.auroc = auroc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.3]);
} catch (e) {
  out.error = String((e as Error).stack ?? e);
}
await fetch('/result', { method: 'POST', body: JSON.stringify(out) });
