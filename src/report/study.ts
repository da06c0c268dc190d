// CheXtransfer-style study report (Ke et al., ACM CHIL 2021) from per-run results: browser-safe, pure strings.
import { kendallTau, spearman, type KendallResult, type SpearmanResult } from '../metrics/correlation.js';
import { efficiencyGain } from '../metrics/efficiency.js';
import { scatterSvg, type ScatterPoint } from './svg.js';

/** One trained run as the study compares it. */
export interface StudyRow {
  /** Run label (e.g. the run folder name). */
  name: string;
  arch: string;
  family: string;
  /** Parameters of the model as trained (its own head, after truncation), torchvision counting. */
  params: number;
  /** ImageNet top-1 (%) of the architecture; only used for full (non-truncated) models. */
  imagenetTop1: number;
  /** Validation mean AUROC. */
  meanAuroc: number;
  /** 95% CI of meanAuroc; null when unknown. */
  lower: number | null;
  upper: number | null;
  /** Stage the model was cut after; null/undefined for the full network. */
  truncatedAt?: string | null;
  /** 'imagenet', 'none' or a weights path: truncated models are paired with full models of the same weights. */
  weights: string;
}

/** A rank correlation of mean AUROC with one model property over the full models. */
export interface StudyCorrelation {
  n: number;
  spearman: SpearmanResult;
  kendall: KendallResult;
}

/** A truncated model next to a full model of the same architecture and weights. */
export interface TruncationPair {
  truncated: string;
  full: string;
  arch: string;
  truncatedAt: string;
  /** full.params / truncated.params (efficiencyGain). */
  gain: number;
  /** truncated.meanAuroc - full.meanAuroc. */
  aurocDiff: number;
}

/** Result of {@link studyReport}. */
export interface StudyReport {
  markdown: string;
  /** SVG figures; the markdown links them as `figures/<name>`. */
  figures: { name: string; svg: string }[];
  correlations: { imagenetTop1: StudyCorrelation; params: StudyCorrelation };
  familyMeans: { family: string; n: number; meanAuroc: number }[];
  truncation: TruncationPair[];
}

/** Options of {@link studyReport}. */
export interface StudyReportOptions {
  title?: string;
}

/** Published values of the CheXtransfer study, quoted in the report for context. */
export const CHEXTRANSFER_PUBLISHED = {
  /** Spearman rho between ImageNet top-1 and CheXpert mean AUROC the paper reports. */
  imagenetSpearmanRho: 0.08,
  /** Average parameter-efficiency gain of truncated models without a significant AUROC drop the paper reports. */
  truncationMeanGain: 3.25,
} as const;

const isTruncated = (r: StudyRow) => r.truncatedAt !== undefined && r.truncatedAt !== null && r.truncatedAt !== '';

function checkRows(rows: StudyRow[]): void {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new Error('studyReport: rows must be a non-empty array of StudyRow objects (one per trained run).');
  }
  rows.forEach((r, i) => {
    const where = `studyReport: rows[${i}] (${String(r?.name)})`;
    if (typeof r?.name !== 'string' || typeof r.arch !== 'string') throw new Error(`${where}: name and arch must be strings.`);
    if (!(typeof r.meanAuroc === 'number' && r.meanAuroc >= 0 && r.meanAuroc <= 1)) {
      throw new Error(`${where}: meanAuroc must be a number between 0 and 1, got ${String(r.meanAuroc)} (did the run finish a validation?).`);
    }
    if (!(typeof r.params === 'number' && Number.isFinite(r.params) && r.params > 0)) {
      throw new Error(`${where}: params must be a positive number, got ${String(r.params)}.`);
    }
    if (!isTruncated(r) && !(typeof r.imagenetTop1 === 'number' && Number.isFinite(r.imagenetTop1))) {
      throw new Error(`${where}: imagenetTop1 must be a finite number for a full model, got ${String(r.imagenetTop1)}.`);
    }
  });
}

function correlate(x: number[], y: number[]): StudyCorrelation {
  return { n: x.length, spearman: spearman(x, y), kendall: kendallTau(x, y) };
}

const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3));
const f4 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(4));
const fp = (v: number) => (!Number.isFinite(v) ? 'n/a' : v < 1e-4 ? v.toExponential(2) : v.toPrecision(3));
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(4)}`;
// table cells must not break the markdown table
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function corrLine(what: string, c: StudyCorrelation): string {
  if (c.n < 3 || !Number.isFinite(c.spearman.rho)) {
    return `| ${what} | ${c.n} | n/a | n/a | n/a | n/a |`;
  }
  return `| ${what} | ${c.n} | ${c.spearman.rho.toFixed(3)} | ${fp(c.spearman.pValue)} | ${f3(c.kendall.tau)} | ${fp(c.kendall.pValue)} |`;
}

/**
 * Builds the CheXtransfer-style comparison of trained runs: a table sorted by mean AUROC, Spearman and Kendall
 * correlations of mean AUROC with ImageNet top-1 and with parameter count over the full models (with p-values),
 * per-family means, truncated-vs-full pairs (parameter-efficiency gain, AUROC difference) and two SVG figures.
 * @example const { markdown, figures } = studyReport([{ name: 'r18', arch: 'resnet18', family: 'resnet', params: 11_179_077, imagenetTop1: 69.758, meanAuroc: 0.81, lower: 0.78, upper: 0.84, weights: 'imagenet' }]);
 */
export function studyReport(rows: StudyRow[], options: StudyReportOptions = {}): StudyReport {
  checkRows(rows);
  const sorted = [...rows].sort((a, b) => b.meanAuroc - a.meanAuroc || a.name.localeCompare(b.name));
  const full = sorted.filter((r) => !isTruncated(r));
  const truncated = sorted.filter(isTruncated);

  const auroc = full.map((r) => r.meanAuroc);
  const correlations = {
    imagenetTop1: correlate(full.map((r) => r.imagenetTop1), auroc),
    params: correlate(full.map((r) => r.params), auroc),
  };

  const families = [...new Set(full.map((r) => r.family))];
  const familyMeans = families
    .map((family) => {
      const fr = full.filter((r) => r.family === family);
      return { family, n: fr.length, meanAuroc: fr.reduce((s, r) => s + r.meanAuroc, 0) / fr.length };
    })
    .sort((a, b) => b.meanAuroc - a.meanAuroc);

  const truncation: TruncationPair[] = [];
  for (const t of truncated) {
    for (const f of full.filter((r) => r.arch === t.arch && r.weights === t.weights)) {
      truncation.push({
        truncated: t.name,
        full: f.name,
        arch: t.arch,
        truncatedAt: t.truncatedAt!,
        gain: efficiencyGain(f.params, t.params),
        aurocDiff: t.meanAuroc - f.meanAuroc,
      });
    }
  }
  const unpaired = truncated.filter((t) => !truncation.some((p) => p.truncated === t.name));

  const md: string[] = [];
  md.push(`# ${options.title ?? 'Model comparison (CheXtransfer-style)'}`, '');
  md.push(
    `${rows.length} run${rows.length === 1 ? '' : 's'}: ${full.length} full model${full.length === 1 ? '' : 's'}, ${truncated.length} truncated. ` +
      'Mean AUROC is the validation mean over the tasks as `chexzoo train` reports it (top-k checkpoint ensemble), with its bootstrap 95% CI.',
    '',
  );
  md.push('## Runs by mean AUROC', '');
  md.push('| # | run | architecture | family | truncated at | weights | params (M) | ImageNet top-1 | mean AUROC | 95% CI |');
  md.push('|---:|---|---|---|---|---|---:|---:|---:|---|');
  sorted.forEach((r, i) => {
    md.push(
      `| ${i + 1} | ${cell(r.name)} | ${cell(r.arch)} | ${cell(r.family)} | ${isTruncated(r) ? cell(r.truncatedAt!) : '-'} | ${cell(r.weights)} | ` +
        `${(r.params / 1e6).toFixed(2)} | ${isTruncated(r) ? '-' : r.imagenetTop1.toFixed(2)} | ${f4(r.meanAuroc)} | ` +
        `${r.lower !== null && r.upper !== null ? `${f3(r.lower)}-${f3(r.upper)}` : 'n/a'} |`,
    );
  });
  md.push('');

  md.push('## Does ImageNet performance or size predict AUROC?', '');
  md.push('Rank correlations of mean AUROC over the full (non-truncated) models; two-sided p-values as scipy computes them.', '');
  md.push('| mean AUROC vs | n | Spearman rho | p | Kendall tau-b | p |');
  md.push('|---|---:|---:|---:|---:|---:|');
  md.push(corrLine('ImageNet top-1', correlations.imagenetTop1));
  md.push(corrLine('parameter count', correlations.params));
  md.push('');
  if (correlations.imagenetTop1.n < 3) md.push('Correlations need at least 3 full models with distinct values; train more architectures.', '');
  md.push(
    `For context, the paper reports Spearman rho = ${CHEXTRANSFER_PUBLISHED.imagenetSpearmanRho} between ImageNet top-1 and CheXpert ` +
      'mean AUROC (Ke et al., "CheXtransfer", ACM CHIL 2021) and concludes there is no relationship between the two. ' +
      'With few runs, small images or short training, the p-values here are the better guide than rho itself.',
    '',
  );

  md.push('## Mean AUROC per family', '');
  md.push('| family | full models | mean AUROC |');
  md.push('|---|---:|---:|');
  for (const f of familyMeans) md.push(`| ${cell(f.family)} | ${f.n} | ${f4(f.meanAuroc)} |`);
  md.push('');

  md.push('## Truncated vs full models', '');
  if (truncation.length === 0) {
    md.push('No truncated run has a full run of the same architecture and weights to compare with.', '');
  } else {
    md.push('| truncated run | cut after | full run | parameter-efficiency gain | AUROC difference |');
    md.push('|---|---|---|---:|---:|');
    for (const p of truncation) {
      md.push(`| ${cell(p.truncated)} | ${cell(p.truncatedAt)} | ${cell(p.full)} | ${p.gain.toFixed(2)}x | ${signed(p.aurocDiff)} |`);
    }
    const meanGain = truncation.reduce((s, p) => s + p.gain, 0) / truncation.length;
    md.push('');
    md.push(
      `Mean gain ${meanGain.toFixed(2)}x over ${truncation.length} pair${truncation.length === 1 ? '' : 's'} (gain = full / truncated parameters). ` +
        'No p-value is given: the runs do not store their validation predictions, which the paired bootstrap ' +
        '(`pairedBootstrapMeanAurocTest`) needs, so an AUROC difference here may or may not be significant. ' +
        `The paper reports truncated models ${CHEXTRANSFER_PUBLISHED.truncationMeanGain}x more parameter-efficient on average without a statistically significant drop.`,
      '',
    );
  }
  if (unpaired.length > 0) {
    md.push(`Without a full run of the same architecture and weights: ${unpaired.map((r) => cell(r.name)).join(', ')}.`, '');
  }

  const famGroup = (r: StudyRow) => r.family;
  const ci = (r: StudyRow): Partial<ScatterPoint> =>
    r.lower !== null && r.upper !== null ? { yLower: r.lower, yUpper: r.upper } : {};
  const figures = [
    {
      name: 'auroc-vs-imagenet.svg',
      svg: scatterSvg(
        full.map((r) => ({ x: r.imagenetTop1, y: r.meanAuroc, label: r.name, group: famGroup(r), ...ci(r) })),
        { title: 'Mean AUROC vs ImageNet top-1 (full models)', xLabel: 'ImageNet top-1 (%)', yLabel: 'validation mean AUROC' },
      ),
    },
    {
      name: 'auroc-vs-params.svg',
      svg: scatterSvg(
        sorted.map((r) => ({ x: Math.log10(r.params), y: r.meanAuroc, label: r.name, group: famGroup(r), hollow: isTruncated(r), ...ci(r) })),
        { title: 'Mean AUROC vs parameters', xLabel: 'log10(parameters)', yLabel: 'validation mean AUROC', formatX: (v) => v.toFixed(1) },
      ),
    },
  ];
  md.push('## Figures', '');
  md.push(`Error bars: 95% CI of the mean AUROC.${truncated.length ? ' Open markers: truncated models.' : ''}`, '');
  md.push('![Mean AUROC vs ImageNet top-1](figures/auroc-vs-imagenet.svg)', '');
  md.push('![Mean AUROC vs log10(parameters)](figures/auroc-vs-params.svg)', '');

  return { markdown: md.join('\n'), figures, correlations, familyMeans, truncation };
}
