import * as tf from '@tensorflow/tfjs';
import { batchNormTraining } from '../backend/kernels/batchnorm.js';

/**
 * Building blocks shared by every architecture family. They reproduce PyTorch semantics (symmetric padding,
 * per-family BatchNorm eps, hard-sigmoid as relu6(x + 3) / 6) and name every TF.js layer after the PyTorch
 * module path it stands for, so a state-dict key is `<layer name>.<param>`. Layers that exist only in TF.js
 * (padding, activation, add, concat) take a suffix on the module path they belong to.
 */

export type ST = tf.SymbolicTensor;
export type Pair = [number, number];

const pair = (v: number | Pair): Pair => (Array.isArray(v) ? v : [v, v]);

// ---------------------------------------------------------------------------------------------------------------
// Custom layers (registered for serialization so saved models load back)

/** Constant padding of H and W (PyTorch pads symmetrically; max pooling pads with -Infinity). */
export class Pad2D extends tf.layers.Layer {
  static className = 'ChexzooPad2D';
  readonly padding: [Pair, Pair];
  readonly value: number;
  constructor(config: { padding: [Pair, Pair]; value?: number; name?: string }) {
    super(config);
    this.padding = config.padding;
    this.value = config.value ?? 0;
  }
  override computeOutputShape(s: tf.Shape): tf.Shape {
    const [[t, b], [l, r]] = this.padding;
    return [s[0]!, s[1] == null ? null : s[1] + t + b, s[2] == null ? null : s[2] + l + r, s[3]!];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.pad(x, [[0, 0], this.padding[0], this.padding[1], [0, 0]], this.value);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), padding: this.padding, value: this.value };
  }
}

/** PyTorch's Hardsigmoid: relu6(x + 3) / 6 (TF.js `hardSigmoid` is 0.2x + 0.5, which differs). */
export class HardSigmoid extends tf.layers.Layer {
  static className = 'ChexzooHardSigmoid';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6));
  }
}

/** PyTorch's Hardswish: x * relu6(x + 3) / 6. */
export class HardSwish extends tf.layers.Layer {
  static className = 'ChexzooHardSwish';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)));
  }
}

// TF.js does not export the BatchNormalization class; take it from an instance so we can extend it.
const BatchNormalizationBase = tf.layers.batchNormalization({}).constructor as unknown as new (
  config: Record<string, unknown>,
) => tf.layers.Layer;

interface BatchNormInternals {
  epsilon: number;
  momentum: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/**
 * BatchNorm2d over the last axis, trained as PyTorch trains it: in training mode it normalizes with the batch
 * mean and biased variance and updates the running statistics with `momentum` (Keras convention: new =
 * momentum * old + (1 - momentum) * batch) from the *unbiased* batch variance (n / (n - 1)), as torch does (TF.js'
 * own layer uses the biased one). A frozen layer (`trainable = false`) normalizes with its moving statistics
 * and never updates them (TF.js' own layer ignores `trainable` for the statistics).
 */
export class BatchNorm extends BatchNormalizationBase {
  static className = 'ChexzooBatchNorm';
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    if (!this.trainable || kwargs['training'] !== true) return super.call(inputs, { ...kwargs, training: false });
    const self = this as unknown as BatchNormInternals;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => {
      // one op with a closed-form gradient (src/backend/kernels/batchnorm.ts) instead of autodiff of moments + batchNorm
      const { y, mean, variance } = batchNormTraining(x, self.gamma?.read(), self.beta?.read(), self.epsilon);
      try {
        const n = x.size / x.shape[x.rank - 1]!;
        const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
        const decay = 1 - self.momentum;
        for (const [v, batch] of [[self.movingMean, mean], [self.movingVariance, unbiased]] as const) {
          tf.tidy(() => {
            const old = v.read();
            v.write(tf.sub(old, tf.mul(tf.sub(old, batch), decay)));
          });
        }
      } finally {
        tf.dispose([mean, variance]);
      }
      return y;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness of training-mode layers

interface RandomContext {
  seed: number;
  step: number;
  part: number;
}
let randomContext: RandomContext | undefined;

/** FNV-1a of a string (32 bits): mixes (seed, step, layer name) into a mask seed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Runs `fn` (a training forward pass) with dropout and stochastic-depth masks derived from (`seed`, `step`,
 * `part`, layer name) only, so a run resumed at any step draws the masks the uninterrupted run drew. `part`
 * tells apart several forward passes of one step (e.g. micro-batches). Outside of it, training-mode masks come
 * from an unseeded source.
 * @example const loss = withTrainingRandomness({ seed: 0, step: 12 }, () => optimizer.minimize(f, true));
 */
export function withTrainingRandomness<T>(ctx: { seed: number; step: number; part?: number }, fn: () => T): T {
  const saved = randomContext;
  randomContext = { seed: ctx.seed, step: ctx.step, part: ctx.part ?? 0 };
  try {
    return fn();
  } finally {
    randomContext = saved;
  }
}

/** The seed of a layer's mask for the current training step (unseeded outside {@link withTrainingRandomness}). */
function maskSeed(layerName: string): number {
  const c = randomContext;
  if (!c) return Math.floor(Math.random() * 2 ** 32);
  return hashString(`${c.seed}:${c.step}:${c.part}:${layerName}`);
}

/** Keep-mask scaled by 1 / keep: Bernoulli(keep) over `shape`, seeded (PyTorch semantics; keep 0 gives zeros). */
function keepMask(shape: number[], keep: number, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const u = tf.randomUniform(shape, 0, 1, 'float32', seed);
    const m = tf.cast(tf.less(u, keep), 'float32');
    return keep > 0 ? tf.div(m, keep) : m;
  });
}

/** Dropout (PyTorch semantics: zero with probability `rate`, scale the rest by 1 / (1 - rate)) with seeded masks. */
export class Dropout extends tf.layers.Layer {
  static className = 'ChexzooDropout';
  readonly rate: number;
  constructor(config: { rate: number; name?: string }) {
    super(config);
    if (!(config.rate >= 0 && config.rate < 1)) throw new Error(`dropout rate must be in [0, 1); got ${String(config.rate)}.`);
    this.rate = config.rate;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (kwargs['training'] !== true || this.rate === 0) return tf.clone(x);
    return tf.tidy(() => tf.mul(x, keepMask(x.shape, 1 - this.rate, maskSeed(this.name))));
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

/**
 * torchvision's StochasticDepth in 'row' mode: in training each sample's residual branch is dropped with
 * probability `p` and the kept ones scaled by 1 / (1 - p); the identity at inference.
 */
export class StochasticDepth extends tf.layers.Layer {
  static className = 'ChexzooStochasticDepth';
  readonly p: number;
  constructor(config: { p: number; name?: string }) {
    super(config);
    if (!(config.p >= 0 && config.p <= 1)) throw new Error(`stochastic depth probability must be in [0, 1]; got ${String(config.p)}.`);
    this.p = config.p;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (kwargs['training'] !== true || this.p === 0) return tf.clone(x);
    const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    return tf.tidy(() => tf.mul(x, keepMask(shape, 1 - this.p, maskSeed(this.name))));
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), p: this.p };
  }
}

for (const cls of [Pad2D, HardSigmoid, HardSwish, BatchNorm, Dropout, StochasticDepth]) {
  tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

// ---------------------------------------------------------------------------------------------------------------
// Functional helpers

export interface ConvOptions {
  /** Module path of the PyTorch Conv2d, e.g. `layer1.0.conv1`. */
  name: string;
  filters: number;
  kernel: number | Pair;
  stride?: number | Pair;
  /** PyTorch padding (symmetric). */
  padding?: number | Pair;
  dilation?: number;
  /** `true` for a depthwise convolution (PyTorch groups == in_channels, one filter per channel). */
  depthwise?: boolean;
  bias?: boolean;
}

/** Whether TF 'same' padding reproduces PyTorch's symmetric padding (stride 1, odd kernel, pad = d(k-1)/2). */
function sameEqualsTorch(k: Pair, s: Pair, p: Pair, d: number): boolean {
  return s[0] === 1 && s[1] === 1 && [0, 1].every((i) => k[i]! % 2 === 1 && p[i] === (d * (k[i]! - 1)) / 2);
}

/** A Conv2d with PyTorch padding semantics. Adds `<name>.pad` when explicit padding is needed. */
export function conv2d(x: ST, o: ConvOptions): ST {
  const k = pair(o.kernel);
  const s = pair(o.stride ?? 1);
  const p = pair(o.padding ?? 0);
  const d = o.dilation ?? 1;
  let padding: 'valid' | 'same' = 'valid';
  if (p[0] !== 0 || p[1] !== 0) {
    if (sameEqualsTorch(k, s, p, d)) padding = 'same';
    else x = new Pad2D({ padding: [[p[0], p[0]], [p[1], p[1]]], name: `${o.name}.pad` }).apply(x) as ST;
  }
  const common = {
    kernelSize: k,
    strides: s,
    padding,
    dilationRate: d,
    useBias: o.bias ?? false,
    name: o.name,
  };
  // zeros: createModel draws every weight as the reference does (zoo/init.ts); TF.js's own random draw would be wasted
  if (o.depthwise) return tf.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: 'zeros' }).apply(x) as ST;
  return tf.layers.conv2d({ ...common, filters: o.filters, kernelInitializer: 'zeros' }).apply(x) as ST;
}

/**
 * BatchNorm2d. `eps` and `momentum` are PyTorch's (momentum 0.1 means new = 0.9 old + 0.1 batch).
 */
export function batchNorm(x: ST, name: string, eps = 1e-5, momentum = 0.1): ST {
  return new BatchNorm({ name, epsilon: eps, momentum: 1 - momentum, axis: -1 }).apply(x) as ST;
}

export type Act = 'relu' | 'relu6' | 'silu' | 'hardswish' | 'hardsigmoid' | 'sigmoid' | 'none';

/** An activation layer named after its PyTorch module path (or `<owner>.act` for functional ones). */
export function act(x: ST, kind: Act, name: string): ST {
  switch (kind) {
    case 'none':
      return x;
    case 'relu':
      return tf.layers.activation({ activation: 'relu', name }).apply(x) as ST;
    case 'relu6':
      return tf.layers.activation({ activation: 'relu6', name }).apply(x) as ST;
    case 'sigmoid':
      return tf.layers.activation({ activation: 'sigmoid', name }).apply(x) as ST;
    case 'silu':
      return tf.layers.activation({ activation: 'swish', name }).apply(x) as ST;
    case 'hardswish':
      return new HardSwish({ name }).apply(x) as ST;
    case 'hardsigmoid':
      return new HardSigmoid({ name }).apply(x) as ST;
  }
}

/**
 * torchvision's Conv2dNormActivation (`<prefix>.0` conv, `<prefix>.1` BN, `<prefix>.2` activation) with
 * PyTorch's default padding (k - 1) / 2 * dilation.
 */
export function convBnAct(
  x: ST,
  prefix: string,
  o: Omit<ConvOptions, 'name'> & { eps?: number; momentum?: number; act?: Act },
): ST {
  const k = pair(o.kernel);
  const d = o.dilation ?? 1;
  const padding = o.padding ?? ([((k[0] - 1) / 2) * d, ((k[1] - 1) / 2) * d] as Pair);
  x = conv2d(x, { ...o, padding, name: `${prefix}.0` });
  x = batchNorm(x, `${prefix}.1`, o.eps, o.momentum);
  return act(x, o.act ?? 'relu', `${prefix}.2`);
}

/** Max pooling with PyTorch padding (-Infinity) and ceil_mode. */
export function maxPool(
  x: ST,
  name: string,
  o: { kernel: number; stride?: number; padding?: number; ceilMode?: boolean },
): ST {
  const k = o.kernel;
  const s = o.stride ?? k;
  const p = o.padding ?? 0;
  let [extraH, extraW] = [0, 0];
  if (o.ceilMode) {
    const shape = x.shape;
    const extra = (n: number | null): number => {
      if (n == null) throw new Error(`${name}: ceil_mode pooling needs a fixed input size`);
      let out = Math.ceil((n + 2 * p - k) / s) + 1;
      if ((out - 1) * s >= n + p) out--; // PyTorch: the last window must start inside the input or left padding
      return Math.max(0, (out - 1) * s + k - (n + 2 * p));
    };
    extraH = extra(shape[1] ?? null);
    extraW = extra(shape[2] ?? null);
  }
  if (p > 0 || extraH > 0 || extraW > 0) {
    x = new Pad2D({
      padding: [[p, p + extraH], [p, p + extraW]],
      value: -Infinity,
      name: `${name}.pad`,
    }).apply(x) as ST;
  }
  return tf.layers.maxPooling2d({ poolSize: k, strides: s, padding: 'valid', name }).apply(x) as ST;
}

/**
 * Average pooling. `countIncludePad` true (PyTorch's default) pads with zeros and divides by k*k;
 * false matches TF 'same' only for stride 1 and pad (k - 1) / 2.
 */
export function avgPool(
  x: ST,
  name: string,
  o: { kernel: number; stride?: number; padding?: number; countIncludePad?: boolean },
): ST {
  const k = o.kernel;
  const s = o.stride ?? k;
  const p = o.padding ?? 0;
  if (p === 0) return tf.layers.averagePooling2d({ poolSize: k, strides: s, padding: 'valid', name }).apply(x) as ST;
  if (o.countIncludePad ?? true) {
    x = new Pad2D({ padding: [[p, p], [p, p]], name: `${name}.pad` }).apply(x) as ST;
    return tf.layers.averagePooling2d({ poolSize: k, strides: s, padding: 'valid', name }).apply(x) as ST;
  }
  if (s === 1 && 2 * p === k - 1) {
    return tf.layers.averagePooling2d({ poolSize: k, strides: 1, padding: 'same', name }).apply(x) as ST;
  }
  throw new Error(`${name}: avg pooling without count_include_pad is only supported for stride 1, pad (k-1)/2`);
}

export const add = (xs: ST[], name: string): ST => tf.layers.add({ name }).apply(xs) as ST;
export const concat = (xs: ST[], name: string): ST => tf.layers.concatenate({ axis: -1, name }).apply(xs) as ST;

/**
 * torchvision's SqueezeExcitation (`avgpool`, `fc1`, `activation`, `fc2`, `scale_activation`) under `prefix`.
 */
export function squeezeExcitation(
  x: ST,
  prefix: string,
  o: { squeeze: number; act: Act; gate: Act },
): ST {
  const channels = x.shape[3]!;
  let s = tf.layers.globalAveragePooling2d({ name: `${prefix}.avgpool` }).apply(x) as ST;
  s = tf.layers.reshape({ targetShape: [1, 1, channels], name: `${prefix}.avgpool.reshape` }).apply(s) as ST;
  s = conv2d(s, { name: `${prefix}.fc1`, filters: o.squeeze, kernel: 1, bias: true });
  s = act(s, o.act, `${prefix}.activation`);
  s = conv2d(s, { name: `${prefix}.fc2`, filters: channels, kernel: 1, bias: true });
  s = act(s, o.gate, `${prefix}.scale_activation`);
  return tf.layers.multiply({ name: `${prefix}.mul` }).apply([x, s]) as ST;
}

/**
 * Classifier head shared by all families: global average pooling named `poolName`, optional dropout
 * (identity at inference, as in PyTorch eval mode), and a Linear named `fcName`.
 * `numClasses` 0 returns the pooled features.
 */
export function head(
  x: ST,
  o: { numClasses: number; poolName: string; fcName: string; dropout?: number; dropoutName?: string },
): ST {
  x = tf.layers.globalAveragePooling2d({ name: o.poolName }).apply(x) as ST;
  if (o.numClasses === 0) return x;
  if (o.dropout && o.dropout > 0) {
    x = new Dropout({ rate: o.dropout, name: o.dropoutName ?? `${o.fcName}.dropout` }).apply(x) as ST;
  }
  return tf.layers.dense({ units: o.numClasses, name: o.fcName, kernelInitializer: 'zeros' }).apply(x) as ST;
}
