import * as tf from '@tensorflow/tfjs';
import { resolveBlock, type BlockRef } from './truncate.js';
import { getOutputInfo } from './weights/outputs.js';

/*
 * Grad-CAM (Selvaraju et al., 2017) for zoo models, in Node and in browsers.
 *
 * The model graph is evaluated node by node (the way tfjs-layers' own executor does), so the feature map of
 * any block can be swapped for a tensor we differentiate against: residual adds, DenseNet concatenations and
 * Inception branches downstream of the block are all on the gradient's path. Every layer is called with
 * `training: false` (BatchNorm normalises with its moving statistics, Dropout is off).
 */

export interface GradCamOptions {
  /** Block whose feature map is explained: a block name (`layer3`) or -k (k blocks before the last). Default: the last block. */
  block?: BlockRef;
  /** Output unit to explain. Default: the unit with the largest logit. */
  classIndex?: number;
}

export interface GradCamResult {
  /**
   * Heatmap, row-major, `height` x `width` (the input image's size), in [0, 1]: the upsampled map divided by the
   * maximum of `cam` (so it equals PyTorch's F.interpolate of the normalised map; its peak is a little below 1
   * when the map's maximum falls between pixel centres). All 0 when nothing contributes positively.
   */
  heatmap: Float32Array;
  height: number;
  width: number;
  /** The class-activation map at the block's resolution, before upsampling, divided by the same maximum. */
  cam: Float32Array;
  camHeight: number;
  camWidth: number;
  /** The explained output unit. */
  classIndex: number;
  /** Its name, when the model carries output names (`getOutputInfo`: a `chexzoo train` model's tasks, torchxrayvision's labels). */
  className?: string;
  /** Its logit (before the sigmoid / softmax): the score the gradient is taken of. */
  score: number;
  /** The block that was explained. */
  block: string;
}

type SymT = tf.SymbolicTensor;
interface GraphNode {
  layer: tf.layers.Layer;
  inputTensors: SymT[];
  outputTensors: SymT[];
  callArgs?: Record<string, unknown>;
}

/** The nodes of `model`'s graph in topological order (model.layers is topologically sorted). */
function graphNodes(model: tf.LayersModel): GraphNode[] {
  const out: GraphNode[] = [];
  const known = new Set<number>(model.inputs.map((t) => t.id));
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    for (const node of layer.inboundNodes as unknown as GraphNode[]) {
      // only the nodes of this model's graph (a layer may also be applied in another model)
      if (!node.inputTensors.every((t) => known.has(t.id))) continue;
      for (const t of node.outputTensors) known.add(t.id);
      out.push({ layer, inputTensors: node.inputTensors, outputTensors: node.outputTensors, callArgs: node.callArgs });
    }
  }
  return out;
}

function runNode(n: GraphNode, values: Map<number, tf.Tensor>): void {
  const ins = n.inputTensors.map((t) => values.get(t.id)!);
  const res = n.layer.apply(ins.length === 1 ? ins[0]! : ins, { ...(n.callArgs ?? {}), training: false }) as tf.Tensor | tf.Tensor[];
  const outs = Array.isArray(res) ? res : [res];
  n.outputTensors.forEach((t, i) => values.set(t.id, outs[i]!));
}

/** The logits: the model's output, or the pre-activation of a final Dense with a sigmoid / softmax. */
function logitsOf(model: tf.LayersModel, nodes: GraphNode[], values: Map<number, tf.Tensor>): tf.Tensor {
  const out = model.outputs[0]!;
  const last = nodes.find((n) => n.outputTensors.some((t) => t.id === out.id));
  if (last && last.layer.getClassName() === 'Dense' && last.layer.getConfig().activation !== 'linear') {
    const [kernel, bias] = last.layer.getWeights();
    const x = values.get(last.inputTensors[0]!.id)!;
    return bias ? tf.add(tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D), bias) : tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
  }
  return values.get(out.id)!;
}

/** The model's top class for one image, read asynchronously. */
async function topClass(model: tf.LayersModel, image: tf.Tensor3D | tf.Tensor4D): Promise<number> {
  const t = tf.tidy(() => tf.argMax(model.predict(image.rank === 3 ? tf.expandDims(image, 0) : image) as tf.Tensor, 1));
  try {
    return (await t.data())[0]!;
  } finally {
    t.dispose();
  }
}

/**
 * Grad-CAM of a zoo model (any of the 17 architectures, truncated models included) for one image: the
 * block's feature maps weighted by the spatial mean of the gradient of the class logit, summed over
 * channels, ReLU'd, upsampled bilinearly (half-pixel centres, as PyTorch's `align_corners=False`) to the
 * image and divided by its maximum. `image` is the model input, already preprocessed: [H, W, C] or [1, H, W, C].
 * The model needs a single output of logits [1, classes]; a final Dense with a sigmoid/softmax is explained
 * through its logit. No tensor is left behind.
 * @example const { heatmap, score } = await gradCam(model, preprocess(img, 'densenet121'), { classIndex: 2 });
 */
export async function gradCam(model: tf.LayersModel, image: tf.Tensor3D | tf.Tensor4D, options: GradCamOptions = {}): Promise<GradCamResult> {
  if (image.rank !== 3 && image.rank !== 4) throw new Error(`gradCam expects an image [H, W, C] or [1, H, W, C]; got rank ${image.rank}.`);
  if (image.rank === 4 && image.shape[0] !== 1) throw new Error(`gradCam explains one image at a time; got a batch of ${image.shape[0]}. Slice it first.`);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`gradCam needs a single-input, single-output model; '${model.name}' has ${model.inputs.length} inputs and ${model.outputs.length} outputs.`);
  }
  if (model.outputs[0]!.shape.length !== 2) {
    throw new Error(
      `gradCam needs a model that ends in class logits [batch, classes]; '${model.name}' outputs shape ` +
        `[${model.outputs[0]!.shape.join(', ')}]. Truncate it with a classifier (truncate(model, block, { numClasses })).`,
    );
  }
  const chosen = resolveBlockForCam(model, options.block);
  const numClasses = model.outputs[0]!.shape[1]!;
  // webgpu in Node cannot read synchronously (the class is picked inside the gradient): pick it first, by an async read
  const ci = options.classIndex ?? (tf.getBackend() === 'webgpu' ? await topClass(model, image) : undefined);
  if (ci !== undefined && !(Number.isInteger(ci) && ci >= 0 && ci < numClasses)) {
    throw new Error(`classIndex must be an integer in [0, ${numClasses - 1}] for '${model.name}' (${numClasses} outputs); got ${String(ci)}.`);
  }
  const nodes = graphNodes(model);
  const target = chosen.layer.output as SymT;
  const [h, w] = image.rank === 3 ? [image.shape[0], image.shape[1]] : [image.shape[1], image.shape[2]];

  const [cam, up, scoreT, classT] = tf.tidy(() => {
    const x = (image.rank === 3 ? tf.expandDims(image, 0) : image) as tf.Tensor4D;
    const values = new Map<number, tf.Tensor>([[model.inputs[0]!.id, x]]);
    // forward pass up to (and including) the block; record what lies downstream of it
    const downstream: GraphNode[] = [];
    const dirty = new Set<number>([target.id]);
    let reached = false;
    for (const n of nodes) {
      if (reached && n.inputTensors.some((t) => dirty.has(t.id))) {
        downstream.push(n);
        for (const t of n.outputTensors) dirty.add(t.id);
        continue;
      }
      runNode(n, values);
      if (n.outputTensors.some((t) => t.id === target.id)) reached = true;
    }
    const A = values.get(target.id)!;
    let chosen = ci ?? -1;
    const logitOf = (a: tf.Tensor): tf.Tensor => {
      const vals = new Map(values);
      vals.set(target.id, a);
      for (const n of downstream) runNode(n, vals);
      const logits = logitsOf(model, nodes, vals);
      if (chosen < 0) chosen = tf.argMax(logits, 1).dataSync()[0]!;
      return tf.squeeze(tf.slice(logits, [0, chosen], [1, 1]));
    };
    const { value, grad } = tf.valueAndGrad(logitOf)(A);
    const alpha = tf.mean(grad, [1, 2], true); // [1, 1, 1, C]
    const raw = tf.relu(tf.sum(tf.mul(alpha, A), -1, true)) as tf.Tensor4D; // [1, h', w', 1]
    const resized = tf.image.resizeBilinear(raw, [h!, w!], false, true);
    const max = tf.max(raw);
    const safe = tf.where(tf.greater(max, 0), max, tf.onesLike(max));
    return [tf.div(raw, safe), tf.div(resized, safe), value, tf.scalar(chosen, 'int32')];
  });
  try {
    const [camData, upData, score, cls] = await Promise.all([cam.data(), up.data(), scoreT.data(), classT.data()]);
    return {
      heatmap: Float32Array.from(upData as Float32Array, (v) => Math.min(1, Math.max(0, v))),
      height: h!,
      width: w!,
      cam: Float32Array.from(camData as Float32Array),
      camHeight: cam.shape[1]!,
      camWidth: cam.shape[2]!,
      classIndex: cls[0]!,
      ...classNameOf(model, cls[0]!),
      score: score[0]!,
      block: chosen.block,
    };
  } finally {
    tf.dispose([cam, up, scoreT, classT]);
  }
}

/** `{ className }` of an output unit when the model carries a non-empty name for it. */
function classNameOf(model: tf.LayersModel, index: number): { className?: string } {
  const name = getOutputInfo(model)?.labels?.[index];
  return name ? { className: name } : {};
}

/** The block to explain: a zoo block (default the last), or any layer name of a non-zoo model. */
function resolveBlockForCam(model: tf.LayersModel, block: BlockRef | undefined): { block: string; layer: tf.layers.Layer } {
  try {
    return resolveBlock(model, block ?? 0);
  } catch (e) {
    if (typeof block === 'string' && model.layers.some((l) => l.name === block)) return { block, layer: model.getLayer(block) };
    throw e;
  }
}
