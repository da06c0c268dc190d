// The test helpers every test file shares: seeded random data, array comparisons, the tensor-leak check, fixture
// loading and the event-loop turn. One copy each; import from here instead of writing another.
//   import { rng, randomArray, maxAbsDiff, relErr, leakCheck, expectNoLeak, readJsonFixture, tick, representatives } from './helpers/index.js';
// Domain helpers live beside it: close.ts (relative-tolerance assertions), formula.ts (formula weights shared with
// tools/formula.py), parity.ts (zoo parity fixtures), export-cases.ts.
import { spawn, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { getSpec, listModels, resolveOptions, type CreateModelOptions } from '../../src/zoo/registry.js';
import { ensureBackend } from '../../src/backend/index.js';

/** Seeded uniform generator in [0, 1) (mulberry32, the library's own: src/utils/rng.ts) and a normal draw from it. */
import { rng } from '../../src/utils/rng.js';
export { rng, randNormal } from '../../src/utils/rng.js';

/** `n` seeded uniform values in [lo, hi) as float32. */
export function randomArray(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** max |a - b| over the elements; Infinity when the lengths differ (and a NaN anywhere gives NaN, which fails `<`). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); // Math.max keeps a NaN
  return m;
}

/**
 * max |actual - expected| / max |expected|: the error relative to the output's scale. Infinity when the lengths
 * differ; NaN when any element is NaN (so `toBeLessThan` fails).
 */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}

/**
 * The tensor-leak check: counts `tf.memory().numTensors` now; `check()` fails unless the count is back to it
 * (plus `allowed` tensors kept on purpose).
 * @example const leaks = leakCheck(); ...; leaks.check();
 */
export function leakCheck(label = 'tensors left'): { check(allowed?: number): void } {
  const before = tf.memory().numTensors;
  return { check: (allowed = 0) => expect(tf.memory().numTensors - before, label).toBe(allowed) };
}

/** Runs `fn` under {@link leakCheck} and returns what it returns (its result must not be a tensor it keeps). */
export async function expectNoLeak<T>(fn: () => T | Promise<T>, label?: string): Promise<T> {
  const leaks = leakCheck(label);
  const out = await fn();
  leaks.check();
  return out;
}

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** URL of a file under test/fixtures/ (`rel` like 'metrics/binary.json'). */
export const fixtureUrl = (rel: string): URL => new URL(rel, FIXTURES);

/** Bytes of a file under test/fixtures/. */
export const readFixture = (rel: string): Uint8Array => new Uint8Array(readFileSync(fixtureUrl(rel)));

/** A JSON file under test/fixtures/, parsed. */
export const readJsonFixture = <T = unknown>(rel: string): T => JSON.parse(readFileSync(fixtureUrl(rel), 'utf8')) as T;

/** Runs a command to its end and collects its output; `code` is -1 when a signal ended it. */
export function runCommand(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

export { tick } from './tick.js';

/**
 * `npm run test:full` (CHEXZOO_TEST_FULL=1): family-generic checks run on every architecture instead of
 * {@link representatives}. Per-architecture checks (parameter counts, parity with reference fixtures) always run on all.
 */
export const FULL_TESTS = process.env.CHEXZOO_TEST_FULL === '1';

/**
 * One architecture per block design: ResNet BasicBlock and Bottleneck, DenseNet, EfficientNet MBConv, MobileNet-V2
 * and -V3 (SE, hard-swish), MNASNet, Inception-V3 and -V4. The deeper/wider members of a family repeat the same
 * blocks. With FULL_TESTS: all 17.
 */
export function representatives(): string[] {
  if (FULL_TESTS) return listModels();
  const picked = ['resnet18', 'resnet50', 'densenet121', 'efficientnet_b0', 'mobilenet_v2', 'mobilenet_v3_small', 'mnasnet1_0', 'inception_v3', 'inception_v4'];
  const missing = picked.filter((a) => !listModels().includes(a));
  if (missing.length > 0) throw new Error(`test/helpers: representatives ${missing.join(', ')} are not in the zoo; update the list.`);
  return picked;
}

/**
 * A zoo model's graph as createModel builds it, without the reference initialisation (TF.js default initial values):
 * for tests that overwrite every weight (formula fixtures) or read only the graph (shapes, counts, memory plans).
 * Drawing the reference initial values costs more than most of those tests themselves.
 * @example const model = await buildGraph('resnet50', { inputShape: [224, 224, 3] }); fillFromFormula(model);
 */
export async function buildGraph(arch: string, options: CreateModelOptions = {}): Promise<tf.LayersModel> {
  await ensureBackend();
  const spec = getSpec(arch);
  return spec.build(resolveOptions(spec, options));
}
