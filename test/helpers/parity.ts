// Reading and comparing the zoo parity fixtures (tools/zoo_fixtures.py), shared by the parity and truncation tests.
import { existsSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { fixtureUrl, readJsonFixture, relErr } from './index.js';

export interface StageFixture {
  /** NHWC shape of the reference module's output. */
  shape: number[];
  /** Flat NHWC indices of the sampled values. */
  idx: number[];
  values: number[];
  mean: number;
  meanAbs: number;
}
export interface ZooFixture {
  /** Reference state-dict keys (registration order) and shapes. */
  keys: Record<string, number[]>;
  cases: { size: [number, number]; logits: number[]; stages: Record<string, StageFixture> }[];
}

/** Relative error required of logits and stage outputs (see {@link parityTolerance}). */
export const TOL = 1e-4;

interface NoiseFixture { archs: Record<string, { size: [number, number]; noise: number }[]> }
let noise: NoiseFixture | undefined;

/**
 * Tolerance of one parity case: TOL, or twice the case's float32 noise floor if that is larger. The floor
 * (tools/zoo_noise.py, test/fixtures/zoo/float32-noise.json) is the worst relative error of the reference
 * itself against float64 when one extra float32 rounding is added to every BatchNorm output: a correct float32
 * implementation can be that far off by rounding alone. It exceeds TOL / 2 only for badly conditioned networks
 * (MobileNet-V3-Large with the formula weights at 224 px).
 */
export function parityTolerance(arch: string, size: readonly number[]): number {
  noise ??= readJsonFixture<NoiseFixture>('zoo/float32-noise.json');
  const c = noise.archs[arch]?.find((e) => e.size[0] === size[0] && e.size[1] === size[1]);
  return Math.max(TOL, 2 * (c?.noise ?? 0));
}

export const hasZooFixture = (arch: string): boolean => existsSync(fixtureUrl(`zoo/${arch}.json`));
export const loadZooFixture = (arch: string): ZooFixture => readJsonFixture<ZooFixture>(`zoo/${arch}.json`);

/** A stage output equals the reference module's: shape, sampled values and mean, within `tol`. */
export async function expectStage(y: tf.Tensor, f: StageFixture, label: string, tol = TOL): Promise<void> {
  expect(y.shape, label).toEqual(f.shape);
  const data = await y.data();
  expect(relErr(f.idx.map((j) => data[j]!), f.values), `${label} sampled values`).toBeLessThanOrEqual(tol);
  let mean = 0;
  for (let j = 0; j < data.length; j++) mean += data[j]!;
  mean /= data.length;
  expect(Math.abs(mean - f.mean) / Math.max(f.meanAbs, 1e-12), `${label} mean`).toBeLessThanOrEqual(tol);
}
