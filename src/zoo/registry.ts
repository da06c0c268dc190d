import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend/index.js';
import { loadWeights, type LoadWeightsOptions, type WeightsSource } from '../weights/load.js';
import { getWeightsInfo, hasWeights } from '../weights/manifest.js';
import type { ProgressCallback } from '../weights/fetch.js';
import { getSpec } from './catalog.js';
import { initializeWeights, randomSeed } from './init.js';
import type { BuildConfig, ModelSpec } from './spec.js';

export { listModels, getSpec } from './catalog.js';
export type { BuildConfig, Family, ModelSpec } from './spec.js';

export interface CreateModelOptions {
  /** Size of the classification head; `0` means no head: the model returns pooled features. Default 1000. */
  numClasses?: number;
  /**
   * Square input side in pixels; default the architecture's own (`getModelInfo(name).imageSize`: 224, 299, ...).
   * The model takes [imageSize, imageSize, inChannels] images.
   */
  imageSize?: number;
  /** [H, W, C] for a non-square input; instead of imageSize / inChannels. */
  inputShape?: [number, number, number];
  /** 3 (RGB, default) or 1 (grayscale stem; RGB weights are summed over the input channels). */
  inChannels?: 1 | 3;
  /**
   * Weights to load after building: 'imagenet' (the registered checkpoint, see weights/manifest.json), another
   * registered tag ('xrv-all' ...: torchxrayvision's chest X-ray weights; they set numClasses, inChannels and the
   * input side unless given, and the output names: `getOutputInfo(model)`), a URL,
   * bytes, a state dict, or (Node entry) a file path. 'none' or undefined keeps the random initialisation.
   */
  weights?: WeightsSource | 'none';
  /** Download progress for `weights` fetched over the network. */
  onProgress?: ProgressCallback;
  /** Options passed to loadWeights (strictness, logging). */
  load?: LoadWeightsOptions;
  /**
   * Seed of the random initialisation (drawn as the reference draws it: Kaiming-normal, truncated normal, ...
   * per family). The same seed gives the same weights on every backend. Default: a fresh random seed.
   */
  seed?: number;
  /**
   * Classifier dropout rate, as torchvision's `dropout=` argument (default the reference's: 0.2 EfficientNet-B0/B1,
   * MobileNet, MNASNet; 0.3 B2/B3; 0.5 Inception-V3; 0 elsewhere). Dropout is active only in training.
   */
  dropout?: number;
  /**
   * EfficientNet's `stochastic_depth_prob` (default 0.2): block i of n drops its residual branch per sample with
   * probability p * i / n in training. Only EfficientNets accept it.
   */
  stochasticDepthProb?: number;
}

/** Metadata of one architecture: its spec (without builder and checkpoint filter) and its weights' figures. */
export interface ModelInfo extends Omit<ModelSpec, 'build' | 'checkpointFilter'> {
  /** Default input side in pixels (square): the size the registered weights were trained at (their crop size). */
  imageSize: number;
  /** Reference ImageNet-1k top-1 accuracy (%) of the registered weights, as documented by the reference. */
  top1: number;
}

/**
 * Metadata of an architecture: family, reference, parameter count, input sizes, top-1, blocks. The weights'
 * figures (imageSize, top1) come from weights/manifest.json, the rest from the family file (src/zoo/<family>.ts).
 * @example getModelInfo('resnet50').params; // 25557032
 */
export function getModelInfo(name: string): ModelInfo {
  const { build: _build, checkpointFilter: _filter, ...spec } = getSpec(name);
  const w = getWeightsInfo(name);
  return { ...spec, imageSize: w.cropSize, top1: w.top1 ?? Number.NaN };
}

/**
 * Weights registered under a tag other than 'imagenet' ('xrv-all': 1 channel, 18 outputs, 224 px) set the
 * defaults of numClasses, inChannels and the input side; explicit options win.
 */
function withWeightsDefaults(arch: string, options: CreateModelOptions): CreateModelOptions {
  const tag = options.weights;
  if (typeof tag !== 'string' || tag === 'imagenet' || !hasWeights(arch, tag)) return options;
  const w = getWeightsInfo(arch, tag);
  const shape = options.inputShape || options.imageSize !== undefined ? {} : { imageSize: w.cropSize };
  return { numClasses: w.numClasses, ...(options.inputShape ? {} : { inChannels: w.inChannels ?? 3 }), ...shape, ...options };
}

/** Validates options against the architecture and fills defaults. */
export function resolveOptions(spec: ModelSpec, options: CreateModelOptions = {}): BuildConfig & { inChannels: 1 | 3 } {
  const numClasses = options.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 0) {
    throw new Error(
      `numClasses must be a whole number >= 0 (0 = no head, pooled features); got ${String(options.numClasses)}.`,
    );
  }
  if (options.inChannels !== undefined && options.inChannels !== 1 && options.inChannels !== 3) {
    throw new Error(`inChannels must be 1 (grayscale) or 3 (RGB); got ${String(options.inChannels)}.`);
  }
  if (options.imageSize !== undefined && options.inputShape !== undefined) {
    throw new Error('Pass imageSize (a square side) or inputShape ([height, width, channels]), not both.');
  }
  if (options.imageSize !== undefined && !(Number.isInteger(options.imageSize) && options.imageSize > 0)) {
    throw new Error(`imageSize must be a positive whole number of pixels; got ${String(options.imageSize)}.`);
  }
  const s = getWeightsInfo(spec.name).cropSize;
  const side = options.imageSize ?? s;
  const shape = options.inputShape ?? [side, side, options.inChannels ?? 3];
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(
      `inputShape must be [height, width, channels] with positive whole numbers (NHWC without the batch); got ${JSON.stringify(shape)}.`,
    );
  }
  const [h, w, c] = shape;
  if (c !== 1 && c !== 3) {
    throw new Error(`${spec.name} accepts 3 input channels (RGB) or 1 (grayscale, inChannels: 1); got inputShape channels ${c}.`);
  }
  if (options.inChannels !== undefined && options.inChannels !== c) {
    throw new Error(`inChannels is ${options.inChannels} but inputShape has ${c} channels; make them agree.`);
  }
  const min = spec.minImageSize;
  if (h < min || w < min) {
    throw new Error(
      `${spec.name} needs an input of at least ${min}x${min} pixels (default ${s}x${s}); got ${h}x${w}.`,
    );
  }
  if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0 && options.seed < 2 ** 32)) {
    throw new Error(`seed must be a whole number in [0, 2^32); got ${String(options.seed)}.`);
  }
  if (options.dropout !== undefined && !(options.dropout >= 0 && options.dropout < 1)) {
    throw new Error(`dropout must be a rate in [0, 1); got ${String(options.dropout)}.`);
  }
  const sd = options.stochasticDepthProb;
  if (sd !== undefined) {
    if (spec.family !== 'efficientnet') {
      throw new Error(`stochasticDepthProb applies to the EfficientNets only; ${spec.name} has no stochastic depth.`);
    }
    if (!(sd >= 0 && sd < 1)) throw new Error(`stochasticDepthProb must be in [0, 1); got ${String(sd)}.`);
  }
  return {
    name: spec.name,
    numClasses,
    inputShape: [h, w, c],
    inChannels: c as 1 | 3,
    ...(options.dropout !== undefined ? { dropout: options.dropout } : {}),
    ...(sd !== undefined ? { stochasticDepthProb: sd } : {}),
  };
}

/**
 * Builds an architecture of the zoo as a `tf.LayersModel` taking NHWC float32 input that is already
 * normalized, returning logits (or pooled features with `numClasses: 0`). Layer names are the reference
 * PyTorch module paths. Weights are initialised as the reference initialises them, from `seed`, unless
 * `weights` loads them. Resolves once a TF.js backend is ready.
 * @example const model = await createModel('densenet121', { numClasses: 5, inputShape: [320, 320, 3] });
 */
export async function createModel(name: string, options: CreateModelOptions = {}): Promise<tf.LayersModel> {
  const spec = getSpec(name);
  const config = resolveOptions(spec, withWeightsDefaults(spec.name, options));
  await ensureBackend();
  const model = spec.build(config);
  try {
    initializeWeights(model, spec.family, spec.name, options.seed ?? randomSeed());
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (options.weights !== undefined && options.weights !== 'none') {
    try {
      await loadWeights(model, options.weights, {
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...options.load,
        arch: name,
      });
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}

/**
 * Parameter count as torchvision's `num_params` counts it: every weight and bias, trainable or frozen,
 * without BatchNorm moving statistics (TF.js `countParams()` includes those).
 * @example countParams(await createModel('resnet18')); // 11689512
 */
export function countParams(model: tf.LayersModel): number {
  return model.weights
    .filter((w) => !/moving_(mean|variance)$/.test(w.originalName ?? w.name))
    .reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/** Parameters that `fit` would update now (frozen layers excluded). */
export function countTrainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}
