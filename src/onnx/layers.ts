// One converter per TF.js layer class: each writes the ONNX nodes (NCHW) of one layer call. The graph walk,
// the names of values and the consumer lookups live in src/onnx/export.ts (the Ctx it passes in).
// Weights come from the model's PyTorch state dict (src/weights/remap.ts), so they are already in the
// reference layout (conv OIHW, depthwise [C, 1, kh, kw], Linear [out, in]) and initializers take its keys.
import type * as tf from '@tensorflow/tfjs';
import type { StateDict, TorchTensor } from '../weights/remap.js';
import type { GraphBuilder } from './proto.js';

type ST = tf.SymbolicTensor;
type Layer = tf.layers.Layer;
type Cfg = tf.serialization.ConfigDict;

/** What a converter sees of the walk (src/onnx/export.ts). */
export interface Ctx {
  g: GraphBuilder;
  dict: StateDict;
  /** ONNX name of a TF.js tensor already produced (after aliases). */
  value(t: ST): string;
  /** The name a converter gives the ONNX value standing for `t`. */
  nameOf(t: ST): string;
  /** Declares that `t` is the existing ONNX value `name` (no node). */
  alias(t: ST, name: string): void;
  /** The only consumer of `t` (a single-input layer call), if it has exactly one and `t` is no model output. */
  soleConsumer(t: ST): ST | undefined;
  /** Marks a later layer call as already converted (folded into this one). */
  absorb(t: ST): void;
  /** Padding merged into a later convolution or pooling: its input and [top, left, bottom, right]. */
  mergedPad: Map<ST, { input: string; pads: number[] }>;
  /** Set when the graph depends on the input size (then height and width are fixed in the file). */
  markSizeDependent(why: string): void;
}

type Converter = (t: ST, layer: Layer, cfg: Cfg, ctx: Ctx) => void;

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, v[1] as number] : [v as number, v as number]);
const cls = (l: Layer) => l.getClassName();
const isBatchNorm = (l: Layer) => cls(l) === 'ChexzooBatchNorm' || cls(l) === 'BatchNormalization';
const CONV = new Set(['Conv2D', 'DepthwiseConv2D']);

function weight(ctx: Ctx, key: string): TorchTensor {
  const w = ctx.dict.get(key);
  if (!w) throw new Error(`toOnnx: the model has no weight '${key}'.`);
  return w;
}

/**
 * Pads [top, left, bottom, right] of TF 'same' for one layer call. Stride 1 gives fixed pads; larger strides
 * depend on the input size, so the exported graph keeps the size fixed.
 */
function samePads(t: ST, k: [number, number], s: [number, number], d: [number, number], ctx: Ctx, name: string): number[] {
  const shape = t.inputs[0]!.shape;
  const total = [0, 1].map((i) => {
    if (s[i] === 1) return (k[i]! - 1) * d[i]!;
    const n = shape[i + 1];
    if (n == null) throw new Error(`toOnnx: '${name}' uses 'same' padding with stride ${s[i]} on an input of unknown size.`);
    ctx.markSizeDependent(`'${name}' pads 'same' with stride ${s[i]}`);
    return Math.max(0, (Math.ceil(n / s[i]!) - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1 - n);
  });
  const before = total.map((p) => Math.floor(p / 2));
  return [before[0]!, before[1]!, total[0]! - before[0]!, total[1]! - before[1]!];
}

/** Input and pads of a convolution or pooling: a merged padding layer, 'same', or none ('valid'). */
function inputAndPads(t: ST, cfg: Cfg, k: [number, number], s: [number, number], d: [number, number], ctx: Ctx, name: string) {
  const merged = ctx.mergedPad.get(t);
  if (merged) return { input: merged.input, pads: merged.pads, merged: true };
  const pads = cfg.padding === 'same' ? samePads(t, k, s, d, ctx, name) : [0, 0, 0, 0];
  return { input: ctx.value(t.inputs[0]!), pads, merged: false };
}

/**
 * BatchNorm folded into the preceding convolution (inference statistics), in float64 then rounded once:
 * w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta — the maths of
 * optimizeForInference (src/inference.ts), which does not export it; both layouts keep out-channels first.
 */
export function foldBatchNorm(w: TorchTensor, b: Float32Array | undefined, bn: BatchNormWeights): { w: Float32Array; b: Float32Array } {
  const out = w.shape[0]!;
  const per = w.data.length / out;
  const fw = new Float32Array(w.data.length);
  const fb = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = (bn.gamma ? bn.gamma[o]! : 1) / Math.sqrt(bn.variance[o]! + bn.eps);
    for (let j = 0; j < per; j++) fw[o * per + j] = w.data[o * per + j]! * scale;
    fb[o] = ((b ? b[o]! : 0) - bn.mean[o]!) * scale + (bn.beta ? bn.beta[o]! : 0);
  }
  return { w: fw, b: fb };
}

/** A BatchNorm layer's statistics (gamma / beta absent when the layer does not scale / center). */
export interface BatchNormWeights {
  gamma?: Float32Array;
  beta?: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  eps: number;
}

function batchNormWeights(bn: Layer, ctx: Ctx): BatchNormWeights {
  const c = bn.getConfig();
  return {
    gamma: c.scale !== false ? weight(ctx, `${bn.name}.weight`).data : undefined,
    beta: c.center !== false ? weight(ctx, `${bn.name}.bias`).data : undefined,
    mean: weight(ctx, `${bn.name}.running_mean`).data,
    variance: weight(ctx, `${bn.name}.running_var`).data,
    eps: c.epsilon as number,
  };
}

/** The BatchNorm call a convolution's output feeds alone (channel axis), if any. */
function foldableBatchNorm(t: ST, cfg: Cfg, ctx: Ctx): ST | undefined {
  if ((cfg.activation ?? 'linear') !== 'linear') return undefined;
  const next = ctx.soleConsumer(t);
  if (!next || !isBatchNorm(next.sourceLayer as Layer)) return undefined;
  const axis = (next.sourceLayer as Layer).getConfig().axis;
  return axis === -1 || axis === 3 ? next : undefined;
}

const convert: Record<string, Converter> = {};

convert.Conv2D = convert.DepthwiseConv2D = (t, layer, cfg, ctx) => {
  const name = layer.name;
  const depthwise = cls(layer) === 'DepthwiseConv2D';
  if (depthwise && (cfg.depthMultiplier ?? 1) !== 1) throw new Error(`toOnnx: '${name}' has depthMultiplier ${String(cfg.depthMultiplier)}; only 1 is supported.`);
  if (cfg.dataFormat === 'channelsFirst') throw new Error(`toOnnx: '${name}' is channelsFirst; zoo layers are channelsLast.`);
  const k = pair(cfg.kernelSize), s = pair(cfg.strides), d = pair(cfg.dilationRate ?? 1);
  const w = weight(ctx, `${name}.weight`);
  let wData = w.data;
  let bData = cfg.useBias ? weight(ctx, `${name}.bias`).data : undefined;
  let out = t;
  const bnT = foldableBatchNorm(t, cfg, ctx);
  if (bnT) {
    ({ w: wData, b: bData } = foldBatchNorm(w, bData, batchNormWeights(bnT.sourceLayer as Layer, ctx)));
    ctx.absorb(bnT);
    out = bnT;
  }
  const { input, pads } = inputAndPads(t, cfg, k, s, d, ctx, name);
  const inputs = [input, ctx.g.float(`${name}.weight`, w.shape, wData)];
  if (bData) inputs.push(ctx.g.float(`${name}.bias`, [w.shape[0]!], bData));
  const act = String(cfg.activation ?? 'linear');
  const y = act === 'linear' ? ctx.nameOf(out) : `${ctx.nameOf(out)}.preact`;
  ctx.g.node('Conv', inputs, [y], name, {
    kernel_shape: k, strides: s, pads, dilations: d, group: depthwise ? w.shape[0]! : 1,
  });
  ctx.alias(out, activation(act, y, ctx.nameOf(out), name, ctx));
};

/** Writes activation `kind` of `x` as `y`; returns the output name ('linear' writes nothing and returns x). */
function activation(kind: string, x: string, y: string, name: string, ctx: Ctx): string {
  const g = ctx.g;
  switch (kind) {
    case 'linear':
      return x;
    case 'relu':
      return g.node('Relu', [x], [y], name);
    case 'relu6': // Clip with min/max inputs (opset >= 11): every execution provider runs it
      return g.node('Clip', [x, g.scalar(0), g.scalar(6)], [y], name);
    case 'sigmoid':
      return g.node('Sigmoid', [x], [y], name);
    case 'tanh':
      return g.node('Tanh', [x], [y], name);
    case 'swish': // SiLU: x * sigmoid(x) (no Swish op in opset 17)
      return g.node('Mul', [x, g.node('Sigmoid', [x], [`${y}.sigmoid`], `${name}.sigmoid`)], [y], `${name}.mul`);
    case 'hardsigmoid': // PyTorch's: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)
      return g.node('HardSigmoid', [x], [y], name, { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
    case 'hardswish': // x * HardSigmoid(x): ONNX Runtime's WebGPU provider has no HardSwish kernel
      return g.node('Mul', [x, activation('hardsigmoid', x, `${y}.hardsigmoid`, `${name}.hardsigmoid`, ctx)], [y], `${name}.mul`);
    default:
      throw new Error(`toOnnx: activation '${kind}' of '${name}' has no ONNX conversion (supported: relu, relu6, sigmoid, tanh, swish, hard-sigmoid, hard-swish, linear).`);
  }
}

convert.Activation = (t, layer, cfg, ctx) => {
  const x = ctx.value(t.inputs[0]!);
  ctx.alias(t, activation(String(cfg.activation), x, ctx.nameOf(t), layer.name, ctx));
};
convert.ReLU = (t, layer, cfg, ctx) => {
  const max = cfg.maxValue as number | null | undefined;
  if (max != null && max !== 6) throw new Error(`toOnnx: ReLU '${layer.name}' with maxValue ${max} is not supported (only none or 6).`);
  convert.Activation!(t, layer, { activation: max == null ? 'relu' : 'relu6' }, ctx);
};
convert.ChexzooHardSwish = (t, layer, _cfg, ctx) => convert.Activation!(t, layer, { activation: 'hardswish' }, ctx);
convert.ChexzooHardSigmoid = (t, layer, _cfg, ctx) => convert.Activation!(t, layer, { activation: 'hardsigmoid' }, ctx);

// Identity at inference: no node
for (const c of ['Dropout', 'ChexzooDropout', 'SpatialDropout2D', 'ChexzooStochasticDepth', 'GaussianNoise', 'GaussianDropout']) {
  convert[c] = (t, _l, _c, ctx) => ctx.alias(t, ctx.value(t.inputs[0]!));
}

/** Whether a padding layer can become the pads attribute of its only consumer (same semantics). */
function padMergesInto(value: number, next: ST | undefined): next is ST {
  if (!next) return false;
  const l = next.sourceLayer as Layer;
  const c = l.getConfig();
  if (c.padding !== 'valid') return false;
  if (value === 0) return (CONV.has(cls(l)) && c.dataFormat !== 'channelsFirst') || cls(l) === 'AveragePooling2D';
  return value === -Infinity && cls(l) === 'MaxPooling2D';
}

/** [[top, bottom], [left, right]] of a padding config (Keras accepts n, [h, w] or the full form). */
function padPairs(p: unknown): [[number, number], [number, number]] {
  if (typeof p === 'number') return [[p, p], [p, p]];
  const [h, w] = p as (number | number[])[];
  return [pair(h), pair(w)];
}

// ChexzooPad2D (zero or -inf), or Keras' ZeroPadding2D (what saved models hold for zero padding)
convert.ChexzooPad2D = convert.ZeroPadding2D = (t, layer, cfg, ctx) => {
  const [[top, bottom], [left, right]] = padPairs(cfg.padding);
  const value = cls(layer) === 'ZeroPadding2D' ? 0 : (cfg.value as number);
  // asymmetric padding in the zoo comes from ceil_mode pooling, which depends on the input size
  if (top !== bottom || left !== right) ctx.markSizeDependent(`'${layer.name}' pads asymmetrically`);
  const next = ctx.soleConsumer(t);
  const x = ctx.value(t.inputs[0]!);
  if (padMergesInto(value, next)) {
    ctx.mergedPad.set(next, { input: x, pads: [top, left, bottom, right] });
    return;
  }
  const pads = ctx.g.int64(`${layer.name}.pads`, [0, 0, top, left, 0, 0, bottom, right]);
  ctx.alias(t, ctx.g.node('Pad', [x, pads, ctx.g.scalar(value)], [ctx.nameOf(t)], layer.name, { mode: 'constant' }));
};

// saved models write hard-sigmoid as Rescaling(+3) -> relu6 -> Rescaling(1/6) (src/weights/portable.ts)
convert.Rescaling = (t, layer, cfg, ctx) => {
  const scale = (cfg.scale as number | undefined) ?? 1;
  const offset = (cfg.offset as number | undefined) ?? 0;
  let y = ctx.value(t.inputs[0]!);
  if (scale !== 1) y = ctx.g.node('Mul', [y, ctx.g.scalar(scale)], [offset !== 0 ? `${ctx.nameOf(t)}.scaled` : ctx.nameOf(t)], `${layer.name}.mul`);
  if (offset !== 0) y = ctx.g.node('Add', [y, ctx.g.scalar(offset)], [ctx.nameOf(t)], `${layer.name}.add`);
  ctx.alias(t, y);
};

convert.MaxPooling2D = convert.AveragePooling2D = (t, layer, cfg, ctx) => {
  const k = pair(cfg.poolSize), s = pair(cfg.strides ?? cfg.poolSize);
  const { input, pads, merged } = inputAndPads(t, cfg, k, s, [1, 1], ctx, layer.name);
  const avg = cls(layer) === 'AveragePooling2D';
  // a merged zero padding is counted (PyTorch's count_include_pad=True); TF 'same' does not count its padding
  const attrs = { kernel_shape: k, strides: s, pads, ...(avg ? { count_include_pad: merged ? 1 : 0 } : {}) };
  ctx.alias(t, ctx.g.node(avg ? 'AveragePool' : 'MaxPool', [input], [ctx.nameOf(t)], layer.name, attrs));
};

convert.GlobalAveragePooling2D = convert.GlobalMaxPooling2D = (t, layer, cfg, ctx) => {
  const op = cls(layer) === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool';
  const x = ctx.value(t.inputs[0]!);
  if (cfg.keepDims === true) throw new Error(`toOnnx: global pooling '${layer.name}' with keepDims is not supported.`);
  const pooled = ctx.g.node(op, [x], [`${ctx.nameOf(t)}.4d`], layer.name);
  ctx.alias(t, ctx.g.node('Flatten', [pooled], [ctx.nameOf(t)], `${layer.name}.flatten`, { axis: 1 }));
};

convert.Reshape = (t, layer, cfg, ctx) => {
  const target = cfg.targetShape as number[];
  const inRank = t.inputs[0]!.shape.length;
  // [N, C] -> [N, 1, 1, C] in TF.js (squeeze-excitation) is [N, C, 1, 1] in NCHW
  if (inRank !== 2 || target.length !== 3 || target[0] !== 1 || target[1] !== 1) {
    throw new Error(`toOnnx: Reshape '${layer.name}' to [${target}] is not supported (only [C] -> [1, 1, C]).`);
  }
  const axes = ctx.g.has('const.axes_2_3') ? 'const.axes_2_3' : ctx.g.int64('const.axes_2_3', [2, 3]);
  ctx.alias(t, ctx.g.node('Unsqueeze', [ctx.value(t.inputs[0]!), axes], [ctx.nameOf(t)], layer.name));
};

convert.Dense = (t, layer, cfg, ctx) => {
  if (t.inputs[0]!.shape.length !== 2) throw new Error(`toOnnx: Dense '${layer.name}' on a rank-${t.inputs[0]!.shape.length} input is not supported (only after pooling).`);
  const w = weight(ctx, `${layer.name}.weight`);
  const inputs = [ctx.value(t.inputs[0]!), ctx.g.float(`${layer.name}.weight`, w.shape, w.data)];
  if (cfg.useBias !== false) inputs.push(ctx.g.float(`${layer.name}.bias`, [w.shape[0]!], weight(ctx, `${layer.name}.bias`).data));
  const act = String(cfg.activation ?? 'linear');
  const y = act === 'linear' ? ctx.nameOf(t) : `${ctx.nameOf(t)}.preact`;
  ctx.g.node('Gemm', inputs, [y], layer.name, { transB: 1 }); // PyTorch's Linear: x W^T + b
  ctx.alias(t, activation(act, y, ctx.nameOf(t), layer.name, ctx));
};

convert.BatchNormalization = convert.ChexzooBatchNorm = (t, layer, cfg, ctx) => {
  const axis = cfg.axis as number;
  const rank = t.inputs[0]!.shape.length;
  if (axis !== -1 && axis !== rank - 1) throw new Error(`toOnnx: BatchNorm '${layer.name}' on axis ${axis} is not supported (channels last only).`);
  const bn = batchNormWeights(layer, ctx);
  const n = bn.mean.length;
  const g = ctx.g;
  const inputs = [
    ctx.value(t.inputs[0]!),
    g.float(`${layer.name}.weight`, [n], bn.gamma ?? new Float32Array(n).fill(1)),
    g.float(`${layer.name}.bias`, [n], bn.beta ?? new Float32Array(n)),
    g.float(`${layer.name}.running_mean`, [n], bn.mean),
    g.float(`${layer.name}.running_var`, [n], bn.variance),
  ];
  ctx.alias(t, g.node('BatchNormalization', inputs, [ctx.nameOf(t)], layer.name, { epsilon: { float: bn.eps } }));
};

/** An n-ary elementwise layer as one ONNX op (Sum for n-ary adds) or a chain of binary ones. */
function elementwise(op: 'Add' | 'Mul' | 'Sub' | 'Max' | 'Min'): Converter {
  return (t, layer, _cfg, ctx) => {
    const xs = t.inputs.map((i) => ctx.value(i));
    if (op === 'Add' && xs.length > 2) return ctx.alias(t, ctx.g.node('Sum', xs, [ctx.nameOf(t)], layer.name));
    let y = xs[0]!;
    for (let i = 1; i < xs.length; i++) {
      const out = i === xs.length - 1 ? ctx.nameOf(t) : `${ctx.nameOf(t)}.${i}`;
      y = ctx.g.node(op, [y, xs[i]!], [out], i === 1 ? layer.name : `${layer.name}.${i}`);
    }
    ctx.alias(t, y);
  };
}
convert.Add = elementwise('Add');
convert.Multiply = elementwise('Mul');
convert.Subtract = elementwise('Sub');
convert.Maximum = elementwise('Max');
convert.Minimum = elementwise('Min');

convert.Concatenate = (t, layer, cfg, ctx) => {
  const rank = t.shape.length;
  const tfAxis = (cfg.axis as number) < 0 ? (cfg.axis as number) + rank : (cfg.axis as number);
  // NHWC axis -> NCHW axis (rank 4); rank 2 keeps its axes
  const axis = rank === 4 ? [0, 2, 3, 1][tfAxis]! : tfAxis;
  ctx.alias(t, ctx.g.node('Concat', t.inputs.map((i) => ctx.value(i)), [ctx.nameOf(t)], layer.name, { axis }));
};

/** The converter of a layer class, or a clear error naming the class and the supported ones. */
export function converterOf(layer: Layer): Converter {
  const c = convert[cls(layer)];
  if (!c) {
    throw new Error(
      `toOnnx: layer '${layer.name}' (${cls(layer)}) has no ONNX conversion. Supported: ${Object.keys(convert).sort().join(', ')}.`,
    );
  }
  return c;
}
