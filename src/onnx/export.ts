// Export to ONNX: a TF.js layers model (any zoo architecture, truncated, a feature extractor, fine-tuned) as an
// ONNX model (opset 17, NCHW) that ONNX Runtime (node, web: wasm / WebGPU) and Transformers.js run. Browser-safe:
// returns bytes; src/node/onnx.ts writes them to disk atomically.
//
// The TF.js graph is walked once in topological order and each layer call becomes ONNX nodes
// (src/onnx/layers.ts); a BatchNorm that only reads a convolution is folded into it and zero / -inf padding
// layers become the pads of the convolution or pooling they feed. Why our own converter: no maintained tool
// exports a TF.js layers model to ONNX (tf2onnx's TF.js support is experimental), and the encoding is done by
// @bufbuild/protobuf on messages generated from onnx.proto (tools/gen_onnx_proto.mjs).
import type * as tf from '@tensorflow/tfjs';
import { modelToStateDict } from '../weights/remap.js';
import { converterOf, type Ctx } from './layers.js';
import { GraphBuilder, ONNX_OPSET, type Dim } from './proto.js';

type ST = tf.SymbolicTensor;
type Layer = tf.layers.Layer;

/** Options of {@link toOnnx}. */
export interface OnnxExportOptions {
  /**
   * Names of the graph outputs, one per model output. Default: `logits` for a single output; for several
   * (a feature extractor) the name of the layer producing each (a reference module path).
   */
  outputNames?: string[];
  /** Name of the graph input (default `pixel_values`, as Transformers.js passes it). */
  inputName?: string;
  /**
   * Whether height and width are dynamic in the file (default true). They stay fixed when the graph depends on
   * the size (TF 'same' padding with stride > 1, ceil_mode pooling); the batch is always dynamic.
   */
  dynamicSize?: boolean;
  /** Extra `metadata_props` (key -> value) written into the file. */
  metadata?: Record<string, string>;
}

/** Symbolic tensors reachable from the outputs, producers before consumers (the walk of optimizeForInference). */
function topologicalOrder(model: tf.LayersModel): ST[] {
  const seen = new Set<ST>();
  const order: ST[] = [];
  const isInput = new Set(model.inputs);
  const visit = (t: ST) => {
    if (seen.has(t)) return;
    seen.add(t); // graphs are acyclic
    if (!isInput.has(t)) for (const i of t.inputs ?? []) visit(i);
    order.push(t);
  };
  for (const o of model.outputs) visit(o);
  return order;
}

const nodeKey = (t: ST) => `${t.sourceLayer.name}#${t.nodeIndex}`;

/** The walk's state behind {@link Ctx}: value names, aliases, consumers and absorbed layer calls. */
function makeContext(model: tf.LayersModel, order: ST[], g: GraphBuilder, inputName: string) {
  const isInput = new Set(model.inputs);
  const consumers = new Map<ST, Set<string>>();
  for (const t of order) {
    if (isInput.has(t)) continue;
    for (const i of t.inputs) consumers.set(i, (consumers.get(i) ?? new Set()).add(nodeKey(t)));
  }
  const outputs = new Set(model.outputs);
  const names = new Map<ST, string>(model.inputs.map((i) => [i, inputName]));
  const absorbed = new Set<string>();
  const sizeDependent: string[] = [];
  const ctx: Ctx = {
    g,
    dict: modelToStateDict(model),
    value(t) {
      const n = names.get(t);
      if (n === undefined) throw new Error(`toOnnx: internal error, '${t.name}' used before it was produced.`);
      return n;
    },
    nameOf: (t) => (t.nodeIndex || t.outputTensorIndex ? `${t.sourceLayer.name}#${t.nodeIndex}.${t.outputTensorIndex ?? 0}` : t.sourceLayer.name),
    alias: (t, name) => void names.set(t, name),
    soleConsumer(t) {
      const c = consumers.get(t);
      if (outputs.has(t) || !c || c.size !== 1) return undefined;
      const key = [...c][0];
      return order.find((u) => !isInput.has(u) && nodeKey(u) === key && u.inputs.length === 1);
    },
    absorb: (t) => void absorbed.add(nodeKey(t)),
    mergedPad: new Map(),
    markSizeDependent: (why) => void sizeDependent.push(why),
  };
  return { ctx, absorbed, isInput, sizeDependent };
}

/** ONNX dims of a TF.js NHWC (or [N, C]) shape, in NCHW order, with a dynamic batch. */
function nchwDims(shape: (number | null)[], dynamic: boolean, prefix: string): Dim[] {
  if (shape.length === 4) {
    const hw = dynamic ? [`${prefix}height`, `${prefix}width`] : [shape[1]!, shape[2]!];
    return ['batch', shape[3]!, ...hw];
  }
  return ['batch', ...shape.slice(1).map((d) => d ?? null)];
}

/** Output names: the user's, `logits` for one output, the producing layers' names for several. */
function outputNamesOf(model: tf.LayersModel, o: OnnxExportOptions): string[] {
  const names = o.outputNames ?? (model.outputs.length === 1 ? ['logits'] : model.outputs.map((t) => t.sourceLayer.name));
  if (names.length !== model.outputs.length || new Set(names).size !== names.length) {
    throw new Error(`toOnnx: outputNames needs ${model.outputs.length} distinct name(s); got [${names.join(', ')}].`);
  }
  return names;
}

/** Converts every layer call in order; the graph's outputs become Identity nodes with the output names. */
function convertGraph(model: tf.LayersModel, g: GraphBuilder, inputName: string, outputNames: string[]) {
  const order = topologicalOrder(model);
  const { ctx, absorbed, isInput, sizeDependent } = makeContext(model, order, g, inputName);
  const done = new Set<string>();
  for (const t of order) {
    if (isInput.has(t) || done.has(nodeKey(t)) || absorbed.has(nodeKey(t))) continue;
    done.add(nodeKey(t));
    const layer = t.sourceLayer as Layer;
    if (layer.getClassName() === 'InputLayer') continue;
    if (order.some((u) => u !== t && !isInput.has(u) && nodeKey(u) === nodeKey(t))) {
      throw new Error(`toOnnx: layer '${layer.name}' has several outputs; no zoo layer does, and none is supported.`);
    }
    converterOf(layer)(t, layer, layer.getConfig(), ctx);
  }
  // an output whose value already has its name needs no node; any other name gets an Identity
  const produced = new Set(g.nodes.flatMap((n) => n.output));
  model.outputs.forEach((o, k) => {
    const [value, name] = [ctx.value(o), outputNames[k]!];
    if (value === name && !outputNames.slice(0, k).includes(name)) return;
    if (produced.has(name) || g.has(name)) throw new Error(`toOnnx: output name '${name}' is already a value of the graph; choose another in outputNames.`);
    g.node('Identity', [value], [name], `output.${name}`);
  });
  return { sizeDependent };
}

/**
 * Encodes a TF.js layers model (a zoo model, truncated, a feature extractor, fine-tuned) as ONNX bytes: opset 17,
 * input `pixel_values` float32 NCHW (normalised as for the TF.js model) with a dynamic batch, and where the graph
 * allows dynamic height and width; output `logits` (NCHW feature maps for truncated models without a head).
 * BatchNorm is folded into convolutions; initializers carry the PyTorch state-dict keys.
 * @example const bytes = toOnnx(await createModel('resnet18', { weights: 'imagenet' }));
 */
export function toOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): Uint8Array {
  if (model.inputs.length !== 1) throw new Error(`toOnnx: '${model.name}' has ${model.inputs.length} inputs; only single-input image models export.`);
  const inShape = model.inputs[0]!.shape;
  if (inShape.length !== 4) throw new Error(`toOnnx: '${model.name}' takes rank-${inShape.length} input; expected NHWC images.`);
  const inputName = options.inputName ?? 'pixel_values';
  const outputNames = outputNamesOf(model, options);
  const g = new GraphBuilder();
  const { sizeDependent } = convertGraph(model, g, inputName, outputNames);
  const dynamic = (options.dynamicSize ?? true) && sizeDependent.length === 0;
  const [arch = '', block = ''] = (model.name ?? '').split('/');
  return g.encode({
    graphName: model.name,
    inputs: [{ name: inputName, dims: nchwDims(inShape, dynamic, '') }],
    outputs: model.outputs.map((o, k) => ({ name: outputNames[k]!, dims: nchwDims(o.shape, dynamic, `${outputNames[k]}_`) })),
    doc: `${model.name} exported by @chexzoo/models (NCHW float32 input, normalised as for the TF.js model).`,
    metadata: {
      arch,
      block,
      layout: 'NCHW',
      input_size: `${inShape[1]}x${inShape[2]}`,
      ...(sizeDependent.length ? { fixed_size_because: sizeDependent.join('; ') } : {}),
      ...options.metadata,
    },
  });
}

export { ONNX_OPSET };
