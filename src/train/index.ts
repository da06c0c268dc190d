// Browser-safe training API (the file checkpoint store and CLI runners are in src/node.ts).
export { maskedSigmoidCrossEntropy, balancedPosWeights } from './losses.js';
export type { MaskedLossOptions } from './losses.js';
export { train, loadTopK } from './loop.js';
export { trainStep, createAdam, ADAM } from './step.js';
export type { StepBatch } from './step.js';
export type { TrainData, TrainTensors, TrainOptions, TrainResult, StepInfo, EnsembleMetrics } from './loop.js';
export { evaluate, predict, scorePredictions, arrayBatchSource } from './evaluate.js';
export type { Batch, BatchSource, ArrayBatchSourceOptions, Predictions, PredictOptions, EvaluateOptions, EvaluationResult } from './evaluate.js';
export { MemoryCheckpointStore, modelArtifacts, restoreModelWeights, encodeOptimizer, restoreOptimizer } from './state.js';
export type { CheckpointStore, SavedCheckpoint, TrainState, TopKEntry, ValidationRecord, EncodedWeights } from './state.js';
export { planStep, estimateStepBytes, activationProfile, inferenceBatchLimit, largestFittingMicroBatch, backendMemoryLimit, guardWasmAllocations, MemoryError, WASM_MEMORY_CAP } from './memory.js';
export type { MemoryOptions, StepPlan, ActivationProfile } from './memory.js';
export { createStepRunner, accumulatedGrads } from './accumulate.js';
export type { StepRunner } from './accumulate.js';
export { checkpointSegments, planCheckpoints, checkpointedGrads, releasingTape } from '../zoo/checkpointing.js';
export type { Segment, CheckpointPlan } from '../zoo/checkpointing.js';
