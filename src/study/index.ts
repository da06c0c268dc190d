// The study: grid, shards and findings are browser-safe; running it (src/node/study/run.ts) is Node-only.
export {
  STUDY_PRESETS,
  TRUNCATION_POINTS,
  buildStudyGrid,
  getStudyPreset,
  estimateRunCost,
  parseShard,
  resolveShard,
  shardRuns,
} from './grid.js';
export type { StudyPreset, StudyInit, StudyRunSpec, StudyGridOptions, ShardSpec } from './grid.js';
export { studyResults, studyReport, validationFingerprint, CHEXTRANSFER_PAPER } from './findings.js';
export type {
  RunPredictions,
  StudyRunResult,
  StudySkipped,
  StudyFindings,
  StudyResults,
  StudyResultsOptions,
  StudyReportFiles,
  StudyRho,
  StudySeedSpread,
  StudyPairTest,
  StudyBoostRow,
  StudyTruncationRow,
} from './findings.js';
