import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  arrayBatchSource,
  balancedPosWeights,
  evaluate,
  loadTopK,
  maskedSigmoidCrossEntropy,
  MemoryCheckpointStore,
  perTaskAuroc,
  train,
  type BatchSource,
} from '../src/index.js';
import { FileCheckpointStore, writeSynthDataset } from '../src/node.js';
import { runTrain } from '../src/cli/train.js';
import { runEval } from '../src/cli/eval.js';
import { createTrainProgress } from '../src/node/progress.js';
import { leakCheck, maxAbsDiff, rng } from './helpers/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A small conv net with BatchNorm (enough to exercise every part of the loop, fast on 2 cores). */
function tinyModel(tasks = 3, size = 12): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let h = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'conv' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: tasks, name: 'fc' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Images whose channel brightness encodes the labels (learnable), with a U-Ignore style mask. */
function makeData(n: number, seed: number, size = 12, tasks = 3) {
  const rand = rng(seed);
  const y = new Float32Array(n * tasks);
  const mask = new Float32Array(n * tasks).fill(1);
  const x = new Float32Array(n * size * size * 3);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < tasks; j++) {
      y[i * tasks + j] = rand() < 0.4 ? 1 : 0;
      if (rand() < 0.1) mask[i * tasks + j] = 0;
    }
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) x[(i * size * size + p) * 3 + c] = (rand() - 0.5) * 2 + (c < tasks ? 0.8 * y[i * tasks + c]! : 0);
    }
  }
  return {
    x: tf.tensor4d(x, [n, size, size, 3]),
    y: tf.tensor2d(y, [n, tasks]),
    mask: tf.tensor2d(mask, [n, tasks]),
  };
}

const TASKS = ['A', 'B', 'C'];
let trainData: ReturnType<typeof makeData>;
let validData: ReturnType<typeof makeData>;
let trainSrc: BatchSource;
let validSrc: BatchSource;

beforeAll(() => {
  trainData = makeData(96, 1);
  validData = makeData(48, 2);
  trainSrc = arrayBatchSource(trainData, { batchSize: 16, seed: 3, tasks: TASKS });
  validSrc = arrayBatchSource(validData, { batchSize: 24, shuffle: false, tasks: TASKS });
});
afterAll(() => tf.dispose([trainData.x, trainData.y, trainData.mask, validData.x, validData.y, validData.mask]));

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.weights.map(async (w) => (await w.read().data()) as Float32Array));
}

/** Largest difference over all the tensors of two weight lists. */
function maxWeightDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(0, ...a.map((arr, i) => maxAbsDiff(arr, b[i]!)));
}

describe('maskedSigmoidCrossEntropy', () => {
  const softplus = (z: number) => Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0);
  it('matches the definition with mask, class and positive weights', () => {
    const logits = [[0.3, -1.2, 2.5], [-0.7, 0.1, -3]];
    const labels = [[1, 0, 1], [0, 1, 0]];
    const mask = [[1, 1, 0], [1, 0, 1]];
    const cw = [1, 2, 0.5];
    const pw = [3, 1, 2];
    let sum = 0;
    let count = 0;
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        if (!mask[i]![j]) continue;
        const x = logits[i]![j]!;
        const y = labels[i]![j]!;
        // -[p y log s(x) + (1 - y) log(1 - s(x))]
        sum += cw[j]! * (pw[j]! * y * softplus(-x) + (1 - y) * softplus(x));
        count++;
      }
    }
    const leaks = leakCheck();
    const l = tf.tidy(() =>
      maskedSigmoidCrossEntropy(tf.tensor2d(labels), tf.tensor2d(logits), tf.tensor2d(mask), { classWeights: cw, posWeights: pw }).dataSync()[0]!,
    );
    expect(l).toBeCloseTo(sum / count, 5);
    const plain = tf.tidy(() => maskedSigmoidCrossEntropy(tf.tensor2d(labels), tf.tensor2d(logits)).dataSync()[0]!);
    let ref = 0;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) ref += labels[i]![j] ? softplus(-logits[i]![j]!) : softplus(logits[i]![j]!);
    expect(plain).toBeCloseTo(ref / 6, 5);
    leaks.check();
  });

  it('stays finite for huge logits, masks gradients, and rejects bad shapes', () => {
    const logits = tf.variable(tf.tensor2d([[200, -200], [-300, 300]]));
    const labels = tf.tensor2d([[0, 1], [0, 1]]);
    const mask = tf.tensor2d([[1, 1], [1, 0]]);
    const { value, grads } = tf.variableGrads(() => maskedSigmoidCrossEntropy(labels, logits, mask), [logits]);
    const v = value.dataSync()[0]!;
    expect(v).toBeCloseTo((200 + 200 + 0) / 3, 3);
    const g = grads[logits.name]!.dataSync();
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    expect(g[3]).toBe(0); // masked entry
    expect(() => maskedSigmoidCrossEntropy(labels, tf.zeros([2, 3]))).toThrow(/one output per task/);
    expect(() => maskedSigmoidCrossEntropy(labels, logits, undefined, { classWeights: [1] })).toThrow(/one weight per task/);
    const allMasked = tf.tidy(() => maskedSigmoidCrossEntropy(labels, logits, tf.zeros([2, 2])).dataSync()[0]);
    expect(allMasked).toBe(0);
    tf.dispose([logits, labels, mask, value, ...Object.values(grads)]);
  });

  it('balancedPosWeights = negatives / positives over unmasked targets', () => {
    expect(balancedPosWeights([1, 0, 0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 1], 2)).toEqual([2, 1]);
    expect(balancedPosWeights([1, 0, 0, 0, 0, 1, 1, 1], undefined, 2)).toEqual([1, 1]);
    expect(balancedPosWeights([0, 0], undefined, 1)).toEqual([1]);
  });
});

describe('train', () => {
  it('learns, updates BatchNorm statistics, keeps the top-k, and leaks no tensors', async () => {
    const model = tinyModel();
    const bnMean = () => model.getLayer('bn').getWeights()[2]!.dataSync().slice();
    const mean0 = bnMean();
    const counts: number[] = [];
    const store = new MemoryCheckpointStore();
    const vals: number[] = [];
    const result = await train(model, { train: trainSrc, valid: validSrc }, {
      lr: 3e-2,
      epochs: 6,
      validateEvery: 6,
      topK: 2,
      store,
      onStep: () => void counts.push(tf.memory().numTensors),
      onValidation: (r) => void vals.push(r.meanAuroc),
    });
    expect(result.steps).toBe(36);
    expect(result.epochs).toBe(6);
    expect(result.validations.length).toBe(6);
    expect(vals.at(-1)).toBeGreaterThan(0.8);
    expect(Array.from(bnMean()).some((v, i) => Math.abs(v - mean0[i]!) > 1e-4)).toBe(true);
    // no growth once the optimizer's moments exist
    expect(counts.at(-1)).toBe(counts[1]);
    // top-k: best first, its entries (only) in the store
    expect(result.topK.length).toBe(2);
    expect(result.topK[0]!.meanAuroc).toBeGreaterThanOrEqual(result.topK[1]!.meanAuroc);
    expect(result.topK[0]!.meanAuroc).toBe(Math.max(...vals));
    expect((await store.listTop()).sort()).toEqual(result.topK.map((e) => e.id).sort());
    // the ensemble metrics computed from stored predictions equal a fresh evaluation of the loaded models
    const models = await loadTopK(store, result.topK);
    const ev = await evaluate(models, validSrc, { bootstrap: { n: 200, seed: 1 } });
    expect(ev.models).toBe(2);
    expect(ev.meanAuroc).toBeCloseTo(result.ensemble!.meanAuroc, 5);
    expect(ev.ci!.lower).toBeLessThanOrEqual(ev.meanAuroc);
    expect(ev.ci!.upper).toBeGreaterThanOrEqual(ev.meanAuroc);
    // evaluate agrees with the metrics module on the same predictions
    const probs = tf.tidy(() => tf.sigmoid(model.predict(validData.x) as tf.Tensor).arraySync() as number[][]);
    const single = await evaluate(model, validSrc, { bootstrap: false });
    const ref = perTaskAuroc(validData.y.arraySync(), probs, { tasks: TASKS, mask: validData.mask.arraySync() });
    expect(single.meanAuroc).toBeCloseTo(ref.meanAuroc, 6);
    expect(single.ci).toBeUndefined();
    models.forEach((m) => m.dispose());
    model.dispose();
  });

  it.each([true, false])('resumes after a kill from the last checkpoint and ends where an uninterrupted run ends (seekable source: %s)', async (seekable) => {
    // a source without startBatch support makes the loop read and drop the batches it already trained on
    const src: BatchSource = seekable ? trainSrc : { numBatches: trainSrc.numBatches!, tasks: TASKS, batches: (e) => trainSrc.batches(e) };
    const base = tinyModel();
    const init = base.getWeights().map((t) => t.clone());
    const fresh = () => {
      const m = tinyModel();
      m.setWeights(init);
      return m;
    };
    const opts = { lr: 1e-2, maxSteps: 14, validateEvery: 5, checkpointEvery: 4, topK: 2 };

    const a = fresh();
    const ra = await train(a, { train: src, valid: validSrc }, { ...opts, store: new MemoryCheckpointStore() });

    const dir = join(tmp, `resume-${seekable}`);
    const b = fresh();
    await expect(
      train(b, { train: src, valid: validSrc }, {
        ...opts,
        store: new FileCheckpointStore(dir),
        onStep: ({ step }) => {
          if (step === 11) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    b.dispose();
    // checkpoints at 4, 5 (validation), 8, 10 (validation): the last one is step 10
    const state = JSON.parse(readFileSync(join(dir, 'last', 'state.json'), 'utf8'));
    expect(state.step).toBe(10);
    const c = tinyModel(); // different random init: everything must come from the checkpoint
    const seen: number[] = [];
    const rc = await train(c, { train: src, valid: validSrc }, { ...opts, store: new FileCheckpointStore(dir), onStep: ({ step }) => void seen.push(step) });
    expect(rc.resumedFrom).toBe(10);
    expect(seen[0]).toBe(11);
    expect(rc.steps).toBe(14);
    expect(maxWeightDiff(await weightsOf(a), await weightsOf(c))).toBeLessThan(1e-5);
    expect(rc.validations.map((v) => v.step)).toEqual(ra.validations.map((v) => v.step));
    rc.validations.forEach((v, i) => expect(v.meanAuroc).toBeCloseTo(ra.validations[i]!.meanAuroc, 4));
    expect(rc.topK.map((e) => e.step)).toEqual(ra.topK.map((e) => e.step));
    expect(readdirSync(dir).sort()).toEqual(['last', ...rc.topK.map((e) => e.id)].sort());
    // a finished run called again trains nothing more
    const again = await train(c, { train: src, valid: validSrc }, { ...opts, store: new FileCheckpointStore(dir), onStep: () => { throw new Error('should not train'); } });
    expect(again.steps).toBe(14);
    tf.dispose(init);
    [base, a, c].forEach((m) => m.dispose());
  });

  it('an interrupted checkpoint write leaves the previous checkpoint intact', async () => {
    const dir = join(tmp, 'atomic');
    let fail = false;
    let writes = 0;
    const store = new FileCheckpointStore(dir, {
      writeFile: async (p, d) => {
        if (fail && ++writes === 3) throw new Error('disk full');
        const { writeFile } = await import('node:fs/promises');
        await writeFile(p, d);
      },
    });
    const model = tinyModel();
    await train(model, { train: trainSrc }, { lr: 1e-2, maxSteps: 3, checkpointEvery: 3, store });
    const before = await store.loadLast();
    expect(before!.state.step).toBe(3);
    fail = true;
    await expect(train(model, { train: trainSrc }, { lr: 1e-2, maxSteps: 6, checkpointEvery: 3, store })).rejects.toThrow('disk full');
    const after = await store.loadLast();
    expect(after!.state.step).toBe(3);
    expect(new Uint8Array(after!.model.weightData as ArrayBuffer)).toEqual(new Uint8Array(before!.model.weightData as ArrayBuffer));
    expect(readdirSync(dir)).toEqual(['last']);
    // a kill between the two renames of a swap: only the moved-aside folder is left; it is restored
    const { renameSync } = await import('node:fs');
    renameSync(join(dir, 'last'), join(dir, '.last.old-123-abcdef01'));
    expect((await store.loadLast())!.state.step).toBe(3);
    expect(existsSync(join(dir, 'last'))).toBe(true);
    model.dispose();
  });

  it('stops early, honours an AbortSignal with a checkpoint, and validates options', async () => {
    const model = tinyModel();
    const r = await train(model, { train: trainSrc, valid: validSrc }, {
      lr: 1e-9,
      epochs: 20,
      validateEvery: 2,
      earlyStopping: { patience: 2, minDelta: 0.01 },
    });
    expect(r.stoppedEarly).toBe(true);
    expect(r.validations.length).toBe(3);
    expect(r.steps).toBe(6);

    const ac = new AbortController();
    const store = new MemoryCheckpointStore();
    const r2 = await train(model, { train: trainSrc }, { maxSteps: 50, store, signal: ac.signal, onStep: ({ step }) => { if (step === 4) ac.abort(); } });
    expect(r2.interrupted).toBe(true);
    expect(r2.steps).toBe(4);
    expect((await store.loadLast())!.state.step).toBe(4);
    const r3 = await train(model, { train: trainSrc }, { maxSteps: 7, store });
    expect(r3.resumedFrom).toBe(4);
    expect(r3.steps).toBe(7);

    // in-memory tensors: batched with batchSize (96 / 32 = 3 steps per epoch)
    const r4 = await train(model, { train: trainData, valid: validData }, { batchSize: 32, epochs: 2, tasks: TASKS });
    expect(r4.steps).toBe(6);
    expect(r4.validations.map((v) => v.step)).toEqual([3, 6]);
    expect(Object.keys(r4.validations[0]!.perTask)).toEqual(TASKS);

    await expect(train(model, { train: trainSrc }, { lr: -1 })).rejects.toThrow(/lr must be a positive/);
    await expect(train(model, { train: {} as BatchSource })).rejects.toThrow(/batch source/);
    const wrongSize = tinyModel(3, 16);
    await expect(train(wrongSize, { train: trainSrc }, { maxSteps: 1 })).rejects.toThrow(/shape \[12,12,3\] but the model expects \[16,16,3\]/);
    wrongSize.dispose();
    await expect(train(model, { train: trainSrc }, { tasks: ['x', 'y'] })).rejects.toThrow(/numClasses: 2/);
    await expect(train(model, { train: trainSrc }, { maxSteps: 7, store, fingerprint: 'other' })).resolves.toBeDefined();
    await expect(train(model, { train: trainSrc }, { maxSteps: 8, store: await withFingerprint('a'), fingerprint: 'b' })).rejects.toThrow(/another configuration/);
    model.dispose();

    async function withFingerprint(fp: string) {
      const s = new MemoryCheckpointStore();
      const m = tinyModel();
      await train(m, { train: trainSrc }, { maxSteps: 1, store: s, fingerprint: fp });
      m.dispose();
      return s;
    }
  });
});

describe('chexzoo train / eval', () => {
  it('trains on a synthetic dataset, writes metrics.json and the model, resumes, and evaluates the run', async () => {
    const data = join(tmp, 'synth');
    await writeSynthDataset(data, { train: 48, valid: 40, size: 32, seed: 5 });
    const run = join(tmp, 'run');
    const args = ['--arch', 'resnet18', '--truncate', 'layer1', '--data', data, '--out', run, '--img-size', '32', '--batch-size', '12', '--valid-every', '2', '--quiet'];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runTrain([...args, '--max-steps', '5'])).toBe(0);
      const m1 = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
      expect(m1.train.steps).toBe(5);
      expect(m1.train.resumedFrom).toBe(null);
      expect(existsSync(join(run, 'model', 'model.json'))).toBe(true);
      // a second call with the same settings resumes from the saved checkpoint (a changed budget is refused:
      // test/cli-runs.test.ts)
      expect(await runTrain([...args, '--max-steps', '5'])).toBe(0);
      const m = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
      expect(m.train.resumedFrom).toBe(5);
      expect(m.train.steps).toBe(5);
      expect(m.validations.map((v: { step: number }) => v.step)).toEqual([2, 4, 5]);
      expect(Object.keys(m.valid.perTask)).toEqual(['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion']);
      expect(m.valid.meanAuroc).toBeGreaterThan(0);
      expect(m.valid.models).toBe(3);
      expect(m.valid.ci95.lower).toBeLessThanOrEqual(m.valid.meanAuroc);
      // a changed configuration is refused instead of silently mixing runs
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        expect(await runTrain([...args.map((a) => (a === '12' ? '8' : a)), '--max-steps', '5'])).toBe(1);
        expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('batchSize: 12 -> 8');
        expect(await runEval(['--run', join(tmp, 'nope'), '--data', data])).toBe(1);
        expect(await runTrain(['--arch', 'resnet18', '--data', data])).toBe(2);
        expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('--out is required');
      } finally {
        stderr.mockRestore();
      }

      stdout.mockClear();
      expect(await runEval(['--run', run, '--data', data, '--json', '--bootstrap', '100'])).toBe(0);
      const printed = stdout.mock.calls.map((c) => String(c[0])).join('');
      const ev = JSON.parse(printed);
      expect(ev.models.length).toBe(3);
      // the ensemble evaluated from disk matches what training reported
      expect(ev.meanAuroc).toBeCloseTo(m.valid.meanAuroc, 5);
    } finally {
      stdout.mockRestore();
    }
  });
});

describe('chexzoo train / eval normalise per architecture (issue 10, point 12)', () => {
  it('an inception_v3 run records and uses mean = std = 0.5; eval reproduces the reported AUROC with it', async () => {
    const data = join(tmp, 'synth-inc');
    await writeSynthDataset(data, { train: 8, valid: 12, size: 80, seed: 3 });
    const run = join(tmp, 'run-inc');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const args = ['--arch', 'inception_v3', '--truncate', 'Conv2d_1a_3x3', '--data', data, '--out', run, '--img-size', '75', '--batch-size', '4', '--max-steps', '2', '--valid-every', '2', '--top-k', '1', '--quiet'];
      expect(await runTrain(args)).toBe(0);
      const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
      expect(config.preprocess).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], kernel: 'linear' });
      const m = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
      stdout.mockClear();
      expect(await runEval(['--run', run, '--data', data, '--json', '--bootstrap', '0'])).toBe(0);
      const ev = JSON.parse(stdout.mock.calls.map((c) => String(c[0])).join(''));
      expect(ev.meanAuroc).toBeCloseTo(m.valid.meanAuroc, 5);
    } finally {
      stdout.mockRestore();
    }
  });
});

describe('training progress', () => {
  const info = (step: number) => ({ step, totalSteps: 40, epoch: 0, batchInEpoch: step, batchesPerEpoch: 40, loss: 0.5, smoothLoss: 0.5, lr: 1e-3, stepsPerSecond: 2 });
  it('prints plain lines (about every 5%) when not a TTY', () => {
    const out: string[] = [];
    const p = createTrainProgress({ stream: { write: (s: string) => out.push(s), isTTY: false } });
    for (let s = 1; s <= 40; s++) p.step(info(s));
    p.line('step 40: valid mean AUROC 0.9');
    p.done();
    expect(out.every((l) => l.endsWith('\n') && !l.includes('\r') && !l.includes('\x1b'))).toBe(true);
    expect(out.length).toBeGreaterThan(15);
    expect(out.length).toBeLessThan(25);
    expect(out.at(-2)).toContain('step 40/40');
  });
  it('redraws one line in place on a terminal', () => {
    const out: string[] = [];
    const p = createTrainProgress({ stream: { write: (s: string) => out.push(s), isTTY: true }, intervalMs: 0 });
    for (let s = 1; s <= 3; s++) p.step(info(s));
    p.done();
    expect(out.slice(0, 3).every((l) => l.startsWith('\r') && l.includes('['))).toBe(true);
    expect(out.at(-1)).toBe('\n');
  });
});
