import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend/index.js';
import { applyWeights, type WeightsSpec } from '../weights/apply.js';
import type { LoadWeightsOptions } from '../weights/load.js';
import type { ProgressCallback } from '../weights/fetch.js';
import { resnetModels } from './resnet.js';
import { densenetModels } from './densenet.js';
import { mnasnetModels } from './mnasnet.js';
import { efficientnetModels } from './efficientnet.js';
import { mobilenetModels } from './mobilenet.js';
import { inceptionModels } from './inception.js';
import { initializeWeights, randomSeed } from './init.js';

export type Family = 'resnet' | 'densenet' | 'efficientnet' | 'mobilenet' | 'mnasnet' | 'inception';

/** What a family builder receives (already validated). */
export interface BuildConfig {
  /** Model name (architecture name). */
  name: string;
  numClasses: number;
  inputShape: [number, number, number];
  /** Classifier dropout rate; undefined keeps the reference's. */
  dropout?: number;
  /** EfficientNet's stochastic_depth_prob (the last block's drop probability); undefined keeps 0.2. */
  stochasticDepthProb?: number;
}

/** One architecture: its builder and the metadata the zoo, the README table and `blocks()` use. */
export interface ModelSpec {
  name: string;
  family: Family;
  /** The implementation whose parameters and outputs this one reproduces. */
  reference: 'torchvision 0.14' | 'timm';
  /** Trainable parameters with a 1000-class head, equal to the reference. */
  params: number;
  /** Default (and pretrained) input size in pixels (square). */
  defaultInputSize: number;
  /** Smallest input side for which every stage has a non-empty output. */
  minInputSize: number;
  /** Reference ImageNet-1k top-1 accuracy (%) of the pretrained weights, as documented by the reference. */
  top1: number;
  /** Stage module paths in forward order (what `blocks()` lists and `truncate()` accepts). */
  stages: string[];
  build(config: BuildConfig): tf.LayersModel;
}

export interface CreateModelOptions {
  /** Size of the classification head; `0` means no head: the model returns pooled features. Default 1000. */
  numClasses?: number;
  /** [H, W, C]; default [s, s, inChannels] with the architecture's own size s (224, 299, ...). */
  inputShape?: [number, number, number];
  /** 3 (RGB, default) or 1 (grayscale stem; RGB weights are summed over the input channels). */
  inChannels?: 1 | 3;
  /**
   * Weights to load after building: 'imagenet' (the registered checkpoint, see weights/manifest.json), a URL,
   * bytes, a state dict, or (Node entry) a file path. 'none' or undefined keeps the random initialisation.
   */
  weights?: WeightsSpec | 'none';
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

// Order of the README table: by family, as the CheXtransfer study lists them.
const SPECS: ModelSpec[] = [
  ...resnetModels,
  ...densenetModels,
  ...efficientnetModels,
  ...mobilenetModels,
  ...mnasnetModels,
  ...inceptionModels,
];

const BY_NAME = new Map(SPECS.map((s) => [s.name, s]));

/**
 * Names of all architectures in the zoo.
 * @example listModels(); // ['resnet18', 'resnet34', ...]
 */
export function listModels(): string[] {
  return SPECS.map((s) => s.name);
}

/** Metadata of one architecture (without its builder). */
export type ModelInfo = Omit<ModelSpec, 'build'>;

/**
 * Metadata of an architecture: family, reference, parameter count, default input size, top-1, stages.
 * @example getModelInfo('resnet50').params; // 25557032
 */
export function getModelInfo(name: string): ModelInfo {
  const { build: _build, ...info } = getSpec(name);
  return info;
}

/** @internal the full spec, builder included. */
export function getSpec(name: string): ModelSpec {
  const spec = BY_NAME.get(name);
  if (!spec) {
    throw new Error(`Unknown architecture '${name}'. Valid names: ${listModels().join(', ')}.`);
  }
  return spec;
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
  const s = spec.defaultInputSize;
  const shape = options.inputShape ?? [s, s, options.inChannels ?? 3];
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
  const min = spec.minInputSize;
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
  const config = resolveOptions(spec, options);
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
      await applyWeights(model, name, options.weights, {
        numClasses: config.numClasses,
        inChannels: config.inChannels,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.load ? { load: options.load } : {}),
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
