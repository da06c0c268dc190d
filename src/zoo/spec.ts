// The types every family file (resnet.ts, densenet.ts, ...) fills in, and the one `spec()` helper they use.
// No family imports zoo/registry.ts or zoo/catalog.ts, so there is no import cycle between them.
import type * as tf from '@tensorflow/tfjs';
import type { CheckpointFilter } from '../weights/filters.js';

export type { CheckpointFilter, CheckpointFilterResult } from '../weights/filters.js';

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

/**
 * One architecture as its family file declares it. The weights' metadata (ImageNet top-1, the input size the
 * weights were trained at, preprocessing) lives in weights/manifest.json; getModelInfo joins the two.
 */
export interface ModelSpec {
  name: string;
  family: Family;
  /** The implementation whose parameters and outputs this one reproduces. */
  reference: 'torchvision 0.14' | 'timm';
  /** Trainable parameters with a 1000-class head, equal to the reference. */
  params: number;
  /** Smallest input side for which every block has a non-empty output. */
  minImageSize: number;
  /** Block module paths in forward order (what `blocks()` lists and `truncate()` accepts). */
  blocks: string[];
  build(config: BuildConfig): tf.LayersModel;
  /** Maps the family's published checkpoints onto the model's keys; none when they already match. */
  checkpointFilter?: CheckpointFilter;
}

/** What a family shares between its architectures. */
export type FamilyDefaults = Pick<ModelSpec, 'family' | 'reference'> & Partial<Pick<ModelSpec, 'minImageSize' | 'blocks' | 'checkpointFilter'>>;

/**
 * One architecture of a family: the family's shared fields, then the architecture's own.
 * @example spec(RESNET, { name: 'resnet18', params: 11_689_512, build: (c) => buildResNet('basic', [2, 2, 2, 2], c) })
 */
export function spec(
  family: FamilyDefaults,
  own: Pick<ModelSpec, 'name' | 'params' | 'build'> & Partial<Pick<ModelSpec, 'minImageSize' | 'blocks'>>,
): ModelSpec {
  const s = { ...family, ...own };
  if (s.minImageSize === undefined || s.blocks === undefined) {
    throw new Error(`Model spec '${own.name}' needs minImageSize and blocks (from its family or its own).`);
  }
  return s as ModelSpec;
}

/**
 * Blocks that are the numbered children of one Sequential (`features.0`, `features.1`, ...), as in
 * EfficientNet, the MobileNets, MNASNet (`layers.i`) and timm's Inception-V4.
 * @example numberedBlocks('layers', 3) // ['layers.0', 'layers.1', 'layers.2']
 */
export function numberedBlocks(container: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${container}.${i}`);
}
