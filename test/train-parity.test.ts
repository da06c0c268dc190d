// Training parity with PyTorch: from the same (formula) weights on the same batch, three Adam steps of our
// step function (trainStep: the loop's step) give PyTorch's losses, weights, running statistics and logits.
// Dropout and stochastic depth are off on both sides. Fixture: tools/train_parity.py (torch 1.13, torchvision 0.14; float64 reference, float32 noise floor).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel } from '../src/zoo/registry.js';
import { torchSlots } from '../src/weights/remap.js';
import { createAdam, trainStep } from '../src/train/step.js';
import { fillFromFormula, formulaParam, uniform } from './helpers/formula.js';
import { buildGraph, leakCheck, readJsonFixture, tick } from './helpers/index.js';

interface ArchFixture {
  loss: number[];
  logits: number[];
  tensors: Record<string, [number, number, number, number, number]>;
  /** torch float32 against the float64 reference, by the same measures: float32's noise floor. */
  float32Errors: Record<string, number>;
}
interface Fixture {
  size: number;
  batch: number;
  classes: number;
  steps: number;
  lr: number;
  archs: Record<string, ArchFixture>;
}
const fx = readJsonFixture<Fixture>('train/parity.json');

/** ||a - b|| / ||b||. */
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** The fixture's batch: NCHW formula images as NHWC, formula labels. */
function batch(): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const { size, batch: n, classes } = fx;
  const u = uniform(`train-batch:${size}`, n * 3 * size * size);
  const nchw = Float32Array.from(u, (v) => 2 * v - 1);
  const x = tf.tidy(() => tf.tensor4d(nchw, [n, 3, size, size]).transpose([0, 2, 3, 1]) as tf.Tensor4D);
  const y = tf.tensor2d(Float32Array.from(uniform('train-labels', n * classes), (v) => (v >= 0.5 ? 1 : 0)), [n, classes]);
  return { x, y };
}

/** Our losses, eval logits and per-tensor change summaries after the fixture's steps. */
async function ours(arch: string) {
  // every weight comes from the formula below: the graph without the reference initialisation is enough
  const model = await buildGraph(arch, {
    numClasses: fx.classes,
    inputShape: [fx.size, fx.size, 3],
    dropout: 0,
    ...(arch.startsWith('efficientnet') ? { stochasticDepthProb: 0 } : {}),
  });
  await tick();
  fillFromFormula(model);
  const { x, y } = batch();
  const optimizer = createAdam(fx.lr);
  try {
    const loss: number[] = [];
    for (let step = 0; step < fx.steps; step++) {
      loss.push(await trainStep(model, optimizer, { x, y }, { seed: 0, step }));
      await tick();
    }
    const out = model.predict(x) as tf.Tensor;
    const logits = Array.from(await out.data());
    out.dispose();
    const tensors: Record<string, number[]> = {};
    for (const s of torchSlots(model)) {
      const after = s.toTorch((await s.variable.read().data()) as Float32Array);
      const before = formulaParam(s.key, s.torchShape);
      const d = Array.from(after, (v, i) => v - before[i]!);
      const n = d.length;
      tensors[s.key] = [
        d.reduce((a, b) => a + b, 0),
        d.reduce((a, b) => a + Math.abs(b), 0),
        ...[0, 1, 2].map((j) => d[Math.floor(((j + 0.5) * n) / 3)]!),
      ];
    }
    return { loss, logits, tensors };
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  }
}

/** Relative errors of ours against the reference, by kind of tensor. */
function errors(a: Awaited<ReturnType<typeof ours>>, ref: ArchFixture) {
  const keys = Object.keys(ref.tensors);
  const pick = (pred: (k: string) => boolean, cols: number[]) => {
    const mine: number[] = [];
    const theirs: number[] = [];
    for (const k of keys.filter(pred)) for (const c of cols) {
      mine.push(a.tensors[k]![c]!);
      theirs.push(ref.tensors[k]![c]!);
    }
    return relL2(mine, theirs);
  };
  const isStat = (k: string) => /running_(mean|var)$/.test(k);
  return {
    loss: relL2(a.loss, ref.loss),
    logits: relL2(a.logits, ref.logits),
    // changes (after - before) of the parameters: sums, absolute sums, sampled elements
    paramSums: pick((k) => !isStat(k), [0, 1]),
    paramSamples: pick((k) => !isStat(k), [2, 3, 4]),
    runningMean: pick((k) => k.endsWith('running_mean'), [0, 1, 2, 3, 4]),
    runningVar: pick((k) => k.endsWith('running_var'), [0, 1, 2, 3, 4]),
  };
}

describe.each(Object.keys(fx.archs))('%s: three Adam steps equal PyTorch (tools/train_parity.py)', (arch) => {
  it('losses, weights, running statistics and logits', async () => {
    const ref = fx.archs[arch]!;
    const leaks = leakCheck();
    const a = await ours(arch);
    leaks.check();
    expect(Object.keys(a.tensors).sort()).toEqual(Object.keys(ref.tensors).sort());
    const e = errors(a, ref);
    console.log(`${arch}: relative errors against torch float64 ${JSON.stringify(e)}; torch float32's ${JSON.stringify(ref.float32Errors)}`);
    // within 10x the error torch's own float32 makes (summation orders differ), floored at 2e-5
    for (const [k, v] of Object.entries(e)) {
      expect(v, k).toBeLessThan(Math.max(10 * ref.float32Errors[k]!, 2e-5));
    }
  });
});
