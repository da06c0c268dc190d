// One training step through the memory planner, the same code in Node and in the browser page (train-page.ts):
// a seeded model, deterministic data, the plan chosen under `memoryLimit`, the accumulated (checkpointed)
// gradients of the batch and one optimizer step. `npm run test:browser` compares both sides' figures.
import * as tf from '@tensorflow/tfjs';
import { accumulatedGrads, createAdam, createModel, createStepRunner } from '../../src/index.js';
import { wasmHeapBytes } from '../../src/train/memory.js';

export interface TrainProbeOptions {
  arch: string;
  size: number;
  batch: number;
  seed: number;
  /** Bytes the planner may use (a small one forces checkpointing and micro-batches); default: the backend's. */
  memoryLimit?: number;
  /** Also compute the gradients (L2 norm per variable) before the step. Default true. */
  grads?: boolean;
}

export interface TrainProbeResult {
  backend: string;
  plan: { microBatch: number; chunks: number; checkpointing: boolean; estimateBytes: number };
  /** Loss and per-variable gradient norms of the accumulated gradients (empty without `grads`). */
  gradLoss: number;
  gradNorms: number[];
  /** Loss of the optimizer step and its time. */
  stepLoss: number;
  stepSeconds: number;
  /** The wasm heap after the step (its high-water mark), bytes. */
  heapBytes: number;
  leaked: number;
}

/** Deterministic uniform values in [-1, 1) (an LCG, identical on every platform). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

export async function trainProbe(o: TrainProbeOptions): Promise<TrainProbeResult> {
  const classes = 5;
  const n0 = tf.memory().numTensors;
  const model = await createModel(o.arch, { numClasses: classes, inputShape: [o.size, o.size, 3], seed: o.seed });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.tensor4d(values(o.batch * o.size * o.size * 3, o.seed + 1), [o.batch, o.size, o.size, 3]);
  const y = tf.tidy(() => tf.cast(tf.greater(tf.tensor2d(values(o.batch * classes, o.seed + 2), [o.batch, classes]), 0), 'float32')) as tf.Tensor2D;
  const optimizer = createAdam(1e-3);
  const runner = createStepRunner(model, vars, optimizer, o.memoryLimit !== undefined ? { memoryLimit: o.memoryLimit } : {});
  const p = runner.plan(o.batch);
  let gradLoss = NaN;
  const gradNorms: number[] = [];
  if (o.grads !== false) {
    const stats = model.weights.filter((w) => !w.trainable).map((w) => w.read() as tf.Variable);
    const saved = stats.map((v) => tf.clone(v));
    const r = await accumulatedGrads(model, vars, { x, y }, { microBatch: p.microBatch, checkpointing: p.checkpointing, random: { seed: o.seed, step: 0 } });
    gradLoss = r.loss;
    for (const v of vars) {
      const n = tf.norm(r.grads[v.name]!);
      gradNorms.push((await n.data())[0]!); // async: webgpu in Node has no synchronous read
      n.dispose();
    }
    tf.dispose(Object.values(r.grads));
    stats.forEach((v, i) => v.assign(saved[i]!)); // the step below starts from the same statistics
    tf.dispose(saved);
  }
  const t0 = performance.now();
  const stepLoss = await runner.step({ x, y }, { seed: o.seed, step: 0 });
  const stepSeconds = (performance.now() - t0) / 1000;
  const heapBytes = wasmHeapBytes() ?? 0;
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  const leaked = tf.memory().numTensors - n0;
  return {
    backend: tf.getBackend(),
    plan: { microBatch: p.microBatch, chunks: p.chunks, checkpointing: p.checkpointing, estimateBytes: p.estimateBytes },
    gradLoss, gradNorms, stepLoss, stepSeconds, heapBytes, leaked,
  };
}
