// Reproducible training: `seed` fixes the initialisation (createModel), the dropout and stochastic-depth masks
// (drawn from seed and step) and the data order; the same run twice ends with identical weights and metrics,
// and a run stopped at step N and resumed ends where the uninterrupted run ends.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { arrayBatchSource, BatchNorm, Dropout, MemoryCheckpointStore, StochasticDepth, train, withTrainingRandomness } from '../src/index.js';
import { writeSynthDataset } from '../src/node.js';
import { runTrain } from '../src/cli/train.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-seed-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Conv + BatchNorm, a residual branch under stochastic depth, dropout before the classifier; fixed weights. */
function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let h = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'conv' }).apply(input) as tf.SymbolicTensor;
  h = new BatchNorm({ name: 'bn', momentum: 0.9, epsilon: 1e-5, axis: -1 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  let r = tf.layers.conv2d({ filters: 6, kernelSize: 1, name: 'branch' }).apply(h) as tf.SymbolicTensor;
  r = new StochasticDepth({ p: 0.5, name: 'sd' }).apply(r) as tf.SymbolicTensor;
  h = tf.layers.add({}).apply([h, r]) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  h = new Dropout({ rate: 0.5, name: 'drop' }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: 'fc' }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // fixed weights, so runs differ only by what train() does
  model.setWeights(model.weights.map((w, i) => tf.tidy(() => tf.sin(tf.range(1, w.shape.reduce((a: number, b) => a * b!, 1)! + 1).mul(0.37 + i)).mul(0.3).reshape(w.shape as number[]))));
  return model;
}

function data() {
  const n = 16;
  const x = tf.tidy(() => tf.sin(tf.range(0, n * 8 * 8 * 3).mul(0.013)).reshape([n, 8, 8, 3]) as tf.Tensor4D);
  const y = tf.tensor2d(Array.from({ length: n * 2 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0), [n, 2]);
  return { x, y };
}

async function run(seed: number, stopAt?: number, store = new MemoryCheckpointStore()) {
  const { x, y } = data();
  const model = tinyModel();
  // no shuffling: the seed acts on the masks only
  const source = () => arrayBatchSource({ x, y }, { batchSize: 4, shuffle: false });
  const options = { seed, lr: 1e-2, maxSteps: 6, validateEvery: 3, checkpointEvery: 1, store, topK: 1 };
  try {
    if (stopAt !== undefined) {
      const ac = new AbortController();
      const first = await train(model, { train: source(), valid: source() }, { ...options, signal: ac.signal, onStep: (s) => { if (s.step === stopAt) ac.abort(); } });
      expect(first.interrupted).toBe(true);
      // the resumed run starts from a model with other weights: everything must come from the checkpoint
      model.setWeights(model.weights.map((w) => tf.zeros(w.shape as number[])));
    }
    const result = await train(model, { train: source(), valid: source() }, options);
    const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
    return { result, weights };
  } finally {
    model.dispose();
    tf.dispose([x, y]);
  }
}

describe('seeded training', () => {
  it('dropout and stochastic-depth masks depend on (seed, step) only; identity at inference', () => {
    const x = tf.ones([64, 4, 4, 2]);
    const sd = new StochasticDepth({ p: 0.25, name: 'blk.stochastic_depth' });
    const drop = new Dropout({ rate: 0.3, name: 'drop' });
    const masks = (seed: number, step: number) =>
      withTrainingRandomness({ seed, step }, () => [sd.apply(x, { training: true }), drop.apply(x, { training: true })] as tf.Tensor[]);
    const a = masks(1, 5);
    const b = masks(1, 5);
    const c = masks(1, 6);
    try {
      for (let i = 0; i < 2; i++) {
        expect(Array.from(a[i]!.dataSync())).toEqual(Array.from(b[i]!.dataSync()));
        expect(Array.from(a[i]!.dataSync())).not.toEqual(Array.from(c[i]!.dataSync()));
      }
      // stochastic depth drops whole samples (row mode) and scales the kept ones by 1 / (1 - p)
      const rows = (a[0]!.reshape([64, 32]).arraySync() as number[][]).map((r) => new Set(r));
      const scaled = Math.fround(1 / 0.75);
      expect(rows.every((r) => r.size === 1 && (r.has(0) || r.has(scaled)))).toBe(true);
      const kept = rows.filter((r) => r.has(scaled)).length;
      expect(kept).toBeGreaterThan(32);
      expect(kept).toBeLessThan(64);
      const inference = sd.apply(x, { training: false }) as tf.Tensor;
      expect(inference.dataSync().every((v) => v === 1)).toBe(true);
      inference.dispose();
    } finally {
      tf.dispose([x, ...a, ...b, ...c]);
    }
  });

  it('the same seed gives identical weights and validations; a run stopped at any step and resumed ends identically', async () => {
    const a = await run(3);
    const again = await run(3);
    expect(again.weights).toEqual(a.weights);
    expect(again.result.validations.map((v) => v.meanAuroc)).toEqual(a.result.validations.map((v) => v.meanAuroc));
    expect(again.result.lossHistory).toEqual(a.result.lossHistory);
    // another seed draws other masks (same data order, same initial weights)
    const other = await run(4);
    expect(other.weights).not.toEqual(a.weights);
    for (const stopAt of [2, 4]) {
      const resumed = await run(3, stopAt);
      expect(resumed.result.resumedFrom).toBe(stopAt);
      expect(resumed.weights).toEqual(a.weights);
      expect(resumed.result.validations.map((v) => [v.step, v.meanAuroc, v.trainLoss])).toEqual(
        a.result.validations.map((v) => [v.step, v.meanAuroc, v.trainLoss]),
      );
    }
  });

  it('chexzoo train with the same --seed writes the same metrics.json (EfficientNet: init, stochastic depth)', async () => {
    const dataDir = join(tmp, 'synth');
    await writeSynthDataset(dataDir, { train: 24, valid: 24, size: 32, seed: 2 });
    const args = (out: string, seed: string) =>
      ['--arch', 'efficientnet_b0', '--truncate', 'features.2', '--data', dataDir, '--out', out, '--img-size', '32', '--batch-size', '6', '--max-steps', '3', '--valid-every', '3', '--seed', seed, '--quiet'];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // timings and the run folder differ between runs; everything else must not
    const strip = (file: string) =>
      JSON.stringify(JSON.parse(readFileSync(file, 'utf8')), (k, v: unknown) => (/seconds|time|date|out|dir|path/i.test(k) ? undefined : v));
    try {
      expect(await runTrain(args(join(tmp, 'a'), '7'))).toBe(0);
      expect(await runTrain(args(join(tmp, 'b'), '7'))).toBe(0);
      expect(await runTrain(args(join(tmp, 'c'), '8'))).toBe(0);
    } finally {
      stdout.mockRestore();
    }
    const a = strip(join(tmp, 'a', 'metrics.json'));
    expect(strip(join(tmp, 'b', 'metrics.json'))).toBe(a);
    expect(strip(join(tmp, 'c', 'metrics.json'))).not.toBe(a);
  });
});

describe('createAdam', () => {
  it("uses PyTorch's eps 1e-8: a gradient of 1e-7 moves the weight by lr * 1e-7 / (1e-7 + 1e-8)", async () => {
    const { createAdam } = await import('../src/train/step.js');
    const v = tf.variable(tf.scalar(0));
    const opt = createAdam(0.1);
    opt.minimize(() => tf.mul(v, 1e-7) as tf.Scalar, false, [v]);
    // torch.optim.Adam: -lr * m_hat / (sqrt(v_hat) + eps) with m_hat = g, sqrt(v_hat) = |g|
    expect(v.dataSync()[0]).toBeCloseTo((-0.1 * 1e-7) / (1e-7 + 1e-8), 5); // eps 1e-7 would give -0.05
    opt.dispose();
    v.dispose();
  });
});
