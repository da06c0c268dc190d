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
  const inputs = model.inputs;
  const outputs = model.outputs;
  // Symbolic tensors reachable from the outputs, in an order where producers come before consumers.
  const ids = new Map<ST, number>();
  const order: ST[] = [];
  const isInput = new Set(inputs);
  const visit = (t: ST) => {
    if (ids.has(t)) return;
    ids.set(t, -1); // in progress (graphs are acyclic)
    if (!isInput.has(t)) for (const i of t.inputs ?? []) visit(i);
    ids.set(t, order.length);
    order.push(t);
  };
  for (const o of outputs) visit(o);
  for (const i of inputs) if (!ids.has(i)) visit(i);
  const id = (t: ST) => ids.get(t)!;

  // A node = one call of a layer; all tensors it produced share it.
  const nodeKey = (t: ST) => `${t.sourceLayer.name}#${t.nodeIndex}`;
  const consumers = new Map<number, Set<string>>();
  for (const t of order) {
    if (isInput.has(t)) continue;
    for (const i of t.inputs) {
      const s = consumers.get(id(i)) ?? new Set<string>();
      s.add(nodeKey(t));
      consumers.set(id(i), s);
    }
  }
  const outputIds = new Set(outputs.map(id));
  // The only consumer of a tensor, if it has exactly one and is not a model output.
  const soleConsumer = (t: ST): ST | undefined => {
    if (outputIds.has(id(t))) return undefined;
    const c = consumers.get(id(t));
    if (!c || c.size !== 1) return undefined;
    const key = [...c][0];
    return order.find((u) => !isInput.has(u) && nodeKey(u) === key && u.inputs.length === 1);
  };

  const stats: InferenceStats = { layers: 0, ops: 0, foldedBatchNorms: 0, fusedActivations: 0, mergedPaddings: 0, removedLayers: 0 };
  const owned: tf.Tensor[] = [];
  const steps: Step[] = [];
  const done = new Set<string>(); // node keys already covered by a step
  const padInputOf = new Map<number, { input: number; pad: number[][]; layer: Layer; output: number }>();
  const convEligible = (t: ST): boolean => {
    const l = t.sourceLayer as Layer;
    const c = l.getConfig();
    return (cls(l) === 'Conv2D' || (cls(l) === 'DepthwiseConv2D' && (c.depthMultiplier ?? 1) === 1)) &&
      c.dataFormat !== 'channelsFirst' && t.inputs.length === 1;
  };

  for (const t of order) {
    if (isInput.has(t)) continue;
    const key = nodeKey(t);
    if (done.has(key)) continue;
    done.add(key);
    const layer = t.sourceLayer as Layer;
    if (cls(layer) === 'InputLayer') continue;
    stats.layers++;
    const name = cls(layer);
    const cfg = layer.getConfig();
    if (name === 'Dropout' || name === 'SpatialDropout2D' || (name === 'Activation' && cfg.activation === 'linear')) {
      steps.push({ kind: 'alias', input: id(t.inputs[0]!), output: id(t) });
      stats.removedLayers++;
      continue;
    }
    // a zero padding whose only consumer is a 'valid' convolution becomes that convolution's padding
    if (name === 'ChexzooPad2D' && cfg.value === 0 && t.inputs.length === 1) {
      const next = soleConsumer(t);
      if (next && convEligible(next) && (next.sourceLayer as Layer).getConfig().padding === 'valid') {
        const [[top, bottom], [left, right]] = cfg.padding as number[][];
        padInputOf.set(id(next), { input: id(t.inputs[0]!), pad: [[0, 0], [top!, bottom!], [left!, right!], [0, 0]], layer, output: id(t) });
        stats.mergedPaddings++;
        continue;
      }
    }
    if (convEligible(t)) {
      const w = layer.getWeights();
      let filter = w[0]! as tf.Tensor4D;
      let bias = (cfg.useBias ? w[1] : undefined) as tf.Tensor1D | undefined;
      let activation = String(cfg.activation ?? 'linear');
      let out: ST = t;
      const merged = padInputOf.get(id(t));
      // BatchNorm (inference statistics) on the channel axis
      const bnT = activation === 'linear' ? soleConsumer(out) : undefined;
      if (bnT && isBatchNorm(bnT.sourceLayer as Layer)) {
        const bn = bnT.sourceLayer as Layer;
        const bc = bn.getConfig();
        const axis = bc.axis as number;
        if (axis === -1 || axis === 3) {
          const bw = bn.getWeights();
          let k = 0;
          const gamma = bc.scale !== false ? bw[k++] : undefined;
          const beta = bc.center !== false ? bw[k++] : undefined;
          const mean = bw[k++]!;
          const variance = bw[k++]!;
          const eps = bc.epsilon as number;
          const folded = tf.tidy(() => {
            const inv = tf.rsqrt(tf.add(variance, eps));
            const scale = gamma ? tf.mul(gamma, inv) : inv;
            // conv: [kh, kw, in, out] scales the last axis; depthwise: [kh, kw, C, 1] scales axis 2
            const f = name === 'Conv2D' ? tf.mul(filter, scale) : tf.mul(filter, tf.reshape(scale, [1, 1, -1, 1]));
            let b = tf.mul(bias ? tf.sub(bias, mean) : tf.neg(mean), scale);
            if (beta) b = tf.add(b, beta);
            return [f as tf.Tensor4D, b as tf.Tensor1D] as const;
          });
          [filter, bias] = folded;
          owned.push(filter, bias);
          done.add(nodeKey(bnT));
          stats.layers++;
          stats.foldedBatchNorms++;
          out = bnT;
        }
      }
      const actT = activation === 'linear' ? soleConsumer(out) : undefined;
      const kind = actT ? activationOf(actT.sourceLayer as Layer) : undefined;
      if (actT && kind && FUSABLE.has(kind)) {
        activation = kind;
        done.add(nodeKey(actT));
        stats.layers++;
        stats.fusedActivations++;
        out = actT;
      }
      if (activation !== 'linear' && !FUSABLE.has(activation)) {
        // a conv with its own non-fusable activation: run the layers as they are
        if (merged) {
          steps.push({ kind: 'layer', layer: merged.layer, inputs: [merged.input], outputs: [merged.output] });
          stats.mergedPaddings--;
        }
        steps.push({ kind: 'layer', layer, inputs: [id(t.inputs[0]!)], outputs: [id(t)] });
        continue;
      }
      const pad: 'valid' | 'same' | number[][] = merged ? merged.pad : (cfg.padding as 'valid' | 'same');
      steps.push({ kind: 'conv', input: merged?.input ?? id(t.inputs[0]!), output: id(out), depthwise: name === 'DepthwiseConv2D',
        filter, bias, strides: pair(cfg.strides), pad, dilations: pair(cfg.dilationRate ?? 1), activation });
      continue;
    }
    // any other layer: its own call, in inference mode
    const produced = order.filter((u) => !isInput.has(u) && nodeKey(u) === key).sort((a, b) => (a.outputTensorIndex ?? 0) - (b.outputTensorIndex ?? 0));
    steps.push({ kind: 'layer', layer, inputs: t.inputs.map(id), outputs: produced.map(id) });
  }
  stats.ops = steps.filter((s) => s.kind !== 'alias').length;
  for (const t of owned) tf.keep(t);

  // how many steps read each tensor (to free intermediates early)
  const reads = new Map<number, number>();
  for (const s of steps) for (const i of s.kind === 'layer' ? s.inputs : [s.input]) reads.set(i, (reads.get(i) ?? 0) + 1);
  const inputIds = inputs.map(id);
  let disposed = false;

  return {
    name: model.name,
    inputs,
    outputs,
    stats,
    predict(x: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
      if (disposed) throw new Error(`optimizeForInference(${model.name}): predict after dispose().`);
      const xs = Array.isArray(x) ? x : [x];
      if (xs.length !== inputIds.length) throw new Error(`${model.name} expects ${inputIds.length} input(s), got ${xs.length}.`);
      return tf.tidy(() => {
        const values = new Map<number, tf.Tensor>();
        const left = new Map(reads);
        const keep = new Set<tf.Tensor>(xs);
        inputIds.forEach((i, k) => values.set(i, xs[k]!));
        const take = (i: number): tf.Tensor => {
          const v = values.get(i);
          if (!v) throw new Error(`optimizeForInference(${model.name}): internal error, tensor ${i} missing.`);
          return v;
        };
        const release = (i: number) => {
          const n = (left.get(i) ?? 0) - 1;
          left.set(i, n);
          if (n <= 0 && !outputIds.has(i)) {
            const v = values.get(i);
            values.delete(i);
            // aliases share a tensor: free it only when no other live id holds it
            if (v && !keep.has(v) && ![...values.values()].includes(v)) v.dispose();
          }
        };
        for (const s of steps) {
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
        const outs = outputs.map((o) => take(id(o)));
        return outs.length === 1 ? outs[0]! : outs;
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of owned) t.dispose();
    },
  };
}
