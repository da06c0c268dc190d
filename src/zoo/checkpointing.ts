// Gradient checkpointing for functional TF.js models: recompute activations instead of storing them.
//
// TF.js keeps every forward intermediate and every gradient of a step alive until the whole backward pass
// ends. Here the model is cut at "articulation" tensors (points every path from the input to the output goes
// through: block outputs of ResNets, MobileNets, EfficientNets, Inception modules, and the running concatenation
// of DenseNet layers) into segments. The forward pass keeps only the segment boundaries; the backward pass
// recomputes one segment at a time under its own tape, from its stored input, with the gradient flowing in from
// the segment after it. Peak memory is then the boundaries plus one segment's tape instead of the whole network's.
// Recomputation is the same arithmetic on the same inputs, so the gradients are the plain ones (float error).
// BatchNorm moving statistics are restored after each recompute so that they are updated once per step.
// Browser-safe.
import * as tf from '@tensorflow/tfjs';

type SymbolicTensor = tf.SymbolicTensor;

interface GraphNode {
  layer: tf.layers.Layer;
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
  callArgs: Record<string, unknown>;
}

/** A run of consecutive graph nodes between two boundary tensors. */
export interface Segment {
  /** Index of the first and one past the last node (topological order). */
  start: number;
  end: number;
  /** The tensor the segment starts from (the model input for the first) and the one it ends at. */
  input: SymbolicTensor;
  output: SymbolicTensor;
  /** Float32 elements per image produced inside the segment (its output included). */
  elementsPerImage: number;
  /** Names of the layers in the segment. */
  layers: string[];
}

/** The model's layer calls in an order where every input is computed before it is used. */
export function graphNodes(model: tf.LayersModel): GraphNode[] {
  const byDepth = (model as unknown as { nodesByDepth: Record<string, unknown[]> }).nodesByDepth;
  if (!byDepth || model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error('Gradient checkpointing needs a functional model (tf.model) with one input and one output.');
  }
  const depths = Object.keys(byDepth).map(Number).sort((a, b) => b - a);
  const nodes: GraphNode[] = [];
  for (const d of depths) {
    for (const raw of byDepth[String(d)]!) {
      const n = raw as { outboundLayer: tf.layers.Layer; inputTensors: SymbolicTensor[]; outputTensors: SymbolicTensor[]; callArgs?: Record<string, unknown> };
      if (n.inputTensors.length === 0 || n.outboundLayer.getClassName() === 'InputLayer') continue;
      nodes.push({ layer: n.outboundLayer, inputs: n.inputTensors, outputs: n.outputTensors, callArgs: n.callArgs ?? {} });
    }
  }
  return nodes;
}

const elements = (t: SymbolicTensor) => t.shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);

/**
 * Splits a model into segments at its articulation tensors. Fine segments are merged while the merged segment
 * stays below the largest single one: that saves boundary storage without raising the peak.
 * `maxSegments` (default unlimited) merges further, down to that count.
 */
export function checkpointSegments(model: tf.LayersModel, options: { maxSegments?: number } = {}): Segment[] {
  const nodes = graphNodes(model);
  const lastUse = new Map<number, number>();
  nodes.forEach((n, i) => n.inputs.forEach((t) => lastUse.set(t.id, i)));
  const outputId = model.outputs[0]!.id;
  const live = new Map<number, SymbolicTensor>([[model.inputs[0]!.id, model.inputs[0]!]]);
  const fine: Segment[] = [];
  let start = 0;
  let from = model.inputs[0]!;
  let produced = 0;
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      live.set(o.id, o);
      produced += elements(o);
    }
    for (const t of n.inputs) if (lastUse.get(t.id) === i) live.delete(t.id);
    for (const o of n.outputs) if (!lastUse.has(o.id) && o.id !== outputId) live.delete(o.id);
    const only = live.size === 1 ? [...live.values()][0]! : undefined;
    if (only && n.outputs.includes(only) && (only.id === outputId || i < nodes.length - 1)) {
      fine.push({ start, end: i + 1, input: from, output: only, elementsPerImage: produced, layers: nodes.slice(start, i + 1).map((m) => m.layer.name) });
      start = i + 1;
      from = only;
      produced = 0;
    }
  });
  if (start !== nodes.length) throw new Error('The model graph has no single output tensor at its end; cannot checkpoint it.');
  // Merge neighbours while the merged segment does not exceed the largest fine one.
  const cap = Math.max(...fine.map((s) => s.elementsPerImage));
  const merged: Segment[] = [];
  for (const s of fine) {
    const prev = merged.at(-1);
    if (prev && prev.elementsPerImage + s.elementsPerImage <= cap) {
      merged[merged.length - 1] = { ...prev, end: s.end, output: s.output, elementsPerImage: prev.elementsPerImage + s.elementsPerImage, layers: [...prev.layers, ...s.layers] };
    } else merged.push(s);
  }
  const max = options.maxSegments;
  while (max !== undefined && max >= 1 && merged.length > max) {
    // merge the adjacent pair with the smallest sum
    let best = 0;
    for (let i = 1; i < merged.length - 1; i++) {
      if (merged[i]!.elementsPerImage + merged[i + 1]!.elementsPerImage < merged[best]!.elementsPerImage + merged[best + 1]!.elementsPerImage) best = i;
    }
    const a = merged[best]!, b = merged[best + 1]!;
    merged.splice(best, 2, { ...a, end: b.end, output: b.output, elementsPerImage: a.elementsPerImage + b.elementsPerImage, layers: [...a.layers, ...b.layers] });
  }
  return merged;
}

interface TapeNode {
  inputs?: Record<string, tf.Tensor>;
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}
interface EngineState {
  activeTape: TapeNode[] | null;
  gradientDepth: number;
}

/**
 * Wraps the function whose gradient is taken (`tf.variableGrads`, `optimizer.minimize`, `tf.engine().gradients`)
 * so that its backward pass releases tape tensors as soon as it no longer needs them. TF.js keeps every op's saved
 * tensors (its inputs/outputs cloned for the backward pass) and the gradient of every intermediate tensor until the
 * whole backward pass ends; with this wrapper, once an op's input gradients are computed, the op's saved tensors,
 * the gradients of its outputs and its input gradients that were already added into a running sum are freed (the
 * backward pass visits ops in reverse order, so nothing reads them again). Same arithmetic, same gradients; only
 * the peak drops. `keep` are tensors never freed here (the `dy` passed to `gradients`). The differentiated
 * variables must be created outside `f` (as variables and stored inputs are). Nested gradients (higher order) are
 * left alone. Relies on TF.js 4's tape internals (`engine.state.activeTape`, `node.saved`, `node.gradient`,
 * `node.inputs`); without them it does nothing.
 */
export function releasingTape<T extends tf.Tensor>(f: () => T, keep: readonly tf.Tensor[] = []): () => T {
  return () => {
    const state = (tf.engine() as unknown as { state?: EngineState }).state;
    const tape = state?.activeTape;
    const start = Array.isArray(tape) ? tape.length : 0;
    const y = f();
    if (!Array.isArray(tape) || state!.gradientDepth !== 1) return y;
    const protect = new Set<tf.Tensor>(keep);
    // tensors whose gradient the engine holds, and the gradients it holds as the first (not summed) one
    const hasGrad = new Set<number>();
    const placed = new Set<tf.Tensor>();
    // the op whose gradient ran last: the dys it read, the tensors its gradient functions returned, and those the
    // engine added into an existing gradient (garbage once added)
    let prev: { node: TapeNode; dys: (tf.Tensor | null)[]; outs: Set<tf.Tensor>; summed: tf.Tensor[] } | undefined;
    const free = (t: tf.Tensor | null, outs: Set<tf.Tensor>) => {
      if (t && !outs.has(t) && !protect.has(t)) t.dispose();
    };
    const release = () => {
      if (!prev) return;
      const { node, dys, outs, summed } = prev;
      prev = undefined;
      for (const t of node.saved ?? []) free(t, outs);
      for (const t of dys) free(t, outs);
      for (const t of summed) if (!placed.has(t) && !protect.has(t)) t.dispose();
    };
    for (let i = start; i < tape.length; i++) {
      const node = tape[i]!;
      const gradient = node.gradient;
      if (typeof gradient !== 'function') continue;
      node.gradient = (dys) => {
        release();
        const g = gradient(dys);
        const outs = new Set<tf.Tensor>();
        const summed: tf.Tensor[] = [];
        const wrapped: Record<string, () => tf.Tensor> = {};
        for (const k of Object.keys(g)) {
          wrapped[k] = () => {
            const t = g[k]!();
            outs.add(t);
            const x = node.inputs?.[k];
            if (x) {
              // the engine stores the first gradient of x as is and adds later ones into it
              if (hasGrad.has(x.id)) summed.push(t);
              else {
                hasGrad.add(x.id);
                placed.add(t);
              }
            }
            return t;
          };
        }
        prev = { node, dys: [...dys], outs, summed };
        return wrapped;
      };
    }
    return y;
  };
}

/** Runs nodes [start, end) on a concrete input; intermediates are freed as soon as no later node reads them. */
function runNodes(nodes: GraphNode[], seg: Segment, x: tf.Tensor, training: boolean, freeEarly: boolean): tf.Tensor {
  const values = new Map<number, tf.Tensor>([[seg.input.id, x]]);
  const lastUse = new Map<number, number>();
  for (let i = seg.start; i < seg.end; i++) for (const t of nodes[i]!.inputs) lastUse.set(t.id, i);
  for (let i = seg.start; i < seg.end; i++) {
    const n = nodes[i]!;
    const ins = n.inputs.map((t) => {
      const v = values.get(t.id);
      if (!v) throw new Error(`Checkpointed execution: layer ${n.layer.name} reads a tensor from outside its segment.`);
      return v;
    });
    const out = n.layer.apply(ins.length === 1 ? ins[0]! : ins, { ...n.callArgs, training }) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    n.outputs.forEach((o, k) => values.set(o.id, outs[k]!));
    if (freeEarly) {
      for (const t of n.inputs) {
        if (lastUse.get(t.id) === i && t.id !== seg.input.id) {
          values.get(t.id)!.dispose();
          values.delete(t.id);
        }
      }
    }
  }
  const y = values.get(seg.output.id)!;
  if (freeEarly) for (const [id, v] of values) if (id !== seg.output.id && id !== seg.input.id && v !== y) v.dispose();
  return y;
}

/** Non-trainable weights (BatchNorm moving statistics) a recompute would update a second time. */
function statefulWeights(nodes: GraphNode[], seg: Segment): tf.Variable[] {
  const out: tf.Variable[] = [];
  for (let i = seg.start; i < seg.end; i++) {
    for (const w of nodes[i]!.layer.nonTrainableWeights) out.push(w.read() as tf.Variable);
  }
  return out;
}

/** A segmented model ready for checkpointed gradient steps. */
export interface CheckpointPlan {
  segments: Segment[];
  /** Trainable variables per segment (a subset of the step's variable list). */
  variables: tf.Variable[][];
  nodes: GraphNode[];
}

/** Cuts the model and assigns each trainable variable to the segment whose layers own it. */
export function planCheckpoints(model: tf.LayersModel, varList: readonly tf.Variable[], options: { maxSegments?: number } = {}): CheckpointPlan {
  const nodes = graphNodes(model);
  const segments = checkpointSegments(model, options);
  const wanted = new Set(varList.map((v) => v.name));
  const variables = segments.map((s) => {
    const vs: tf.Variable[] = [];
    const seen = new Set<string>();
    for (let i = s.start; i < s.end; i++) {
      for (const w of nodes[i]!.layer.trainableWeights) {
        const v = w.read() as tf.Variable;
        if (wanted.has(v.name) && !seen.has(v.name)) {
          seen.add(v.name);
          vs.push(v);
        }
      }
    }
    return vs;
  });
  const assigned = new Set(variables.flat().map((v) => v.name));
  const missing = varList.filter((v) => !assigned.has(v.name));
  if (missing.length > 0) throw new Error(`Gradient checkpointing: variables ${missing.map((v) => v.name).join(', ')} belong to no layer of the model.`);
  return { segments, variables, nodes };
}

/**
 * One checkpointed forward + backward pass: `lossFn(logits)` must return a scalar. Returns the loss and the
 * gradient of every variable of the plan (by variable name), like `tf.variableGrads` does for the plain model.
 */
export function checkpointedGrads(
  plan: CheckpointPlan,
  x: tf.Tensor,
  lossFn: (logits: tf.Tensor) => tf.Scalar,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const { segments, nodes, variables } = plan;
  const engine = tf.engine();
  const k = segments.length;
  // Forward: keep only the boundaries (inputs of segments 1..k-1).
  const boundaries: tf.Tensor[] = [x];
  try {
    for (let s = 0; s < k - 1; s++) {
      boundaries.push(tf.tidy(() => runNodes(nodes, segments[s]!, boundaries[s]!, true, true)));
    }
    const grads: Record<string, tf.Tensor> = {};
    let value: tf.Scalar | undefined;
    let dy: tf.Tensor | undefined;
    for (let s = k - 1; s >= 0; s--) {
      const seg = segments[s]!;
      const vars = variables[s]!;
      const input = boundaries[s]!;
      const needInput = s > 0;
      const xs = [...(needInput ? [input] : []), ...vars];
      if (xs.length === 0) continue;
      const last = s === k - 1;
      // The last segment runs once (it also computes the loss); earlier ones were run in the forward pass.
      const stats = last ? [] : statefulWeights(nodes, seg);
      const saved = stats.map((v) => tf.clone(v));
      try {
        const r = engine.gradients(
          releasingTape(
            () => (last ? lossFn(runNodes(nodes, seg, input, true, true)) : runNodes(nodes, seg, input, true, true)),
            dy ? [dy] : [],
          ),
          xs,
          last ? undefined : dy,
          true,
        );
        if (last) value = r.value as tf.Scalar;
        else r.value.dispose();
        const gs = r.grads;
        vars.forEach((v, i) => {
          const g = gs[i + (needInput ? 1 : 0)];
          grads[v.name] = g ?? tf.zerosLike(v);
        });
        dy?.dispose();
        dy = needInput ? gs[0] : undefined;
      } finally {
        stats.forEach((v, i) => v.assign(saved[i]!));
        tf.dispose(saved);
      }
      if (s > 0) {
        boundaries[s]!.dispose();
        boundaries.pop();
      }
    }
    dy?.dispose();
    return { value: value!, grads };
  } finally {
    for (let i = 1; i < boundaries.length; i++) if (!boundaries[i]!.isDisposed) boundaries[i]!.dispose();
  }
}
