import manifestJson from '../../weights/manifest.json';

export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

/** Preprocessing a set of weights was trained and evaluated with. */
export interface PreprocessSpec {
  /** Shorter image side after resizing (torchvision `resize_size`). */
  resizeSize: number;
  /** Side of the square center crop fed to the network: the input size the weights were trained at. */
  cropSize: number;
  interpolation: Interpolation;
  mean: number[];
  std: number[];
}

/** One entry of weights/manifest.json. */
export interface WeightsInfo extends PreprocessSpec {
  arch: string;
  variant: string;
  url: string;
  fileName: string;
  /** Full sha256 when known; otherwise null and recorded in the cache on first download. */
  sha256: string | null;
  /** Hash prefix torch.hub puts in the file name (`resnet18-f37072fd.pth`), or null. */
  sha256Prefix: string | null;
  license: string;
  /** ImageNet top-1 accuracy (%) reported by the source. */
  top1: number;
  numClasses: number;
  /** Rows to drop from the front of the checkpoint's head (timm's label_offset for 1001-class heads). */
  labelOffset: number;
  source: string;
  /** Checkpoint key prefixes of the classifier (ignored when the model is built without a head). */
  headKeyPrefixes: string[];
  alternates?: { url: string; numClasses: number; labelOffset: number; note: string }[];
  notes?: string;
}

interface Manifest {
  version: number;
  weights: Record<string, Record<string, WeightsInfo>>;
}

const manifest = manifestJson as unknown as Manifest;

/** Architectures that have registered weights. @example listWeights() // ['resnet18', ...] */
export function listWeights(): string[] {
  return Object.keys(manifest.weights);
}

/**
 * Metadata of an architecture's weights (default tag 'imagenet').
 * @example getWeightsInfo('resnet50').cropSize // 224
 */
export function getWeightsInfo(arch: string, tag = 'imagenet'): WeightsInfo {
  const byTag = manifest.weights[arch];
  if (!byTag) {
    throw new Error(`No registered weights for architecture '${arch}'. Known: ${listWeights().join(', ')}.`);
  }
  const info = byTag[tag];
  if (!info) throw new Error(`Architecture '${arch}' has no '${tag}' weights (available: ${Object.keys(byTag).join(', ')}).`);
  return info;
}

/** The preprocessing of an architecture's weights (one source: weights/manifest.json). */
export interface PreprocessConfig extends PreprocessSpec {
  arch: string;
  /** Where the numbers come from (the weights' reference). */
  source: string;
}

/**
 * How inputs of `arch` are prepared, from the weights' metadata in weights/manifest.json: resize size, crop
 * size, interpolation and normalisation (ImageNet mean/std for most; mean = std = 0.5 for inception_v3/v4).
 * Used by `preprocess`, `loadChexpert({ arch })`, `chexzoo train` / `eval` and the study; call it in a
 * browser to prepare canvas pixels the same way.
 * @example getPreprocessConfig('inception_v3').mean // [0.5, 0.5, 0.5]
 */
export function getPreprocessConfig(arch: string, tag = 'imagenet'): PreprocessConfig {
  const w = getWeightsInfo(arch, tag);
  return {
    arch: w.arch,
    resizeSize: w.resizeSize,
    cropSize: w.cropSize,
    interpolation: w.interpolation,
    mean: [...w.mean],
    std: [...w.std],
    source: w.source,
  };
}

/** True when weights for `arch` are registered. */
export function hasWeights(arch: string, tag = 'imagenet'): boolean {
  return Boolean(manifest.weights[arch]?.[tag]);
}
