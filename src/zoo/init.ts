// Random initialisation as the reference modules do it (torchvision 0.14's `for m in self.modules()` loops,
// timm's inception_v4 keeps PyTorch's layer defaults), seeded: each tensor's values depend only on the seed
// and its reference key, so the same seed gives the same weights on every backend and platform.
import * as tf from '@tensorflow/tfjs';
import { torchSlots, type TorchSlot } from '../weights/remap.js';
import { rng } from '../utils/rng.js';
import { hashString } from './layers.js';
import type { Family } from './spec.js';

/** How one tensor is drawn. */
export type InitRule =
  | { kind: 'normal'; std: number }
  /** Normal(0, std) resampled outside [a, b] (absolute bounds, as torch.nn.init.trunc_normal_). */
  | { kind: 'truncNormal'; std: number; a: number; b: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'constant'; value: number };

/** What a reference tensor is, with PyTorch's fans (`_calculate_fan_in_and_fan_out`: groups not divided out). */
export interface InitTarget {
  key: string;
  module: 'conv' | 'linear' | 'bn';
  param: 'weight' | 'bias' | 'running_mean' | 'running_var';
  fanIn: number;
  fanOut: number;
}

const kaimingNormal = (fan: number, gain = Math.SQRT2): InitRule => ({ kind: 'normal', std: gain / Math.sqrt(fan) });
/** PyTorch's default Conv2d / Linear init: kaiming_uniform(a=sqrt(5)) weights, bias U(+-1/sqrt(fan_in)). */
const torchDefault = (t: InitTarget): InitRule => ({ kind: 'uniform', bound: 1 / Math.sqrt(t.fanIn) });

function bnRule(t: InitTarget): InitRule {
  return { kind: 'constant', value: t.param === 'weight' || t.param === 'running_var' ? 1 : 0 };
}

/** The reference's rule for one tensor of an architecture of `family` (`name` tells timm's inception_v4 apart). */
export function initRule(family: Family, name: string, t: InitTarget): InitRule {
  if (t.module === 'bn') return bnRule(t);
  const w = t.param === 'weight';
  switch (family) {
    case 'resnet':
      // kaiming_normal_(fan_out, relu) convs (bias-free); the fc keeps nn.Linear's default
      if (t.module === 'conv') return w ? kaimingNormal(t.fanOut) : { kind: 'constant', value: 0 };
      return torchDefault(t);
    case 'densenet':
      // kaiming_normal_ (fan_in) convs; Linear weight default, bias 0
      if (t.module === 'conv') return w ? kaimingNormal(t.fanIn) : { kind: 'constant', value: 0 };
      return w ? torchDefault(t) : { kind: 'constant', value: 0 };
    case 'efficientnet':
      if (t.module === 'conv') return w ? kaimingNormal(t.fanOut) : { kind: 'constant', value: 0 };
      // uniform(+-1/sqrt(out_features)), bias 0
      return w ? { kind: 'uniform', bound: 1 / Math.sqrt(t.fanOut) } : { kind: 'constant', value: 0 };
    case 'mobilenet':
      if (t.module === 'conv') return w ? kaimingNormal(t.fanOut) : { kind: 'constant', value: 0 };
      return w ? { kind: 'normal', std: 0.01 } : { kind: 'constant', value: 0 };
    case 'mnasnet':
      if (t.module === 'conv') return w ? kaimingNormal(t.fanOut) : { kind: 'constant', value: 0 };
      // kaiming_uniform_(fan_out, sigmoid): gain 1, bound sqrt(3 / fan_out)
      return w ? { kind: 'uniform', bound: Math.sqrt(3 / t.fanOut) } : { kind: 'constant', value: 0 };
    case 'inception':
      if (name === 'inception_v4') return torchDefault(t); // timm: no init loop, PyTorch's layer defaults
      // torchvision Inception3 (init_weights): trunc_normal_(std 0.1, a=-2, b=2) on every Conv2d and Linear weight;
      // biases keep their defaults (BasicConv2d convs have none; fc's bias is nn.Linear's default)
      return w ? { kind: 'truncNormal', std: 0.1, a: -2, b: 2 } : torchDefault(t);
  }
}

/** The reference's view of a slot: module kind, parameter, fans. */
export function initTarget(slot: TorchSlot): InitTarget {
  const key = slot.key;
  const param = key.slice(key.lastIndexOf('.') + 1) as InitTarget['param'];
  const cls = slot.layer.getClassName();
  const module: InitTarget['module'] = /BatchNorm/.test(cls) ? 'bn' : cls === 'Dense' ? 'linear' : 'conv';
  let fanIn = 1;
  let fanOut = 1;
  if (module !== 'bn') {
    // the weight's torch shape [out, in/groups, ...kernel]; a bias uses its layer's weight
    const weight = slot.layer.weights.find((v) => /kernel$/.test(v.originalName ?? v.name));
    const shape = weight ? (weight.shape as number[]) : [];
    if (module === 'linear') {
      [fanIn, fanOut] = shape as [number, number];
    } else if (/depthwise_kernel$/.test(weight?.originalName ?? weight?.name ?? '')) {
      const [kh, kw, cin, mult] = shape as [number, number, number, number];
      fanIn = kh * kw;
      fanOut = cin * mult * kh * kw;
    } else {
      const [kh, kw, cin, cout] = shape as [number, number, number, number];
      fanIn = cin * kh * kw;
      fanOut = cout * kh * kw;
    }
  }
  return { key, module, param, fanIn, fanOut };
}

/** `n` values of `rule` from a generator seeded with (seed, key). */
export function drawInit(rule: InitRule, n: number, seed: number, key: string): Float32Array {
  const out = new Float32Array(n);
  if (rule.kind === 'constant') return out.fill(rule.value);
  const rand = rng(hashString(`${seed >>> 0}:${key}`));
  if (rule.kind === 'uniform') {
    for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * rule.bound;
    return out;
  }
  // Box-Muller, both outputs
  const lo = rule.kind === 'truncNormal' ? rule.a : -Infinity;
  const hi = rule.kind === 'truncNormal' ? rule.b : Infinity;
  let i = 0;
  while (i < n) {
    let u = rand();
    while (u === 0) u = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * rand();
    for (const z of [r * Math.cos(th), r * Math.sin(th)]) {
      const v = z * rule.std;
      if (i < n && v >= lo && v <= hi) out[i++] = v;
    }
  }
  return out;
}

/**
 * Draws every weight, bias and BatchNorm statistic of a zoo model as its reference initialises them, from
 * `seed`. Values depend only on (seed, reference key): the same seed gives the same model anywhere.
 * `only` restricts it to some layers (e.g. a new head).
 * @example initializeWeights(model, 'resnet18', 0);
 */
export function initializeWeights(
  model: tf.LayersModel,
  family: Family,
  name: string,
  seed: number,
  only?: (layer: tf.layers.Layer) => boolean,
): void {
  for (const slot of torchSlots(model)) {
    if (only && !only(slot.layer)) continue;
    const rule = initRule(family, name, initTarget(slot));
    const n = slot.variable.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    // values are i.i.d., so they are drawn straight in the TF.js layout
    const t = tf.tensor(drawInit(rule, n, seed, slot.key), slot.variable.shape as number[], 'float32');
    slot.variable.write(t);
    t.dispose();
  }
}

/** A fresh seed when none is given (weights then differ between calls, as TF.js' own initialisers do). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
