// Browser-safe public API: nothing reachable from here may import fs, path, sharp or process-only code (no module
// under src/node/ or src/cli/; test/package.test.ts checks it). Every export is named here: test/exports.test.ts
// pins the list, so a new export or a removal is a deliberate change (README's API table lists them).
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
export {
  resnet18,
  resnet34,
  resnet50,
  resnet101,
  densenet121,
  densenet169,
  densenet201,
  efficientnet_b0,
  efficientnet_b1,
  efficientnet_b2,
  efficientnet_b3,
  mobilenet_v2,
  mobilenet_v3_large,
  mobilenet_v3_small,
  mnasnet1_0,
  inception_v3,
  inception_v4,
} from './zoo/models.js';
export { blockOutputLayer } from './zoo/blocks.js';
export { BatchNorm, Dropout, HardSigmoid, HardSwish, Pad2D, StochasticDepth, withTrainingRandomness } from './zoo/layers.js';

// backend
export { ensureBackend, backendInfo, getBackendName, registerFastKernels, releaseWebGPU } from './backend/index.js';
export type { BackendName, BackendInfo, EnsureBackendOptions, WebGPUAdapterReport } from './backend/index.js';

// inference (BatchNorm folded, activations fused)
export { optimizeForInference } from './inference.js';
export type { InferenceModel, InferenceStats } from './inference.js';

// metrics
export { auroc, averagePrecision, rocCurve, prCurve, perTaskAuroc } from './metrics/auroc.js';
export type { BinaryMetricOptions, Mask, NumericArray, PerTaskAuroc, PerTaskOptions, PrCurve, RocCurve } from './metrics/auroc.js';
export { bootstrapCI, bootstrapMeanAurocCI, pairedBootstrapTest, pairedBootstrapMeanAurocTest } from './metrics/bootstrap.js';
export type {
  BootstrapCIOptions,
  BootstrapOptions,
  BootstrapResult,
  MeanAurocBootstrapResult,
  MultiTaskBootstrapOptions,
  PairedBootstrapOptions,
  PairedBootstrapResult,
  Statistic,
} from './metrics/bootstrap.js';
export { spearman, kendallTau } from './metrics/correlation.js';
export type { KendallResult, SpearmanResult } from './metrics/correlation.js';
export { parameterEfficiency, efficiencyGain, summarizeTruncation } from './metrics/efficiency.js';
export type { TruncationComparison, TruncationRow, TruncationSummary } from './metrics/efficiency.js';

// data (CheXpert CSV, label policies, preprocessing, synthetic phantoms)
export {
  CHEXPERT_OBSERVATIONS,
  COMPETITION_TASKS,
  parseChexpertCsv,
  formatChexpertCsv,
  parseCsv,
  labelTargets,
  normalizeUncertainty,
  normalizeBlanks,
  resolveTasks,
  matchesView,
  chexpertRootCandidates,
  imagePathInDataset,
  taskUncertainty,
  OTHER_TASK_UNCERTAINTY,
} from './data/chexpert.js';
// any labelled CSV's task names (issue 24)
export { resolveCsvTasks, csvLabelColumns, checkTaskNames } from './data/labels.js';
export type {
  Observation,
  LabelValue,
  ChexpertRecord,
  LabelledRecord,
  UncertaintyPolicy,
  BlankPolicy,
  ViewName,
  ViewFilter,
  LabelPolicy,
} from './data/chexpert.js';
export { IMAGENET_MEAN, IMAGENET_STD, DEFAULT_AUGMENT, sampleAugment, grayToUnit } from './data/augment.js';
export type { AugmentOptions, AugmentParams } from './data/augment.js';
export { synthRecords, renderSynthImage, renderSynthRegions, labelPrevalence } from './data/synth.js';
export type { SynthSplit, SynthTruth, SynthRecord, SynthImage, SynthRegionTask } from './data/synth.js';

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
export type { ModuleInfo } from './weights/modules.js';
export { parseSafetensors, encodeSafetensors } from './weights/safetensors.js';
export { setWeightsResolver, getWeightsResolver } from './weights/resolver.js';
export type { WeightsRequest, WeightsResolver, ResolvedWeights } from './weights/resolver.js';
export { getWeightsInfo, listWeights, hasWeights, getPreprocessConfig, weightsTags, findWeightsByTag } from './weights/manifest.js';
export { getOutputInfo } from './weights/outputs.js';
export type { OutputInfo } from './weights/outputs.js';
export type { WeightsInfo, PreprocessSpec, PreprocessConfig, Interpolation } from './weights/manifest.js';
export { preprocess } from './weights/preprocess.js';
export { toStandardArtifacts, fromStandardArtifacts, toStandardTopology, fromStandardTopology } from './weights/portable.js';
export { resizeGray8, rgbToGray8, axisWeights, resizeShorterSide, centerCropOffsets } from './utils/resample.js';
export type { ResampleFilter, AxisWeights } from './utils/resample.js';
export type { PreprocessOptions } from './weights/preprocess.js';
export { WeightsDownloadError, WeightsHashError, fetchBytes, sha256Hex } from './weights/fetch.js';
export type { ProgressCallback } from './weights/fetch.js';
export type { StateDict, TorchTensor } from './weights/remap.js';
export { modelToStateDict, modelToStateDictAsync } from './weights/remap.js';
export { exportStateDict, toSafetensors } from './weights/export.js';

// calibrated outputs (torchxrayvision's operating points)
export { sigmoid, opNorm, calibratedProbabilities } from './calibration.js';
export type { ExportMetadata } from './weights/export.js';
export { toOnnx, transformersConfig } from './onnx/index.js';
export type { OnnxExportOptions, TransformersConfigOptions } from './onnx/index.js';

// training (losses, loop with checkpoint stores, evaluation / ensembles)
export { maskedSigmoidCrossEntropy, balancedPosWeights } from './train/losses.js';
export type { MaskedLossOptions } from './train/losses.js';
export { train, loadTopK } from './train/loop.js';
export type { TrainData, TrainTensors, TrainOptions, TrainResult, StepInfo, EnsembleMetrics } from './train/loop.js';
export { trainStep, createAdam } from './train/step.js';
export type { StepBatch } from './train/step.js';
export { evaluate, predict, scorePredictions, arrayBatchSource } from './train/evaluate.js';
export type {
  Batch,
  BatchSource,
  ArrayBatchSourceOptions,
  Predictions,
  PredictOptions,
  EvaluateOptions,
  EvaluationResult,
} from './train/evaluate.js';
export { MemoryCheckpointStore } from './train/state.js';
export type { CheckpointStore, SavedCheckpoint, TrainState, TopKEntry, ValidationRecord, EncodedWeights } from './train/state.js';
export {
  planStep,
  estimateStepBytes,
  activationProfile,
  inferenceBatchLimit,
  largestFittingMicroBatch,
  backendMemoryLimit,
  guardWasmAllocations,
  MemoryError,
} from './train/memory.js';
export type { MemoryOptions, StepPlan, ActivationProfile } from './train/memory.js';
export { createStepRunner, accumulatedGrads } from './train/accumulate.js';
export type { StepRunner } from './train/accumulate.js';
export { checkpointSegments, planCheckpoints, checkpointedGrads, releasingTape } from './zoo/checkpointing.js';
export type { Segment, CheckpointPlan } from './zoo/checkpointing.js';

// truncation (block listing, truncate with a new head, feature extraction, classifier reset, freezing)
export { blocks, truncate, featureExtractor, resetClassifier, freeze, unfreeze } from './truncate.js';
export type { BlockInfo, BlockRef, HeadOptions, TruncateOptions, ResetClassifierOptions, StageInfo, StageRef } from './truncate.js';

// Grad-CAM (class-activation maps of any stage, Node and browsers)
export { gradCam } from './gradcam.js';
export type { GradCamOptions, GradCamResult } from './gradcam.js';

// report figures (SVG scatter plots) and the study (grid, shards, the four CheXtransfer findings, report.md)
export { scatterSvg } from './report/svg.js';
export type { ScatterPoint, ScatterOptions } from './report/svg.js';
export { curvesSvg, curvesFromMetrics } from './report/curves.js';
export type { TrainingCurves, CurvesMetrics } from './report/curves.js';
export {
  STUDY_PRESETS,
  TRUNCATION_POINTS,
  buildStudyGrid,
  getStudyPreset,
  estimateRunCost,
  parseShard,
  resolveShard,
  shardRuns,
} from './study/grid.js';
export type { StudyPreset, StudyInit, StudyRunSpec, StudyGridOptions, ShardSpec } from './study/grid.js';
export { studyResults, studyReport, validationFingerprint, CHEXTRANSFER_PAPER } from './study/findings.js';
export type {
  RunPredictions,
  StudyRunResult,
  StudySkipped,
  StudyFindings,
  StudyResults,
  StudyResultsOptions,
  StudyReportFiles,
  StudyReportOptions,
  StudyRho,
  StudySeedSpread,
  StudyPairTest,
  StudyBoostRow,
  StudyTruncationRow,
} from './study/findings.js';

// clinical images: DICOM Part 10 to grey pixels (intensity as pydicom), the hook for bundled codecs (src/dicom/)
export { decodeDicom, isDicom, DicomError, provideDicomModules, MAX_DICOM_PIXELS, TRANSFER_SYNTAXES } from './dicom/index.js';
export type { DecodeDicomOptions, DicomImage, DicomTags, DicomModules, IntensityApplied, IntensityPolicy, TransferSyntax } from './dicom/index.js';
export { encodeDicom } from './dicom/write.js';
export type { EncodeDicomOptions, WritableSyntax } from './dicom/write.js';
// MIMIC-CXR's tables joined into CheXpert-shaped records (src/data/mimic.ts)
export { joinMimicTables, MIMIC_FILES } from './data/mimic.js';
export type { MimicSplit, MimicTables } from './data/mimic.js';
