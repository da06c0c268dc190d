import * as tf from '@tensorflow/tfjs';
import { fixtureUrl, readFixture, readJsonFixture } from './helpers/index.js';

/** test/fixtures/weights/ (tools/make_weight_fixtures.py). */
export const FIX = fixtureUrl('weights/');

export const fixture = (name: string): Uint8Array => readFixture(`weights/${name}`);

export interface TinyRef {
  inputShape: number[];
  input: number[];
  grayShape: number[];
  gray: number[];
  output: number[];
  outputGray: number[];
  outputF16: number[];
  keys: string[];
}

export const ref = readJsonFixture<TinyRef>('weights/tiny_ref.json');

/** TF.js twin of tools/make_weight_fixtures.py's Tiny module; layer names are its module paths. */
export function tinyModel(opts: { classes?: number; inChannels?: number; names?: Partial<Record<'conv1' | 'bn1' | 'dw' | 'fc', string>> } = {}): tf.LayersModel {
  const n = { conv1: 'conv1', bn1: 'bn1', dw: 'dw', fc: 'fc', ...opts.names };
  const input = tf.input({ shape: [8, 8, opts.inChannels ?? 3] });
  let x = tf.layers.conv2d({ name: n.conv1, filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: n.bn1, epsilon: 1e-5 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ name: n.dw, kernelSize: 3, depthMultiplier: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: n.fc, units: opts.classes ?? 5 }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Runs the model on an NCHW reference input and returns the flat output. */
export function run(model: tf.LayersModel, nchw: number[], shape: number[]): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(nchw, shape as [number, number, number, number]).transpose([0, 2, 3, 1]);
    return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });
}

export const quiet = { log: () => {} };
