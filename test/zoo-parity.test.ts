// Numeric parity with the reference implementations (torchvision 0.14 / timm): identical formula weights on
// both sides, logits and every stage output compared at the default size and at a non-square size.
// Fixtures: tools/zoo_fixtures.py.
import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, getModelInfo, listModels } from '../src/zoo/registry.js';
import { stageOutputLayer } from '../src/zoo/stages.js';
import { fillFromFormula, formulaInput } from './helpers/formula.js';

interface StageFixture {
  shape: number[];
  idx: number[];
  values: number[];
  mean: number;
  meanAbs: number;
}
interface Fixture {
  keys: Record<string, number[]>;
  cases: { size: [number, number]; logits: number[]; stages: Record<string, StageFixture> }[];
}

const TOL = 1e-4;
// Long synchronous steps starve vitest's worker RPC; give the event loop a turn between them.
const tick = () => new Promise<void>((r) => setImmediate(r));
const fixturePath = (arch: string) => new URL(`./fixtures/zoo/${arch}.json`, import.meta.url);

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}

describe.each(listModels())('%s matches its reference', (arch) => {
  it('has a parity fixture', () => {
    expect(existsSync(fixturePath(arch)), `run /usr/bin/python3 tools/zoo_fixtures.py ${arch}`).toBe(true);
  });
  if (!existsSync(fixturePath(arch))) return;
  const fixture = JSON.parse(readFileSync(fixturePath(arch), 'utf8')) as Fixture;

  for (const c of fixture.cases) {
    it(`logits and stages at ${c.size[0]}x${c.size[1]}`, async () => {
      const model = await createModel(arch, { inputShape: [c.size[0], c.size[1], 3] });
      await tick();
      const keys = fillFromFormula(model);
      await tick();
      // every reference key maps to exactly one TF.js variable of the same shape
      expect(Object.fromEntries(keys)).toEqual(fixture.keys);

      const stages = getModelInfo(arch).stages;
      expect(Object.keys(c.stages)).toEqual(stages);
      const outputs = stages.map((s) => {
        const layer = stageOutputLayer(model, s);
        if (!layer) throw new Error(`no layer for stage ${s}`);
        return layer.output as tf.SymbolicTensor;
      });
      const probe = tf.model({ inputs: model.inputs, outputs: [...outputs, model.outputs[0]!] });
      const x = formulaInput(c.size[0], c.size[1]);
      const ys = probe.predict(x) as tf.Tensor[];
      await tick();
      const logits = await ys[ys.length - 1]!.data();
      expect(relErr(logits, c.logits)).toBeLessThanOrEqual(TOL);
      for (let i = 0; i < stages.length; i++) {
        const f = c.stages[stages[i]!]!;
        expect(ys[i]!.shape, stages[i]).toEqual(f.shape);
        const data = await ys[i]!.data();
        const sampled = f.idx.map((j) => data[j]!);
        const err = relErr(sampled, f.values);
        expect(err, `${stages[i]} sampled values`).toBeLessThanOrEqual(TOL);
        let mean = 0;
        for (let j = 0; j < data.length; j++) mean += data[j]!;
        mean /= data.length;
        expect(Math.abs(mean - f.mean) / Math.max(f.meanAbs, 1e-12), `${stages[i]} mean`).toBeLessThanOrEqual(TOL);
      }
      tf.dispose([x, ...ys]);
      model.dispose();
    });
  }
});
