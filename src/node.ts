// Node-only entry: `import { ... } from '@chexzoo/models/node'`. Re-exports the whole browser-safe API too.
export * from './index.js';

// data (sharp decoding, datasets on disk, synthetic dataset writer, `chexzoo synth`)
export { decodeGray, resizeGray, kernelFor, loadImage, encodeGrayJpeg, imageSize, MAX_INPUT_PIXELS } from './node/data/images.js';
export type { DecodeOptions, ImageOptions, GrayImage, ResizeMode, ResizeKernel } from './node/data/images.js';
export { loadChexpert, findChexpertCsv } from './node/data/dataset.js';
export type { ChexpertLoadOptions, ChexpertBatch, ChexpertDataset, SkippedReport } from './node/data/dataset.js';
export { writeSynthDataset, SYNTH_DEFAULTS } from './node/data/synth-node.js';
export type { SynthDatasetOptions, SynthDatasetInfo } from './node/data/synth-node.js';
export { runSynth } from './cli/synth.js';

// weights (file paths, download cache + offline mode, save/load models on disk, CLI progress bar).
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
export { createProgressBar } from './node/progress.js';
export type { ProgressBar, ProgressBarOptions } from './node/progress.js';

// training (checkpoints on disk, `chexzoo train` / `chexzoo eval`)
export { FileCheckpointStore } from './node/train/checkpoints.js';
export type { FileCheckpointStoreOptions } from './node/train/checkpoints.js';
export { createTrainProgress } from './train/progress.js';
export type { TrainProgress, TrainProgressOptions } from './train/progress.js';
export { runTrain, TRAIN_DEFAULTS } from './cli/train.js';
export type { RunConfig, RunPredictionsFile, RunTrainHooks } from './cli/train.js';
export { runEval } from './cli/eval.js';

// the study on disk (`chexzoo study`, `chexzoo report`, `npm run reproduce`)
export { runStudy, writeStudyReport, readStudyRun, findRunFolders, checkChexpertFolder, studyParams, studySettings } from './node/study/run.js';
export type { StudyOptions, StudyOutcome, StudyRunRead } from './node/study/run.js';
export { runStudyCli } from './cli/study.js';
export { runReport } from './cli/report.js';
export { acquireRunLock, RunLockedError } from './node/train/lock.js';
export type { RunLock } from './node/train/lock.js';
