// Training curves of one run as a plain SVG (browser-safe: data in, string out), drawn with the scatter plot's
// frame, axes and legend (src/report/svg.ts): the training loss on top, the validation AUROC (mean and per task)
// below, on one step axis, with the checkpoints kept by top-k ringed.
import { axesSvg, escapeXml, fmtDefault, legendSvg, PALETTE, plotFrame, type PlotFrame } from './svg.js';

/** What a run's curves show: everything comes from its metrics.json ({@link curvesFromMetrics}). */
export interface TrainingCurves {
  /** Mean training loss over each logging interval, as [step, loss]. */
  loss: [number, number][];
  /** Each validation: its step, mean AUROC and per-task AUROC (null where undefined, e.g. one class only). */
  validations: { step: number; meanAuroc: number | null; perTask?: Record<string, number | null> }[];
  /** Steps of the checkpoints kept by top-k. */
  topK: number[];
}

/** The parts of RUN/metrics.json the curves read (older run folders lack `lossHistory` and per-task validations). */
export interface CurvesMetrics {
  lossHistory?: [number, number][];
  validations: { step: number; meanAuroc: number | null; trainLoss?: number | null; perTask?: Record<string, number | null> }[];
  topK: { step: number }[];
}

/**
 * The curves of a run from its metrics.json. Without a `lossHistory` (run folders written before it existed) the
 * loss is the mean training loss between validations that each validation records.
 * @example const curves = curvesFromMetrics(JSON.parse(await readFile('RUN/metrics.json', 'utf8')));
 */
export function curvesFromMetrics(m: CurvesMetrics): TrainingCurves {
  const loss = m.lossHistory ?? m.validations.flatMap((v): [number, number][] => (typeof v.trainLoss === 'number' ? [[v.step, v.trainLoss]] : []));
  return {
    loss: loss.filter(([s, l]) => Number.isFinite(s) && Number.isFinite(l)),
    validations: m.validations.map((v) => ({ step: v.step, meanAuroc: v.meanAuroc, ...(v.perTask ? { perTask: v.perTask } : {}) })),
    topK: m.topK.map((e) => e.step),
  };
}

const MEAN = '#000000';
const LOSS = '#0072B2';
const TOP_K = '#D55E00';
// task colours: the palette without the colours of the loss, the mean and the top-k rings, and without its yellow
// (too faint for a thin line on white), then two more of Paul Tol's colour-blind-safe set
const TASK_COLORS = [...PALETTE.filter((c) => ![MEAN, LOSS, TOP_K, '#F0E442'].includes(c)), '#882255', '#999933'];
const isNum = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** A polyline through the finite points, in the frame's pixels (nothing when fewer than one point). */
function polyline(f: PlotFrame, pts: [number, number][], attrs: string): string[] {
  const ok = pts.filter(([x, y]) => isNum(x) && isNum(y));
  if (ok.length === 0) return [];
  return [`<polyline ${attrs} fill="none" points="${ok.map(([x, y]) => `${f.sx(x)},${f.sy(y)}`).join(' ')}"/>`];
}

/** Top panel: the training loss against steps. */
function lossPanel(c: TrainingCurves, steps: number[], title: string, width: number): string[] {
  const f = plotFrame(steps, c.loss.map(([, l]) => l), { width, height: 280, title: true, legend: true });
  return [
    ...axesSvg(f, { title, xLabel: 'step', yLabel: 'training loss', formatX: fmtDefault, formatY: fmtDefault, y: 0 }),
    ...polyline(f, c.loss, `class="loss" stroke="${LOSS}" stroke-width="1.5"`),
    ...legendSvg(f, [['training loss', LOSS]]),
    '</svg>',
  ];
}

/** Bottom panel: validation AUROC per task (thin lines), the mean (thick, with markers), top-k checkpoints ringed. */
function aurocPanel(c: TrainingCurves, steps: number[], width: number, y: number): string[] {
  const tasks = [...new Set(c.validations.flatMap((v) => Object.keys(v.perTask ?? {})))];
  const color = new Map(tasks.map((t, i) => [t, TASK_COLORS[i % TASK_COLORS.length]!]));
  const values = c.validations.flatMap((v) => [v.meanAuroc, ...Object.values(v.perTask ?? {})]).filter(isNum);
  const f = plotFrame(steps, values, { width, height: 300, title: true, legend: true });
  const out = axesSvg(f, { title: 'Validation AUROC (rings: checkpoints kept by top-k)', xLabel: 'step', yLabel: 'validation AUROC', formatX: fmtDefault, formatY: fmtDefault, y });
  for (const t of tasks) {
    const pts = c.validations.map((v): [number, number] => [v.step, v.perTask?.[t] ?? Number.NaN]);
    out.push(...polyline(f, pts, `class="task" data-task="${escapeXml(t)}" stroke="${color.get(t)}" stroke-width="1" stroke-opacity="0.8"`));
  }
  const mean = c.validations.filter((v) => isNum(v.meanAuroc)).map((v): [number, number] => [v.step, v.meanAuroc!]);
  out.push(...polyline(f, mean, `class="mean-auroc" stroke="${MEAN}" stroke-width="2"`));
  for (const [s, a] of mean) {
    out.push(`<circle class="mean-auroc" cx="${f.sx(s)}" cy="${f.sy(a)}" r="3" fill="${MEAN}"><title>step ${s}: mean AUROC ${a.toFixed(4)}</title></circle>`);
  }
  for (const [s, a] of mean.filter(([s]) => c.topK.includes(s))) {
    out.push(`<circle class="top-k" cx="${f.sx(s)}" cy="${f.sy(a)}" r="7" fill="none" stroke="${TOP_K}" stroke-width="2"><title>kept by top-k: step ${s}, mean AUROC ${a.toFixed(4)}</title></circle>`);
  }
  if (mean.length === 0) out.push(`<text x="${f.m.left + 8}" y="${f.m.top + 16}">no validation results</text>`);
  out.push(...legendSvg(f, [['mean AUROC', MEAN], ...tasks.map((t): [string, string] => [t, color.get(t)!]), ['top-k kept', TOP_K]]), '</svg>');
  return out;
}

/**
 * Renders a run's training curves as a standalone SVG document: the training loss against steps on top, the
 * validation mean AUROC (with markers) and per-task AUROC below on the same step axis, and a ring on each checkpoint
 * the top-k ensemble kept.
 * @example const svg = curvesSvg(curvesFromMetrics(metrics), { title: 'resnet18.random.full.s0' });
 */
export function curvesSvg(c: TrainingCurves, options: { title?: string; width?: number } = {}): string {
  const width = options.width ?? 640;
  // one step axis for both panels
  const steps = [...c.loss.map(([s]) => s), ...c.validations.map((v) => v.step)].filter(isNum);
  const top = lossPanel(c, steps, options.title ? `${options.title}: training loss` : 'Training loss', width);
  const bottom = aurocPanel(c, steps, width, 280);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="580" viewBox="0 0 ${width} 580" font-family="sans-serif" font-size="11">`,
    ...top,
    ...bottom,
    '</svg>',
  ].join('\n') + '\n';
}
