// AUROC, average precision and their curves for binary labels, matching scikit-learn's definitions
// (roc_auc_score, average_precision_score, roc_curve, precision_recall_curve), including tied scores.

import {
  assertArray,
  assertNonEmpty,
  checkBinaryInputs,
  maskValue,
  type Mask,
  type NumericArray,
} from './internal.js';

export type { Mask, NumericArray } from './internal.js';

/** Options shared by the binary metrics. */
export interface BinaryMetricOptions {
  /** Per-case inclusion mask (1/true = use, 0/false = ignore), e.g. to drop uncertain (U-Ignore) labels. */
  mask?: Mask;
}

/**
 * Cases sorted ascending by score, split into groups of equal score. Computing a metric from this with
 * per-case weights lets the bootstrap reuse one sort for every resample (a resample is a weighting by multiplicity).
 * @internal
 */
export interface RankedCases {
  /** Original case indices, ascending by score. */
  idx: Int32Array;
  /** 1 for a positive case at that sorted position, else 0. */
  pos: Uint8Array;
  /** Start position of each tie group, plus the total count at the end. */
  groups: Int32Array;
  /** Score of each tie group. */
  groupScores: Float64Array;
}

/** @internal */
export function rankCases(labels: NumericArray, scores: NumericArray, keep: Int32Array): RankedCases {
  const order = Array.from(keep);
  order.sort((a, b) => scores[a]! - scores[b]! || a - b);
  const n = order.length;
  const idx = Int32Array.from(order);
  const pos = new Uint8Array(n);
  const starts: number[] = [];
  const groupScores: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = idx[k]!;
    pos[k] = labels[i] === 1 ? 1 : 0;
    if (k === 0 || scores[i] !== scores[idx[k - 1]!]) {
      starts.push(k);
      groupScores.push(scores[i]!);
    }
  }
  starts.push(n);
  return { idx, pos, groups: Int32Array.from(starts), groupScores: Float64Array.from(groupScores) };
}

/**
 * Positive and negative weight of each tie group (ascending by score, as `r.groups`): the one pass over the
 * cases that every metric here is built from. `weights[i]` (indexed by original case) is a case multiplicity;
 * omitted = 1. Within a group the weights are summed in sorted order.
 */
function groupTotals(r: RankedCases, weights?: ArrayLike<number>): { pos: Float64Array; neg: Float64Array } {
  const { idx, pos, groups } = r;
  const count = groups.length - 1;
  const p = new Float64Array(count);
  const q = new Float64Array(count);
  for (let g = 0; g < count; g++) {
    let gp = 0;
    let gq = 0;
    for (let k = groups[g]!; k < groups[g + 1]!; k++) {
      const w = weights ? weights[idx[k]!]! : 1;
      if (pos[k]) gp += w;
      else gq += w;
    }
    p[g] = gp;
    q[g] = gq;
  }
  return { pos: p, neg: q };
}

/**
 * AUROC as the Mann-Whitney statistic with ties counted one half; equals the trapezoid area under the ROC curve.
 * `weights[i]` (indexed by original case) is a case multiplicity; omitted = 1. NaN when a class is absent.
 * @internal
 */
export function weightedAuroc(r: RankedCases, weights?: ArrayLike<number>): number {
  const { pos, neg } = groupTotals(r, weights);
  let negBelow = 0;
  let totalPos = 0;
  let u = 0;
  for (let g = 0; g < pos.length; g++) {
    const p = pos[g]!;
    const q = neg[g]!;
    // with integer weights every term is a multiple of 1/2, so u is exact
    u += p * (negBelow + q / 2);
    negBelow += q;
    totalPos += p;
  }
  if (totalPos === 0 || negBelow === 0) return Number.NaN;
  return u / (totalPos * negBelow);
}

/**
 * Average precision as scikit-learn computes it: sum over distinct thresholds (descending) of
 * (R_k - R_{k-1}) * P_k, tied scores entering at the same threshold. NaN when there is no positive case.
 * @internal
 */
export function weightedAveragePrecision(r: RankedCases, weights?: ArrayLike<number>): number {
  const c = descendingCounts(r, weights);
  if (c.totalPos === 0) return Number.NaN;
  let prevRecall = 0;
  let ap = 0;
  for (let k = 0; k < c.tps.length; k++) {
    if (c.newPos[k]) {
      const recall = c.tps[k]! / c.totalPos;
      ap += (recall - prevRecall) * (c.tps[k]! / (c.tps[k]! + c.fps[k]!));
      prevRecall = recall;
    }
  }
  return ap;
}

/**
 * Area under the ROC curve, equal to `sklearn.metrics.roc_auc_score` for binary labels (tied scores count 1/2).
 * Returns NaN when the (unmasked) cases hold only one class, where AUROC is undefined.
 * Throws on length mismatch, empty input, labels other than 0/1 or non-finite scores (masked-out cases are not checked).
 * @example auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); // 0.75
 */
export function auroc(labels: NumericArray, scores: NumericArray, options: BinaryMetricOptions = {}): number {
  const keep = checkBinaryInputs(labels, scores, options.mask, 'auroc');
  return weightedAuroc(rankCases(labels, scores, keep));
}

/**
 * Average precision, equal to `sklearn.metrics.average_precision_score` (step-wise, no interpolation).
 * Returns NaN when there is no positive case (scikit-learn 1.2 warns and returns 0 there).
 * @example averagePrecision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); // 0.8333...
 */
export function averagePrecision(labels: NumericArray, scores: NumericArray, options: BinaryMetricOptions = {}): number {
  const keep = checkBinaryInputs(labels, scores, options.mask, 'averagePrecision');
  return weightedAveragePrecision(rankCases(labels, scores, keep));
}

/**
 * True- and false-positive counts (weighted as in {@link groupTotals}) at each distinct score as a threshold,
 * highest score first; `newPos[k]` says whether threshold k adds positives.
 */
function descendingCounts(
  r: RankedCases,
  weights?: ArrayLike<number>,
): { tps: number[]; fps: number[]; newPos: boolean[]; thresholds: number[]; totalPos: number; n: number } {
  const { pos, neg } = groupTotals(r, weights);
  const tps: number[] = [];
  const fps: number[] = [];
  const newPos: boolean[] = [];
  const thresholds: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let g = pos.length - 1; g >= 0; g--) {
    tp += pos[g]!;
    fp += neg[g]!;
    tps.push(tp);
    fps.push(fp);
    newPos.push(pos[g]! > 0);
    thresholds.push(r.groupScores[g]!);
  }
  return { tps, fps, newPos, thresholds, totalPos: tp, n: r.pos.length };
}

/** Points of a ROC curve. */
export interface RocCurve {
  /** False-positive rate at each threshold. */
  fpr: number[];
  /** True-positive rate at each threshold. */
  tpr: number[];
  /** Decreasing thresholds; the first is +Infinity (the (0, 0) point). A case is positive when score >= threshold. */
  thresholds: number[];
}

/**
 * ROC curve at every distinct score: `sklearn.metrics.roc_curve(..., drop_intermediate=False)` with the first
 * threshold +Infinity (scikit-learn >= 1.3; 1.2 uses max(score) + 1). Rates are NaN when a class is absent.
 * @example const { fpr, tpr } = rocCurve(labels, scores);
 */
export function rocCurve(labels: NumericArray, scores: NumericArray, options: BinaryMetricOptions = {}): RocCurve {
  const keep = checkBinaryInputs(labels, scores, options.mask, 'rocCurve');
  const c = descendingCounts(rankCases(labels, scores, keep));
  const totalNeg = c.n - c.totalPos;
  const fpr = [totalNeg === 0 ? Number.NaN : 0];
  const tpr = [c.totalPos === 0 ? Number.NaN : 0];
  const thresholds = [Number.POSITIVE_INFINITY];
  c.tps.forEach((tp, k) => {
    fpr.push(totalNeg === 0 ? Number.NaN : c.fps[k]! / totalNeg);
    tpr.push(c.totalPos === 0 ? Number.NaN : tp / c.totalPos);
    thresholds.push(c.thresholds[k]!);
  });
  return { fpr, tpr, thresholds };
}

/** Points of a precision-recall curve, in scikit-learn's order. */
export interface PrCurve {
  /** Precision per threshold, then a final 1. */
  precision: number[];
  /** Recall per threshold (decreasing), then a final 0. */
  recall: number[];
  /** Increasing thresholds: every distinct score. */
  thresholds: number[];
}

/**
 * Precision-recall curve equal to `sklearn.metrics.precision_recall_curve` (1.2): every distinct score as an
 * increasing threshold, with the (recall 0, precision 1) end point appended. Recall is NaN without positives
 * (scikit-learn warns and sets it to 1).
 * @example const { precision, recall } = prCurve(labels, scores);
 */
export function prCurve(labels: NumericArray, scores: NumericArray, options: BinaryMetricOptions = {}): PrCurve {
  const keep = checkBinaryInputs(labels, scores, options.mask, 'prCurve');
  // descending-threshold counts, as scikit-learn builds them, then reversed
  const { tps, fps, thresholds: thr, totalPos } = descendingCounts(rankCases(labels, scores, keep));
  const last = tps.length - 1;
  const precision: number[] = [];
  const recall: number[] = [];
  const thresholds: number[] = [];
  for (let k = last; k >= 0; k--) {
    const ps = tps[k]! + fps[k]!;
    precision.push(ps === 0 ? 0 : tps[k]! / ps);
    recall.push(totalPos === 0 ? Number.NaN : tps[k]! / totalPos);
    thresholds.push(thr[k]!);
  }
  precision.push(1);
  recall.push(0);
  return { precision, recall, thresholds };
}

/** Result of {@link perTaskAuroc}. */
export interface PerTaskAuroc {
  /** AUROC per task name; NaN for tasks where it is undefined (listed in `undefinedTasks`). */
  perTask: Record<string, number>;
  /** Mean AUROC over the tasks where it is defined; NaN when no task is defined. */
  meanAuroc: number;
  /** Tasks whose (unmasked) labels hold a single class or no case at all; excluded from the mean. */
  undefinedTasks: string[];
}

/** Options of {@link perTaskAuroc}. */
export interface PerTaskOptions {
  /** Task names, one per column; default `task0`, `task1`, ... */
  tasks?: string[];
  /** N x T inclusion mask (1/true = use the label, 0/false = ignore it, e.g. U-Ignore). */
  mask?: ArrayLike<Mask>;
}

/** @internal Validated N x T data split into columns. */
export interface TaskColumns {
  n: number;
  tasks: string[];
  labels: Float64Array[];
  scores: Float64Array[];
  /** Row indices used by each task (mask applied). */
  keep: Int32Array[];
}

/** @internal */
export function taskColumns(
  labels: ArrayLike<NumericArray>,
  scores: ArrayLike<NumericArray>,
  options: PerTaskOptions,
  fn: string,
  scoresName = 'scores',
): TaskColumns {
  assertArray(labels, 'labels', fn);
  assertArray(scores, scoresName, fn);
  if (labels.length !== scores.length) {
    throw new Error(`${fn}: labels has ${labels.length} rows but ${scoresName} has ${scores.length}; pass one row per case.`);
  }
  assertNonEmpty(labels, 'labels', fn);
  const n = labels.length;
  const first = labels[0];
  assertArray(first, 'labels[0]', fn);
  const t = first.length;
  if (t === 0) throw new Error(`${fn}: labels rows are empty; pass N x T arrays with at least one task column.`);
  const { mask } = options;
  if (mask !== undefined) {
    assertArray(mask, 'mask', fn);
    if (mask.length !== n) throw new Error(`${fn}: mask has ${mask.length} rows but labels has ${n}; pass an N x T mask.`);
  }
  for (let i = 0; i < n; i++) {
    const rows: [unknown, string][] = [
      [labels[i], `labels[${i}]`],
      [scores[i], `${scoresName}[${i}]`],
    ];
    if (mask !== undefined) rows.push([mask[i], `mask[${i}]`]);
    for (const [row, name] of rows) {
      assertArray(row, name, fn);
      if (row.length !== t) {
        throw new Error(`${fn}: ${name} has ${row.length} columns but labels[0] has ${t}; every row needs one value per task.`);
      }
    }
  }
  const tasks = options.tasks ?? Array.from({ length: t }, (_, j) => `task${j}`);
  if (tasks.length !== t) {
    throw new Error(`${fn}: ${tasks.length} task names for ${t} columns; pass one name per column.`);
  }
  if (new Set(tasks).size !== t) throw new Error(`${fn}: task names must be unique, got ${JSON.stringify(tasks)}.`);
  const labelCols: Float64Array[] = [];
  const scoreCols: Float64Array[] = [];
  const keeps: Int32Array[] = [];
  for (let j = 0; j < t; j++) {
    const y = new Float64Array(n);
    const s = new Float64Array(n);
    const m = mask === undefined ? undefined : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = labels[i]![j]!;
      s[i] = scores[i]![j]!;
      if (m) m[i] = maskValue(mask![i]!, j, fn, `mask[${i}]`) ? 1 : 0;
    }
    const ctx = `${fn} (task ${JSON.stringify(tasks[j])})`;
    keeps.push(checkBinaryInputs(y, s, m, ctx, scoresName));
    labelCols.push(y);
    scoreCols.push(s);
  }
  return { n, tasks, labels: labelCols, scores: scoreCols, keep: keeps };
}

/**
 * AUROC per task of N x T labels and scores plus their mean. Tasks with a single class (after the mask) are
 * reported in `undefinedTasks`, get NaN in `perTask`, and are left out of the mean.
 * @example const { perTask, meanAuroc } = perTaskAuroc(labels, probs, { tasks: ['Atelectasis', 'Edema'] });
 */
export function perTaskAuroc(
  labels: ArrayLike<NumericArray>,
  scores: ArrayLike<NumericArray>,
  options: PerTaskOptions = {},
): PerTaskAuroc {
  const cols = taskColumns(labels, scores, options, 'perTaskAuroc');
  const perTask: Record<string, number> = {};
  const undefinedTasks: string[] = [];
  let sum = 0;
  let count = 0;
  cols.tasks.forEach((task, j) => {
    const v = weightedAuroc(rankCases(cols.labels[j]!, cols.scores[j]!, cols.keep[j]!));
    perTask[task] = v;
    if (Number.isNaN(v)) undefinedTasks.push(task);
    else {
      sum += v;
      count++;
    }
  });
  return { perTask, meanAuroc: count === 0 ? Number.NaN : sum / count, undefinedTasks };
}
