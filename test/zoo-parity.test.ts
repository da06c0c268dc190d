// Numeric parity with the reference implementations (torchvision 0.14 / timm): identical formula weights on
// both sides, logits and every stage output compared at the default size and at a non-square size.
// Fixtures: tools/zoo_fixtures.py.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, getModelInfo, listModels } from '../src/zoo/registry.js';
import { blockOutputLayer } from '../src/zoo/blocks.js';
import { fillFromFormula, formulaInput } from './helpers/formula.js';
import { TOL, expectStage, hasZooFixture, loadZooFixture, relErr, tick } from './helpers/parity.js';

describe.each(listModels())('%s matches its reference', (arch) => {
  it('has a parity fixture', () => {
    expect(hasZooFixture(arch), `run /usr/bin/python3 tools/zoo_fixtures.py ${arch}`).toBe(true);
  });
  if (!hasZooFixture(arch)) return;
  const fixture = loadZooFixture(arch);

  for (const c of fixture.cases) {
    it(`logits and stages at ${c.size[0]}x${c.size[1]}`, async () => {
      const model = await createModel(arch, { inputShape: [c.size[0], c.size[1], 3] });
      await tick();
      const keys = fillFromFormula(model);
      await tick();
      // every reference key maps to exactly one TF.js variable of the same shape
      expect(Object.fromEntries(keys)).toEqual(fixture.keys);

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
      expect(relErr(logits, c.logits)).toBeLessThanOrEqual(TOL);
      for (let i = 0; i < stages.length; i++) await expectStage(ys[i]!, c.stages[stages[i]!]!, stages[i]!);
      tf.dispose([x, ...ys]);
      model.dispose();
    });
  }
});
