// Metrics: browser-safe, pure TypeScript on number arrays / typed arrays (no tensors).

export { auroc, averagePrecision, rocCurve, prCurve, perTaskAuroc } from './auroc.js';
export type {
  BinaryMetricOptions,
  Mask,
  NumericArray,
  PerTaskAuroc,
  PerTaskOptions,
  PrCurve,
  RocCurve,
} from './auroc.js';
export {
  bootstrapCI,
  bootstrapMeanAurocCI,
  pairedBootstrapTest,
  pairedBootstrapMeanAurocTest,
} from './bootstrap.js';
export type {
  BootstrapCIOptions,
  BootstrapOptions,
  BootstrapResult,
  MeanAurocBootstrapResult,
  MultiTaskBootstrapOptions,
  PairedBootstrapOptions,
  PairedBootstrapResult,
  Statistic,
} from './bootstrap.js';
export { spearman, kendallTau } from './correlation.js';
export type { KendallResult, SpearmanResult } from './correlation.js';
export { parameterEfficiency, efficiencyGain, summarizeTruncation } from './efficiency.js';
export type { TruncationComparison, TruncationRow, TruncationSummary } from './efficiency.js';
