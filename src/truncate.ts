import * as tf from '@tensorflow/tfjs';
import { listModels, specOfModel } from './zoo/catalog.js';
import type { ModelSpec } from './zoo/spec.js';
import { blockOutputLayer } from './zoo/blocks.js';
import { Dropout } from './zoo/layers.js';
import { initializeWeights, randomSeed } from './zoo/init.js';

/*
 * Truncation, feature extraction, classifier reset and freezing of zoo models.
 *
 * Design choices (documented in docs/truncation.md):
 * - truncate / featureExtractor / resetClassifier return a NEW model with its own layers and variables: the
 *   topology is rebuilt from the source's config and the weights are copied. Freezing, training or
 *   disposing one model never affects the other (shared layers would make `freeze` act on both).
 *   Copies start by sharing the tensors' data (TF.js tensors are immutable), so the copy is cheap until
 *   one of the models is trained.
 * - Derived models keep the architecture in their name: `<arch>/<block>` for a truncated model,
 *   `<arch>/features` for a feature extractor; resetClassifier keeps the source's name. The name is part
 *   of the saved topology, so `blocks()` and `truncate()` keep working after save/load.
 * - A new classifier takes the family's module path (`fc`, `classifier`, `classifier.1`, `classifier.3`,
 *   `last_linear`), so loadWeights recognises it as the head and skips an ImageNet head of another size.
 * - freeze / unfreeze act in place on the model they are given.
 */

/** A block of a zoo model as `blocks()` lists it. */
export interface BlockInfo {
  /** Reference module path of the block (`layer3`, `features.denseblock3`, `features.6`, `Mixed_6e`). */
  name: string;
  /** Channels of the block's output feature map. */
  channels: number;
  /** Stride of the block's output relative to the input (2, 4, 8, 16, 32). */
  reduction: number;
  /** Parameters up to and including this block, counted as torchvision does (BatchNorm statistics excluded). */
  params: number;
}

/** A block: its name, or a negative integer (-k drops the last k blocks; 0 keeps them all). */
export type BlockRef = string | number;

/** @deprecated Use `BlockInfo`. */
export type StageInfo = BlockInfo;
/** @deprecated Use `BlockRef`. */
export type StageRef = BlockRef;

/** The new classifier of `truncate` and `resetClassifier` (both take these options). */
export interface HeadOptions {
  /**
   * 0: no classifier (truncate: the block's NHWC feature map, exactly the reference module's output;
   * resetClassifier: the pooled features). > 0: global pooling and a fresh linear classifier producing logits.
   * Default: the number of classes of the source model's classifier, or 0 when it has none.
   */
  numClasses?: number;
  /** Global pooling before the new classifier when the features are a map (default 'avg'). */
  pooling?: 'avg' | 'max';
  /** Dropout rate before the new classifier (default 0: none). */
  dropout?: number;
  /** Seed of the new classifier's initialisation (the architecture's reference init for its Linear). Default: random. */
  seed?: number;
}

/** Options of `truncate` (the same as resetClassifier's). */
export type TruncateOptions = HeadOptions;
/** Options of `resetClassifier` (the same as truncate's). */
export type ResetClassifierOptions = HeadOptions;

const POOL_CLASSES = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D']);
const STRIDED_CLASSES = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'MaxPooling2D', 'AveragePooling2D']);
const isStat = (w: tf.LayerVariable): boolean => /moving_(mean|variance)$/.test(w.originalName ?? w.name);

// ---------------------------------------------------------------------------------------------------------------
// Model introspection

/** The zoo architecture a model was built from (its name, or the part before '/' for derived models). */
function archOf(model: tf.LayersModel): ModelSpec {
  const spec = specOfModel(model);
  if (!spec) {
    throw new Error(
      `Model '${model.name}' is not a zoo model: truncation needs a model made by createModel() (named after its ` +
        `architecture, e.g. 'resnet50') or derived from one ('resnet50/layer3'). Known architectures: ${listModels().join(', ')}.`,
    );
  }
  return spec;
}

/** Block names of the architecture that are present in this (possibly truncated) model, in forward order. */
function blocksOf(model: tf.LayersModel): { spec: ModelSpec; blocks: string[] } {
  const spec = archOf(model);
  const blocks = spec.blocks.filter((b) => blockOutputLayer(model, b) !== undefined);
  if (blocks.length === 0) {
    throw new Error(`Model '${model.name}' has none of the blocks of ${spec.name} (${spec.blocks.join(', ')}).`);
  }
  return { spec, blocks };
}

/** The block `ref` names in `model` (a name, or -k for the k-th last), with its output layer; a clear error otherwise. */
export function resolveBlock(model: tf.LayersModel, ref: BlockRef): { spec: ModelSpec; block: string; layer: tf.layers.Layer } {
  const { spec, blocks } = blocksOf(model);
  let block: string;
  if (typeof ref === 'number') {
    if (!Number.isInteger(ref) || ref > 0 || -ref >= blocks.length) {
      throw new Error(
        `Block index ${ref} is out of range for '${model.name}': use a block name or an integer from ` +
          `-${blocks.length - 1} (keep only ${blocks[0]}) to 0 (keep all ${blocks.length} blocks). Blocks: ${blocks.join(', ')}.`,
      );
    }
    block = blocks[blocks.length - 1 + ref]!;
  } else if (typeof ref === 'string' && blocks.includes(ref)) {
    block = ref;
  } else {
    const hint = typeof ref === 'string' && spec.blocks.includes(ref) ? ` ('${ref}' comes after this model's last block)` : '';
    throw new Error(
      `Unknown block ${JSON.stringify(ref)} for '${model.name}'${hint}. Valid blocks: ${blocks.join(', ')} ` +
        `(or a negative integer: -k drops the last k blocks).`,
    );
  }
  return { spec, block, layer: blockOutputLayer(model, block)! };
}

/** The layers a layer's output depends on, itself included. */
function ancestors(layer: tf.layers.Layer): Set<tf.layers.Layer> {
  const seen = new Set<tf.layers.Layer>();
  const stack = [layer];
  while (stack.length) {
    const l = stack.pop()!;
    if (seen.has(l)) continue;
    seen.add(l);
    for (const node of l.inboundNodes) stack.push(...node.inboundLayers);
  }
  return seen;
}

/** Cumulative stride of every layer's output relative to the model input (H axis; zoo strides are square). */
function strides(model: tf.LayersModel): Map<tf.layers.Layer, number> {
  const out = new Map<tf.layers.Layer, number>();
  // model.layers is in topological order, so inputs are resolved first
  for (const layer of model.layers) {
    let s = 1;
    for (const node of layer.inboundNodes) for (const src of node.inboundLayers) s = Math.max(s, out.get(src) ?? 1);
    if (STRIDED_CLASSES.has(layer.getClassName())) {
      const st = layer.getConfig().strides as number | number[] | undefined;
      s *= Array.isArray(st) ? st[0]! : (st ?? 1);
    }
    out.set(layer, s);
  }
  return out;
}

function paramsOf(layers: Iterable<tf.layers.Layer>): number {
  let n = 0;
  for (const l of layers) for (const w of l.weights) if (!isStat(w)) n += w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
  return n;
}

/** Module paths of the family's global pooling and final Linear, so a new head is recognised as the classifier. */
function headNames(spec: ModelSpec): { pool: string; fc: string } {
  switch (spec.family) {
    case 'resnet':
      return { pool: 'avgpool', fc: 'fc' };
    case 'densenet':
      return { pool: 'avgpool', fc: 'classifier' };
    case 'mobilenet':
      return { pool: 'avgpool', fc: spec.name.startsWith('mobilenet_v3') ? 'classifier.3' : 'classifier.1' };
    case 'inception':
      return spec.name === 'inception_v4' ? { pool: 'global_pool', fc: 'last_linear' } : { pool: 'avgpool', fc: 'fc' };
    default:
      return { pool: 'avgpool', fc: 'classifier.1' };
  }
}

/** The model's single output layer, or undefined for multi-output models. */
function outputLayer(model: tf.LayersModel): tf.layers.Layer | undefined {
  return model.outputs.length === 1 ? model.outputLayers[0] : undefined;
}

function classifierUnits(model: tf.LayersModel): number {
  const out = outputLayer(model);
  return out && out.getClassName() === 'Dense' ? (out.getConfig().units as number) : 0;
}

function checkClasses(numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 0) {
    throw new Error(`numClasses must be a whole number >= 0 (0 = no classifier); got ${String(numClasses)}.`);
  }
}

/**
 * A new model computing `outputs` of `model`: the subgraph is rebuilt from its config (new layers and
 * variables, same names) and every weight, BatchNorm statistics included, is copied.
 */
function copySubgraph(model: tf.LayersModel, outputs: tf.SymbolicTensor[], name: string): tf.LayersModel {
  // A view over the source's layers, used only to serialize the subgraph; never disposed (it would dispose them).
  const view = tf.model({ inputs: model.inputs, outputs, name });
  const config = view.getConfig();
  // fastWeightInit: every variable is overwritten below, so skip the random initialisation.
  const copy = tf.LayersModel.fromConfig(tf.LayersModel, config, {}, true) as tf.LayersModel;
  for (const layer of copy.layers) {
    if (layer.weights.length === 0) continue;
    const src = view.getLayer(layer.name);
    layer.setWeights(src.getWeights());
  }
  return copy;
}

function addHead(
  model: tf.LayersModel,
  x: tf.SymbolicTensor,
  spec: ModelSpec,
  numClasses: number,
  name: string,
  options: { pooling?: 'avg' | 'max'; dropout?: number; fcName?: string; seed?: number },
): tf.LayersModel {
  const names = headNames(spec);
  const taken = new Set(model.layers.map((l) => l.name));
  if (x.shape.length === 4) {
    const pooling = options.pooling ?? 'avg';
    if (pooling !== 'avg' && pooling !== 'max') throw new Error(`pooling must be 'avg' or 'max'; got ${String(pooling)}.`);
    const poolName = pooling === 'avg' ? names.pool : 'global_maxpool';
    x = (pooling === 'avg'
      ? tf.layers.globalAveragePooling2d({ name: poolName })
      : tf.layers.globalMaxPooling2d({ name: poolName })
    ).apply(x) as tf.SymbolicTensor;
  }
  if (numClasses > 0) {
    const fcName = options.fcName ?? names.fc;
    const rate = options.dropout ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new Error(`dropout must be in [0, 1); got ${String(options.dropout)}.`);
    if (rate > 0) {
      x = new Dropout({ rate, name: uniqueName(`${fcName}.dropout`, taken) }).apply(x) as tf.SymbolicTensor;
    }
    const fc = tf.layers.dense({ units: numClasses, name: fcName });
    x = fc.apply(x) as tf.SymbolicTensor;
    const m = tf.model({ inputs: model.inputs, outputs: x, name });
    initializeWeights(m, spec.family, spec.name, options.seed ?? randomSeed(), (l) => l === fc);
    return m;
  }
  return tf.model({ inputs: model.inputs, outputs: x, name });
}

function uniqueName(name: string, taken: Set<string>): string {
  let n = name;
  for (let i = 1; taken.has(n); i++) n = `${name}_${i}`;
  return n;
}

/** Sets the layers to (un)trainable and, on a compiled model, refreshes the weights `fit` updates. */
function setTrainable(model: tf.LayersModel, layers: Iterable<tf.layers.Layer>, trainable: boolean): void {
  for (const l of layers) l.trainable = trainable;
  // `compile` snapshots the trainable weights and `fit` updates that snapshot; Keras re-reads it on the next
  // compile. Refreshing it here makes freeze/unfreeze take effect without a recompile.
  const m = model as unknown as { collectedTrainableWeights?: tf.LayerVariable[] };
  if (m.collectedTrainableWeights != null) m.collectedTrainableWeights = model.trainableWeights;
}

// ---------------------------------------------------------------------------------------------------------------
// Public API

/**
 * The ordered blocks of a zoo model (or of a model derived from one): name, output channels, reduction
 * (stride relative to the input) and parameters up to and including the block.
 * @example blocks(await createModel('resnet50')).map((b) => b.name); // ['layer1', 'layer2', 'layer3', 'layer4']
 */
export function blocks(model: tf.LayersModel): BlockInfo[] {
  const stride = strides(model);
  return blocksOf(model).blocks.map((name) => {
    const layer = blockOutputLayer(model, name)!;
    const shape = (layer.output as tf.SymbolicTensor).shape;
    return {
      name,
      channels: shape[shape.length - 1]!,
      reduction: stride.get(layer) ?? 1,
      params: paramsOf(ancestors(layer)),
    };
  });
}

/**
 * A new model made of `model` up to and including block `block` (a block name, or -k to drop the last k
 * blocks), with its weights. `numClasses: 0` returns the block's NHWC feature map; `numClasses > 0` adds
 * global pooling and a fresh linear classifier. The source model is not modified.
 * @example const m = truncate(await createModel('densenet121'), 'features.denseblock3', { numClasses: 5 });
 */
export function truncate(model: tf.LayersModel, block: BlockRef, options: TruncateOptions = {}): tf.LayersModel {
  const { spec, block: kept, layer } = resolveBlock(model, block);
  const numClasses = options.numClasses ?? classifierUnits(model);
  checkClasses(numClasses);
  const name = `${spec.name}/${kept}`;
  const features = copySubgraph(model, [layer.output as tf.SymbolicTensor], name);
  if (numClasses === 0) return features;
  return addHead(features, features.outputs[0]!, spec, numClasses, name, options);
}

/**
 * One model returning the feature maps of several blocks (in the order given), like timm's `features_only`.
 * A new model; the source is not modified.
 * @example const [c3, c4] = featureExtractor(model, ['layer3', 'layer4']).predict(x) as tf.Tensor[];
 */
export function featureExtractor(model: tf.LayersModel, blockNames: BlockRef[]): tf.LayersModel {
  if (!Array.isArray(blockNames) || blockNames.length === 0) {
    throw new Error(`featureExtractor needs a non-empty list of blocks; valid blocks: ${blocksOf(model).blocks.join(', ')}.`);
  }
  const resolved = blockNames.map((b) => resolveBlock(model, b));
  const names = resolved.map((r) => r.block);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`Block '${dup}' is listed twice; list each block once.`);
  return copySubgraph(
    model,
    resolved.map((r) => r.layer.output as tf.SymbolicTensor),
    `${resolved[0]!.spec.name}/features`,
  );
}

/**
 * A copy of the model with a fresh classifier of `numClasses` outputs (default: as many as the model's): the
 * last Linear is replaced (everything before it, e.g. MobileNetV3's hidden classifier layer, keeps its
 * weights), or pooling and a Linear are added to a model without one. `numClasses: 0` returns the pooled
 * features, as `createModel(arch, { numClasses: 0 })` does. The new Linear is initialised as the reference's,
 * from `seed`. Takes the options truncate takes.
 * @example const m = resetClassifier(imagenetModel, { numClasses: 5 });
 */
export function resetClassifier(model: tf.LayersModel, options?: ResetClassifierOptions): tf.LayersModel;
/** @deprecated Pass `{ numClasses }`: `resetClassifier(model, { numClasses: 5, seed })`, as truncate takes it. */
export function resetClassifier(model: tf.LayersModel, numClasses: number, options?: { seed?: number }): tf.LayersModel;
export function resetClassifier(
  model: tf.LayersModel,
  first: ResetClassifierOptions | number = {},
  legacy: { seed?: number } = {},
): tf.LayersModel {
  const options: ResetClassifierOptions = typeof first === 'number' ? { ...legacy, numClasses: first } : first;
  const spec = archOf(model);
  const numClasses = options.numClasses ?? classifierUnits(model);
  checkClasses(numClasses);
  const out = outputLayer(model);
  if (!out) throw new Error(`resetClassifier needs a single-output model; '${model.name}' has ${model.outputs.length} outputs.`);
  let x = model.outputs[0]!;
  let fcName: string | undefined;
  if (numClasses === 0) {
    // back to the global pooling that ends the backbone, if there is one
    let l: tf.layers.Layer | undefined = out;
    while (l && x.shape.length === 2 && !POOL_CLASSES.has(l.getClassName())) {
      const inbound: tf.layers.Layer | undefined = l.inboundNodes[0]?.inboundLayers[0];
      l = inbound;
      x = (inbound?.output as tf.SymbolicTensor | undefined) ?? x;
    }
  } else if (out.getClassName() === 'Dense') {
    fcName = out.name;
    x = out.input as tf.SymbolicTensor;
  }
  const copy = copySubgraph(model, [x], model.name);
  return addHead(copy, copy.outputs[0]!, spec, numClasses, model.name, { ...options, ...(fcName !== undefined ? { fcName } : {}) });
}

/**
 * Freezes every layer up to and including block `upTo` (default: the last block, i.e. the whole backbone),
 * in place. Frozen weights are not updated by `fit`, and frozen BatchNorm layers normalise with their moving
 * statistics and do not update them. Works on compiled models too. Returns the model.
 * @example freeze(model, { upTo: 'layer3' }); model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
 */
export function freeze(model: tf.LayersModel, options: { upTo?: BlockRef } = {}): tf.LayersModel {
  const { blocks: present } = blocksOf(model);
  const { layer } = resolveBlock(model, options.upTo ?? present[present.length - 1]!);
  setTrainable(model, ancestors(layer), false);
  return model;
}

/**
 * Makes every layer trainable again (in place), BatchNorm statistics included. Returns the model.
 * @example unfreeze(model);
 */
export function unfreeze(model: tf.LayersModel): tf.LayersModel {
  setTrainable(model, model.layers, true);
  return model;
}
