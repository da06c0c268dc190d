// Seeded nonparametric bootstrap (percentile intervals) for AUROC-type statistics, single- and multi-task,
// and a paired bootstrap test of two models scored on the same cases.

import { randInt, rng } from '../utils/rng.js';
import {
  auroc,
  averagePrecision,
  rankCases,
  taskColumns,
  weightedAuroc,
  weightedAveragePrecision,
  type PerTaskOptions,
  type RankedCases,
} from './auroc.js';
import { checkBinaryInputs, quantileSorted, type Mask, type NumericArray } from './internal.js';

/** A statistic of binary labels and scores; NaN means "undefined for this sample" (e.g. a single class). */
export type Statistic = (labels: NumericArray, scores: NumericArray) => number;

/** Resampling options. */
export interface BootstrapOptions {
  /** Number of bootstrap replicates (default 1000). */
  n?: number;
  /** Seed of the resampling RNG (default 0); the same seed gives the same resamples. */
  seed?: number;
  /** Two-sided level: the interval covers 1 - alpha (default 0.05 -> 95 %). */
  alpha?: number;
}

/** Options of {@link bootstrapCI}. */
export interface BootstrapCIOptions extends BootstrapOptions {
  /** Statistic to bootstrap (default {@link auroc}); it receives the resampled, unmasked cases. */
  statistic?: Statistic;
  /** Per-case inclusion mask; masked-out cases are dropped before resampling. */
  mask?: Mask;
}

/** A percentile bootstrap confidence interval. */
export interface BootstrapResult {
  /** The statistic on the original cases. */
  estimate: number;
  /** alpha/2 percentile of the replicates. */
  lower: number;
  /** 1 - alpha/2 percentile of the replicates. */
  upper: number;
  /** Replicates drawn; `n - skipped` of them entered the percentiles. */
  n: number;
  /** Replicates where the statistic was undefined (e.g. a resample with a single class), left out. */
  skipped: number;
}

/** Result of {@link bootstrapMeanAurocCI}. */
export interface MeanAurocBootstrapResult extends BootstrapResult {
  /** Per-task intervals from the same joint resamples (each skipping only its own undefined replicates). */
  perTask: Record<string, BootstrapResult>;
  /** Tasks left out because AUROC is undefined on the original cases (single class). */
  undefinedTasks: string[];
}

/** Result of a paired bootstrap comparison. */
export interface PairedBootstrapResult {
  /** statistic(A) - statistic(B) on the original cases. */
  diff: number;
  /** alpha/2 percentile of the replicate differences. */
  lower: number;
  /** 1 - alpha/2 percentile of the replicate differences. */
  upper: number;
  /** Two-sided p-value for "no difference": min(1, 2 (1 + min(#{d* <= 0}, #{d* >= 0})) / (B + 1)). */
  pValue: number;
  /** Replicates drawn. */
  n: number;
  /** Replicates where either statistic was undefined, left out. */
  skipped: number;
}

interface ResolvedOptions {
  n: number;
  seed: number;
  alpha: number;
}

function resolveOptions(o: BootstrapOptions, fn: string): ResolvedOptions {
  const n = o.n ?? 1000;
  const seed = o.seed ?? 0;
  const alpha = o.alpha ?? 0.05;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${fn}: n must be a positive integer number of replicates, got ${n}.`);
  if (!Number.isInteger(seed)) throw new Error(`${fn}: seed must be an integer, got ${seed}.`);
  if (!(alpha > 0 && alpha < 1)) throw new Error(`${fn}: alpha must be between 0 and 1 (0.05 gives a 95% interval), got ${alpha}.`);
  return { n, seed, alpha };
}

function interval(values: number[], alpha: number): [number, number] {
  const sorted = Float64Array.from(values).sort();
  return [quantileSorted(sorted, alpha / 2), quantileSorted(sorted, 1 - alpha / 2)];
}

function summarize(estimate: number, values: number[], o: ResolvedOptions): BootstrapResult {
  const [lower, upper] = interval(values, o.alpha);
  return { estimate, lower, upper, n: o.n, skipped: o.n - values.length };
}

/**
 * Evaluates a statistic on the original cases and on each resample. The two built-in statistics use one sort
 * and per-case multiplicities; any other statistic gets materialized resampled arrays.
 */
function makeEvaluator(
  statistic: Statistic,
  labels: NumericArray,
  scores: NumericArray,
  keep: Int32Array,
): { full: () => number; resample: (counts: Float64Array, draws: Int32Array) => number } {
  const weighted =
    statistic === auroc ? weightedAuroc : statistic === averagePrecision ? weightedAveragePrecision : undefined;
  if (weighted) {
    const ranked: RankedCases = rankCases(labels, scores, keep);
    return { full: () => weighted(ranked), resample: (counts) => weighted(ranked, counts) };
  }
  const m = keep.length;
  const y0 = new Float64Array(m);
  const s0 = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    y0[j] = labels[keep[j]!]!;
    s0[j] = scores[keep[j]!]!;
  }
  const yb = new Float64Array(m);
  const sb = new Float64Array(m);
  return {
    full: () => statistic(y0, s0),
    resample: (_counts, draws) => {
      for (let j = 0; j < m; j++) {
        yb[j] = y0[draws[j]!]!;
        sb[j] = s0[draws[j]!]!;
      }
      return statistic(yb, sb);
    },
  };
}

/**
 * Draws `n` resamples of `m` cases with replacement; calls `visit` with per-case multiplicities (indexed by
 * original case via `keep`) and the raw draws (positions into `keep`).
 */
function forEachResample(
  o: ResolvedOptions,
  size: number,
  keep: Int32Array | undefined,
  m: number,
  visit: (counts: Float64Array, draws: Int32Array) => void,
): void {
  const rand = rng(o.seed);
  const counts = new Float64Array(size);
  const draws = new Int32Array(m);
  for (let b = 0; b < o.n; b++) {
    counts.fill(0);
    for (let j = 0; j < m; j++) {
      const d = randInt(rand, m);
      draws[j] = d;
      counts[keep ? keep[d]! : d]! += 1;
    }
    visit(counts, draws);
  }
}

/**
 * Percentile bootstrap confidence interval of a statistic (default AUROC), resampling cases with replacement.
 * Replicates where the statistic is undefined (NaN, e.g. one class only) are skipped and counted in `skipped`.
 * An undefined estimate gives NaN bounds.
 * @example const { estimate, lower, upper } = bootstrapCI(labels, scores, { n: 1000, seed: 0 });
 */
export function bootstrapCI(labels: NumericArray, scores: NumericArray, options: BootstrapCIOptions = {}): BootstrapResult {
  const fn = 'bootstrapCI';
  const o = resolveOptions(options, fn);
  const statistic = options.statistic ?? auroc;
  if (typeof statistic !== 'function') throw new Error(`${fn}: statistic must be a function (labels, scores) => number.`);
  const keep = checkBinaryInputs(labels, scores, options.mask, fn);
  const ev = makeEvaluator(statistic, labels, scores, keep);
  const estimate = ev.full();
  const values: number[] = [];
  forEachResample(o, labels.length, keep, keep.length, (counts, draws) => {
    const v = ev.resample(counts, draws);
    if (!Number.isNaN(v)) values.push(v);
  });
  if (Number.isNaN(estimate)) return { estimate, lower: Number.NaN, upper: Number.NaN, n: o.n, skipped: o.n - values.length };
  return summarize(estimate, values, o);
}

function pValueFromDiffs(diffs: number[]): number {
  if (diffs.length === 0) return Number.NaN;
  let le = 0;
  let ge = 0;
  for (const d of diffs) {
    if (d <= 0) le++;
    if (d >= 0) ge++;
  }
  return Math.min(1, (2 * (1 + Math.min(le, ge))) / (diffs.length + 1));
}

/** Options of {@link pairedBootstrapTest}. */
export interface PairedBootstrapOptions extends BootstrapOptions {
  /** Statistic compared (default {@link auroc}). */
  statistic?: Statistic;
  /** Per-case inclusion mask, shared by both models. */
  mask?: Mask;
}

/**
 * Paired bootstrap comparison of two models scored on the same cases: each replicate resamples the cases once and
 * evaluates both models on it. Returns the difference A - B, its percentile interval and a two-sided p-value.
 * @example const { diff, pValue } = pairedBootstrapTest(labels, probsTruncated, probsFull, { n: 2000, seed: 1 });
 */
export function pairedBootstrapTest(
  labels: NumericArray,
  scoresA: NumericArray,
  scoresB: NumericArray,
  options: PairedBootstrapOptions = {},
): PairedBootstrapResult {
  const fn = 'pairedBootstrapTest';
  const o = resolveOptions(options, fn);
  const statistic = options.statistic ?? auroc;
  if (typeof statistic !== 'function') throw new Error(`${fn}: statistic must be a function (labels, scores) => number.`);
  const keep = checkBinaryInputs(labels, scoresA, options.mask, fn, 'scoresA');
  checkBinaryInputs(labels, scoresB, options.mask, fn, 'scoresB');
  const evA = makeEvaluator(statistic, labels, scoresA, keep);
  const evB = makeEvaluator(statistic, labels, scoresB, keep);
  const diff = evA.full() - evB.full();
  const diffs: number[] = [];
  forEachResample(o, labels.length, keep, keep.length, (counts, draws) => {
    const d = evA.resample(counts, draws) - evB.resample(counts, draws);
    if (!Number.isNaN(d)) diffs.push(d);
  });
  const skipped = o.n - diffs.length;
  if (Number.isNaN(diff)) return { diff, lower: Number.NaN, upper: Number.NaN, pValue: Number.NaN, n: o.n, skipped };
  const [lower, upper] = interval(diffs, o.alpha);
  return { diff, lower, upper, pValue: pValueFromDiffs(diffs), n: o.n, skipped };
}

/** Options of the multi-task bootstrap functions. */
export interface MultiTaskBootstrapOptions extends BootstrapOptions, PerTaskOptions {}

interface TaskRankings {
  tasks: string[];
  n: number;
  ranked: RankedCases[];
  full: number[];
  defined: number[];
}

function taskRankings(
  labels: ArrayLike<NumericArray>,
  scores: ArrayLike<NumericArray>,
  options: PerTaskOptions,
  fn: string,
  scoresName?: string,
): TaskRankings {
  const cols = taskColumns(labels, scores, options, fn, scoresName);
  const ranked = cols.tasks.map((_, j) => rankCases(cols.labels[j]!, cols.scores[j]!, cols.keep[j]!));
  const full = ranked.map((r) => weightedAuroc(r));
  const defined = full.flatMap((v, j) => (Number.isNaN(v) ? [] : [j]));
  return { tasks: cols.tasks, n: cols.n, ranked, full, defined };
}

function meanOver(values: number[], idx: number[]): number {
  let s = 0;
  for (const j of idx) s += values[j]!;
  return s / idx.length;
}

/**
 * Percentile bootstrap interval of the mean AUROC over tasks, resampling rows (cases) jointly across tasks.
 * The mean runs over the tasks defined on the original data; a replicate in which any of them has a single class
 * is skipped (so every replicate averages the same tasks). Per-task intervals come from the same resamples.
 * @example const ci = bootstrapMeanAurocCI(labels, probs, { tasks, n: 1000, seed: 0 });
 */
export function bootstrapMeanAurocCI(
  labels: ArrayLike<NumericArray>,
  scores: ArrayLike<NumericArray>,
  options: MultiTaskBootstrapOptions = {},
): MeanAurocBootstrapResult {
  const fn = 'bootstrapMeanAurocCI';
  const o = resolveOptions(options, fn);
  const tr = taskRankings(labels, scores, options, fn);
  const perTaskValues: number[][] = tr.tasks.map(() => []);
  const meanValues: number[] = [];
  const rep = new Array<number>(tr.tasks.length).fill(Number.NaN);
  forEachResample(o, tr.n, undefined, tr.n, (counts) => {
    let ok = true;
    for (const j of tr.defined) {
      const v = weightedAuroc(tr.ranked[j]!, counts);
      rep[j] = v;
      if (Number.isNaN(v)) ok = false;
      else perTaskValues[j]!.push(v);
    }
    if (ok) meanValues.push(meanOver(rep, tr.defined));
  });
  const perTask: Record<string, BootstrapResult> = {};
  const undefinedTasks: string[] = [];
  tr.tasks.forEach((task, j) => {
    if (Number.isNaN(tr.full[j]!)) {
      undefinedTasks.push(task);
      perTask[task] = { estimate: Number.NaN, lower: Number.NaN, upper: Number.NaN, n: o.n, skipped: o.n };
    } else perTask[task] = summarize(tr.full[j]!, perTaskValues[j]!, o);
  });
  if (tr.defined.length === 0) {
    return { estimate: Number.NaN, lower: Number.NaN, upper: Number.NaN, n: o.n, skipped: o.n, perTask, undefinedTasks };
  }
  return { ...summarize(meanOver(tr.full, tr.defined), meanValues, o), perTask, undefinedTasks };
}

/**
 * Paired bootstrap test of the mean AUROC of two models on the same N x T cases (rows resampled jointly).
 * Tasks undefined on the original data are left out; replicates where a used task has a single class are skipped.
 * @example const { diff, pValue } = pairedBootstrapMeanAurocTest(labels, probsA, probsB, { tasks, seed: 0 });
 */
export function pairedBootstrapMeanAurocTest(
  labels: ArrayLike<NumericArray>,
  scoresA: ArrayLike<NumericArray>,
  scoresB: ArrayLike<NumericArray>,
  options: MultiTaskBootstrapOptions = {},
): PairedBootstrapResult {
  const fn = 'pairedBootstrapMeanAurocTest';
  const o = resolveOptions(options, fn);
  const a = taskRankings(labels, scoresA, options, fn, 'scoresA');
  const b = taskRankings(labels, scoresB, options, fn, 'scoresB');
  if (a.n !== b.n) throw new Error(`${fn}: scoresA and scoresB have different numbers of rows; score the same cases.`);
  // the defined tasks depend only on labels and mask, so they agree between A and B
  const used = a.defined;
  if (used.length === 0) {
    return { diff: Number.NaN, lower: Number.NaN, upper: Number.NaN, pValue: Number.NaN, n: o.n, skipped: o.n };
  }
  const diff = meanOver(a.full, used) - meanOver(b.full, used);
  const diffs: number[] = [];
  const repA = new Array<number>(a.tasks.length).fill(Number.NaN);
  const repB = new Array<number>(a.tasks.length).fill(Number.NaN);
  forEachResample(o, a.n, undefined, a.n, (counts) => {
    for (const j of used) {
      repA[j] = weightedAuroc(a.ranked[j]!, counts);
      repB[j] = weightedAuroc(b.ranked[j]!, counts);
    }
    const d = meanOver(repA, used) - meanOver(repB, used);
    if (!Number.isNaN(d)) diffs.push(d);
  });
  const [lower, upper] = interval(diffs, o.alpha);
  return { diff, lower, upper, pValue: pValueFromDiffs(diffs), n: o.n, skipped: o.n - diffs.length };
}
