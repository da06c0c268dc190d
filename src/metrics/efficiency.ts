// Parameter efficiency of truncated models, in the sense of CheXtransfer (Ke et al., ACM CHIL 2021):
// "make models 3.25x more parameter-efficient on average without a statistically significant drop in performance".
// At (statistically) unchanged AUROC the gain is the factor by which the parameter count shrinks; see docs/metrics.md.

function checkPositive(v: unknown, name: string, fn: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`${fn}: ${name} must be a positive finite number, got ${String(v)}.`);
  }
  return v;
}

function checkAuroc(v: unknown, name: string, fn: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new Error(`${fn}: ${name} must be an AUROC between 0 and 1, got ${String(v)}.`);
  }
  return v;
}

/**
 * AUROC per million parameters: a descriptive size-normalized score for comparing models.
 * @example parameterEfficiency(0.87, 6_964_106); // 0.1249...
 */
export function parameterEfficiency(auroc: number, params: number): number {
  const fn = 'parameterEfficiency';
  return checkAuroc(auroc, 'auroc', fn) / (checkPositive(params, 'params', fn) / 1e6);
}

/**
 * How many times more parameter-efficient a candidate (e.g. a truncated model) is than a reference model:
 * the ratio of parameter counts, reference / candidate. This is CheXtransfer's "Nx more parameter-efficient",
 * a claim the paper makes only when the candidate's AUROC is not significantly lower (check that with
 * `pairedBootstrapTest`, or use {@link summarizeTruncation}).
 * @example efficiencyGain(8_000_000, 2_000_000); // 4
 */
export function efficiencyGain(referenceParams: number, candidateParams: number): number {
  const fn = 'efficiencyGain';
  return checkPositive(referenceParams, 'referenceParams', fn) / checkPositive(candidateParams, 'candidateParams', fn);
}

/** One truncated model compared with its full-size reference. */
export interface TruncationComparison {
  /** Label, e.g. 'densenet121@features.denseblock3'. */
  name: string;
  referenceParams: number;
  candidateParams: number;
  referenceAuroc: number;
  candidateAuroc: number;
  /** Two-sided p-value of candidate vs reference (e.g. from pairedBootstrapMeanAurocTest); omitted = untested. */
  pValue?: number;
}

/** Per-model row of {@link summarizeTruncation}. */
export interface TruncationRow {
  name: string;
  /** referenceParams / candidateParams. */
  gain: number;
  /** candidateAuroc - referenceAuroc. */
  aurocDiff: number;
  /** True when the candidate is worse and pValue < alpha. */
  significantDrop: boolean;
}

/** Result of {@link summarizeTruncation}. */
export interface TruncationSummary {
  rows: TruncationRow[];
  /** Arithmetic mean of `gain` over the models without a significant drop; NaN if there is none. */
  meanGain: number;
  /** Names of the models that entered `meanGain`. */
  eligible: string[];
}

/**
 * Summarizes truncation results the way CheXtransfer reports them: the parameter-efficiency gain of each
 * truncated model and the average gain over those whose AUROC did not drop significantly.
 * @example summarizeTruncation([{ name: 'densenet121-t', referenceParams: 6.96e6, candidateParams: 1.85e6, referenceAuroc: 0.87, candidateAuroc: 0.868, pValue: 0.4 }]);
 */
export function summarizeTruncation(
  comparisons: TruncationComparison[],
  options: { alpha?: number } = {},
): TruncationSummary {
  const fn = 'summarizeTruncation';
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new Error(`${fn}: alpha must be between 0 and 1, got ${alpha}.`);
  if (!Array.isArray(comparisons)) throw new Error(`${fn}: comparisons must be an array of TruncationComparison objects.`);
  const rows = comparisons.map((c, i) => {
    const where = `${fn} (comparisons[${i}])`;
    const gain = efficiencyGain(c.referenceParams, c.candidateParams);
    const aurocDiff = checkAuroc(c.candidateAuroc, 'candidateAuroc', where) - checkAuroc(c.referenceAuroc, 'referenceAuroc', where);
    if (c.pValue !== undefined && !(c.pValue >= 0 && c.pValue <= 1)) {
      throw new Error(`${where}: pValue must be between 0 and 1 or omitted, got ${c.pValue}.`);
    }
    const significantDrop = aurocDiff < 0 && c.pValue !== undefined && c.pValue < alpha;
    return { name: c.name, gain, aurocDiff, significantDrop };
  });
  const ok = rows.filter((r) => !r.significantDrop);
  const meanGain = ok.length === 0 ? Number.NaN : ok.reduce((s, r) => s + r.gain, 0) / ok.length;
  return { rows, meanGain, eligible: ok.map((r) => r.name) };
}
