// The four CheXtransfer findings from whatever runs exist, results.json and report.md with SVG figures.
// Browser-safe: objects in, strings out. The one study analysis: `chexzoo study`, `chexzoo report`, runStudy and
// the examples all go through studyResults().
import { pairedBootstrapMeanAurocTest } from '../metrics/bootstrap.js';
import { spearman } from '../metrics/correlation.js';
import { summarizeTruncation } from '../metrics/efficiency.js';
import { curvesSvg, type TrainingCurves } from '../report/curves.js';
import { scatterSvg, type ScatterPoint } from '../report/svg.js';
import { rng } from '../utils/rng.js';
import { COMPETITION_TASKS } from '../data/chexpert.js';
import type { StudyInit, StudyRunSpec } from './grid.js';

/** Validation predictions of a run: row-major [n, tasks] labels, mask (1 = counts) and probabilities. */
export interface RunPredictions {
  n: number;
  tasks: string[];
  labels: ArrayLike<number>;
  mask: ArrayLike<number>;
  probs: ArrayLike<number>;
}

/** One finished run as results.json lists it: its place in the grid (family as read back), then its results. */
export interface StudyRunResult extends Omit<StudyRunSpec, 'family'> {
  family: string;
  /** Parameters of the model as trained (its own head, after truncation), torchvision counting. */
  params: number;
  /** ImageNet top-1 (%) of the architecture's reference weights. */
  imagenetTop1: number;
  /** Validation mean AUROC (top-k checkpoint ensemble). */
  meanAuroc: number;
  /** Bootstrap 95% CI of meanAuroc. */
  ci: [number, number] | null;
  perTask: Record<string, number>;
  steps: number;
  seconds: number;
  /** Fingerprint of the validation set (tasks, labels, mask): runs compared in one report must share it. */
  validation: string;
}

/** A run of the grid that was not trained, with the reason. */
export interface StudySkipped {
  id: string;
  reason: string;
}

/**
 * What the paper (Ke et al., CHIL 2021) reports for each finding, quoted beside ours: the one source of these
 * values. results.json carries them in every finding (`paper`), computed or not, and report.md prints them from there.
 */
export const CHEXTRANSFER_PAPER = {
  /** Finding 1: Spearman rho, ImageNet top-1 vs CheXpert AUROC: pretrained models, and random init. */
  imagenetRho: { imagenet: 0.08, random: 0.06 },
  /** Finding 2 is qualitative: the paper gives no single number. */
  familyVsSize: 'without pretraining, the choice of model family influences performance more than size within a family',
  /** Finding 3: Spearman rho, pretraining boost vs parameter count. */
  boostVsParamsRho: -0.72,
  /** Finding 4: mean parameter-efficiency gain of truncated models without a significant AUROC drop. */
  truncationMeanGain: 3.25,
} as const;

interface Reason {
  reason: string;
}
export interface StudyRho {
  n: number;
  rho: number;
  pValue: number;
  /** Percentile bootstrap 95% CI over models (resampled with replacement). */
  ci: [number, number];
  models: { config: string; x: number; y: number }[];
}
export interface StudySeedSpread {
  config: string;
  seeds: number[];
  mean: number;
  /** Sample standard deviation over seeds (null with one seed). */
  sd: number | null;
  min: number;
  max: number;
  /** Mean of the runs' bootstrap CIs, to set beside the spread. */
  ci: [number, number] | null;
}
export interface StudyPairTest {
  /** Seed whose two runs were compared (the lowest seed both configurations have). */
  seed: number;
  diff: number;
  ci: [number, number];
  pValue: number;
}
export interface StudyBoostRow extends StudyPairTest {
  arch: string;
  family: string;
  params: number;
  random: number;
  imagenet: number;
}
export interface StudyTruncationRow extends StudyPairTest {
  arch: string;
  init: StudyInit;
  full: string;
  truncated: string;
  truncatedAt: string;
  fullParams: number;
  params: number;
  fullAuroc: number;
  auroc: number;
  gain: number;
  significantDrop: boolean;
}
export interface StudyFindings {
  seeds: StudySeedSpread[];
  imagenetVsAuroc: { imagenet: StudyRho | Reason; random: StudyRho | Reason; paper: typeof CHEXTRANSFER_PAPER.imagenetRho };
  /** Each finding below carries the paper's value (`paper`) whether ours was computed or not. */
  familyVsSize: (
    | {
        families: { family: string; models: { config: string; arch: string; params: number; meanAuroc: number }[]; mean: number; range: number }[];
        /** Mean AUROC range within families with at least two sizes. */
        withinFamilySpread: number;
        /** Range of the family means. */
        betweenFamilySpread: number;
        familyMattersMore: boolean;
      }
    | Reason
  ) & { paper: string };
  pretrainingBoost: ({ rows: StudyBoostRow[]; vsParams: StudyRho | Reason } | Reason) & { paper: number };
  truncation: ({ rows: StudyTruncationRow[]; meanGain: number | null; eligible: string[] } | Reason) & { paper: number };
}

/** results.json */
export interface StudyResults {
  version: 1;
  preset: string;
  data: { dir: string; /** 'synthetic' phantoms, else the layout found (CheXpert, MIMIC-CXR(-JPG), a labelled CSV) */ kind: 'synthetic' | 'chexpert' | 'mimic-cxr' | 'mimic-cxr-jpg' | 'csv'; train: number | null; valid: number | null; tasks: string[]; imgSize: number | null };
  settings: Record<string, unknown>;
  runs: StudyRunResult[];
  skipped: StudySkipped[];
  findings: StudyFindings;
}

/** Options of {@link studyResults}. */
export interface StudyResultsOptions {
  preset?: string;
  data?: StudyResults['data'];
  settings?: Record<string, unknown>;
  /** Bootstrap replicates of the paired tests and the rho CIs (default 1000). */
  bootstrap?: number;
  /** Resampling seed (default 0). */
  seed?: number;
}

const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;

/** A short fingerprint (FNV-1a, hex) of a validation set: tasks, labels and mask. */
export function validationFingerprint(p: Pick<RunPredictions, 'n' | 'tasks' | 'labels' | 'mask'>): string {
  let h = 0x811c9dc5;
  const add = (v: number) => {
    h ^= v & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  for (const ch of `${p.n}|${p.tasks.join(',')}|`) add(ch.charCodeAt(0));
  for (let i = 0; i < p.labels.length; i++) add(Math.round(p.labels[i]! * 2) + 4 * Math.round(p.mask[i]!));
  return `${p.n}x${p.tasks.length}-${h.toString(16).padStart(8, '0')}`;
}

function rhoWithCi(models: { config: string; x: number; y: number }[], nBoot: number, seed: number, what: string): StudyRho | Reason {
  if (models.length < 3) return { reason: `needs at least 3 models (${what}); ${models.length} present` };
  const xs = models.map((m) => m.x);
  const ys = models.map((m) => m.y);
  const s = spearman(xs, ys);
  if (!Number.isFinite(s.rho)) return { reason: `Spearman rho is undefined (${what}: constant values)` };
  const rand = rng(seed ^ 0x2545f491);
  const reps: number[] = [];
  for (let b = 0; b < nBoot; b++) {
    const idx = models.map(() => Math.floor(rand() * models.length));
    const r = spearman(idx.map((i) => xs[i]!), idx.map((i) => ys[i]!)).rho;
    if (Number.isFinite(r)) reps.push(r);
  }
  reps.sort((a, b) => a - b);
  const q = (p: number) => (reps.length === 0 ? Number.NaN : reps[Math.min(reps.length - 1, Math.max(0, Math.floor(p * reps.length)))]!);
  return { n: models.length, rho: s.rho, pValue: s.pValue, ci: [q(0.025), q(0.975)], models };
}

function rowsOf(flat: ArrayLike<number>, n: number, k: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => flat[i * k + j]!));
}

/** Refuses runs validated on different sets, or a run given twice. */
function checkComparable(runs: StudyRunResult[]): void {
  const validations = [...new Set(runs.map((r) => r.validation))];
  if (validations.length > 1) {
    const by = validations.map((v) => `${v}: ${runs.filter((r) => r.validation === v).map((r) => r.id).slice(0, 3).join(', ')}`);
    throw new Error(
      `These runs were validated on different validation sets (${by.join(' | ')}); a report compares runs on one validation set. Report each set of runs separately.`,
    );
  }
  const dup = runs.find((r, i) => runs.findIndex((q) => q.id === r.id) !== i);
  if (dup) throw new Error(`Run '${dup.id}' appears twice; give each run folder once.`);
}

/** What the findings share: the runs by configuration, their means over seeds, the paired test. */
interface FindingContext {
  configs: Map<string, StudyRunResult[]>;
  seeds: StudySeedSpread[];
  /** Configurations of full (untruncated) models. */
  full: string[];
  skipped: StudySkipped[];
  nBoot: number;
  bseed: number;
  /** Mean AUROC over the seeds of a configuration. */
  auroc(config: string): number;
  /** The configuration's first run (lowest id): its grid place and model facts. */
  first(config: string): StudyRunResult;
  /** Paired bootstrap test of two configurations on the lowest seed both have. */
  pair(a: string, b: string): StudyPairTest | Reason;
}

/** Per configuration: the mean over seeds, with the spread across seeds. */
function seedSpreads(configs: Map<string, StudyRunResult[]>): StudySeedSpread[] {
  return [...configs].map(([config, rs]) => {
    const v = rs.map((r) => r.meanAuroc);
    const m = mean(v);
    const cis = rs.filter((r) => r.ci);
    return {
      config,
      seeds: rs.map((r) => r.seed),
      mean: m,
      sd: v.length > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1)) : null,
      min: Math.min(...v),
      max: Math.max(...v),
      ci: cis.length ? [mean(cis.map((r) => r.ci![0])), mean(cis.map((r) => r.ci![1]))] : null,
    };
  });
}

/** The paired bootstrap test of configurations a and b, on the validation predictions of their common lowest seed. */
function pairedTest(configs: Map<string, StudyRunResult[]>, predictions: ReadonlyMap<string, RunPredictions>, nBoot: number, bseed: number, a: string, b: string): StudyPairTest | Reason {
  const sa = configs.get(a)!.map((r) => r.seed);
  const common = configs.get(b)!.map((r) => r.seed).filter((s) => sa.includes(s));
  if (common.length === 0) return { reason: `${a} and ${b} share no seed` };
  const seed = Math.min(...common);
  const ra = configs.get(a)!.find((r) => r.seed === seed)!;
  const rb = configs.get(b)!.find((r) => r.seed === seed)!;
  const pa = predictions.get(ra.id);
  const pb = predictions.get(rb.id);
  if (!pa || !pb) return { reason: `no validation predictions for ${!pa ? ra.id : rb.id}` };
  const k = pa.tasks.length;
  const t = pairedBootstrapMeanAurocTest(rowsOf(pa.labels, pa.n, k), rowsOf(pa.probs, pa.n, k), rowsOf(pb.probs, pb.n, k), {
    tasks: pa.tasks,
    mask: rowsOf(pa.mask, pa.n, k),
    n: nBoot,
    seed: bseed,
  });
  return { seed, diff: t.diff, ci: [t.lower, t.upper], pValue: t.pValue };
}

function findingContext(runs: StudyRunResult[], predictions: ReadonlyMap<string, RunPredictions>, skipped: StudySkipped[], options: StudyResultsOptions): FindingContext {
  const nBoot = options.bootstrap ?? 1000;
  const bseed = options.seed ?? 0;
  const configs = new Map<string, StudyRunResult[]>();
  for (const r of [...runs].sort((a, b) => a.id.localeCompare(b.id))) configs.set(r.config, [...(configs.get(r.config) ?? []), r]);
  const seeds = seedSpreads(configs);
  const auroc = (config: string) => seeds.find((s) => s.config === config)!.mean;
  const first = (config: string) => configs.get(config)![0]!;
  const full = [...configs.keys()].filter((c) => first(c).truncatedAt === null);
  const pair = (a: string, b: string) => pairedTest(configs, predictions, nBoot, bseed, a, b);
  return { configs, seeds, full, skipped, nBoot, bseed, auroc, first, pair };
}

/** Finding 1: ImageNet top-1 vs AUROC over the full models of one init. */
function imagenetVsAuroc(x: FindingContext, init: StudyInit): StudyRho | Reason {
  const ms = x.full.filter((c) => x.first(c).init === init).map((c) => ({ config: c, x: x.first(c).imagenetTop1, y: x.auroc(c) }));
  if (ms.length === 0) {
    const why = x.skipped.find((s) => s.id.includes(`.${init}.`));
    return { reason: why ? `needs ImageNet weights: ${why.reason}` : `no ${init}-init runs` };
  }
  return rhoWithCi(ms, x.nBoot, x.bseed, `${init} init, full models`);
}

/** Finding 2: random init, the spread of mean AUROC within families against the spread between them. */
function familyVsSize(x: FindingContext): StudyFindings['familyVsSize'] {
  const rnd = x.full.filter((c) => x.first(c).init === 'random');
  const fams = [...new Set(rnd.map((c) => x.first(c).family))].map((family) => {
    const models = rnd
      .filter((c) => x.first(c).family === family)
      .map((c) => ({ config: c, arch: x.first(c).arch, params: x.first(c).params, meanAuroc: x.auroc(c) }))
      .sort((a, b) => a.params - b.params);
    const v = models.map((m) => m.meanAuroc);
    return { family, models, mean: mean(v), range: Math.max(...v) - Math.min(...v) };
  });
  const multi = fams.filter((f) => f.models.length >= 2);
  const paper = CHEXTRANSFER_PAPER.familyVsSize;
  if (fams.length < 2) return { reason: `needs random-init full models of at least 2 families; ${fams.length} present`, paper };
  if (multi.length === 0) return { reason: 'needs two sizes of one family (random init) for a within-family comparison', paper };
  const within = mean(multi.map((f) => f.range));
  const means = fams.map((f) => f.mean);
  const between = Math.max(...means) - Math.min(...means);
  return { families: fams, withinFamilySpread: within, betweenFamilySpread: between, familyMattersMore: between > within, paper };
}

/** Finding 3: the pretraining boost per architecture, and its rank correlation with the parameter count. */
function pretrainingBoost(x: FindingContext): StudyFindings['pretrainingBoost'] {
  const boost: StudyBoostRow[] = [];
  const boostWhy: string[] = [];
  for (const c of x.full.filter((c) => x.first(c).init === 'random')) {
    const r = x.first(c);
    const other = `${r.arch}.imagenet.full`;
    if (!x.configs.has(other)) continue;
    const t = x.pair(other, c);
    if ('reason' in t) boostWhy.push(t.reason);
    else boost.push({ arch: r.arch, family: r.family, params: r.params, random: x.auroc(c), imagenet: x.auroc(other), ...t, diff: x.auroc(other) - x.auroc(c) });
  }
  if (boost.length === 0) {
    const why = x.skipped.find((s) => s.id.includes('.imagenet.'));
    return {
      reason: why
        ? `needs ImageNet weights: ${why.reason}`
        : boostWhy[0] ?? 'needs the same architecture trained from random init and from ImageNet weights',
      paper: CHEXTRANSFER_PAPER.boostVsParamsRho,
    };
  }
  return {
    rows: boost,
    vsParams: rhoWithCi(boost.map((b) => ({ config: b.arch, x: b.params, y: b.diff })), x.nBoot, x.bseed, 'architectures with both inits'),
    paper: CHEXTRANSFER_PAPER.boostVsParamsRho,
  };
}

/** Finding 4: each truncated model against its full model (same arch and init), and the mean efficiency gain. */
function truncationFinding(x: FindingContext): StudyFindings['truncation'] {
  const trows: StudyTruncationRow[] = [];
  for (const c of [...x.configs.keys()].filter((c) => x.first(c).truncatedAt !== null)) {
    const t = x.first(c);
    const f = `${t.arch}.${t.init}.full`;
    if (!x.configs.has(f)) continue;
    const test = x.pair(c, f);
    if ('reason' in test) continue;
    const fr = x.first(f);
    trows.push({
      arch: t.arch, init: t.init, full: f, truncated: c, truncatedAt: t.truncatedAt!,
      fullParams: fr.params, params: t.params, fullAuroc: x.auroc(f), auroc: x.auroc(c), gain: fr.params / t.params,
      ...test,
      diff: x.auroc(c) - x.auroc(f),
      significantDrop: false,
    });
  }
  if (trows.length === 0) return { reason: 'needs a truncated run and the full run of the same architecture and init', paper: CHEXTRANSFER_PAPER.truncationMeanGain };
  const s = summarizeTruncation(
    trows.map((r) => ({ name: r.truncated, referenceParams: r.fullParams, candidateParams: r.params, referenceAuroc: r.fullAuroc, candidateAuroc: r.auroc, pValue: r.pValue })),
  );
  s.rows.forEach((row, i) => (trows[i]!.significantDrop = row.significantDrop));
  return { rows: trows, meanGain: Number.isFinite(s.meanGain) ? s.meanGain : null, eligible: s.eligible, paper: CHEXTRANSFER_PAPER.truncationMeanGain };
}

/**
 * Computes results.json from finished runs (and their validation predictions, for the paired tests): the spread
 * over seeds, and the four findings, each with the reason when the runs present cannot give it.
 * Throws when the runs were validated on different validation sets.
 * @example const results = studyResults(runs, predictionsById, skipped, { preset: 'quick' });
 */
export function studyResults(
  runs: StudyRunResult[],
  predictions: ReadonlyMap<string, RunPredictions>,
  skipped: StudySkipped[] = [],
  options: StudyResultsOptions = {},
): StudyResults {
  checkComparable(runs);
  const x = findingContext(runs, predictions, skipped, options);
  return {
    version: 1,
    preset: options.preset ?? 'custom',
    data: options.data ?? { dir: '', kind: 'chexpert', train: null, valid: null, tasks: runs[0] ? Object.keys(runs[0].perTask) : [], imgSize: null },
    settings: options.settings ?? {},
    runs: [...runs].sort((a, b) => a.id.localeCompare(b.id)),
    skipped,
    findings: {
      seeds: x.seeds,
      imagenetVsAuroc: { imagenet: imagenetVsAuroc(x, 'imagenet'), random: imagenetVsAuroc(x, 'random'), paper: CHEXTRANSFER_PAPER.imagenetRho },
      familyVsSize: familyVsSize(x),
      pretrainingBoost: pretrainingBoost(x),
      truncation: truncationFinding(x),
    },
  };
}

const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3));
const fp = (v: number) => (!Number.isFinite(v) ? 'n/a' : v < 1e-3 ? v.toExponential(1) : v.toFixed(3));
const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(3)}` : 'n/a');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const ciText = (c: [number, number] | null) => (c ? `${f3(c[0])} to ${f3(c[1])}` : 'n/a');
const isReason = (x: object): x is Reason => 'reason' in x;
const logp = (p: number) => Math.log10(p);

/** The report: markdown and SVG figures (linked as `figures/<name>`). */
export interface StudyReportFiles {
  markdown: string;
  figures: { name: string; svg: string }[];
}

type Figures = { name: string; svg: string }[];

/**
 * Whether the paper's numbers can stand beside ours: the paper scored CheXpert's 5 competition tasks, so runs on
 * other tasks (a labelled CSV's own findings, or a subset) are not compared with it.
 */
export function paperComparable(tasks: readonly string[]): boolean {
  return tasks.length === COMPETITION_TASKS.length && COMPETITION_TASKS.every((t) => tasks.includes(t));
}

const NOT_COMPARED = "not compared: the paper's numbers are for CheXpert's 5 competition tasks, these runs are on other tasks";

/** The paper's value as quoted beside ours (bold in sentences), or the plain reason it is not quoted. */
const paperValue = (v: string | number, comparable: boolean, bold = true): string => (comparable ? (bold ? `**${v}**` : String(v)) : NOT_COMPARED);

/** Title, the synthetic-data warning, what was run and how it was trained. */
function introSection(results: StudyResults, title: string | undefined): string[] {
  const { runs, skipped } = results;
  const md: string[] = [`# ${title ?? 'CheXtransfer study'}`, ''];
  if (results.data.kind === 'synthetic') {
    md.push(
      '> **These runs use synthetic phantoms, not chest X-rays. Synthetic phantoms say nothing about real chest X-rays:** ' +
        'the numbers below only show that the pipeline works end to end. Run the `paper` preset on a real CheXpert copy for the study itself.',
      '',
    );
  }
  if (!paperComparable(results.data.tasks)) {
    md.push(
      `> **These runs are on other tasks than the paper's (${results.data.tasks.join(', ')}; the paper: CheXpert's competition tasks ` +
        `${COMPETITION_TASKS.join(', ')}).** The paper's numbers are for different tasks, so this report does not compare with them.`,
      '',
    );
  }
  md.push(
    `Preset \`${results.preset}\`; data: ${results.data.kind}${results.data.train !== null ? ` (${results.data.train} train / ${results.data.valid} valid images)` : ''}` +
      `${results.data.imgSize ? `, ${results.data.imgSize} px` : ''}; tasks: ${results.data.tasks.join(', ')}. ` +
      `${runs.length} run${runs.length === 1 ? '' : 's'} finished, ${skipped.length} skipped. ` +
      'Mean AUROC is the validation mean over the tasks of the top-k checkpoint ensemble, with its bootstrap 95% CI over validation cases.',
    '',
  );
  const st = results.settings as { maxSteps?: number | null; epochs?: number | null; batchSize?: number; topK?: number; uncertainty?: string };
  if (st.batchSize !== undefined) {
    md.push(
      `Training per run: ${st.maxSteps ? `${st.maxSteps} steps` : `${st.epochs} epochs`}, batch ${st.batchSize}, Adam, uncertainty policy ${st.uncertainty ?? 'ones'}, ` +
        `top-${st.topK ?? 1} checkpoint ensemble. Full settings in results.json.`,
      '',
    );
  }
  return md;
}

/** The runs table (with the spread over seeds when there are several) and the skipped runs. */
function runsSection(results: StudyResults): string[] {
  const { runs, skipped, findings } = results;
  const md: string[] = ['## Runs', ''];
  if (findings.seeds.some((s) => s.seeds.length > 1)) {
    md.push('Per configuration: the mean over seeds, the spread across seeds (SD, min-max) beside the mean bootstrap 95% CI of one run.', '');
    md.push('| configuration | seeds | mean AUROC | SD across seeds | min-max | bootstrap 95% CI (mean of runs) |');
    md.push('|---|---:|---:|---:|---|---|');
    for (const s of findings.seeds) {
      md.push(`| ${cell(s.config)} | ${s.seeds.length} | ${f3(s.mean)} | ${f3(s.sd)} | ${f3(s.min)}-${f3(s.max)} | ${ciText(s.ci)} |`);
    }
    md.push('');
  }
  md.push('| run | family | init | truncated at | params (M) | ImageNet top-1 | seed | steps | mean AUROC | 95% CI | seconds |');
  md.push('|---|---|---|---|---:|---:|---:|---:|---:|---|---:|');
  for (const r of runs) {
    md.push(
      `| ${cell(r.id)} | ${r.family} | ${r.init} | ${r.truncatedAt ?? '-'} | ${(r.params / 1e6).toFixed(2)} | ${r.imagenetTop1.toFixed(2)} | ${r.seed} | ${r.steps} | ` +
        `${f3(r.meanAuroc)} | ${ciText(r.ci)} | ${Math.round(r.seconds)} |`,
    );
  }
  md.push('');
  if (skipped.length > 0) {
    md.push('### Skipped runs', '');
    for (const s of skipped) md.push(`- \`${s.id}\`: ${s.reason}`);
    md.push('');
  }
  return md;
}

/** The figure file of a run's training curves (run ids are file-name safe; anything else is replaced). */
const curvesFigure = (id: string) => `curves-${id.replace(/[^\w.-]/g, '_')}.svg`;

/** Links to each run's training curves, drawn into figures/ so the report stays self-contained. */
function curvesSection(results: StudyResults, curves: ReadonlyMap<string, TrainingCurves> | undefined, figures: Figures): string[] {
  const drawn = results.runs.filter((r) => curves?.has(r.id));
  if (drawn.length === 0) return [];
  for (const r of drawn) figures.push({ name: curvesFigure(r.id), svg: curvesSvg(curves!.get(r.id)!, { title: r.id }) });
  return [
    '### Training curves', '',
    'Training loss, validation mean and per-task AUROC against steps, and the checkpoints kept by top-k (each run folder has the same as curves.svg):',
    '',
    ...drawn.map((r) => `- [${r.id}](figures/${curvesFigure(r.id)})`),
    '',
  ];
}

function imagenetSection(findings: StudyFindings, figures: Figures, comparable: boolean): string[] {
  const md: string[] = ['## 1. ImageNet accuracy does not predict CheXpert AUROC', ''];
  md.push('Spearman rho between ImageNet top-1 and mean AUROC over the full models (mean over seeds), per init, with a bootstrap 95% CI over models.', '');
  md.push('| init | models | Spearman rho | 95% CI | p | paper |');
  md.push('|---|---:|---:|---|---:|---:|');
  const pts1: ScatterPoint[] = [];
  for (const init of ['imagenet', 'random'] as const) {
    const f = findings.imagenetVsAuroc[init];
    const paper = comparable ? findings.imagenetVsAuroc.paper[init] : 'not compared (other tasks)';
    if (isReason(f)) md.push(`| ${init} | - | not computed: ${cell(f.reason)} | | | ${paper} |`);
    else {
      md.push(`| ${init} | ${f.n} | ${f3(f.rho)} | ${ciText(f.ci)} | ${fp(f.pValue)} | ${paper} |`);
      for (const m of f.models) pts1.push({ x: m.x, y: m.y, label: m.config.split('.')[0], group: `${init} init` });
    }
  }
  md.push('');
  if (pts1.length > 0) {
    figures.push({ name: 'imagenet-vs-auroc.svg', svg: scatterSvg(pts1, { title: 'Mean AUROC vs ImageNet top-1 (full models)', xLabel: 'ImageNet top-1 (%)', yLabel: 'validation mean AUROC' }) });
    md.push('![ImageNet top-1 vs mean AUROC](figures/imagenet-vs-auroc.svg)', '');
  }
  return md;
}

/** Finding 2's paper statement as a sentence: the paper's words, and that it has no number to compare. */
const paperFamilyText = (statement: string, comparable: boolean) => (comparable ? `${statement} (a qualitative finding; it gives no single number)` : NOT_COMPARED);

function familySection(findings: StudyFindings, figures: Figures, comparable: boolean): string[] {
  const md: string[] = ['## 2. Without pretraining, the family matters more than the size', ''];
  const f2 = findings.familyVsSize;
  if (isReason(f2)) return [...md, `Not computed: ${f2.reason}.`, '', `Paper: ${paperFamilyText(f2.paper, comparable)}.`, ''];
  md.push('| family | models (params M: mean AUROC) | family mean | range within family |');
  md.push('|---|---|---:|---:|');
  for (const f of f2.families) {
    md.push(`| ${f.family} | ${f.models.map((m) => `${m.arch} (${(m.params / 1e6).toFixed(1)}: ${f3(m.meanAuroc)})`).join(', ')} | ${f3(f.mean)} | ${f.models.length > 1 ? f3(f.range) : '-'} |`);
  }
  md.push('');
  md.push(
    `Spread within families (mean AUROC range over families with two or more sizes): **${f3(f2.withinFamilySpread)}**; ` +
      `spread between families (range of family means): **${f3(f2.betweenFamilySpread)}** — ` +
      `${f2.familyMattersMore ? 'here the family matters more than the size' : 'here the size matters as much as or more than the family'}. ` +
      `Paper: ${paperFamilyText(f2.paper, comparable)}.`,
    '',
  );
  const pts: ScatterPoint[] = f2.families.flatMap((f) => f.models.map((m) => ({ x: Math.log10(m.params), y: m.meanAuroc, label: m.arch, group: f.family })));
  const links = f2.families.flatMap((f) => {
    const start = pts.findIndex((p) => p.group === f.family);
    return f.models.slice(1).map((_, i) => ({ from: start + i, to: start + i + 1 }));
  });
  figures.push({ name: 'family-vs-size.svg', svg: scatterSvg(pts, { title: 'Random init: mean AUROC by family and size', xLabel: 'log10(parameters)', yLabel: 'validation mean AUROC', links, formatX: (v) => v.toFixed(2) }) });
  md.push('![Random init: family vs size](figures/family-vs-size.svg)', '');
  return md;
}

function boostSection(findings: StudyFindings, figures: Figures, comparable: boolean): string[] {
  const md: string[] = ['## 3. Pretraining helps smaller models more', ''];
  const f3b = findings.pretrainingBoost;
  if (isReason(f3b)) return [...md, `Not computed: ${f3b.reason}.`, '', `Paper: Spearman rho of the boost with parameter count ${paperValue(f3b.paper, comparable)}.`, ''];
  md.push('Boost = mean AUROC (ImageNet init) - mean AUROC (random init), with a paired bootstrap test on the same validation cases.', '');
  md.push('| architecture | params (M) | random | ImageNet | boost | 95% CI (paired) | p |');
  md.push('|---|---:|---:|---:|---:|---|---:|');
  for (const b of f3b.rows) md.push(`| ${b.arch} | ${(b.params / 1e6).toFixed(2)} | ${f3(b.random)} | ${f3(b.imagenet)} | ${signed(b.diff)} | ${ciText(b.ci)} | ${fp(b.pValue)} |`);
  md.push('');
  const v = f3b.vsParams;
  md.push(
    isReason(v)
      ? `Spearman rho of the boost with parameter count: not computed (${v.reason}); paper: ${paperValue(f3b.paper, comparable, false)}.`
      : `Spearman rho of the boost with parameter count: **${f3(v.rho)}** (95% CI ${ciText(v.ci)}, p ${fp(v.pValue)}, ${v.n} architectures); paper: ${paperValue(f3b.paper, comparable)}.`,
    '',
  );
  figures.push({
    name: 'pretraining-boost.svg',
    svg: scatterSvg(f3b.rows.map((b) => ({ x: Math.log10(b.params), y: b.diff, yLower: b.ci[0], yUpper: b.ci[1], label: b.arch, group: b.family })), {
      title: 'Pretraining boost vs parameters',
      xLabel: 'log10(parameters)',
      yLabel: 'AUROC boost from ImageNet weights',
      formatX: (x) => x.toFixed(2),
    }),
  });
  md.push('![Pretraining boost vs parameters](figures/pretraining-boost.svg)', '');
  return md;
}

/** Finding 4's figure: each full model linked to its truncated versions (open markers). */
function truncationFigure(rows: StudyTruncationRow[]): string {
  const pts: ScatterPoint[] = [];
  const links: { from: number; to: number }[] = [];
  const at = new Map<string, number>();
  const point = (config: string, params: number, y: number, hollow: boolean, group: string) => {
    if (!at.has(config)) {
      at.set(config, pts.length);
      pts.push({ x: Math.log10(params), y, label: config.replace(/\.(imagenet|random)\./, (m) => (m === '.imagenet.' ? ' IN ' : ' rnd ')).replace(/ full$/, ''), group, hollow });
    }
    return at.get(config)!;
  };
  for (const r of rows) {
    const g = `${r.arch} (${r.init})`;
    const a = point(r.full, r.fullParams, r.fullAuroc, false, g);
    const b = point(r.truncated, r.params, r.auroc, true, g);
    links.push({ from: a, to: b });
  }
  return scatterSvg(pts, { title: 'Truncation: mean AUROC vs parameters', xLabel: 'log10(parameters)', yLabel: 'validation mean AUROC', links, formatX: (x) => x.toFixed(2) });
}

function truncationSection(findings: StudyFindings, figures: Figures, comparable: boolean): string[] {
  const md: string[] = ['## 4. Truncated models are more parameter-efficient', ''];
  const f4 = findings.truncation;
  if (isReason(f4)) {
    return [...md, `Not computed: ${f4.reason}.`, '', `Paper: mean parameter-efficiency gain of truncated models without a significant drop ${paperValue(`${f4.paper}x`, comparable)}.`, ''];
  }
  md.push('Gain = full / truncated parameters; difference = truncated - full mean AUROC, paired bootstrap on the same validation cases.', '');
  md.push('| truncated | full | params (M) full -> truncated | gain | AUROC full -> truncated | difference | 95% CI (paired) | p | significant drop |');
  md.push('|---|---|---|---:|---|---:|---|---:|---|');
  for (const r of f4.rows) {
    md.push(
      `| ${cell(r.truncated)} | ${cell(r.full)} | ${(r.fullParams / 1e6).toFixed(2)} -> ${(r.params / 1e6).toFixed(2)} | ${r.gain.toFixed(2)}x | ` +
        `${f3(r.fullAuroc)} -> ${f3(r.auroc)} | ${signed(r.diff)} | ${ciText(r.ci)} | ${fp(r.pValue)} | ${r.significantDrop ? 'yes' : 'no'} |`,
    );
  }
  md.push('');
  md.push(
    `Mean parameter-efficiency gain over the ${f4.eligible.length} truncation${f4.eligible.length === 1 ? '' : 's'} without a significant drop (p < 0.05): ` +
      `**${f4.meanGain === null ? 'n/a' : `${f4.meanGain.toFixed(2)}x`}**; paper: ${paperValue(`${f4.paper}x`, comparable)}.`,
    '',
  );
  figures.push({ name: 'truncation.svg', svg: truncationFigure(f4.rows) });
  md.push('![Truncation: AUROC vs parameters](figures/truncation.svg)', '');
  md.push('Filled markers: full models; open markers: truncated; a line links each full model to its truncated versions.', '');
  return md;
}

function closingSection(results: StudyResults): string[] {
  const md: string[] = ['## How to read this', ''];
  md.push(
    'Statistics: Spearman rho with scipy-equal p-values; rho CIs resample the models; AUROC CIs and paired tests resample the validation cases ' +
      '(1000 replicates). Paper numbers: Ke et al., "CheXtransfer: performance and parameter efficiency of ImageNet models for chest X-ray interpretation", ACM CHIL 2021.',
  );
  if (results.data.kind === 'synthetic') md.push('', 'Again: synthetic phantoms say nothing about real chest X-rays.');
  return md;
}

/** Options of {@link studyReport}. */
export interface StudyReportOptions {
  title?: string;
  /** Training curves by run id (from each run's metrics.json): drawn as figures/curves-<id>.svg and linked. */
  curves?: ReadonlyMap<string, TrainingCurves>;
}

/**
 * Renders report.md and the figures from results.json: the runs (with the spread over seeds beside the bootstrap CI),
 * the skipped runs and why, and the four findings, each with its figure and its statistic next to the paper's.
 * @example const { markdown, figures } = studyReport(results);
 */
export function studyReport(results: StudyResults, options: StudyReportOptions = {}): StudyReportFiles {
  const { findings } = results;
  const figures: Figures = [];
  const comparable = paperComparable(results.data.tasks);
  const md = [
    ...introSection(results, options.title),
    ...runsSection(results),
    ...curvesSection(results, options.curves, figures),
    ...imagenetSection(findings, figures, comparable),
    ...familySection(findings, figures, comparable),
    ...boostSection(findings, figures, comparable),
    ...truncationSection(findings, figures, comparable),
    ...closingSection(results),
  ];
  return { markdown: md.join('\n') + '\n', figures };
}
