// Models saved by saveModel load with plain tf.loadLayersModel in a process that imports only @tensorflow/tfjs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../src/node/weights/fs-io.js';
import { modelArtifacts } from '../src/train/state.js';
import { toStandardTopology } from '../src/weights/portable.js';
import { createModel } from '../src/zoo/registry.js';
import { freeze, truncate } from '../src/truncate.js';
import { BatchNorm, Pad2D } from '../src/zoo/layers.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-portable-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SIZE = 32;
/** The same deterministic input on both sides (Math.sin is the same function in both Node processes). */
const input = (n: number) => Float32Array.from({ length: n * SIZE * SIZE * 3 }, (_, i) => Math.sin(i * 0.37) * 1.5);

// Runs in a fresh Node process that imports nothing but @tensorflow/tfjs (resolved from the repository root).
const PLAIN = `
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
const dirs = JSON.parse(process.argv[1]);
const out = {};
for (const dir of dirs) {
  const json = JSON.parse(readFileSync(dir + '/model.json', 'utf8'));
  const model = await tf.loadLayersModel({
    load: () => tf.io.getModelArtifactsForJSON(json, async (m) => {
      const b = readFileSync(dir + '/' + m[0].paths[0]);
      return [m[0].weights, b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)];
    }),
  });
  const x = tf.tensor4d(Float32Array.from({ length: 2 * ${SIZE} * ${SIZE} * 3 }, (_, i) => Math.sin(i * 0.37) * 1.5), [2, ${SIZE}, ${SIZE}, 3]);
  out[dir] = Array.from(model.predict(x).dataSync());
}
process.stdout.write(JSON.stringify(out));
`;

function plainPredict(dirs: string[]): Record<string, number[]> {
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', PLAIN, JSON.stringify(dirs)], {
    cwd: join(__dirname, '..'),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  return JSON.parse(stdout) as Record<string, number[]>;
}

describe('saved models load with plain TF.js (issue 16, point 3)', () => {
  it('resnet18, mobilenet_v3_small (hard-swish), efficientnet_b0 and a truncated resnet18 predict the same', async () => {
    const expected: Record<string, Float32Array> = {};
    const build = {
      resnet18: () => createModel('resnet18', { numClasses: 3, inputShape: [SIZE, SIZE, 3] }),
      mobilenet_v3_small: () => createModel('mobilenet_v3_small', { numClasses: 3, inputShape: [SIZE, SIZE, 3] }),
      efficientnet_b0: () => createModel('efficientnet_b0', { numClasses: 3, inputShape: [SIZE, SIZE, 3] }),
      'resnet18@layer2': async () => {
        const full = await createModel('resnet18', { numClasses: 3, inputShape: [SIZE, SIZE, 3] });
        const t = truncate(full, 'layer2', { numClasses: 4 });
        full.dispose();
        return t;
      },
    };
    const dirs: string[] = [];
    for (const [name, make] of Object.entries(build)) {
      const model = await make();
      // non-trivial BatchNorm statistics so a lost layer or wrong class shows
      model.layers.filter((l) => l instanceof BatchNorm).forEach((l, k) => {
        const w = l.getWeights().map((t, j) => tf.tidy(() => tf.add(t, tf.randomUniform(t.shape, 0, 0.2, 'float32', k * 4 + j))));
        l.setWeights(w);
        tf.dispose(w);
      });
      const x = tf.tensor4d(input(2), [2, SIZE, SIZE, 3]);
      const y = model.predict(x) as tf.Tensor;
      expected[join(tmp, name)] = y.dataSync() as Float32Array;
      tf.dispose([x, y]);
      await saveModel(model, join(tmp, name));
      dirs.push(join(tmp, name));
      const classes = (JSON.parse(readFileSync(join(tmp, name, 'model.json'), 'utf8')).modelTopology.config.layers as { class_name: string }[]).map((l) => l.class_name);
      expect(classes.filter((c) => c.startsWith('Chexzoo'))).toEqual([]);
      model.dispose();
    }
    const got = plainPredict(dirs);
    for (const d of dirs) {
      const want = expected[d]!;
      const scale = Math.max(...Array.from(want, Math.abs));
      const err = Math.max(...got[d]!.map((v, i) => Math.abs(v - want[i]!)));
      expect(err / scale, d).toBeLessThan(1e-4);
    }
  });

  it('seeded Dropout and stochastic depth are saved as Dropout and come back as our classes with their rates', async () => {
    const model = await createModel('efficientnet_b0', { numClasses: 2, inputShape: [SIZE, SIZE, 3] });
    const dir = join(tmp, 'effb0-restore');
    await saveModel(model, dir);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { modelTopology: { config: { layers: { name: string; class_name: string; config: { rate?: number } }[] } } };
    const saved = json.modelTopology.config.layers;
    const sd = saved.filter((l) => l.name.endsWith('.stochastic_depth'));
    expect(sd.length).toBe(9); // the MBConv blocks with a residual connection
    expect(new Set(sd.map((l) => l.class_name))).toEqual(new Set(['Dropout']));
    const rates = (m: tf.LayersModel, cls: string, key: 'p' | 'rate') =>
      m.layers.filter((l) => l.getClassName() === cls).map((l) => `${l.name}=${String(l.getConfig()[key])}`);
    const loaded = await loadModel(dir);
    expect(rates(loaded, 'ChexzooStochasticDepth', 'p')).toEqual(rates(model, 'ChexzooStochasticDepth', 'p'));
    expect(rates(loaded, 'ChexzooDropout', 'rate')).toEqual(rates(model, 'ChexzooDropout', 'rate'));
    expect(rates(model, "ChexzooStochasticDepth", "p").length).toBe(9);
    model.dispose();
    loaded.dispose();
  });

  it('loadModel restores our classes: frozen BatchNorm keeps its statistics in fit, -Infinity padding survives', async () => {
    const model = await createModel('mobilenet_v3_small', { numClasses: 2, inputShape: [SIZE, SIZE, 3] });
    const dir = join(tmp, 'mnv3-restore');
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    // the same layers and classes, except padding, which stays the standard ZeroPadding2D (same behaviour)
    const cls = (l: tf.layers.Layer) => `${l.name}:${l.getClassName().replace('ChexzooPad2D', 'ZeroPadding2D')}`;
    const diff = loaded.layers.map((l, i) => `${cls(l)}/${cls(model.layers[i]!)}`).filter((s) => s.split('/')[0] !== s.split('/')[1]);
    expect(diff).toEqual([]);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    const x = tf.tensor4d(input(2), [2, SIZE, SIZE, 3]);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    freeze(loaded);
    const bn = loaded.layers.find((l) => l instanceof BatchNorm)!;
    const before = bn.getWeights().map((t) => t.dataSync().slice());
    loaded.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await loaded.fit(x, tf.zeros([2, 2]), { epochs: 1, verbose: 0 });
    expect(bn.getWeights().map((t) => Array.from(t.dataSync()))).toEqual(before.map((t) => Array.from(t)));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();

    // a max pool padding that does not follow a ReLU keeps our class, with -Infinity intact through JSON
    const inp = tf.input({ shape: [4, 4, 1] });
    const pad = new Pad2D({ padding: [[1, 1], [1, 1]], value: -Infinity, name: 'p' }).apply(inp) as tf.SymbolicTensor;
    const pool = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'mp' }).apply(pad) as tf.SymbolicTensor;
    const m2 = tf.model({ inputs: inp, outputs: pool });
    const { kept } = toStandardTopology((await modelArtifacts(m2)).modelTopology);
    expect(kept).toEqual(['ChexzooPad2D']);
    await saveModel(m2, join(tmp, 'neg'));
    await expect(saveModel(m2, join(tmp, 'neg-strict'), { strict: true })).rejects.toThrow(/without a standard TF.js equivalent \(ChexzooPad2D\).*loadModel/);
    const m3 = await loadModel(join(tmp, 'neg'));
    const neg = tf.fill([1, 4, 4, 1], -2);
    const r = m3.predict(neg) as tf.Tensor;
    expect(Array.from(r.dataSync())).toEqual([-2, -2, -2, -2]);
    tf.dispose([neg, r]);
    m2.dispose();
    m3.dispose();
  });
});
