// `npm run bench -- --onnx`: onnxruntime-node beside our predict and PyTorch in bench/run.ts's interleaved rounds.
// The model the TF.js side times is exported with toOnnx and run in two sessions: one intra-op thread, and one per
// core (ONNX Runtime's graph optimisations on, as a server would run it). Same input, NCHW.
import type * as tf from '@tensorflow/tfjs';
import type * as Ort from 'onnxruntime-node';
import { toOnnx } from '../src/onnx/export.js';

/** One timed side: its name in the results and a function that runs one batch to completion. */
export type OnnxSide = ['ort1' | 'ortAll', () => Promise<void>];

/**
 * The two onnxruntime-node sides for `model` on the NHWC batch `x`; call `release()` when done.
 * @example const o = await onnxSides(model, x, os.availableParallelism());
 */
export async function onnxSides(model: tf.LayersModel, x: tf.Tensor4D, cores: number): Promise<{ sides: OnnxSide[]; release(): Promise<void> }> {
  const ort = (await import('onnxruntime-node')) as typeof Ort;
  const bytes = toOnnx(model);
  const [n, h, w, c] = x.shape;
  const nhwc = x.dataSync() as Float32Array;
  const nchw = new Float32Array(nhwc.length); // NHWC -> NCHW once, outside the timing
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) for (let k = 0; k < c; k++) nchw[((b * c + k) * h * w) + i] = nhwc[(b * h * w + i) * c + k]!;
  const feeds = { pixel_values: new ort.Tensor('float32', nchw, [n, c, h, w]) };
  const options = (threads: number): Ort.InferenceSession.SessionOptions => ({
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const [one, all] = [await ort.InferenceSession.create(bytes, options(1)), await ort.InferenceSession.create(bytes, options(cores))];
  const run = (s: Ort.InferenceSession) => async () => {
    const out = await s.run(feeds);
    for (const t of Object.values(out)) t.dispose();
  };
  return {
    sides: [['ort1', run(one)], ['ortAll', run(all)]],
    release: async () => { await one.release(); await all.release(); },
  };
}
