import { describe, expect, it } from 'vitest';
import {
  auroc,
  averagePrecision,
  bootstrapCI,
  bootstrapMeanAurocCI,
  efficiencyGain,
  kendallTau,
  pairedBootstrapMeanAurocTest,
  pairedBootstrapTest,
  parameterEfficiency,
  perTaskAuroc,
  prCurve,
  rocCurve,
  spearman,
  summarizeTruncation,
} from '../src/index.js';
import { rng, randNormal } from '../src/utils/rng.js';
import { expectClose as closeTo } from './helpers/close.js';
import { readJsonFixture } from './helpers/index.js';

// untyped: each fixture's shape is declared where it is read
const fixture = (name: string) => readJsonFixture<any>(`metrics/${name}`);

// fixtures write NaN as null and infinities as strings
function num(v: unknown): number {
  if (v === null) return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return v as number;
}

function expectClose(actual: number, expected: unknown, rel: number, what: string): void {
  closeTo(actual, num(expected), rel, what);
}

function expectAllClose(actual: number[], expected: unknown[], rel: number, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  actual.forEach((a, i) => expectClose(a, expected[i], rel, `${what}[${i}]`));
}

interface BinaryCase {
  name: string;
  labels: number[];
  scores: number[];
  mask?: number[];
  auroc: number | null;
  ap: number | null;
  roc?: { fpr: number[]; tpr: number[]; thresholds: number[] };
  pr?: { precision: number[]; recall: number[]; thresholds: number[] };
}

const binary = fixture('binary.json') as { versions: Record<string, string>; cases: BinaryCase[] };
const corr = fixture('correlation.json') as {
  cases: {
    name: string;
    x: number[];
    y: number[];
    rho: number | null;
    spearmanP: number | null;
    tau: number | null;
    kendallP: number | null;
    kendallMethod: 'exact' | 'asymptotic';
  }[];
};

describe('auroc / averagePrecision match scikit-learn ' + binary.versions.sklearn, () => {
  it.each(binary.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const opts = c.mask ? { mask: c.mask } : {};
    expectClose(auroc(c.labels, c.scores, opts), c.auroc, 1e-12, 'auroc');
    expectClose(averagePrecision(c.labels, c.scores, opts), c.ap, 1e-12, 'averagePrecision');
    // Float64Array input gives the same value
    expectClose(auroc(Float64Array.from(c.labels), Float64Array.from(c.scores), opts), c.auroc, 1e-12, 'auroc typed');
    if (c.roc) {
      const r = rocCurve(c.labels, c.scores, opts);
      expect(r.thresholds[0]).toBe(Number.POSITIVE_INFINITY);
      expect([r.fpr[0], r.tpr[0]]).toEqual([0, 0]);
      expectAllClose(r.fpr.slice(1), c.roc.fpr, 1e-12, 'fpr');
      expectAllClose(r.tpr.slice(1), c.roc.tpr, 1e-12, 'tpr');
      expectAllClose(r.thresholds.slice(1), c.roc.thresholds, 0, 'roc thresholds');
    }
    if (c.pr) {
      const p = prCurve(c.labels, c.scores, opts);
      expectAllClose(p.precision, c.pr.precision, 1e-12, 'precision');
      expectAllClose(p.recall, c.pr.recall, 1e-12, 'recall');
      expectAllClose(p.thresholds, c.pr.thresholds, 0, 'pr thresholds');
    }
  });

  it('gives 0.5 for all-tied scores, 1 for perfect and 0 for inverted ranking', () => {
    expect(auroc([0, 1, 0, 1], [0.2, 0.2, 0.2, 0.2])).toBe(0.5);
    expect(auroc([0, 0, 1, 1], [1, 2, 3, 4])).toBe(1);
    expect(auroc([0, 0, 1, 1], [4, 3, 2, 1])).toBe(0);
    expect(auroc(new Float32Array([0, 0, 1, 1]), new Float32Array([0.1, 0.4, 0.35, 0.8]))).toBe(0.75);
  });

  it('returns NaN for a single class and ignores masked-out placeholders', () => {
    expect(auroc([1, 1, 1], [0.1, 0.2, 0.3])).toBeNaN();
    expect(averagePrecision([0, 0], [0.1, 0.2])).toBeNaN();
    expect(auroc([0, 1, -1, Number.NaN], [0.1, 0.9, Number.NaN, 0.5], { mask: [1, 1, 0, false] })).toBe(1);
    expect(auroc([0, 1, 1], [0.1, 0.9, 0.2], { mask: [0, 0, 0] })).toBeNaN();
  });

  it('rejects bad input with a message naming the problem', () => {
    expect(() => auroc([0, 1], [0.5])).toThrow(/different lengths \(2 vs 1\)/);
    expect(() => auroc([], [])).toThrow(/empty/);
    expect(() => auroc([0, 2, 1], [0.1, 0.2, 0.3])).toThrow(/labels\[1\] is 2; labels must be 0 or 1/);
    expect(() => auroc([0, -1, 1], [0.1, 0.2, 0.3])).toThrow(/labels\[1\] is -1.*mask/);
    expect(() => auroc([0, 1], [0.1, Number.NaN])).toThrow(/scores\[1\] is NaN; scores must be finite/);
    expect(() => auroc([0, 1], [0.1, undefined as unknown as number])).toThrow(/scores\[1\] is undefined/);
    expect(() => auroc([0, 1], [0.1, 0.2], { mask: [1, 2] })).toThrow(/mask\[1\] is 2/);
    expect(() => auroc([0, 1], [0.1, 0.2], { mask: [1] })).toThrow(/labels and mask have different lengths/);
    expect(() => auroc(null as unknown as number[], [0.1])).toThrow(/labels must be an array/);
    expect(() => averagePrecision([0, 1, 3], [1, 2, 3])).toThrow(/^averagePrecision: labels\[2\] is 3/);
  });
});

describe('perTaskAuroc', () => {
  const f = fixture('per_task.json');
  it('matches scikit-learn per task with a mask and skips the single-class task', () => {
    const r = perTaskAuroc(f.labels, f.scores, { tasks: f.tasks, mask: f.mask });
    for (const t of f.tasks as string[]) expectClose(r.perTask[t]!, f.perTask[t], 1e-12, t);
    expect(r.undefinedTasks).toEqual(f.undefinedTasks);
    expect(r.undefinedTasks.length).toBe(1);
    expectClose(r.meanAuroc, f.meanAuroc, 1e-12, 'meanAuroc');
    expect(Number.isFinite(r.meanAuroc)).toBe(true);
  });

  it('names tasks by default and validates the shape', () => {
    const r = perTaskAuroc(
      [
        [0, 1],
        [1, 1],
      ],
      [
        [0.1, 0.3],
        [0.8, 0.2],
      ],
    );
    expect(r.perTask).toEqual({ task0: 1, task1: Number.NaN });
    expect(r.undefinedTasks).toEqual(['task1']);
    expect(r.meanAuroc).toBe(1);
    expect(() => perTaskAuroc([[0, 1]], [[0.1, 0.2], [0.3, 0.4]])).toThrow(/1 rows but scores has 2/);
    expect(() => perTaskAuroc([[0, 1], [1]], [[0.1, 0.2], [0.3, 0.4]])).toThrow(/labels\[1\] has 1 columns/);
    expect(() => perTaskAuroc([[0, 1]], [[0.1, 0.2]], { tasks: ['a'] })).toThrow(/1 task names for 2 columns/);
    expect(() => perTaskAuroc([[0, 5]], [[0.1, 0.2]], { tasks: ['a', 'b'] })).toThrow(/task "b".*labels\[0\] is 5/);
  });
});

describe('spearman / kendallTau match scipy ' + fixture('correlation.json').versions.scipy, () => {
  it.each(corr.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const s = spearman(c.x, c.y);
    expectClose(s.rho, c.rho, 1e-12, 'rho');
    const k = kendallTau(c.x, c.y);
    expectClose(k.tau, c.tau, 1e-12, 'tau');
    expect(k.method).toBe(c.kendallMethod);
    expectClose(k.pValue, c.kendallP, 1e-9, 'kendall p');
    // scipy reports p = 0 when rho is exactly +-1 (t = inf); we do the same
    expectClose(s.pValue, c.spearmanP, 1e-9, 'spearman p');
  });

  it('covers ties, exact and asymptotic Kendall p-values', () => {
    expect(corr.cases.some((c) => c.kendallMethod === 'exact')).toBe(true);
    expect(corr.cases.some((c) => c.kendallMethod === 'asymptotic' && c.name.includes('ties'))).toBe(true);
  });

  it('returns NaN for constant input and rejects bad input', () => {
    expect(spearman([1, 2, 3], [4, 4, 4]).rho).toBeNaN();
    expect(kendallTau([1, 1, 1], [1, 2, 3]).tau).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow(/x and y have different lengths/);
    expect(() => kendallTau([], [])).toThrow(/empty/);
    expect(() => spearman([1, Number.NaN], [1, 2])).toThrow(/x\[1\] is NaN/);
  });
});

// Synthetic scores: positives shifted by `shift` standard deviations.
function synth(n: number, shift: number, seed: number): { labels: number[]; scores: number[] } {
  const rand = rng(seed);
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rand() < 0.3 ? 1 : 0;
    labels.push(y);
    scores.push(randNormal(rand) + shift * y);
  }
  return { labels, scores };
}

describe('bootstrapCI', () => {
  const { labels, scores } = synth(300, 1, 7);

  it('is deterministic per seed and differs across seeds', () => {
    const a = bootstrapCI(labels, scores, { n: 300, seed: 3 });
    const b = bootstrapCI(labels, scores, { n: 300, seed: 3 });
    const c = bootstrapCI(labels, scores, { n: 300, seed: 4 });
    expect(a).toEqual(b);
    expect(c.lower === a.lower && c.upper === a.upper).toBe(false);
    expect(a.estimate).toBe(auroc(labels, scores));
  });

  it('brackets the estimate, and the interval shrinks with more cases', () => {
    const small = bootstrapCI(labels.slice(0, 80), scores.slice(0, 80), { n: 500, seed: 1 });
    const large = synth(3000, 1, 8);
    const big = bootstrapCI(large.labels, large.scores, { n: 500, seed: 1 });
    for (const r of [small, big]) {
      expect(r.lower).toBeLessThanOrEqual(r.estimate);
      expect(r.upper).toBeGreaterThanOrEqual(r.estimate);
      expect(r.lower).toBeLessThan(r.upper);
    }
    expect(big.upper - big.lower).toBeLessThan((small.upper - small.lower) / 2);
    // width ~ 2 * 1.96 * SE; for AUROC ~0.76 with 900 positives, SE is ~0.01
    expect(big.upper - big.lower).toBeGreaterThan(0.02);
    expect(big.upper - big.lower).toBeLessThan(0.06);
  });

  it('matches a generic statistic run on materialized resamples (fast path = slow path)', () => {
    const slowAuroc = (y: ArrayLike<number>, s: ArrayLike<number>) => auroc(Array.from(y), Array.from(s));
    const slowAp = (y: ArrayLike<number>, s: ArrayLike<number>) => averagePrecision(Array.from(y), Array.from(s));
    const opts = { n: 200, seed: 11 };
    const fast = bootstrapCI(labels, scores, opts);
    const slow = bootstrapCI(labels, scores, { ...opts, statistic: slowAuroc });
    expect(slow.lower).toBeCloseTo(fast.lower, 12);
    expect(slow.upper).toBeCloseTo(fast.upper, 12);
    const fastAp = bootstrapCI(labels, scores, { ...opts, statistic: averagePrecision });
    const slowAp2 = bootstrapCI(labels, scores, { ...opts, statistic: slowAp });
    expect(slowAp2.lower).toBeCloseTo(fastAp.lower, 12);
    expect(slowAp2.upper).toBeCloseTo(fastAp.upper, 12);
    expect(fastAp.estimate).toBe(averagePrecision(labels, scores));
  });

  it('skips and counts replicates with a single class', () => {
    const y = [1, 0, 0, 0, 0, 0, 0, 0];
    const s = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    const r = bootstrapCI(y, s, { n: 400, seed: 0 });
    // P(no positive drawn) = (7/8)^8 ~ 0.34
    expect(r.skipped).toBeGreaterThan(80);
    expect(r.skipped).toBeLessThan(200);
    expect(r.n).toBe(400);
    expect(r.estimate).toBe(1);
    expect(bootstrapCI([1, 1], [0.1, 0.2], { n: 10 })).toMatchObject({ estimate: Number.NaN, skipped: 10 });
  });

  it('rejects bad options and data', () => {
    expect(() => bootstrapCI(labels, scores, { n: 0 })).toThrow(/n must be a positive integer/);
    expect(() => bootstrapCI(labels, scores, { alpha: 1.5 })).toThrow(/alpha must be between 0 and 1/);
    expect(() => bootstrapCI(labels, scores, { seed: 0.5 })).toThrow(/seed must be an integer/);
    expect(() => bootstrapCI([0, 1, 2], [1, 2, 3])).toThrow(/^bootstrapCI: labels\[2\] is 2/);
  });
});

describe('pairedBootstrapTest', () => {
  const rand = rng(99);
  const n = 400;
  const labels = Array.from({ length: n }, () => (rand() < 0.4 ? 1 : 0));
  const noise = labels.map(() => randNormal(rand));
  const good = labels.map((y, i) => noise[i]! * 0.5 + 1.5 * y);
  const weak = labels.map((y, i) => noise[i]! + randNormal(rand) + 0.3 * y);

  it('detects a clearly better model', () => {
    const r = pairedBootstrapTest(labels, good, weak, { n: 500, seed: 0 });
    expect(r.diff).toBeCloseTo(auroc(labels, good) - auroc(labels, weak), 15);
    expect(r.diff).toBeGreaterThan(0.1);
    expect(r.lower).toBeGreaterThan(0);
    expect(r.pValue).toBeLessThan(0.01);
    expect(r.pValue).toBeCloseTo(2 / 501, 12);
    const rev = pairedBootstrapTest(labels, weak, good, { n: 500, seed: 0 });
    expect(rev.diff).toBeCloseTo(-r.diff, 15);
    expect(rev.upper).toBeLessThan(0);
  });

  it('gives diff 0 and p = 1 for identical models, and a large p for a monotone transform', () => {
    const same = pairedBootstrapTest(labels, weak, weak, { n: 200, seed: 5 });
    expect(same).toMatchObject({ diff: 0, lower: 0, upper: 0, pValue: 1 });
    const transformed = pairedBootstrapTest(labels, weak, weak.map((v) => Math.exp(v)), { n: 200, seed: 5 });
    expect(transformed.pValue).toBe(1);
    expect(pairedBootstrapTest(labels, good, weak, { n: 200, seed: 5 })).toEqual(
      pairedBootstrapTest(labels, good, weak, { n: 200, seed: 5 }),
    );
  });

  it('names the bad model input', () => {
    expect(() => pairedBootstrapTest([0, 1], [0.1, 0.2], [0.1])).toThrow(/labels and scoresB have different lengths/);
    expect(() => pairedBootstrapTest([0, 1], [Number.NaN, 0.2], [0.1, 0.3])).toThrow(/scoresA\[0\] is NaN/);
  });
});

describe('multi-task bootstrap', () => {
  const rand = rng(2024);
  const n = 250;
  const tasks = ['a', 'b', 'c'];
  const labels = Array.from({ length: n }, () => tasks.map((_, j) => (rand() < 0.2 + 0.1 * j ? 1 : 0)));
  const scores = labels.map((row) => row.map((y) => randNormal(rand) + 1.2 * y));
  const worse = labels.map((row) => row.map((y) => randNormal(rand) + 0.2 * y));

  it('bootstrapMeanAurocCI brackets the mean AUROC and is deterministic', () => {
    const r = bootstrapMeanAurocCI(labels, scores, { tasks, n: 300, seed: 2 });
    const point = perTaskAuroc(labels, scores, { tasks });
    expect(r.estimate).toBeCloseTo(point.meanAuroc, 14);
    expect(r.lower).toBeLessThan(r.estimate);
    expect(r.upper).toBeGreaterThan(r.estimate);
    for (const t of tasks) {
      expect(r.perTask[t]!.estimate).toBe(point.perTask[t]);
      expect(r.perTask[t]!.lower).toBeLessThan(r.perTask[t]!.upper);
    }
    // the mean over tasks varies less than a single task
    expect(r.upper - r.lower).toBeLessThan(r.perTask['a']!.upper - r.perTask['a']!.lower);
    expect(bootstrapMeanAurocCI(labels, scores, { tasks, n: 300, seed: 2 })).toEqual(r);
  });

  it('leaves out tasks undefined on the data and skips replicates missing a class', () => {
    const withConst = labels.map((row, i) => [...row, i === 0 ? 1 : 0]);
    const s2 = scores.map((row, i) => [...row, i * 0.01]);
    const r = bootstrapMeanAurocCI(
      withConst.map((row) => [row[0]!, row[3]!]),
      s2.map((row) => [row[0]!, row[3]!]),
      { n: 200, seed: 0 },
    );
    // task1 has one positive: defined on the data, but most resamples miss it
    expect(r.undefinedTasks).toEqual([]);
    expect(r.skipped).toBeGreaterThan(40);
    const allNeg = labels.map((row) => [row[0]!, 0]);
    const r2 = bootstrapMeanAurocCI(allNeg, scores.map((row) => [row[0]!, row[1]!]), { n: 100, seed: 0 });
    expect(r2.undefinedTasks).toEqual(['task1']);
    expect(r2.estimate).toBe(auroc(labels.map((row) => row[0]!), scores.map((row) => row[0]!)));
    expect(r2.perTask['task1']!.estimate).toBeNaN();
  });

  it('pairedBootstrapMeanAurocTest separates a better model from itself', () => {
    const better = pairedBootstrapMeanAurocTest(labels, scores, worse, { tasks, n: 300, seed: 1 });
    expect(better.diff).toBeGreaterThan(0.15);
    expect(better.pValue).toBeLessThan(0.01);
    const same = pairedBootstrapMeanAurocTest(labels, scores, scores, { tasks, n: 100, seed: 1 });
    expect(same).toMatchObject({ diff: 0, pValue: 1 });
  });
});

describe('parameter efficiency', () => {
  it('computes gains and the CheXtransfer-style summary', () => {
    expect(efficiencyGain(8_000_000, 2_000_000)).toBe(4);
    expect(parameterEfficiency(0.8, 2_000_000)).toBeCloseTo(0.4, 15);
    const s = summarizeTruncation([
      { name: 'a', referenceParams: 8e6, candidateParams: 2e6, referenceAuroc: 0.86, candidateAuroc: 0.855, pValue: 0.3 },
      { name: 'b', referenceParams: 6e6, candidateParams: 3e6, referenceAuroc: 0.86, candidateAuroc: 0.87, pValue: 0.01 },
      { name: 'c', referenceParams: 9e6, candidateParams: 1e6, referenceAuroc: 0.86, candidateAuroc: 0.8, pValue: 0.001 },
    ]);
    expect(s.rows.map((r) => r.significantDrop)).toEqual([false, false, true]);
    expect(s.eligible).toEqual(['a', 'b']);
    expect(s.meanGain).toBe(3);
    expect(s.rows[2]!.gain).toBe(9);
  });

  it('rejects non-positive parameter counts and invalid AUROC', () => {
    expect(() => efficiencyGain(0, 10)).toThrow(/referenceParams must be a positive finite number/);
    expect(() => parameterEfficiency(1.2, 10)).toThrow(/auroc must be an AUROC between 0 and 1/);
  });
});
