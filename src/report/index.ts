// Study reports: browser-safe (strings in, strings out); `chexzoo report` (src/cli/report.ts) adds the file IO.
export { studyReport, CHEXTRANSFER_PUBLISHED } from './study.js';
export type { StudyRow, StudyReport, StudyReportOptions, StudyCorrelation, TruncationPair } from './study.js';
export { scatterSvg, escapeXml } from './svg.js';
export type { ScatterPoint, ScatterOptions } from './svg.js';
