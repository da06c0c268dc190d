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
  /**
   * 'xrv': torchxrayvision's own pipeline (normalize to [-1024, 1024], XRayCenterCrop, XRayResizer: skimage's
   * antialiased resize; src/weights/xrv-preprocess.ts) instead of torchvision's resize + crop. Default torchvision's.
   */
  preprocessing?: 'torchvision' | 'xrv';
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
  /** ImageNet top-1 accuracy (%) reported by the source; null for weights not trained on ImageNet (xrv-*). */
  top1: number | null;
  numClasses: number;
  /** Input channels the weights expect (1 for torchxrayvision's grey models); default 3. */
  inChannels?: 1 | 3;
  /** Output names in order ('' where the training data lacked the pathology), for weights that are not ImageNet's. */
  labels?: string[];
  /** Per-output operating points (torchxrayvision's op_threshs; null where there is none). */
  opThreshs?: (number | null)[];
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
 * How inputs of `arch` (or of a weights tag such as 'xrv-all') are prepared, from the weights' metadata in weights/manifest.json: resize size, crop
 * size, interpolation and normalisation (ImageNet mean/std for most; mean = std = 0.5 for inception_v3/v4).
 * Used by `preprocess`, `loadChexpert({ arch })`, `chexzoo train` / `eval` and the study; call it in a
 * browser to prepare canvas pixels the same way.
 * @example getPreprocessConfig('inception_v3').mean // [0.5, 0.5, 0.5]
 */
export function getPreprocessConfig(arch: string, tag = 'imagenet'): PreprocessConfig {
  const w = findWeightsByTag(arch) ?? getWeightsInfo(arch, tag);
  return {
    arch: w.arch,
    resizeSize: w.resizeSize,
    cropSize: w.cropSize,
    interpolation: w.interpolation,
    mean: [...w.mean],
    std: [...w.std],
    ...(w.preprocessing ? { preprocessing: w.preprocessing } : {}),
    source: w.source,
  };
}

/**
 * The weights tags registered for an architecture.
 * @example weightsTags('densenet121') // ['imagenet', 'xrv-all', 'xrv-nih', ...]
 */
export function weightsTags(arch: string): string[] {
  return Object.keys(manifest.weights[arch] ?? {});
}

/**
 * The one entry registered under a tag that is not 'imagenet' (tags such as 'xrv-all' name one set of weights),
 * or undefined.
 * @example findWeightsByTag('xrv-all')?.arch // 'densenet121'
 */
export function findWeightsByTag(tag: string): WeightsInfo | undefined {
  if (tag === 'imagenet') return undefined;
  for (const byTag of Object.values(manifest.weights)) if (Object.hasOwn(byTag, tag)) return byTag[tag];
  return undefined;
}

/** True when weights for `arch` are registered. */
export function hasWeights(arch: string, tag = 'imagenet'): boolean {
  return Boolean(manifest.weights[arch] && Object.hasOwn(manifest.weights[arch], tag));
}
