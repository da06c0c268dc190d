// Node-only entry: `import { ... } from '@chexzoo/models/node'`. Everything here lives under src/node/ (file IO,
// downloads, sharp decoding, run folders); the CLI (src/cli/) only parses arguments and calls these functions.
// It re-exports the whole browser-safe API of src/index.ts (whose names are listed there, one source), plus the
// names below; test/exports.test.ts pins both lists.
export * from './index.js';

// data (sharp decoding, datasets on disk, synthetic dataset writer)
export { decodeGray, resizeGray, kernelFor, loadImage, encodeGrayJpeg, imageSize, MAX_INPUT_PIXELS } from './node/data/images.js';
export type { DecodeOptions, ImageOptions, GrayImage, ResizeMode, ResizeKernel } from './node/data/images.js';
export { loadChexpert, findChexpertCsv } from './node/data/dataset.js';
export type { ChexpertLoadOptions, ChexpertBatch, ChexpertDataset, SkippedReport } from './node/data/dataset.js';
export { writeSynthDataset, SYNTH_DEFAULTS } from './node/data/synth-node.js';
export type { SynthDatasetOptions, SynthDatasetInfo } from './node/data/synth-node.js';
// dataset layouts (CheXpert, MIMIC-CXR-JPG, MIMIC-CXR DICOM, labelled CSV) and DICOM in the image path (issue 24)
export { loadDataset, loadMimicCxr, loadLabelledCsv, detectDataLayout, checkDataFolder, resolveDataTasks } from './node/data/layouts.js';
export type { DataLayout, DetectedLayout, DatasetLoadOptions } from './node/data/layouts.js';
export type { DicomReadOptions } from './node/data/dicom-image.js';
export type { SynthFormat, SynthLayout } from './node/data/synth-encode.js';

// weights (file paths, download cache + offline mode, save/load models on disk).
// Importing this entry installs the Node weights resolver, so loadWeights/createModel accept paths.
import { installNodeWeightsResolver } from './node/weights/fetch-node.js';
installNodeWeightsResolver();
export { saveModel, loadModel, readModelArtifacts, fileLoadHandler } from './node/weights/fs-io.js';
export type { SaveModelOptions } from './node/weights/fs-io.js';
export {
  downloadWeights,
  downloadWeightsBytes,
  cachePath,
  downloadPretrained,
  getCacheDir,
  isOffline,
  hashFile,
  nodeWeightsResolver,
  installNodeWeightsResolver,
} from './node/weights/fetch-node.js';
export type { DownloadOptions } from './node/weights/fetch-node.js';
export { saveSafetensors } from './node/weights/export-node.js';
export { saveOnnx, saveTransformersJs } from './node/onnx.js';

// progress on a terminal or in a log (downloads, training)
export { createProgressBar, createTrainProgress } from './node/progress.js';
export type { ProgressBar, ProgressBarOptions, TrainProgress } from './node/progress.js';

// training runs in run folders (what `chexzoo train` / `chexzoo eval` do): checkpoints on disk, the run lock
export { FileCheckpointStore } from './node/train/checkpoints.js';
export type { FileCheckpointStoreOptions } from './node/train/checkpoints.js';
export { acquireRunLock, RunLockedError } from './node/train/lock.js';
export type { RunLock } from './node/train/lock.js';
export { TRAIN_DEFAULTS, resolveRunConfig, trainRun, readRunConfig, runModelDirs, evaluateRun } from './node/train/run.js';
export type {
  RunConfig,
  RunPreprocess,
  RunMetrics,
  RunPredictionsFile,
  TrainRunOptions,
  TrainRunControl,
  TrainRunOutcome,
  EvaluateRunOptions,
  EvaluateRunResult,
} from './node/train/run.js';

// the study on disk (`chexzoo study`, `chexzoo report`, `npm run reproduce`)
export { writeRunCurves, readRunCurves, RUN_CURVES } from './node/train/curves.js';
export { runStudy, writeStudyReport, readStudyRun, findRunFolders, checkChexpertFolder, studyParams, studySettings } from './node/study/run.js';
export type { StudyOptions, StudyOutcome, StudyRunRead } from './node/study/run.js';
