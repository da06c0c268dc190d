// The public API of both entries, pinned: a new export or a removed one fails here until this list is changed on
// purpose (and README's API table with it). Values are read from the loaded modules; types (which do not exist at
// run time) from the export lists of the entry files.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const INDEX_VALUES = [
  'BatchNorm', 'CHEXPERT_OBSERVATIONS', 'CHEXTRANSFER_PAPER', 'COMPETITION_TASKS', 'DEFAULT_AUGMENT', 'Dropout',
  'HardSigmoid', 'HardSwish', 'IMAGENET_MEAN', 'IMAGENET_STD', 'MemoryCheckpointStore', 'MemoryError', 'Pad2D',
  'STUDY_PRESETS', 'StochasticDepth', 'TRUNCATION_POINTS', 'WeightsDownloadError', 'WeightsHashError',
  'WeightsMismatchError', 'accumulatedGrads', 'activationProfile', 'applyWeights', 'arrayBatchSource', 'auroc',
  'averagePrecision', 'axisWeights', 'backendInfo', 'backendMemoryLimit', 'balancedPosWeights', 'blockOutputLayer',
  'blocks', 'bootstrapCI', 'bootstrapMeanAurocCI', 'buildStudyGrid', 'centerCropOffsets', 'checkpointSegments',
  'checkpointedGrads', 'releasingTape', 'chexpertRootCandidates', 'countParams', 'countTrainableParams', 'createAdam', 'createModel', 'curvesFromMetrics', 'curvesSvg',
  'createStepRunner', 'densenet121', 'densenet169', 'densenet201', 'efficiencyGain', 'efficientnet_b0',
  'efficientnet_b1', 'efficientnet_b2', 'efficientnet_b3', 'encodeSafetensors', 'ensureBackend', 'estimateRunCost',
  'estimateStepBytes', 'evaluate', 'exportStateDict', 'featureExtractor', 'fetchBytes', 'formatChexpertCsv',
  'freeze', 'fromStandardArtifacts', 'fromStandardTopology', 'getBackendName', 'getModelInfo', 'getPreprocessConfig',
  'getStudyPreset', 'getWeightsInfo', 'getWeightsResolver', 'gradCam', 'grayToUnit', 'guardWasmAllocations',
  'hasWeights', 'imagePathInDataset', 'inception_v3', 'inception_v4', 'inferenceBatchLimit', 'kendallTau',
  'labelPrevalence', 'labelTargets', 'largestFittingMicroBatch', 'listModels', 'listWeights', 'loadStateDict',
  'loadTopK', 'loadWeights', 'maskedSigmoidCrossEntropy', 'matchesView', 'mnasnet1_0', 'mobilenet_v2',
  'mobilenet_v3_large', 'mobilenet_v3_small', 'modelToStateDict', 'modelToStateDictAsync', 'normalizeBlanks', 'normalizeUncertainty',
  'optimizeForInference', 'pairedBootstrapMeanAurocTest', 'pairedBootstrapTest', 'parameterEfficiency',
  'parseCheckpoint', 'parseChexpertCsv', 'parseCsv', 'parseSafetensors', 'parseShard', 'parseTorchCheckpoint',
  'perTaskAuroc', 'planCheckpoints', 'planStep', 'prCurve', 'predict', 'preprocess', 'registerFastKernels',
  'releaseWebGPU', 'renderSynthImage', 'renderSynthRegions', 'resetClassifier', 'resizeGray8', 'resizeShorterSide', 'resnet101',
  'resnet18', 'resnet34', 'resnet50', 'resolveShard', 'resolveTasks', 'rgbToGray8', 'rocCurve', 'sampleAugment',
  'scatterSvg', 'scorePredictions', 'setWeightsResolver', 'sha256Hex', 'shardRuns', 'spearman', 'studyReport',
  'studyResults', 'summarizeTruncation', 'synthRecords', 'toOnnx', 'toSafetensors', 'toStandardArtifacts',
  'toStandardTopology', 'train', 'trainStep', 'transformersConfig', 'truncate', 'unfreeze', 'validationFingerprint',
  'withTrainingRandomness',
  'sigmoid', 'opNorm', 'calibratedProbabilities', 'weightsTags', 'findWeightsByTag', 'getOutputInfo',
  // DICOM (issue 24)
  'DicomError', 'MAX_DICOM_PIXELS', 'TRANSFER_SYNTAXES', 'decodeDicom', 'isDicom', 'provideDicomModules',
  'encodeDicom', 'joinMimicTables', 'MIMIC_FILES',
  // any labelled CSV (issue 24)
  'OTHER_TASK_UNCERTAINTY', 'checkTaskNames', 'csvLabelColumns', 'resolveCsvTasks', 'taskUncertainty',
];
const INDEX_TYPES = [
  'ActivationProfile', 'ArrayBatchSourceOptions', 'AugmentOptions', 'AugmentParams', 'AxisWeights', 'BackendInfo',
  'BackendName', 'Batch', 'BatchSource', 'BinaryMetricOptions', 'BlankPolicy', 'BlockInfo', 'BlockRef',
  'BootstrapCIOptions', 'BootstrapOptions', 'BootstrapResult', 'CheckpointPlan', 'CheckpointStore', 'ChexpertRecord',
  'CreateModelOptions', 'CurvesMetrics', 'EncodedWeights', 'EnsembleMetrics', 'EnsureBackendOptions', 'EvaluateOptions',
  'EvaluationResult', 'ExportMetadata', 'Family', 'GradCamOptions', 'GradCamResult', 'HeadOptions', 'InferenceModel',
  'InferenceStats', 'Interpolation', 'KendallResult', 'LabelPolicy', 'LabelValue', 'LoadWeightsOptions',
  'LoadWeightsReport', 'Mask', 'MaskedLossOptions', 'MeanAurocBootstrapResult', 'MemoryOptions', 'ModelInfo',
  'MultiTaskBootstrapOptions', 'NumericArray', 'Observation', 'PairedBootstrapOptions', 'PairedBootstrapResult',
  'OnnxExportOptions', 'ParsedCheckpoint', 'PerTaskAuroc', 'PerTaskOptions', 'PrCurve', 'PredictOptions', 'Predictions',
  'PreprocessConfig', 'PreprocessOptions', 'PreprocessSpec', 'ProgressCallback', 'ResampleFilter',
  'ResetClassifierOptions', 'ResolvedWeights', 'RocCurve', 'RunPredictions', 'SavedCheckpoint', 'ScatterOptions',
  'ScatterPoint', 'Segment', 'ShardSpec', 'SpearmanResult', 'StageInfo', 'StageRef', 'StateDict', 'Statistic',
  'StepBatch', 'StepInfo', 'StepPlan', 'StepRunner', 'StudyBoostRow', 'StudyFindings', 'StudyGridOptions',
  'StudyInit', 'StudyPairTest', 'StudyPreset', 'StudyReportFiles', 'StudyReportOptions', 'StudyResults', 'StudyResultsOptions', 'StudyRho',
  'StudyRunResult', 'StudyRunSpec', 'StudySeedSpread', 'StudySkipped', 'StudyTruncationRow', 'SynthImage',
  'SynthRecord', 'SynthRegionTask', 'SynthSplit', 'SynthTruth', 'TopKEntry', 'TorchTensor', 'TrainData',
  'TrainOptions', 'TrainResult', 'TrainState', 'TrainTensors', 'TrainingCurves', 'TransformersConfigOptions', 'TruncateOptions', 'TruncationComparison',
  'TruncationRow', 'TruncationSummary', 'UncertaintyPolicy', 'ValidationRecord', 'ViewFilter', 'ViewName',
  'WeightsInfo', 'WeightsRequest', 'WeightsResolver', 'WeightsSource',
  'ModuleInfo', 'OutputInfo',
  // DICOM (issue 24)
  'DecodeDicomOptions', 'DicomImage', 'DicomModules', 'DicomTags', 'IntensityApplied', 'IntensityPolicy', 'TransferSyntax',
  'WebGPUAdapterReport',
  'EncodeDicomOptions', 'WritableSyntax', 'MimicSplit', 'MimicTables',
  'LabelledRecord',
];
/** What src/node.ts adds to the browser-safe API (it re-exports all of src/index.ts). */
const NODE_VALUES = [
  'FileCheckpointStore', 'MAX_INPUT_PIXELS', 'RUN_CURVES', 'RunLockedError', 'SYNTH_DEFAULTS', 'TRAIN_DEFAULTS', 'acquireRunLock',
  'cachePath', 'checkChexpertFolder', 'createProgressBar', 'createTrainProgress', 'decodeGray', 'downloadPretrained',
  'downloadWeights', 'downloadWeightsBytes', 'encodeGrayJpeg', 'evaluateRun', 'fileLoadHandler', 'findChexpertCsv',
  'findRunFolders', 'getCacheDir', 'hashFile', 'imageSize', 'installNodeWeightsResolver', 'isOffline', 'kernelFor',
  'loadChexpert', 'loadImage', 'loadModel', 'nodeWeightsResolver', 'readModelArtifacts', 'readRunConfig',
  'readRunCurves', 'readStudyRun', 'resizeGray', 'resolveRunConfig', 'runModelDirs', 'runStudy', 'saveModel', 'saveOnnx', 'saveSafetensors',
  'saveTransformersJs', 'studyParams', 'studySettings', 'trainRun', 'writeRunCurves', 'writeStudyReport', 'writeSynthDataset',
  // dataset layouts (issue 24)
  'checkDataFolder', 'detectDataLayout', 'loadDataset', 'loadLabelledCsv', 'loadMimicCxr', 'resolveDataTasks',
];
const NODE_TYPES = [
  'ChexpertBatch', 'ChexpertDataset', 'ChexpertLoadOptions', 'DecodeOptions', 'DownloadOptions',
  'EvaluateRunOptions', 'EvaluateRunResult', 'FileCheckpointStoreOptions', 'GrayImage', 'ImageOptions',
  'ProgressBar', 'ProgressBarOptions', 'ResizeKernel', 'ResizeMode', 'RunConfig', 'RunLock', 'RunMetrics',
  'RunPredictionsFile', 'RunPreprocess', 'SaveModelOptions', 'SkippedReport', 'StudyOptions', 'StudyOutcome',
  'StudyRunRead', 'SynthDatasetInfo', 'SynthDatasetOptions', 'TrainProgress', 'TrainRunControl', 'TrainRunOptions',
  'TrainRunOutcome',
  // dataset layouts and DICOM in the image path (issue 24)
  'DataLayout', 'DatasetLoadOptions', 'DetectedLayout', 'DicomReadOptions', 'SynthFormat', 'SynthLayout',
];

const sorted = (a: readonly string[]) => [...a].sort();

/**
 * Names an entry file exports (following `export *` of local files), read syntactically: both entries list every
 * export by name, so what is not a run-time value is a type.
 */
function declaredExports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  const names: string[] = [];
  for (const st of sf.statements) {
    if (!ts.isExportDeclaration(st)) continue;
    if (!st.exportClause) {
      const spec = (st.moduleSpecifier as ts.StringLiteral).text;
      names.push(...declaredExports(join(dirname(file), spec.replace(/\.js$/, '.ts'))));
    } else if (ts.isNamedExports(st.exportClause)) {
      names.push(...st.exportClause.elements.map((e) => e.name.text));
    }
  }
  return names;
}

describe('public API', () => {
  it('the browser-safe entry exports exactly the listed values', async () => {
    const api = await import('../src/index.js');
    expect(sorted(Object.keys(api))).toEqual(sorted(INDEX_VALUES));
  });

  it('the Node entry exports the browser-safe values plus exactly the listed Node values', async () => {
    const api = await import('../src/node.js');
    expect(sorted(Object.keys(api))).toEqual(sorted([...INDEX_VALUES, ...NODE_VALUES]));
  });

  it('internals stay out of the public API', async () => {
    const api = (await import('../src/node.js')) as Record<string, unknown>;
    for (const name of ['channelStats', 'normalizeInto', 'escapeXml', 'SYNTH_MAX_IMAGES', 'SYNTH_DATASET_FOLDER', 'runTrain', 'runEval', 'runSynth', 'stageOutputLayer']) {
      expect(api[name], name).toBeUndefined();
    }
  });

  it('both entries export exactly the listed types', async () => {
    for (const [file, values, types] of [
      ['src/index.ts', INDEX_VALUES, INDEX_TYPES],
      ['src/node.ts', [...INDEX_VALUES, ...NODE_VALUES], [...INDEX_TYPES, ...NODE_TYPES]],
    ] as const) {
      const names = declaredExports(file);
      expect(new Set(names).size, `${file}: a name exported twice`).toBe(names.length);
      expect(sorted(names.filter((n) => !values.includes(n))), file).toEqual(sorted(types));
    }
  });
});
