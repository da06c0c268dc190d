// Truncation, feature extraction, classifier reset and freezing. Reference values: the zoo parity fixtures
// (tools/zoo_fixtures.py), whose `keys` are the reference state dict in module registration order and whose
// stage outputs come from the reference modules run on formula weights.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocks, featureExtractor, freeze, resetClassifier, truncate, unfreeze } from '../src/truncate.js';
import { countParams, countTrainableParams, createModel, getModelInfo, listModels } from '../src/zoo/registry.js';
import { loadStateDict } from '../src/weights/load.js';
import { modelToStateDict } from '../src/weights/remap.js';
import { fillFromFormula, formulaInput } from './helpers/formula.js';
import { expectStage, loadZooFixture } from './helpers/parity.js';
import { buildGraph, leakCheck, tick } from './helpers/index.js';

// the models output logits; CheXpert tasks are multi-label, hence a sigmoid loss
const logitsLoss = (y: tf.Tensor, p: tf.Tensor): tf.Tensor => tf.losses.sigmoidCrossEntropy(y, p);
const H = 193;
const W = 161;

/**
 * Reference parameter count up to and including each stage, from the reference state dict: keys before the
 * first stage are the stem, keys after a stage that belong to no stage are the head (or an auxiliary classifier).
 */
function referenceStageParams(keys: Record<string, number[]>, stages: string[]): number[] {
  const owner = (k: string) => stages.findIndex((s) => k.startsWith(`${s}.`));
  const per = new Array<number>(stages.length).fill(0);
  let stem = 0;
  let seen = false;
  for (const [k, shape] of Object.entries(keys)) {
    if (/running_(mean|var)$|num_batches_tracked$/.test(k)) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const i = owner(k);
    if (i >= 0) {
      per[i]! += n;
      seen = true;
    } else if (!seen) stem += n;
  }
  let acc = stem;
  return per.map((n) => (acc += n));
}

const snapshot = (m: tf.LayersModel): Map<string, Float32Array> =>
  new Map(m.weights.map((w) => [w.originalName ?? w.name, Float32Array.from(w.read().dataSync() as Float32Array)]));

const identical = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe.each(listModels())('%s', (arch) => {
  const fixture = loadZooFixture(arch);
  const c = fixture.cases.find((k) => k.size[0] === H && k.size[1] === W)!;
  const stages = getModelInfo(arch).blocks;
  let model: tf.LayersModel;

  beforeAll(async () => {
    // the builder's graph without createModel's reference initialisation (what cost the time here): these checks
    // read the graph, or fill a truncated copy from the formula
    model = await buildGraph(arch, { inputShape: [H, W, 3], numClasses: 5 });
    await tick();
  });
  afterAll(() => model.dispose());

  it('blocks(): stages, channels, reduction and reference parameter counts', () => {
    expect(c, 'fixture case 193x161').toBeDefined();
    const b = blocks(model);
    expect(b.map((s) => s.name)).toEqual(stages);
    const ref = referenceStageParams(fixture.keys, stages);
    b.forEach((s, i) => {
      expect(s.channels, s.name).toBe(c.stages[s.name]!.shape[3]);
      expect(s.params, `${s.name} params`).toBe(ref[i]);
      expect(Math.log2(s.reduction) % 1, `${s.name} reduction is a power of 2`).toBe(0);
      if (i > 0) expect(s.reduction).toBeGreaterThanOrEqual(b[i - 1]!.reduction);
      // the reference output size at the default input agrees with the stride
      const d = fixture.cases[0]!;
      const out = d.stages[s.name]!.shape[1]!;
      expect(Math.abs(Math.log2(d.size[0] / out / s.reduction)), `${s.name} reduction vs shape`).toBeLessThan(0.6);
    });
    expect(b[b.length - 1]!.reduction).toBe(32);
  });

  it('truncate(middle stage) returns the reference module output; featureExtractor several', async () => {
    const mid = stages[Math.floor((stages.length - 1) / 2)]!;
    const leaks = leakCheck();
    const tr = truncate(model, mid, { numClasses: 0 });
    expect(tr.name).toBe(`${arch}/${mid}`);
    expect(tr.outputs[0]!.shape).toEqual([null, ...c.stages[mid]!.shape.slice(1)]);
    // formula weights depend only on the key, so filling the truncated copy reproduces the reference prefix
    fillFromFormula(tr);
    await tick();
    const x = formulaInput(H, W);
    const y = tr.predict(x) as tf.Tensor;
    await expectStage(y, c.stages[mid]!, mid);
    // features of a derived model, in the order asked for
    const fe = featureExtractor(tr, [mid, stages[0]!]);
    const ys = fe.predict(x) as tf.Tensor[];
    await expectStage(ys[0]!, c.stages[mid]!, `features ${mid}`);
    await expectStage(ys[1]!, c.stages[stages[0]!]!, `features ${stages[0]}`);
    tf.dispose([x, y, ...ys]);
    fe.dispose();
    tr.dispose();
    leaks.check();
  });

  it('truncate(-1) with a 5-class head: parameter count, head name, stages', () => {
    const b = blocks(model);
    const stage = b[b.length - 2]!;
    const tr = truncate(model, -1);
    expect(tr.name).toBe(`${arch}/${stage.name}`);
    expect(tr.outputs[0]!.shape).toEqual([null, 5]);
    const expected = stage.params + stage.channels * 5 + 5;
    expect(countParams(tr)).toBe(expected);
    expect(countTrainableParams(tr)).toBe(expected);
    // the new classifier takes the family's classifier module path
    expect(tr.layers[tr.layers.length - 1]!.name).toBe(model.layers[model.layers.length - 1]!.name);
    // the truncated model's stages are the source's up to the cut
    expect(blocks(tr)).toEqual(b.slice(0, -1));
    tr.dispose();
  });
});

describe('resnet18: every stage, save/load, training', () => {
  const arch = 'resnet18';
  let model: tf.LayersModel;
  beforeAll(async () => {
    model = await createModel(arch, { inputShape: [H, W, 3], numClasses: 5 });
    fillFromFormula(model);
  });
  afterAll(() => model.dispose());

  it('truncation at every stage (name and -k) gives the reference features', async () => {
    const c = loadZooFixture(arch).cases.find((k) => k.size[0] === H && k.size[1] === W)!;
    const stages = getModelInfo(arch).blocks;
    const x = formulaInput(H, W);
    for (let i = 0; i < stages.length; i++) {
      const ref = i % 2 === 0 ? stages[i]! : i - (stages.length - 1);
      const tr = truncate(model, ref, { numClasses: 0 });
      const y = tr.predict(x) as tf.Tensor;
      await expectStage(y, c.stages[stages[i]!]!, `${stages[i]} via ${ref}`);
      y.dispose();
      tr.dispose();
    }
    x.dispose();
  });

  it('does not modify the source model; weights are copies', async () => {
    const before = snapshot(model);
    const flags = model.layers.map((l) => l.trainable);
    const tr = truncate(model, 'layer2', { numClasses: 3 });
    freeze(tr);
    expect(model.layers.map((l) => l.trainable)).toEqual(flags);
    expect(countTrainableParams(model)).toBe(countParams(model));
    const conv = tr.getLayer('conv1');
    const zeros = tf.zerosLike(conv.getWeights()[0]!);
    conv.setWeights([zeros]);
    zeros.dispose();
    const after = snapshot(model);
    for (const [k, v] of before) expect(identical(v, after.get(k)!), k).toBe(true);
    tr.dispose();
    // the source still works after its copy is disposed
    const y = model.predict(tf.zeros([1, H, W, 3])) as tf.Tensor;
    expect(y.shape).toEqual([1, 5]);
    y.dispose();
  });

  it('unknown blocks and bad options are clear errors', async () => {
    expect(() => truncate(model, 'layer5')).toThrow(/Unknown block "layer5".*Valid blocks: layer1, layer2, layer3, layer4/);
    expect(() => truncate(model, -4)).toThrow(/out of range.*-3/);
    expect(() => truncate(model, 1)).toThrow(/out of range/);
    expect(() => truncate(model, 'layer2', { numClasses: -1 })).toThrow(/numClasses/);
    const tr = truncate(model, 'layer2', { numClasses: 0 });
    expect(() => truncate(tr, 'layer3')).toThrow(/after this model's last block.*Valid blocks: layer1, layer2/);
    expect(() => featureExtractor(model, ['layer1', 'layer1'])).toThrow(/listed twice/);
    tr.dispose();
    const input = tf.input({ shape: [8, 8, 3] });
    const other = tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(input) as tf.SymbolicTensor, name: 'mine' });
    expect(() => blocks(other)).toThrow(/'mine' is not a zoo model/);
    other.dispose();
  });

  it('numClasses defaults to the source classifier; pooling max; dropout', () => {
    const a = truncate(model, 'layer3');
    expect(a.outputs[0]!.shape).toEqual([null, 5]);
    expect(a.layers.slice(-2).map((l) => l.name)).toEqual(['avgpool', 'fc']);
    const b = truncate(model, 'layer3', { numClasses: 2, pooling: 'max', dropout: 0.2 });
    expect(b.layers.slice(-3).map((l) => l.getClassName())).toEqual(['GlobalMaxPooling2D', 'ChexzooDropout', 'Dense']);
    expect(countParams(b)).toBe(countParams(a) - 256 * 5 - 5 + 256 * 2 + 2);
    expect(() => truncate(model, 'layer3', { pooling: 'median' as 'max' })).toThrow(/pooling/);
    a.dispose();
    b.dispose();
  });

  it('a truncated model saves and loads (name, stages, weights, frozen flags, outputs)', async () => {
    const tr = truncate(model, 'layer3', { numClasses: 5 });
    freeze(tr, { upTo: 'layer2' });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await tr.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    expect(loaded.name).toBe('resnet18/layer3');
    expect(blocks(loaded)).toEqual(blocks(tr));
    expect(countTrainableParams(loaded)).toBe(countTrainableParams(tr));
    const x = formulaInput(H, W);
    const [a, b] = [tr.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(identical((await a.data()) as Float32Array, (await b.data()) as Float32Array)).toBe(true);
    // truncating the loaded model still works
    const again = truncate(loaded, 'layer1', { numClasses: 0 });
    expect(again.outputs[0]!.shape[3]).toBe(64);
    tf.dispose([x, a, b]);
    [tr, loaded, again].forEach((m) => m.dispose());
  });

  it('a full checkpoint loads into a truncated model; its new head is recognised and skipped', async () => {
    const source = await createModel(arch, { inputShape: [H, W, 3], numClasses: 5 });
    const fresh = truncate(source, 'layer3');
    source.dispose();
    const notes: string[] = [];
    const report = loadStateDict(fresh, modelToStateDict(model), { ignoreUnexpected: true, log: (m) => notes.push(m) });
    expect(report.skipped.filter((s) => s.reason === 'classifier skipped').map((s) => s.key)).toEqual(['fc.weight', 'fc.bias']);
    const w = (m: tf.LayersModel) => m.getLayer('layer3.1.bn2').getWeights()[3]!.dataSync() as Float32Array;
    expect(identical(w(fresh), w(model))).toBe(true);
    fresh.dispose();
  });

  it('resetClassifier', () => {
    const r = resetClassifier(model, { numClasses: 7 });
    expect(r.name).toBe(arch);
    expect(r.outputs[0]!.shape).toEqual([null, 7]);
    expect(r.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    const conv = (m: tf.LayersModel) => m.getLayer('layer4.1.conv2').getWeights()[0]!.dataSync() as Float32Array;
    expect(identical(conv(r), conv(model))).toBe(true);
    const p = resetClassifier(model, { numClasses: 0 });
    expect(p.outputs[0]!.shape).toEqual([null, 512]);
    expect(p.layers[p.layers.length - 1]!.name).toBe('avgpool');
    const back = resetClassifier(p, { numClasses: 3 });
    expect(back.layers.slice(-1)[0]!.name).toBe('fc');
    expect(countParams(back)).toBe(countParams(p) + 512 * 3 + 3);
    const fmap = resetClassifier(truncate(model, 'layer2', { numClasses: 0 }), { numClasses: 4 });
    expect(fmap.outputs[0]!.shape).toEqual([null, 4]);
    [r, p, back, fmap].forEach((m) => m.dispose());
  });
});

describe('resetClassifier keeps the family head layout', () => {
  it.each(['mobilenet_v3_small', 'efficientnet_b0'].filter((a) => listModels().includes(a)))('%s', async (arch) => {
    const info = getModelInfo(arch);
    const size = Math.max(info.minImageSize, 96);
    const m = await createModel(arch, { inputShape: [size, size, 3] });
    const ref = await createModel(arch, { inputShape: [size, size, 3], numClasses: 5 });
    const r = resetClassifier(m, { numClasses: 5 });
    expect(r.layers.map((l) => l.name)).toEqual(ref.layers.map((l) => l.name));
    expect(countParams(r)).toBe(countParams(ref));
    const pooled = resetClassifier(m, { numClasses: 0 });
    const refPooled = await createModel(arch, { inputShape: [size, size, 3], numClasses: 0 });
    expect(pooled.outputs[0]!.shape).toEqual(refPooled.outputs[0]!.shape);
    expect(countParams(pooled)).toBe(countParams(refPooled));
    // a truncated head uses the same classifier name as the family
    const tr = truncate(m, -1, { numClasses: 5 });
    expect(tr.layers[tr.layers.length - 1]!.name).toBe(ref.layers[ref.layers.length - 1]!.name);
    [m, ref, r, pooled, refPooled, tr].forEach((x) => x.dispose());
  });
});

describe('freeze', () => {
  const S = 64;
  let source: tf.LayersModel;
  beforeAll(async () => {
    source = await createModel('resnet18', { inputShape: [S, S, 3], numClasses: 5 });
  });
  afterAll(() => source.dispose());

  const batch = () => {
    const x = tf.randomNormal([4, S, S, 3], 0, 1, 'float32', 7);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 5).toFloat();
    return { x, y };
  };
  const isBackbone = (name: string, upTo: string[]) =>
    ['conv1/', 'bn1/'].some((p) => name.startsWith(p)) || upTo.some((s) => name.startsWith(`${s}.`));

  it('frozen backbone: weights and BN statistics bit-identical after a step, moving statistics used', async () => {
    const m = truncate(source, 'layer3', { numClasses: 5 });
    m.compile({ optimizer: tf.train.sgd(0.5), loss: logitsLoss });
    // freezing after compile must still take effect
    freeze(m);
    expect(countTrainableParams(m)).toBe(256 * 5 + 5);
    const { x, y } = batch();
    const inference = m.evaluate(x, y) as tf.Scalar;
    const before = snapshot(m);
    const loss = (await m.trainOnBatch(x, y)) as number;
    // with batch statistics the training-mode loss would differ from the inference loss
    expect(Math.abs(loss - (await inference.data())[0]!)).toBeLessThan(1e-5);
    const after = snapshot(m);
    let changed = 0;
    for (const [k, v] of before) {
      if (isBackbone(k, ['layer1', 'layer2', 'layer3'])) expect(identical(v, after.get(k)!), k).toBe(true);
      else if (!identical(v, after.get(k)!)) changed++;
    }
    expect(changed).toBe(2); // fc kernel and bias
    tf.dispose([x, y, inference]);
    m.dispose();
  });

  it('freeze({ upTo }) trains the rest, BN statistics of unfrozen stages update; unfreeze', async () => {
    const m = truncate(source, 'layer2', { numClasses: 5 });
    freeze(m, { upTo: 'layer1' });
    const frozenLayers = m.layers.filter((l) => !l.trainable).map((l) => l.name);
    expect(frozenLayers).toContain('layer1.1.relu');
    expect(frozenLayers).not.toContain('layer2.0.conv1');
    m.compile({ optimizer: tf.train.sgd(0.1), loss: logitsLoss });
    const { x, y } = batch();
    const before = snapshot(m);
    await m.trainOnBatch(x, y);
    const after = snapshot(m);
    for (const [k, v] of before) {
      const same = identical(v, after.get(k)!);
      if (isBackbone(k, ['layer1'])) expect(same, `${k} frozen`).toBe(true);
      else if (/^layer2\.|^fc\//.test(k)) expect(same, `${k} trained`).toBe(false);
    }
    unfreeze(m);
    expect(m.layers.every((l) => l.trainable)).toBe(true);
    const b2 = snapshot(m);
    await m.trainOnBatch(x, y);
    const a2 = snapshot(m);
    expect(identical(b2.get('bn1/moving_mean')!, a2.get('bn1/moving_mean')!)).toBe(false);
    expect(identical(b2.get('conv1/kernel')!, a2.get('conv1/kernel')!)).toBe(false);
    tf.dispose([x, y]);
    m.dispose();
  });
});
