// Browser-safe public API: nothing reachable from here may import fs, path, sharp or process-only code.
// Node-only features (file IO, downloads, image decoding, CLI) are in `@chexzoo/models/node` (src/node.ts).

// zoo
export {
  createModel,
  listModels,
  getModelInfo,
  countParams,
  countTrainableParams,
} from './zoo/registry.js';
export type { CreateModelOptions, ModelInfo, Family } from './zoo/registry.js';
export * from './zoo/models.js';
export { blockOutputLayer, stageOutputLayer } from './zoo/blocks.js';
export { BatchNorm, Dropout, HardSigmoid, HardSwish, Pad2D, StochasticDepth, withTrainingRandomness } from './zoo/layers.js';

// backend
export { ensureBackend, backendInfo, getBackendName, registerFastKernels } from './backend/index.js';
export type { BackendName, BackendInfo, EnsureBackendOptions } from './backend/index.js';

// inference (BatchNorm folded, activations fused)
export { optimizeForInference } from './inference.js';
export type { InferenceModel, InferenceStats } from './inference.js';

// metrics
export * from './metrics/index.js';

// data (CheXpert CSV, label policies, preprocessing, synthetic phantoms)
export * from './data/index.js';

// weights (PyTorch/safetensors/TF.js readers, manifest of ImageNet weights, preprocessing)
export {
  loadWeights,
  parseCheckpoint,
  WeightsMismatchError,
  // deprecated aliases (documented before issue 13): loadWeights / parseCheckpoint do their jobs
  loadStateDict,
  applyWeights,
  parseTorchCheckpoint,
} from './weights/load.js';
export type { LoadWeightsOptions, LoadWeightsReport, WeightsSource } from './weights/load.js';
export type { ParsedCheckpoint } from './weights/pth.js';
export { parseSafetensors, encodeSafetensors } from './weights/safetensors.js';
export { setWeightsResolver, getWeightsResolver } from './weights/resolver.js';
export type { WeightsRequest, WeightsResolver, ResolvedWeights } from './weights/resolver.js';
export { getWeightsInfo, listWeights, hasWeights, getPreprocessConfig } from './weights/manifest.js';
export type { WeightsInfo, PreprocessSpec, PreprocessConfig, Interpolation } from './weights/manifest.js';
export { preprocess } from './weights/preprocess.js';
export { toStandardArtifacts, fromStandardArtifacts, toStandardTopology, fromStandardTopology } from './weights/portable.js';
export { resizeGray8, rgbToGray8, axisWeights, resizeShorterSide, centerCropOffsets } from './utils/resample.js';
export type { ResampleFilter, AxisWeights } from './utils/resample.js';
export type { PreprocessOptions } from './weights/preprocess.js';
export { WeightsDownloadError, WeightsHashError, fetchBytes, sha256Hex } from './weights/fetch.js';
export type { ProgressCallback } from './weights/fetch.js';
export type { StateDict, TorchTensor } from './weights/remap.js';
export { modelToStateDict } from './weights/remap.js';
export { exportStateDict, toSafetensors } from './weights/export.js';
export type { ExportMetadata } from './weights/export.js';

// training (losses, loop with checkpoint stores, evaluation / ensembles)
export * from './train/index.js';

// truncation (block listing, truncate with a new head, feature extraction, classifier reset, freezing)
export { blocks, truncate, featureExtractor, resetClassifier, freeze, unfreeze } from './truncate.js';
export type { BlockInfo, BlockRef, HeadOptions, TruncateOptions, ResetClassifierOptions, StageInfo, StageRef } from './truncate.js';

// Grad-CAM (class-activation maps of any stage, Node and browsers)
export { gradCam } from './gradcam.js';
export type { GradCamOptions, GradCamResult } from './gradcam.js';

// report figures (SVG scatter plots) and the study (grid, shards, the four CheXtransfer findings, report.md)
export * from './report/index.js';
export * from './study/index.js';
