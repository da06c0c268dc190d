import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, ensureBackend, registerFastKernels } from '../src/backend/index.js';
import { copyHelperActive, copyHelperProblem } from '../src/backend/copy-helper.js';
import { isFastKernel } from '../src/backend/kernels.js';
import { batchNormTraining } from '../src/backend/kernels/batchnorm.js';
import { expectAllCloseScaled } from './helpers/close.js';
import { leakCheck, randomArray } from './helpers/index.js';

// Reference: direct loops over the definition of a (depthwise) convolution, written independently of
// the kernels under test. For L = sum(conv(x, W) * dy): dL/dx and dL/dW.
type Case = {
  name: string; n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number;
  stride: number; pad: 'valid' | 'same' | number[][]; depthwise?: boolean;
};

const rand = (size: number, seed: number): Float32Array => randomArray(size, seed, -0.5, 0.5);

function padding(c: Case): { pt: number; pl: number; ho: number; wo: number } {
  if (c.pad === 'valid') {
    return { pt: 0, pl: 0, ho: Math.floor((c.h - c.kh) / c.stride) + 1, wo: Math.floor((c.w - c.kw) / c.stride) + 1 };
  }
  if (c.pad === 'same') {
    const ho = Math.ceil(c.h / c.stride), wo = Math.ceil(c.w / c.stride);
    const ph = Math.max((ho - 1) * c.stride + c.kh - c.h, 0), pw = Math.max((wo - 1) * c.stride + c.kw - c.w, 0);
    return { pt: Math.floor(ph / 2), pl: Math.floor(pw / 2), ho, wo };
  }
  const [[, ], [t, b], [l, r]] = c.pad as [number[], [number, number], [number, number]];
  return {
    pt: t, pl: l,
    ho: Math.floor((c.h + t + b - c.kh) / c.stride) + 1, wo: Math.floor((c.w + l + r - c.kw) / c.stride) + 1,
  };
}

function reference(c: Case, x: Float32Array, wt: Float32Array, dy: Float32Array) {
  const { pt, pl, ho, wo } = padding(c);
  const co = c.depthwise ? c.ci : c.co;
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(wt.length);
  for (let n = 0; n < c.n; n++) for (let oh = 0; oh < ho; oh++) for (let ow = 0; ow < wo; ow++) {
    for (let i = 0; i < c.kh; i++) for (let j = 0; j < c.kw; j++) {
      const ih = oh * c.stride + i - pt, iw = ow * c.stride + j - pl;
      if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
      const xo = ((n * c.h + ih) * c.w + iw) * c.ci;
      const dyo = ((n * ho + oh) * wo + ow) * co;
      if (c.depthwise) {
        for (let k = 0; k < c.ci; k++) {
          const wi = (i * c.kw + j) * c.ci + k;
          dx[xo + k]! += wt[wi]! * dy[dyo + k]!;
          dw[wi]! += x[xo + k]! * dy[dyo + k]!;
        }
      } else {
        for (let a = 0; a < c.ci; a++) for (let b = 0; b < co; b++) {
          const wi = ((i * c.kw + j) * c.ci + a) * co + b;
          dx[xo + a]! += wt[wi]! * dy[dyo + b]!;
          dw[wi]! += x[xo + a]! * dy[dyo + b]!;
        }
      }
    }
  }
  return { dx, dw, ho, wo };
}

function expectClose(got: Float32Array | Int32Array | Uint8Array, want: Float32Array, label: string) {
  expectAllCloseScaled(got, want, 1e-4, label);
}

const T = (pad: number[]) => [[0, 0], [pad[0]!, pad[1]!], [pad[2]!, pad[3]!], [0, 0]];
const CASES: Case[] = [
  { name: '3x3 s1 same', n: 2, h: 7, w: 6, ci: 3, co: 4, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { name: '3x3 s1 valid', n: 2, h: 7, w: 6, ci: 3, co: 4, kh: 3, kw: 3, stride: 1, pad: 'valid' },
  { name: '3x3 s2 valid (odd)', n: 2, h: 9, w: 7, ci: 3, co: 5, kh: 3, kw: 3, stride: 2, pad: 'valid' },
  { name: '3x3 s2 valid (even)', n: 1, h: 8, w: 8, ci: 2, co: 3, kh: 3, kw: 3, stride: 2, pad: 'valid' },
  { name: '3x3 s2 same', n: 2, h: 8, w: 7, ci: 3, co: 4, kh: 3, kw: 3, stride: 2, pad: 'same' },
  { name: '3x3 s2 explicit 1', n: 2, h: 8, w: 8, ci: 3, co: 4, kh: 3, kw: 3, stride: 2, pad: T([1, 1, 1, 1]) },
  { name: '1x1 s1', n: 2, h: 5, w: 4, ci: 6, co: 3, kh: 1, kw: 1, stride: 1, pad: 'valid' },
  { name: '1x1 s2 (even)', n: 2, h: 6, w: 6, ci: 4, co: 5, kh: 1, kw: 1, stride: 2, pad: 'valid' },
  { name: '1x1 s2 (odd)', n: 1, h: 7, w: 5, ci: 4, co: 3, kh: 1, kw: 1, stride: 2, pad: 'valid' },
  { name: '5x5 s1 same', n: 1, h: 7, w: 8, ci: 2, co: 3, kh: 5, kw: 5, stride: 1, pad: 'same' },
  { name: '5x5 s2 valid', n: 2, h: 11, w: 10, ci: 2, co: 3, kh: 5, kw: 5, stride: 2, pad: 'valid' },
  { name: '7x7 s2 valid (stem)', n: 1, h: 14, w: 13, ci: 3, co: 4, kh: 7, kw: 7, stride: 2, pad: 'valid' },
  { name: '7x7 s2 explicit 3', n: 1, h: 12, w: 12, ci: 3, co: 4, kh: 7, kw: 7, stride: 2, pad: T([3, 3, 3, 3]) },
  { name: '1x7 s1 same', n: 2, h: 6, w: 9, ci: 3, co: 2, kh: 1, kw: 7, stride: 1, pad: 'same' },
  { name: '7x1 s1 same', n: 2, h: 9, w: 6, ci: 3, co: 2, kh: 7, kw: 1, stride: 1, pad: 'same' },
  { name: '1x3 s1 same', n: 2, h: 5, w: 6, ci: 3, co: 2, kh: 1, kw: 3, stride: 1, pad: 'same' },
  { name: '3x1 s1 same', n: 2, h: 6, w: 5, ci: 3, co: 2, kh: 3, kw: 1, stride: 1, pad: 'same' },
  { name: '3x3 s1 asym explicit', n: 1, h: 6, w: 6, ci: 2, co: 3, kh: 3, kw: 3, stride: 1, pad: T([0, 2, 1, 0]) },
  { name: 'dw 3x3 s1 same', n: 2, h: 7, w: 6, ci: 4, co: 4, kh: 3, kw: 3, stride: 1, pad: 'same', depthwise: true },
  { name: 'dw 3x3 s2 valid', n: 2, h: 9, w: 8, ci: 4, co: 4, kh: 3, kw: 3, stride: 2, pad: 'valid', depthwise: true },
  { name: 'dw 3x3 s2 same', n: 2, h: 8, w: 8, ci: 3, co: 3, kh: 3, kw: 3, stride: 2, pad: 'same', depthwise: true },
  { name: 'dw 5x5 s1 same', n: 1, h: 8, w: 7, ci: 3, co: 3, kh: 5, kw: 5, stride: 1, pad: 'same', depthwise: true },
  { name: 'dw 5x5 s2 valid', n: 2, h: 11, w: 12, ci: 3, co: 3, kh: 5, kw: 5, stride: 2, pad: 'valid', depthwise: true },
  { name: 'dw 3x3 s2 explicit', n: 1, h: 8, w: 8, ci: 2, co: 2, kh: 3, kw: 3, stride: 2, pad: T([0, 1, 0, 1]), depthwise: true },
];

async function checkCase(c: Case, fused: boolean) {
  const co = c.depthwise ? 1 : c.co;
  const xv = rand(c.n * c.h * c.w * c.ci, 1 + c.h * 7 + c.kh);
  const wv = rand(c.kh * c.kw * c.ci * co, 99 + c.kw);
  const ref = reference(c, xv, wv, new Float32Array(0));
  const dyv = rand(c.n * ref.ho * ref.wo * (c.depthwise ? c.ci : c.co), 7);
  const want = reference(c, xv, wv, dyv);
  const x = tf.tensor4d(xv, [c.n, c.h, c.w, c.ci]);
  const wt = tf.tensor4d(wv, [c.kh, c.kw, c.ci, co]);
  const dy = tf.tensor4d(dyv, [c.n, ref.ho, ref.wo, c.depthwise ? c.ci : c.co]);
  const pad = c.pad as 'valid';
  const f = (a: tf.Tensor, b: tf.Tensor) => {
    const a4 = a as tf.Tensor4D, b4 = b as tf.Tensor4D;
    let y: tf.Tensor4D;
    if (c.depthwise) {
      y = fused ? tf.fused.depthwiseConv2d({ x: a4, filter: b4, strides: c.stride, pad })
        : tf.depthwiseConv2d(a4, b4, c.stride, pad);
    } else {
      y = fused ? tf.fused.conv2d({ x: a4, filter: b4, strides: c.stride, pad }) : tf.conv2d(a4, b4, c.stride, pad);
    }
    return tf.sum(tf.mul(y, dy));
  };
  const [gx, gw] = tf.grads(f)([x, wt]);
  expectClose(await gx!.data(), want.dx, `${c.name} dx`);
  expectClose(await gw!.data(), want.dw, `${c.name} dW`);
  tf.dispose([x, wt, dy, gx!, gw!]);
}

describe('fast gradient kernels', () => {
  beforeAll(async () => {
    await ensureBackend();
  });

  it('runs on the wasm backend with the kernels registered', () => {
    expect(tf.getBackend()).toBe('wasm');
    const names = registerFastKernels('wasm');
    for (const k of ['Conv2DBackpropInput', 'Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter', 'Transpose', 'BatchMatMul', 'Sum', 'Mean', 'SplitV', 'Slice', 'MaxPoolGrad']) {
      expect(names).toContain(`${k}@wasm`);
      // not just listed: TF.js really dispatches the kernel to ours, so the checks below test our code
      expect(isFastKernel(k, 'wasm'), k).toBe(true);
    }
    expect(isFastKernel('Conv2D', 'wasm')).toBe(false);
  });

  for (const c of CASES) {
    it(`wasm ${c.name}`, async () => {
      const leaks = leakCheck();
      await checkCase(c, false);
      await checkCase(c, true);
      leaks.check();
    });
  }

  it('Transpose, BatchMatMul, Sum, Mean, SplitV, Slice, MaxPoolGrad and Minimum replacements match the cpu backend', async () => {
    const leaks = leakCheck();
    const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [];
    const a = tf.tensor(rand(300 * 70, 3), [300, 70]);
    const b3 = tf.tensor(rand(2 * 64 * 96, 4), [2, 64, 96]);
    const m1 = tf.tensor(rand(2 * 40 * 24, 5), [2, 40, 24]);
    const m2 = tf.tensor(rand(2 * 24 * 36, 6), [2, 24, 36]);
    const x4 = tf.tensor(rand(3 * 9 * 7 * 20, 8), [3, 9, 7, 20]);
    cases.push(['transpose 2d', () => tf.transpose(a)]);
    cases.push(['transpose batched', () => tf.transpose(b3, [0, 2, 1])]);
    cases.push(['transpose other perm', () => tf.transpose(b3, [2, 0, 1])]);
    cases.push(['transpose 4d', () => tf.transpose(x4, [3, 1, 2, 0])]);
    cases.push(['matMul', () => tf.matMul(m1, m2)]);
    cases.push(['matMul tA', () => tf.matMul(tf.transpose(m1, [0, 2, 1]), m2, true, false)]);
    cases.push(['matMul tB', () => tf.matMul(m1, tf.transpose(m2, [0, 2, 1]), false, true)]);
    cases.push(['matMul tA tB', () => tf.matMul(tf.transpose(m1, [0, 2, 1]), tf.transpose(m2, [0, 2, 1]), true, true)]);
    cases.push(['sum leading', () => tf.sum(x4, [0, 1, 2])]);
    cases.push(['sum leading keepDims', () => tf.sum(x4, [2, 0, 1], true)]);
    cases.push(['mean leading', () => tf.mean(x4, [0, 1, 2])]);
    cases.push(['mean 2d axis 0', () => tf.mean(a, 0)]);
    cases.push(['sum other axes', () => tf.sum(x4, [1, 2])]);
    cases.push(['mean last axis', () => tf.mean(x4, -1)]);
    cases.push(['split last axis', () => tf.split(x4, [5, 12, 3], 3)]);
    cases.push(['split axis 1', () => tf.split(x4, 3, 1)]);
    cases.push(['slice spatial', () => tf.slice(x4, [1, 2, 1, 0], [2, 5, 4, 20])]);
    cases.push(['slice channels', () => tf.slice(x4, [0, 1, 0, 3], [3, 7, 7, 9])]);
    cases.push(['slice 2d rows', () => tf.slice(a, [17, 0], [100, 70])]);
    cases.push(['maxPool grad valid', () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 3, 2, 'valid'), 1.5)))(x4)]);
    cases.push(['maxPool grad same', () => tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'same')))(x4)]);
    // integer values: many ties inside a window, the first maximum takes the gradient
    cases.push(['maxPool grad ties', () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 3, 2, 'same'), 1.5)))(tf.round(tf.mul(x4, 3)))]);
    cases.push(['minimum scalar (layers relu6)', () => tf.minimum(x4, 0.3)]);
    cases.push(['minimum scalar first', () => tf.minimum(tf.scalar(-0.2), x4)]);
    cases.push(['minimum tensors', () => tf.minimum(x4, tf.reverse(x4, 1))]);
    const results: Record<string, Float32Array[]> = {};
    for (const [name, f] of cases) {
      results[name] = tf.tidy(() => {
        const out = f();
        return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
      });
    }
    const inputs = [a, b3, m1, m2, x4].map((t) => ({ v: t.dataSync(), shape: t.shape }));
    await ensureBackend('cpu');
    try {
      const [ca, cb3, cm1, cm2, cx4] = inputs.map(({ v, shape }) => tf.tensor(v, shape));
      const ref: Record<string, () => tf.Tensor | tf.Tensor[]> = {
        'transpose 2d': () => tf.transpose(ca!), 'transpose batched': () => tf.transpose(cb3!, [0, 2, 1]),
        'transpose other perm': () => tf.transpose(cb3!, [2, 0, 1]), 'transpose 4d': () => tf.transpose(cx4!, [3, 1, 2, 0]),
        matMul: () => tf.matMul(cm1!, cm2!), 'matMul tA': () => tf.matMul(cm1!, cm2!), 'matMul tB': () => tf.matMul(cm1!, cm2!),
        'matMul tA tB': () => tf.matMul(cm1!, cm2!), 'sum leading': () => tf.sum(cx4!, [0, 1, 2]),
        'sum leading keepDims': () => tf.sum(cx4!, [0, 1, 2], true), 'mean leading': () => tf.mean(cx4!, [0, 1, 2]),
        'mean 2d axis 0': () => tf.mean(ca!, 0), 'sum other axes': () => tf.sum(cx4!, [1, 2]), 'mean last axis': () => tf.mean(cx4!, -1),
        'split last axis': () => tf.split(cx4!, [5, 12, 3], 3), 'split axis 1': () => tf.split(cx4!, 3, 1),
        'slice spatial': () => tf.slice(cx4!, [1, 2, 1, 0], [2, 5, 4, 20]), 'slice channels': () => tf.slice(cx4!, [0, 1, 0, 3], [3, 7, 7, 9]),
        'slice 2d rows': () => tf.slice(ca!, [17, 0], [100, 70]),
        'maxPool grad valid': () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 3, 2, 'valid'), 1.5)))(cx4!),
        'maxPool grad same': () => tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'same')))(cx4!),
        'maxPool grad ties': () => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 3, 2, 'same'), 1.5)))(tf.round(tf.mul(cx4!, 3)))),
        'minimum scalar (layers relu6)': () => tf.minimum(cx4!, 0.3), 'minimum scalar first': () => tf.tidy(() => tf.minimum(tf.scalar(-0.2), cx4!)),
        'minimum tensors': () => tf.tidy(() => tf.minimum(cx4!, tf.reverse(cx4!, 1))),
      };
      for (const [name, f] of Object.entries(ref)) {
        const out = f();
        const want = (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
        expect(results[name]!.length, name).toBe(want.length);
        want.forEach((w, i) => expectClose(results[name]![i]!, w, `${name}[${i}]`));
        tf.dispose(out);
      }
      tf.dispose([ca!, cb3!, cm1!, cm2!, cx4!]);
    } finally {
      await ensureBackend('wasm');
    }
    tf.dispose([a, b3, m1, m2, x4]);
    leaks.check();
  });

  it('large transposes split across the copy helper thread (Node, threaded wasm) equal a direct transpose', () => {
    // the helper starts with the threaded binary; under vitest the backend runs threaded (backend-threads.test.ts)
    expect(backendInfo()?.threads).toBeGreaterThan(1);
    expect(copyHelperActive()).toBe(true);
    const leaks = leakCheck();
    for (const shape of [[5000, 33], [3, 700, 100], [2, 1, 4097, 24]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const [rows, cols] = shape.slice(-2) as [number, number];
      const batch = size / (rows * cols);
      const v = randomArray(size, 61, -1, 1);
      const x = tf.tensor(v, shape);
      const perm = shape.map((_, i) => i);
      [perm[shape.length - 2], perm[shape.length - 1]] = [perm[shape.length - 1]!, perm[shape.length - 2]!];
      const y = tf.transpose(x, perm);
      const got = y.dataSync();
      const want = new Float32Array(size);
      for (let b = 0; b < batch; b++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
        want[b * rows * cols + c * rows + r] = v[b * rows * cols + r * cols + c]!;
      }
      expect(Array.from(got).every((g, i) => g === want[i]), `transpose ${shape}`).toBe(true);
      tf.dispose([x, y]);
    }
    expect(copyHelperProblem()).toBeUndefined();
    leaks.check();
  });

  it('FusedBatchNorm replacement equals the elementwise formula in float64 (shapes, missing and scalar parameters)', () => {
    expect(isFastKernel('FusedBatchNorm', 'wasm')).toBe(true);
    const leaks = leakCheck();
    type P = number[] | number | undefined;
    const cases: { name: string; shape: number[]; mean: P; variance: P; offset: P; scale: P }[] = [];
    const vec = (c: number, seed: number, lo: number, hi: number) => Array.from(randomArray(c, seed, lo, hi));
    cases.push({ name: 'rank 4', shape: [3, 5, 4, 7], mean: vec(7, 41, -1, 1), variance: vec(7, 42, 0.1, 2), offset: vec(7, 43, -1, 1), scale: vec(7, 44, -2, 2) });
    cases.push({ name: 'rank 2', shape: [9, 6], mean: vec(6, 45, -1, 1), variance: vec(6, 46, 0.1, 2), offset: vec(6, 47, -1, 1), scale: vec(6, 48, -2, 2) });
    cases.push({ name: 'rank 3, no offset or scale', shape: [2, 5, 3], mean: vec(3, 49, -1, 1), variance: vec(3, 50, 0.1, 2), offset: undefined, scale: undefined });
    cases.push({ name: 'scalar parameters', shape: [2, 3, 3, 4], mean: 0.3, variance: 1.7, offset: -0.4, scale: 2 });
    cases.push({ name: 'mean far from zero', shape: [4, 3, 3, 5], mean: vec(5, 52, 40, 60), variance: vec(5, 53, 0.5, 2), offset: vec(5, 54, -1, 1), scale: vec(5, 55, 0.5, 2) });
    const eps = 1e-3;
    for (const c of cases) {
      const size = c.shape.reduce((a, b) => a * b, 1), ch = c.shape[c.shape.length - 1]!;
      const base = randomArray(size, 56, -2, 2);
      // x around the mean, as BatchNorm sees it
      const mAt = (i: number) => (c.mean === undefined ? 0 : typeof c.mean === 'number' ? c.mean : c.mean[i % ch]!);
      const xv = Float32Array.from(base, (v, i) => mAt(i) + v);
      const t = (p: P) => (p === undefined ? undefined : typeof p === 'number' ? tf.scalar(p) : tf.tensor1d(p));
      const [m, v, o, g] = [t(c.mean), t(c.variance), t(c.offset), t(c.scale)];
      const x = tf.tensor(xv, c.shape);
      const y = tf.batchNorm(x, m!, v!, o, g, eps);
      const at = (p: P, i: number, dflt: number) => (p === undefined ? dflt : typeof p === 'number' ? p : p[i % ch]!);
      const want = Float32Array.from(xv, (xi, i) => (xi - at(c.mean, i, 0)) / Math.sqrt(at(c.variance, i, 1) + eps) * at(c.scale, i, 1) + at(c.offset, i, 0));
      expect(y.shape, c.name).toEqual(c.shape);
      expectAllCloseScaled(y.dataSync(), want, 1e-5, c.name);
      tf.dispose([x, y, m!, v!, ...(o ? [o] : []), ...(g ? [g] : [])]);
    }
    leaks.check();
  });

  it('BatchNorm gradient (no tile) equals the gradient of the elementwise formula', async () => {
    const x = tf.tensor4d(rand(4 * 5 * 3 * 6, 11), [4, 5, 3, 6]);
    const gamma = tf.tensor1d(rand(6, 12));
    const beta = tf.tensor1d(rand(6, 13));
    const dy = tf.tensor4d(rand(4 * 5 * 3 * 6, 14), [4, 5, 3, 6]);
    const eps = 1e-3;
    const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm4d(a as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, eps), dy));
    };
    const plain = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.mul(tf.add(tf.mul(tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, eps))), g), b), dy));
    };
    const got = tf.grads(fused)([x, gamma, beta]);
    const want = tf.grads(plain)([x, gamma, beta]);
    for (let i = 0; i < 3; i++) expectClose(await got[i]!.data(), (await want[i]!.data()) as Float32Array, `bn grad ${i}`);
    tf.dispose([x, gamma, beta, dy, ...got, ...want]);
  });

  it('batchNormTraining: output, statistics and gradients (x, gamma, beta) equal autodiff of the elementwise formula', async () => {
    const eps = 1e-3;
    for (const shape of [[4, 5, 3, 6], [7, 6]] as number[][]) {
      const size = shape.reduce((a, b) => a * b, 1), ch = shape[shape.length - 1]!;
      const x = tf.tensor(rand(size, 21), shape);
      const gamma = tf.tensor1d(rand(ch, 22));
      const beta = tf.tensor1d(rand(ch, 23));
      const dy = tf.tensor(rand(size, 24), shape);
      const axes = shape.slice(0, -1).map((_, i) => i);
      const leaks = leakCheck();
      const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { y, mean, variance } = batchNormTraining(a, g, b, eps);
        tf.dispose([mean, variance]);
        return tf.sum(tf.mul(y, dy));
      };
      const plain = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const mean = tf.mean(a, axes);
        const variance = tf.mean(tf.square(tf.sub(a, mean)), axes);
        return tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, eps))), g), b), dy));
      };
      const got = tf.grads(ours)([x, gamma, beta]);
      const want = tf.grads(plain)([x, gamma, beta]);
      for (let i = 0; i < 3; i++) expectClose(await got[i]!.data(), (await want[i]!.data()) as Float32Array, `bn train grad ${i} ${shape}`);
      tf.dispose([...got, ...want]);
      leaks.check();
      // forward: y and the batch statistics; without gamma / beta too
      const r = batchNormTraining(x, undefined, undefined, eps);
      const mean = tf.mean(x, axes), variance = tf.mean(tf.square(tf.sub(x, mean)), axes);
      const yRef = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
      expectClose(await r.y.data(), (await yRef.data()) as Float32Array, 'bn train y');
      expectClose(await r.mean.data(), (await mean.data()) as Float32Array, 'bn train mean');
      expectClose(await r.variance.data(), (await variance.data()) as Float32Array, 'bn train variance');
      const [gx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(a, undefined, undefined, eps).y, dy)))([x]);
      const [gxRef] = tf.grads((a: tf.Tensor) => {
        const m = tf.mean(a, axes);
        return tf.sum(tf.mul(tf.div(tf.sub(a, m), tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(a, m)), axes), eps))), dy));
      })([x]);
      expectClose(await gx!.data(), (await gxRef!.data()) as Float32Array, 'bn train grad x, no gamma/beta');
      tf.dispose([x, gamma, beta, dy, r.y, r.mean, r.variance, mean, variance, yRef, gx!, gxRef!]);
    }
  });

  it("Minimum gradient with a scalar first operand (tfjs-layers' relu6) masks ties and values above as the stock one", async () => {
    const vals = [-1, 0, 3, 6, 7, 5.9999, 6.0001, 2.5];
    const x = tf.tensor2d(vals, [2, 4]);
    const dy = tf.tensor2d(rand(8, 31), [2, 4]);
    const relu6 = tf.layers.activation({ activation: 'relu6' });
    const [gx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(relu6.apply(a) as tf.Tensor, dy)))([x]);
    const d = await dy.data();
    const want = Float32Array.from(vals, (v, i) => (v > 0 && v < 6 ? d[i]! : 0));
    expectClose(await gx!.data(), want, 'relu6 grad');
    // both operands tensors, and a scalar second operand: the stock formulas
    const y = tf.tensor2d(vals.map((v) => 6 - v), [2, 4]);
    const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.minimum(a, b), dy)))([x, y]);
    const yv = await y.data();
    expectClose(await ga!.data(), Float32Array.from(vals, (v, i) => (v <= yv[i]! ? d[i]! : 0)), 'minimum grad a');
    expectClose(await gb!.data(), Float32Array.from(vals, (v, i) => (v > yv[i]! ? d[i]! : 0)), 'minimum grad b');
    tf.dispose([x, dy, gx!, y, ga!, gb!]);
  });

  it('model.fit and trainOnBatch of a small conv net train on wasm without leaking tensors', async () => {
    const L = tf.layers;
    const inp = tf.input({ shape: [16, 16, 3] });
    let h = L.zeroPadding2d({ padding: 1 }).apply(inp) as tf.SymbolicTensor;
    h = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(h) as tf.SymbolicTensor;
    h = L.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = L.reLU().apply(h) as tf.SymbolicTensor;
    h = L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(h) as tf.SymbolicTensor;
    h = L.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = L.conv2d({ filters: 12, kernelSize: 1, activation: 'relu' }).apply(h) as tf.SymbolicTensor;
    const a = L.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
    const b = L.averagePooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
    h = L.concatenate().apply([a, b]) as tf.SymbolicTensor;
    h = L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same' }).apply(h) as tf.SymbolicTensor;
    h = L.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
    const out = L.dense({ units: 3 }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    model.compile({ optimizer: tf.train.adam(0.01), loss: (t: tf.Tensor, p: tf.Tensor) => tf.losses.sigmoidCrossEntropy(t, p) });
    const xs = tf.tensor4d(rand(16 * 16 * 16 * 3, 21), [16, 16, 16, 3]);
    // Labels depend on the input, so the loss can fall below chance.
    const ys = tf.tidy(() => tf.cast(tf.greater(tf.mean(xs, [1, 2]), 0), 'float32'));
    const hist = await model.fit(xs, ys, { epochs: 15, batchSize: 8, verbose: 0 });
    const losses = hist.history.loss as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.8);
    await model.trainOnBatch(xs, ys);
    const leaks = leakCheck();
    for (let i = 0; i < 3; i++) await model.trainOnBatch(xs, ys);
    leaks.check();
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('cpu backend: fast Conv2DBackpropFilter matches the reference', async () => {
    await ensureBackend('cpu');
    try {
      for (const c of CASES.filter((k) => !k.depthwise)) await checkCase(c, true);
    } finally {
      await ensureBackend('wasm');
    }
  });
});
