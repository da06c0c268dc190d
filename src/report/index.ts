// SVG figures for study reports (browser-safe: strings out). The study analysis itself lives in src/study/.
export { scatterSvg, escapeXml } from './svg.js';
export type { ScatterPoint, ScatterOptions } from './svg.js';
