// Numeric parity with the reference implementations (torchvision 0.14 / timm): identical formula weights on
// both sides, logits and every stage output compared at the default size and at a non-square size.
// Fixtures: tools/zoo_fixtures.py. Each architecture is built by createModel and filled from the formula once;
// the model of the other input size is the same builder's graph (no random init: every weight is then copied,
// key by key) - drawing and filling weights are what cost time here.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { getModelInfo } from '../src/zoo/registry.js';
import { torchSlots } from '../src/weights/remap.js';
import { blockOutputLayer } from '../src/zoo/blocks.js';
import { fillFromFormula, formulaInput } from './helpers/formula.js';
import { buildGraph, FULL_TESTS, relErr, representatives, tick } from './helpers/index.js';
import { expectStage, hasZooFixture, loadZooFixture, parityTolerance } from './helpers/parity.js';

// npm test: one architecture per block design (representatives()); npm run test:full: all 17.
describe.each(representatives())('%s matches its reference', (arch) => {
  it('has a parity fixture', () => {
    expect(hasZooFixture(arch), `run /usr/bin/python3 tools/zoo_fixtures.py ${arch}`).toBe(true);
  });
  if (!hasZooFixture(arch)) return;
  const fixture = loadZooFixture(arch);
  /** The first case's model, filled from the formula; the next case copies its weights. */
  let filled: tf.LayersModel | undefined;
  afterAll(() => filled?.dispose());

  // npm test: the smallest case only (193x161: every layer, non-square, odd sizes); test:full adds the default size
  const smallest = [...fixture.cases].sort((a, b) => a.size[0] * a.size[1] - b.size[0] * b.size[1])[0]!;
  for (const c of FULL_TESTS ? fixture.cases : [smallest]) {
    it(`logits and stages at ${c.size[0]}x${c.size[1]}`, async () => {
      const inputShape: [number, number, number] = [c.size[0], c.size[1], 3];
      // the builder's graph without createModel's reference initialisation: the formula (or the first case's
      // weights) overwrites every variable, and drawing the initial weights cost more than the comparison itself
      const model = await buildGraph(arch, { inputShape });
      await tick();
      if (!filled) {
        const keys = fillFromFormula(model);
        // every reference key maps to exactly one TF.js variable of the same shape
        expect(Object.fromEntries(keys)).toEqual(fixture.keys);
      } else {
        // the same variables in the same order at another input size: weights carry over one to one
        const from = torchSlots(filled);
        const to = torchSlots(model);
        expect(to.map((s) => [s.key, s.torchShape])).toEqual(from.map((s) => [s.key, s.torchShape]));
        to.forEach((s, i) => s.variable.write(from[i]!.variable.read()));
      }
      await tick();

      const stages = getModelInfo(arch).blocks;
      expect(Object.keys(c.stages)).toEqual(stages);
      const outputs = stages.map((s) => {
        const layer = blockOutputLayer(model, s);
        if (!layer) throw new Error(`no layer for stage ${s}`);
        return layer.output as tf.SymbolicTensor;
      });
      const probe = tf.model({ inputs: model.inputs, outputs: [...outputs, model.outputs[0]!] });
      const x = formulaInput(c.size[0], c.size[1]);
      const ys = probe.predict(x) as tf.Tensor[];
      await tick();
      const logits = await ys[ys.length - 1]!.data();
      // TOL, or twice the reference's own float32 noise floor where that is larger (test/helpers/parity.ts)
      const tol = parityTolerance(arch, c.size);
      expect(relErr(logits, c.logits)).toBeLessThanOrEqual(tol);
      for (let i = 0; i < stages.length; i++) await expectStage(ys[i]!, c.stages[stages[i]!]!, stages[i]!, tol);
      tf.dispose([x, ...ys]);
      if (filled) model.dispose();
      else filled = model;
    });
  }
});
