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

/** Relative error required of logits and stage outputs. */
export const TOL = 1e-4;

export const hasZooFixture = (arch: string): boolean => existsSync(fixtureUrl(`zoo/${arch}.json`));
export const loadZooFixture = (arch: string): ZooFixture => readJsonFixture<ZooFixture>(`zoo/${arch}.json`);

/** A stage output equals the reference module's: shape, sampled values and mean, within TOL. */
export async function expectStage(y: tf.Tensor, f: StageFixture, label: string): Promise<void> {
  expect(y.shape, label).toEqual(f.shape);
  const data = await y.data();
  expect(relErr(f.idx.map((j) => data[j]!), f.values), `${label} sampled values`).toBeLessThanOrEqual(TOL);
  let mean = 0;
  for (let j = 0; j < data.length; j++) mean += data[j]!;
  mean /= data.length;
  expect(Math.abs(mean - f.mean) / Math.max(f.meanAbs, 1e-12), `${label} mean`).toBeLessThanOrEqual(TOL);
}
