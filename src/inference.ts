import * as tf from '@tensorflow/tfjs';

// A lean inference path: the layers graph of a model compiled into a flat list of TF.js ops.
// - Conv2D / DepthwiseConv2D followed by BatchNorm (inference statistics) become one convolution with folded
//   weights and bias: w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
// - A following relu / relu6 / sigmoid activation is fused into the convolution (FusedConv2D /
//   FusedDepthwiseConv2D), and a zero padding layer in front of a 'valid' convolution becomes its explicit padding.
// - Dropout, 'linear' activations and the input layer disappear; every other layer runs its own call().
// - Intermediate tensors are freed as soon as their last consumer ran, and no layers bookkeeping runs per call.
// Folding only applies where the convolution's output feeds the BatchNorm alone (and the BatchNorm's the
// activation alone), so the result is the same function of the input up to float rounding.

type ST = tf.SymbolicTensor;
type Layer = tf.layers.Layer;
const FUSABLE = new Set(['relu', 'relu6', 'sigmoid']);

/** What {@link optimizeForInference} did to the graph. */
export interface InferenceStats {
  /** Layers in the original graph (input layers excluded). */
  layers: number;
  /** Ops one call runs now. */
  ops: number;
  foldedBatchNorms: number;
  fusedActivations: number;
  mergedPaddings: number;
  removedLayers: number;
}

/** An inference-only version of a model: `predict` as on a LayersModel, in inference mode. */
export interface InferenceModel {
  readonly name: string;
  readonly inputs: ST[];
  readonly outputs: ST[];
  readonly stats: InferenceStats;
  /** Runs the graph on a batch (or one tensor per input). Output: one tensor, or one per model output. */
  predict(x: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[];
  /** Frees the folded weights this object owns (the original model is not touched). */
  dispose(): void;
}

type Step =
  | { kind: 'conv'; input: number; output: number; depthwise: boolean; filter: tf.Tensor4D; bias?: tf.Tensor1D;
      strides: [number, number]; pad: 'valid' | 'same' | number[][]; dilations: [number, number]; activation: string }
  | { kind: 'layer'; layer: Layer; inputs: number[]; outputs: number[] }
  | { kind: 'alias'; input: number; output: number };

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, v[1] as number] : [v as number, v as number]);
const cls = (l: Layer) => l.getClassName();
const isBatchNorm = (l: Layer) => cls(l) === 'ChexzooBatchNorm' || cls(l) === 'BatchNormalization';

function activationOf(l: Layer): string | undefined {
  if (cls(l) === 'Activation') return String(l.getConfig().activation);
  if (cls(l) === 'ReLU' && l.getConfig().maxValue == null) return 'relu';
  return undefined;
}

/** The model's graph: symbolic tensors numbered with producers before consumers, and who reads each. */
interface Graph {
  order: ST[];
  isInput: Set<ST>;
  outputIds: Set<number>;
  id(t: ST): number;
  /** The only consumer of a tensor, if it has exactly one and is not a model output. */
  soleConsumer(t: ST): ST | undefined;
}

/** A node = one call of a layer; all tensors it produced share it. */
const nodeKey = (t: ST) => `${t.sourceLayer.name}#${t.nodeIndex}`;

/** Orders the tensors reachable from the outputs (producers first) and indexes their consumers. */
function analyzeGraph(model: tf.LayersModel): Graph {
  const ids = new Map<ST, number>();
  const order: ST[] = [];
  const isInput = new Set(model.inputs);
  const visit = (t: ST) => {
    if (ids.has(t)) return;
    ids.set(t, -1); // in progress (graphs are acyclic)
    if (!isInput.has(t)) for (const i of t.inputs ?? []) visit(i);
    ids.set(t, order.length);
    order.push(t);
  };
  for (const o of model.outputs) visit(o);
  for (const i of model.inputs) if (!ids.has(i)) visit(i);
  const id = (t: ST) => ids.get(t)!;

  const consumers = new Map<number, Set<string>>();
  for (const t of order) {
    if (isInput.has(t)) continue;
    for (const i of t.inputs) {
      const s = consumers.get(id(i)) ?? new Set<string>();
      s.add(nodeKey(t));
      consumers.set(id(i), s);
    }
  }
  const outputIds = new Set(model.outputs.map(id));
  const soleConsumer = (t: ST): ST | undefined => {
    if (outputIds.has(id(t))) return undefined;
    const c = consumers.get(id(t));
    if (!c || c.size !== 1) return undefined;
    const key = [...c][0];
    return order.find((u) => !isInput.has(u) && nodeKey(u) === key && u.inputs.length === 1);
  };
  return { order, isInput, outputIds, id, soleConsumer };
}

/** The state of one compilation: the steps so far, the folded weights it owns, what it did. */
interface Compilation {
  g: Graph;
  stats: InferenceStats;
  owned: tf.Tensor[];
  steps: Step[];
  /** Node keys already covered by a step. */
  done: Set<string>;
  /** Zero paddings merged into the convolution that reads them, by that convolution's tensor id. */
  padInputOf: Map<number, { input: number; pad: number[][]; layer: Layer; output: number }>;
  /** How many steps read each tensor (to free intermediates early). */
  reads: Map<number, number>;
}

function convEligible(t: ST): boolean {
  const l = t.sourceLayer as Layer;
  const c = l.getConfig();
  return (cls(l) === 'Conv2D' || (cls(l) === 'DepthwiseConv2D' && (c.depthMultiplier ?? 1) === 1)) &&
    c.dataFormat !== 'channelsFirst' && t.inputs.length === 1;
}

/** Dropout and 'linear' activations: their output is their input. */
function removeNoOp(c: Compilation, t: ST): boolean {
  const layer = t.sourceLayer as Layer;
  const name = cls(layer);
  if (name !== 'Dropout' && name !== 'SpatialDropout2D' && !(name === 'Activation' && layer.getConfig().activation === 'linear')) return false;
  c.steps.push({ kind: 'alias', input: c.g.id(t.inputs[0]!), output: c.g.id(t) });
  c.stats.removedLayers++;
  return true;
}

/** A zero padding whose only consumer is a 'valid' convolution becomes that convolution's padding. */
function mergePadding(c: Compilation, t: ST): boolean {
  const layer = t.sourceLayer as Layer;
  const cfg = layer.getConfig();
  if (cls(layer) !== 'ChexzooPad2D' || cfg.value !== 0 || t.inputs.length !== 1) return false;
  const next = c.g.soleConsumer(t);
  if (!next || !convEligible(next) || (next.sourceLayer as Layer).getConfig().padding !== 'valid') return false;
  const [[top, bottom], [left, right]] = cfg.padding as number[][];
  c.padInputOf.set(c.g.id(next), { input: c.g.id(t.inputs[0]!), pad: [[0, 0], [top!, bottom!], [left!, right!], [0, 0]], layer, output: c.g.id(t) });
  c.stats.mergedPaddings++;
  return true;
}

/**
 * Folds a BatchNorm (inference statistics, channel axis) that alone reads the convolution's output into its
 * filter and bias; returns the new weights and the BatchNorm's output, or undefined when there is none to fold.
 */
function foldBatchNorm(c: Compilation, out: ST, depthwise: boolean, filter: tf.Tensor4D, bias: tf.Tensor1D | undefined):
  { filter: tf.Tensor4D; bias: tf.Tensor1D; out: ST } | undefined {
  const bnT = c.g.soleConsumer(out);
  if (!bnT || !isBatchNorm(bnT.sourceLayer as Layer)) return undefined;
  const bn = bnT.sourceLayer as Layer;
  const bc = bn.getConfig();
  const axis = bc.axis as number;
  if (axis !== -1 && axis !== 3) return undefined;
  const bw = bn.getWeights();
  let k = 0;
  const gamma = bc.scale !== false ? bw[k++] : undefined;
  const beta = bc.center !== false ? bw[k++] : undefined;
  const mean = bw[k++]!;
  const variance = bw[k++]!;
  const eps = bc.epsilon as number;
  const [f, b] = tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(variance, eps));
    const scale = gamma ? tf.mul(gamma, inv) : inv;
    // conv: [kh, kw, in, out] scales the last axis; depthwise: [kh, kw, C, 1] scales axis 2
    const f = !depthwise ? tf.mul(filter, scale) : tf.mul(filter, tf.reshape(scale, [1, 1, -1, 1]));
    let b = tf.mul(bias ? tf.sub(bias, mean) : tf.neg(mean), scale);
    if (beta) b = tf.add(b, beta);
    return [f as tf.Tensor4D, b as tf.Tensor1D] as const;
  });
  c.owned.push(f, b);
  c.done.add(nodeKey(bnT));
  c.stats.layers++;
  c.stats.foldedBatchNorms++;
  return { filter: f, bias: b, out: bnT };
}

/** A relu / relu6 / sigmoid that alone reads `out`: its kind and output, to run inside the convolution. */
function fuseActivation(c: Compilation, out: ST): { activation: string; out: ST } | undefined {
  const actT = c.g.soleConsumer(out);
  const kind = actT ? activationOf(actT.sourceLayer as Layer) : undefined;
  if (!actT || !kind || !FUSABLE.has(kind)) return undefined;
  c.done.add(nodeKey(actT));
  c.stats.layers++;
  c.stats.fusedActivations++;
  return { activation: kind, out: actT };
}

/** A convolution with its merged padding, folded BatchNorm and fused activation as one fused op. */
function compileConv(c: Compilation, t: ST): void {
  const layer = t.sourceLayer as Layer;
  const cfg = layer.getConfig();
  const id = c.g.id;
  const depthwise = cls(layer) === 'DepthwiseConv2D';
  const w = layer.getWeights();
  let filter = w[0]! as tf.Tensor4D;
  let bias = (cfg.useBias ? w[1] : undefined) as tf.Tensor1D | undefined;
  let activation = String(cfg.activation ?? 'linear');
  let out: ST = t;
  const merged = c.padInputOf.get(id(t));
  const folded = activation === 'linear' ? foldBatchNorm(c, out, depthwise, filter, bias) : undefined;
  if (folded) ({ filter, bias, out } = folded);
  const fused = activation === 'linear' ? fuseActivation(c, out) : undefined;
  if (fused) ({ activation, out } = fused);
  if (activation !== 'linear' && !FUSABLE.has(activation)) {
    // a conv with its own non-fusable activation: run the layers as they are
    if (merged) {
      c.steps.push({ kind: 'layer', layer: merged.layer, inputs: [merged.input], outputs: [merged.output] });
      c.stats.mergedPaddings--;
    }
    c.steps.push({ kind: 'layer', layer, inputs: [id(t.inputs[0]!)], outputs: [id(t)] });
    return;
  }
  const pad: 'valid' | 'same' | number[][] = merged ? merged.pad : (cfg.padding as 'valid' | 'same');
  c.steps.push({ kind: 'conv', input: merged?.input ?? id(t.inputs[0]!), output: id(out), depthwise,
    filter, bias, strides: pair(cfg.strides), pad, dilations: pair(cfg.dilationRate ?? 1), activation });
}

/** Any other layer: its own call, in inference mode, producing all of its node's outputs. */
function compileLayer(c: Compilation, t: ST): void {
  const { order, isInput, id } = c.g;
  const key = nodeKey(t);
  const produced = order.filter((u) => !isInput.has(u) && nodeKey(u) === key).sort((a, b) => (a.outputTensorIndex ?? 0) - (b.outputTensorIndex ?? 0));
  c.steps.push({ kind: 'layer', layer: t.sourceLayer as Layer, inputs: t.inputs.map(id), outputs: produced.map(id) });
}

/** Walks the graph in order and turns each layer call into steps, applying the rewrites above. */
function compile(model: tf.LayersModel): Compilation {
  const c: Compilation = {
    g: analyzeGraph(model),
    stats: { layers: 0, ops: 0, foldedBatchNorms: 0, fusedActivations: 0, mergedPaddings: 0, removedLayers: 0 },
    owned: [], steps: [], done: new Set<string>(), padInputOf: new Map(), reads: new Map(),
  };
  for (const t of c.g.order) {
    if (c.g.isInput.has(t)) continue;
    const key = nodeKey(t);
    if (c.done.has(key)) continue;
    c.done.add(key);
    if (cls(t.sourceLayer as Layer) === 'InputLayer') continue;
    c.stats.layers++;
    if (removeNoOp(c, t) || mergePadding(c, t)) continue;
    if (convEligible(t)) compileConv(c, t);
    else compileLayer(c, t);
  }
  c.stats.ops = c.steps.filter((s) => s.kind !== 'alias').length;
  for (const t of c.owned) tf.keep(t);
  for (const s of c.steps) for (const i of s.kind === 'layer' ? s.inputs : [s.input]) c.reads.set(i, (c.reads.get(i) ?? 0) + 1);
  return c;
}

/** Runs the steps on the inputs inside one tidy, freeing each intermediate after its last reader. */
function runSteps(name: string, c: Compilation, inputIds: number[], outputs: ST[], xs: tf.Tensor[]): tf.Tensor | tf.Tensor[] {
  return tf.tidy(() => {
    const values = new Map<number, tf.Tensor>();
    const left = new Map(c.reads);
    const keep = new Set<tf.Tensor>(xs);
    inputIds.forEach((i, k) => values.set(i, xs[k]!));
    const take = (i: number): tf.Tensor => {
      const v = values.get(i);
      if (!v) throw new Error(`optimizeForInference(${name}): internal error, tensor ${i} missing.`);
      return v;
    };
    const release = (i: number) => {
      const n = (left.get(i) ?? 0) - 1;
      left.set(i, n);
      if (n <= 0 && !c.g.outputIds.has(i)) {
        const v = values.get(i);
        values.delete(i);
        // aliases share a tensor: free it only when no other live id holds it
        if (v && !keep.has(v) && ![...values.values()].includes(v)) v.dispose();
      }
    };
    for (const s of c.steps) {
      if (s.kind === 'alias') {
        values.set(s.output, take(s.input));
        release(s.input);
      } else if (s.kind === 'conv') {
        const args = {
          x: take(s.input) as tf.Tensor4D, filter: s.filter, strides: s.strides, pad: s.pad as 'valid',
          dilations: s.dilations, bias: s.bias, activation: s.activation as 'relu',
        };
        values.set(s.output, s.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args));
        release(s.input);
      } else {
        const ins = s.inputs.map(take);
        const y = s.layer.apply(ins.length === 1 ? ins[0]! : ins, { training: false }) as tf.Tensor | tf.Tensor[];
        const ys = Array.isArray(y) ? y : [y];
        s.outputs.forEach((o, k) => values.set(o, ys[k]!));
        for (const i of s.inputs) release(i);
      }
    }
    const outs = outputs.map((o) => take(c.g.id(o)));
    return outs.length === 1 ? outs[0]! : outs;
  });
}

/**
 * Compiles a model (any of the zoo, truncated, with a new head, or a feature extractor) into an inference-only
 * function: BatchNorm folded into the preceding convolution, activations fused, no-op layers gone. Outputs equal
 * `model.predict` (inference mode) up to float rounding. Folded convolutions hold copies of their weights made
 * now: optimize again after the model's weights change (training, loading). Unfolded layers are the model's own,
 * so keep the model alive while the returned object is used.
 * @example
 * const fast = optimizeForInference(model);
 * const probs = tf.sigmoid(fast.predict(x) as tf.Tensor);
 * fast.dispose();
 */
export function optimizeForInference(model: tf.LayersModel): InferenceModel {
  const { inputs, outputs } = model;
  const c = compile(model);
  const inputIds = inputs.map(c.g.id);
  let disposed = false;
  return {
    name: model.name,
    inputs,
    outputs,
    stats: c.stats,
    predict(x: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
      if (disposed) throw new Error(`optimizeForInference(${model.name}): predict after dispose().`);
      const xs = Array.isArray(x) ? x : [x];
      if (xs.length !== inputIds.length) throw new Error(`${model.name} expects ${inputIds.length} input(s), got ${xs.length}.`);
      return runSteps(model.name, c, inputIds, outputs, xs);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of c.owned) t.dispose();
    },
  };
}
