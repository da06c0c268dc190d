// Rank correlations with the p-values scipy reports (scipy.stats.spearmanr and kendalltau, two-sided).

import { averageRanks, checkPairedFinite, type NumericArray } from './internal.js';
import { normalTwoSided, studentTTwoSided } from './special.js';

/** Spearman rank correlation and its two-sided p-value. */
export interface SpearmanResult {
  rho: number;
  pValue: number;
}

/** Kendall tau-b and its two-sided p-value. */
export interface KendallResult {
  tau: number;
  pValue: number;
  /** How the p-value was computed (scipy's method='auto' rule). */
  method: 'exact' | 'asymptotic';
}

/**
 * Spearman's rho (Pearson correlation of average ranks) with the two-sided p-value from the t approximation,
 * equal to `scipy.stats.spearmanr(x, y)`. Constant input or fewer than 2 pairs give NaN (p NaN also for n = 2).
 * @example spearman([1, 2, 3, 4], [10, 20, 20, 40]); // { rho: 0.9486..., pValue: 0.0513... }
 */
export function spearman(x: NumericArray, y: NumericArray): SpearmanResult {
  checkPairedFinite(x, y, 'spearman');
  const n = x.length;
  if (n < 2 || isConstant(x) || isConstant(y)) return { rho: Number.NaN, pValue: Number.NaN };
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  // Mean of average ranks is (n + 1) / 2 exactly, so the centred ranks and their products are exact;
  // the covariance scaling follows numpy.corrcoef's order of operations.
  const mean = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i]! - mean;
    const dy = ry[i]! - mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const f = 1 / (n - 1);
  let rho = (sxy * f) / Math.sqrt(sxx * f) / Math.sqrt(syy * f);
  rho = Math.min(1, Math.max(-1, rho));
  const dof = n - 2;
  if (dof <= 0) return { rho, pValue: Number.NaN };
  const t = rho * Math.sqrt(Math.max(0, dof / ((rho + 1) * (1 - rho))));
  return { rho, pValue: studentTTwoSided(t, dof) };
}

function isConstant(a: NumericArray): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] !== a[0]) return false;
  return true;
}

// Sum over tie groups of f(group size) for the values of `a`.
function tieStats(a: NumericArray): { pairs: number; v0: number; v1: number } {
  const sorted = Float64Array.from(a).sort();
  let pairs = 0;
  let v0 = 0;
  let v1 = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    const c = j - i;
    if (c > 1) {
      pairs += (c * (c - 1)) / 2;
      v0 += c * (c - 1) * (c - 2);
      v1 += c * (c - 1) * (2 * c + 5);
    }
    i = j;
  }
  return { pairs, v0, v1 };
}

/**
 * Exact two-sided p-value of Kendall's tau without ties: twice the probability of at most `c` inversions among
 * random permutations of n items (Kendall 1970), counted by the usual recurrence.
 */
function kendallExactP(n: number, concordant: number): number {
  const total = (n * (n - 1)) / 2;
  const c = Math.min(concordant, total - concordant);
  if (n <= 2) return 1;
  if (c === 0) return 2 / factorial(n);
  if (c === 1) return 2 / factorial(n - 1);
  if (4 * c === n * (n - 1)) return 1;
  // counts[k] = number of permutations with k inversions, for k <= c, built up one item at a time
  let counts = new Float64Array(c + 1);
  counts[0] = 1;
  counts[1] = 1;
  for (let j = 3; j <= n; j++) {
    const next = new Float64Array(c + 1);
    let run = 0;
    for (let k = 0; k <= c; k++) {
      run += counts[k]!;
      next[k] = run;
    }
    if (j <= c) {
      // subtract the part of the running sum that reaches back more than j - 1 inversions
      const prev = next.slice();
      for (let k = j; k <= c; k++) next[k] = prev[k]! - prev[k - j]!;
    }
    counts = next;
  }
  let sum = 0;
  for (let k = 0; k <= c; k++) sum += counts[k]!;
  return Math.min(1, Math.max(0, (2 * sum) / factorial(n)));
}

function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/**
 * Kendall's tau-b with its two-sided p-value, equal to `scipy.stats.kendalltau(x, y)` (variant 'b', method 'auto'):
 * exact null distribution when neither input has ties and (n <= 33 or at most one discordant/concordant pair),
 * otherwise the normal approximation with the tie-corrected variance. NaN when an input is constant or n < 2.
 * @example kendallTau([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]); // { tau: 0.6, pValue: 0.2333..., method: 'exact' }
 */
export function kendallTau(x: NumericArray, y: NumericArray): KendallResult {
  checkPairedFinite(x, y, 'kendallTau');
  const n = x.length;
  if (n < 2) return { tau: Number.NaN, pValue: Number.NaN, method: 'asymptotic' };
  let con = 0;
  let dis = 0;
  // O(n^2) pair count: exact integers, and fine for the model-level correlations this is used for
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    const yi = y[i]!;
    for (let j = i + 1; j < n; j++) {
      const s = Math.sign(x[j]! - xi) * Math.sign(y[j]! - yi);
      if (s > 0) con++;
      else if (s < 0) dis++;
    }
  }
  const tot = (n * (n - 1)) / 2;
  const tx = tieStats(x);
  const ty = tieStats(y);
  if (tx.pairs === tot || ty.pairs === tot) return { tau: Number.NaN, pValue: Number.NaN, method: 'asymptotic' };
  const conMinusDis = con - dis;
  let tau = conMinusDis / Math.sqrt(tot - tx.pairs) / Math.sqrt(tot - ty.pairs);
  tau = Math.min(1, Math.max(-1, tau));
  const noTies = tx.pairs === 0 && ty.pairs === 0;
  if (noTies && (n <= 33 || Math.min(dis, tot - dis) <= 1)) {
    return { tau, pValue: kendallExactP(n, tot - dis), method: 'exact' };
  }
  const m = n * (n - 1);
  const variance = (m * (2 * n + 5) - tx.v1 - ty.v1) / 18 + (2 * tx.pairs * ty.pairs) / m + (tx.v0 * ty.v0) / (9 * m * (n - 2));
  return { tau, pValue: normalTwoSided(conMinusDis / Math.sqrt(variance)), method: 'asymptotic' };
}
