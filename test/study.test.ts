import { existsSync, mkdtempSync, promises as fs, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runStudyCli } from '../src/cli/study.js';
import { createModel, getModelInfo } from '../src/zoo/registry.js';
import {
  STUDY_PRESETS,
  TRUNCATION_POINTS,
  buildStudyGrid,
  estimateRunCost,
  parseShard,
  resolveShard,
  shardRuns,
} from '../src/study/grid.js';
import { studyReport, studyResults, validationFingerprint, type RunPredictions, type StudyRunResult } from '../src/study/findings.js';
import { COMPETITION_TASKS } from '../src/data/chexpert.js';
import { spearman } from '../src/metrics/correlation.js';
import { pairedBootstrapMeanAurocTest } from '../src/metrics/bootstrap.js';
import { runStudy, writeStudyReport } from '../src/node/study/run.js';
import { writeSynthDataset } from '../src/node/data/synth-node.js';
import { rng } from '../src/utils/rng.js';
import { runCommand } from './helpers/index.js';
import { checkBalanced } from './helpers/xml.js';

const root = resolve(__dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-study-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('study grid', () => {
  it('quick: >= 4 architectures of >= 3 families with two sizes of one, both inits, each full and truncated', () => {
    const grid = buildStudyGrid({ preset: 'quick' });
    const archs = [...new Set(grid.map((r) => r.arch))];
    expect(archs.length).toBeGreaterThanOrEqual(4);
    const fams = archs.map((a) => getModelInfo(a).family);
    expect(new Set(fams).size).toBeGreaterThanOrEqual(3);
    expect(fams.some((f, i) => fams.indexOf(f) !== i)).toBe(true);
    for (const a of archs) {
      for (const init of ['random', 'imagenet'] as const) {
        const rs = grid.filter((r) => r.arch === a && r.init === init);
        expect(rs.some((r) => r.truncatedAt === null)).toBe(true);
        expect(rs.some((r) => r.truncatedAt === TRUNCATION_POINTS[a]![0])).toBe(true);
      }
    }
    expect(new Set(grid.map((r) => r.id)).size).toBe(grid.length);
  });

  it('paper: the 16 architectures without mobilenet_v3_small, two truncations of the pretrained models only', () => {
    const grid = buildStudyGrid({ preset: 'paper' });
    const archs = new Set(grid.map((r) => r.arch));
    expect(archs.size).toBe(16);
    expect(archs.has('mobilenet_v3_small')).toBe(false);
    expect(grid.filter((r) => r.init === 'random').every((r) => r.truncatedAt === null)).toBe(true);
    expect(grid.length).toBe(16 * 2 + 16 * 2);
    expect(STUDY_PRESETS.paper).toMatchObject({ imageSize: 320, batchSize: 16, epochs: 3, validEvery: 4800, topK: 10, uncertainty: 'ones' });
    // every truncation point is a stage of its architecture and not its last
    for (const [arch, cuts] of Object.entries(TRUNCATION_POINTS)) {
      const stages = getModelInfo(arch).blocks;
      for (const c of cuts) expect(stages.slice(0, -1)).toContain(c);
    }
  });

  it('repeats every configuration with --seeds N', () => {
    const grid = buildStudyGrid({ archs: ['resnet18'], inits: ['random'], truncate: 'none', seeds: 3, seed: 5 });
    expect(grid.map((r) => r.id)).toEqual(['resnet18.random.full.s5', 'resnet18.random.full.s6', 'resnet18.random.full.s7']);
    expect(new Set(grid.map((r) => r.config)).size).toBe(1);
  });

  it('rejects an unknown preset, architecture, init or stage', () => {
    expect(() => buildStudyGrid({ preset: 'fast' as 'quick' })).toThrow(/Unknown preset 'fast'.*quick, paper/);
    expect(() => buildStudyGrid({ archs: ['resnet19'] })).toThrow(/Unknown architecture 'resnet19'/);
    expect(() => buildStudyGrid({ inits: ['imagenet', 'scratch' as 'random'] })).toThrow(/Unknown init 'scratch'/);
    expect(() => buildStudyGrid({ archs: ['resnet18'], truncate: ['layer9'] })).toThrow(/Unknown stage 'layer9'/);
    expect(() => buildStudyGrid({ seeds: 0 })).toThrow(/--seeds/);
  });

  it('chexzoo study: usage errors exit 2, bad values 1, before any training', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runStudyCli(['--seeds', 'x'])).toBe(2);
      expect(await runStudyCli(['--bogus'])).toBe(2);
      expect(await runStudyCli(['--preset', 'fast', '--out', join(tmp, 'never')])).toBe(1);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/Unknown preset 'fast'/);
      expect(existsSync(join(tmp, 'never'))).toBe(false);
    } finally {
      err.mockRestore();
    }
  });
});

describe('shards', () => {
  it('split the grid deterministically and balanced: every run in exactly one shard', () => {
    const grid = buildStudyGrid({ preset: 'paper' });
    for (const n of [1, 2, 3, 7]) {
      const parts = Array.from({ length: n }, (_, i) => shardRuns(grid, { index: i, count: n }));
      const ids = parts.flat().map((r) => r.id);
      expect(ids.sort()).toEqual(grid.map((r) => r.id).sort());
      expect(shardRuns(grid, { index: 0, count: n })).toEqual(parts[0]);
      const costs = parts.map((p) => p.reduce((s, r) => s + estimateRunCost(r), 0));
      const biggest = Math.max(...grid.map(estimateRunCost));
      expect(Math.max(...costs) - Math.min(...costs)).toBeLessThanOrEqual(biggest);
    }
  });

  it('come from --shard, JOB_COMPLETION_INDEX + --shards, or SLURM_ARRAY_TASK_ID/COUNT; out of range is an error', () => {
    expect(parseShard('1/4')).toEqual({ index: 1, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/out of range for 4 shards \(valid: 0 to 3/);
    expect(() => parseShard('a/b')).toThrow(/--shard must be I\/N/);
    expect(() => parseShard('0/0')).toThrow(/at least 1/);
    expect(resolveShard({ env: {} })).toBeUndefined();
    expect(resolveShard({ shards: 3, env: { JOB_COMPLETION_INDEX: '2' } })).toEqual({ index: 2, count: 3 });
    expect(() => resolveShard({ env: { JOB_COMPLETION_INDEX: '2' } })).toThrow(/--shards N/);
    expect(() => resolveShard({ shards: 2, env: { JOB_COMPLETION_INDEX: '2' } })).toThrow(/out of range/);
    expect(resolveShard({ env: { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' } })).toEqual({ index: 2, count: 4 });
    expect(resolveShard({ shard: '0/2', env: { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '2' } })).toEqual({ index: 0, count: 2 });
    expect(() => resolveShard({ shards: 4, env: {} })).toThrow(/without a shard index/);
  });
});

/** Synthetic finished runs: predictions = labels + noise (less noise = higher AUROC). */
function fakeRuns(spec: { arch: string; init: 'random' | 'imagenet'; cut?: string; noise: number; params: number; seed?: number }[], n = 120) {
  const k = 3;
  const r0 = rng(7);
  const labels = Array.from({ length: n * k }, () => (r0() < 0.4 ? 1 : 0));
  const mask = labels.map(() => 1);
  const tasks = ['a', 'b', 'c'];
  const preds = new Map<string, RunPredictions>();
  const runs: StudyRunResult[] = spec.map((s, i) => {
    const r = rng(100 + i);
    const probs = labels.map((l) => Math.min(1, Math.max(0, 0.5 * l + 0.25 + s.noise * (r() - 0.5))));
    const config = `${s.arch}.${s.init}.${s.cut ?? 'full'}`;
    const id = `${config}.s${s.seed ?? 0}`;
    const p: RunPredictions = { n, tasks, labels, mask, probs };
    preds.set(id, p);
    const rowsOf = (f: number[]) => Array.from({ length: n }, (_, q) => f.slice(q * k, q * k + k));
    const single = pairedBootstrapMeanAurocTest(rowsOf(labels), rowsOf(probs), rowsOf(probs), { tasks, n: 10 });
    return {
      id,
      config,
      arch: s.arch,
      family: getModelInfo(s.arch).family,
      init: s.init,
      truncatedAt: s.cut ?? null,
      seed: s.seed ?? 0,
      params: s.params,
      imagenetTop1: getModelInfo(s.arch).top1,
      meanAuroc: 1 - s.noise / 4 + single.diff, // a monotone stand-in; the tests below check the findings use it
      ci: [0.5, 0.9],
      perTask: { a: 0.8, b: 0.8, c: 0.8 },
      steps: 10,
      seconds: 1,
      validation: validationFingerprint(p),
    };
  });
  return { runs, preds };
}

describe('findings', () => {
  const { runs, preds } = fakeRuns([
    { arch: 'resnet18', init: 'random', noise: 1.2, params: 11e6 },
    { arch: 'resnet34', init: 'random', noise: 1.1, params: 21e6 },
    { arch: 'densenet121', init: 'random', noise: 0.8, params: 7e6 },
    { arch: 'efficientnet_b0', init: 'random', noise: 1.6, params: 4e6 },
    { arch: 'resnet18', init: 'random', cut: 'layer3', noise: 1.25, params: 2.8e6 },
    { arch: 'resnet18', init: 'imagenet', noise: 0.6, params: 11e6 },
    { arch: 'resnet34', init: 'imagenet', noise: 0.9, params: 21e6 },
    { arch: 'densenet121', init: 'imagenet', noise: 0.4, params: 7e6 },
    { arch: 'resnet18', init: 'random', noise: 1.0, params: 11e6, seed: 1 },
  ]);
  const results = studyResults(runs, preds, [{ id: 'efficientnet_b0.imagenet.full.s0', reason: 'ImageNet weights unavailable (offline)' }], {
    preset: 'quick',
    data: { dir: '/d', kind: 'synthetic', train: 10, valid: 120, tasks: ['a', 'b', 'c'], imgSize: 32 },
    bootstrap: 200,
  });
  const f = results.findings;
  const mean = (id: string) => f.seeds.find((s) => s.config === id)!.mean;

  it('1: Spearman of ImageNet top-1 vs AUROC per init over the full models, seeds averaged, with a bootstrap CI', () => {
    const r = f.imagenetVsAuroc.random;
    if ('reason' in r) throw new Error(r.reason);
    const cfgs = ['resnet18.random.full', 'resnet34.random.full', 'densenet121.random.full', 'efficientnet_b0.random.full'];
    expect(r.n).toBe(4);
    const want = spearman(cfgs.map((c) => getModelInfo(c.split('.')[0]!).top1), cfgs.map(mean));
    expect(r.rho).toBeCloseTo(want.rho, 12);
    expect(r.ci[0]).toBeLessThanOrEqual(r.rho);
    expect(r.ci[1]).toBeGreaterThanOrEqual(r.rho);
    expect(f.imagenetVsAuroc.imagenet).toMatchObject({ n: 3 });
    expect(f.imagenetVsAuroc.paper).toEqual({ imagenet: 0.08, random: 0.06 });
  });

  it('records the spread across seeds', () => {
    const s = f.seeds.find((x) => x.config === 'resnet18.random.full')!;
    const a = runs.filter((r) => r.config === 'resnet18.random.full').map((r) => r.meanAuroc);
    expect(s.seeds).toEqual([0, 1]);
    expect(s.mean).toBeCloseTo((a[0]! + a[1]!) / 2, 12);
    expect(s.sd).toBeCloseTo(Math.abs(a[0]! - a[1]!) / Math.SQRT2, 12);
  });

  it('2: within-family spread vs between-family spread (random init)', () => {
    const r = f.familyVsSize;
    if ('reason' in r) throw new Error(r.reason);
    const resnet = r.families.find((x) => x.family === 'resnet')!;
    expect(resnet.models.map((m) => m.arch)).toEqual(['resnet18', 'resnet34']);
    expect(r.withinFamilySpread).toBeCloseTo(Math.abs(mean('resnet18.random.full') - mean('resnet34.random.full')), 12);
    const fm = r.families.map((x) => x.mean);
    expect(r.betweenFamilySpread).toBeCloseTo(Math.max(...fm) - Math.min(...fm), 12);
  });

  it('3: pretraining boost per architecture with a paired test, and its Spearman with parameters', () => {
    const r = f.pretrainingBoost;
    if ('reason' in r) throw new Error(r.reason);
    expect(r.rows.map((b) => b.arch).sort()).toEqual(['densenet121', 'resnet18', 'resnet34']);
    const b = r.rows.find((x) => x.arch === 'resnet18')!;
    expect(b.diff).toBeCloseTo(mean('resnet18.imagenet.full') - mean('resnet18.random.full'), 12);
    expect(b.seed).toBe(0);
    expect(b.pValue).toBeGreaterThanOrEqual(0);
    expect(r.paper).toBe(-0.72);
    expect(r.vsParams).toMatchObject({ n: 3 });
  });

  it('4: truncation gain = full / truncated parameters, paired test, mean gain without a significant drop', () => {
    const r = f.truncation;
    if ('reason' in r) throw new Error(r.reason);
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]!.gain).toBeCloseTo(11e6 / 2.8e6, 12);
    expect(r.paper).toBe(3.25);
    expect(r.meanGain === null || r.meanGain === r.rows[0]!.gain).toBe(true);
  });

  it('the report states what synthetic phantoms say, draws the four figures and lists skipped runs', () => {
    const { markdown, figures } = studyReport(results);
    expect(markdown).toMatch(/Synthetic phantoms say nothing about real chest X-rays/);
    expect(markdown).toMatch(/efficientnet_b0\.imagenet\.full\.s0`: ImageNet weights unavailable \(offline\)/);
    expect(markdown).toMatch(/SD across seeds/);
    expect(figures.map((x) => x.name).sort()).toEqual(['family-vs-size.svg', 'imagenet-vs-auroc.svg', 'pretraining-boost.svg', 'truncation.svg']);
    for (const x of figures) {
      checkBalanced(x.svg);
      expect(markdown).toContain(`figures/${x.name}`);
    }
  });

  it('says why a finding cannot be computed (no ImageNet runs)', () => {
    const rnd = runs.filter((r) => r.init === 'random');
    const res = studyResults(rnd, preds, [{ id: 'resnet18.imagenet.full.s0', reason: 'ImageNet weights unavailable (offline)' }], { bootstrap: 50 });
    expect(res.findings.pretrainingBoost).toEqual({ reason: 'needs ImageNet weights: ImageNet weights unavailable (offline)', paper: -0.72 });
    expect(res.findings.imagenetVsAuroc.imagenet).toEqual({ reason: 'needs ImageNet weights: ImageNet weights unavailable (offline)' });
    expect(studyReport(res).markdown).toMatch(/## 3\. .*\n\nNot computed: needs ImageNet weights/);
  });

  it('every finding quotes the paper (Ke et al. 2021) beside ours or beside the reason ours is missing', () => {
    // the paper's values, typed here from its abstract and text (not read from the code under test)
    const PAPER = { imagenetRho: { imagenet: 0.08, random: 0.06 }, boostVsParamsRho: -0.72, truncationMeanGain: 3.25 };
    const check = (res: ReturnType<typeof studyResults>) => {
      const f = res.findings;
      expect(f.imagenetVsAuroc.paper).toEqual(PAPER.imagenetRho);
      expect(f.familyVsSize.paper).toMatch(/family .* more than size/);
      expect(f.pretrainingBoost.paper).toBe(PAPER.boostVsParamsRho);
      expect(f.truncation.paper).toBe(PAPER.truncationMeanGain);
      // the fake runs' tasks are placeholders: on other tasks than the competition tasks the paper is not quoted (issue 24)
      const sections = studyReport({ ...res, data: { ...res.data, tasks: [...COMPETITION_TASKS] } }).markdown.split(/\n(?=## )/);
      const section = (n: number) => sections.find((x) => x.startsWith(`## ${n}. `))!;
      expect(section(1)).toMatch(/\| imagenet \| .*\| 0\.08 \|\n\| random \| .*\| 0\.06 \|/);
      expect(section(2)).toMatch(/Paper: without pretraining, the choice of model family influences performance more than size within a family/);
      expect(section(3)).toMatch(/paper: \*\*-0\.72\*\*|Paper: .*\*\*-0\.72\*\*/);
      expect(section(4)).toMatch(/paper: \*\*3\.25x\*\*|Paper: .*\*\*3\.25x\*\*/);
    };
    check(results); // every finding computed
    // offline, as `npm run reproduce` without weights: no ImageNet runs, one family, no truncation
    const offline = studyResults(runs.filter((r) => r.arch === 'resnet18' && r.init === 'random' && r.truncatedAt === null), preds,
      [{ id: 'resnet18.imagenet.full.s0', reason: 'ImageNet weights unavailable (offline)' }], { bootstrap: 50 });
    for (const k of ['familyVsSize', 'pretrainingBoost', 'truncation'] as const) expect(offline.findings[k]).toHaveProperty('reason');
    check(offline);
    expect(studyReport({ ...offline, data: { ...offline.data, tasks: [...COMPETITION_TASKS] } }).markdown).toMatch(/## 3\. .*\n\nNot computed: needs ImageNet weights: ImageNet weights unavailable \(offline\)\.\n\nPaper: Spearman rho of the boost with parameter count \*\*-0\.72\*\*\./);
  });

  it('refuses runs validated on different validation sets', () => {
    const other = { ...runs[1]!, id: 'x', validation: 'other' };
    expect(() => studyResults([runs[0]!, other], preds)).toThrow(/different validation sets/);
  });
});

// --- end to end on tiny settings -----------------------------------------------------------------------------

/** True when createModel's initialisation follows its seed (two builds with one seed give the same weights). */
async function seededInit(): Promise<boolean> {
  const opts = { numClasses: 5, inputShape: [32, 32, 3], seed: 11 } as Parameters<typeof createModel>[1];
  const [a, b] = [await createModel('resnet18', opts), await createModel('resnet18', opts)];
  const [wa, wb] = [a.getWeights()[0]!.dataSync(), b.getWeights()[0]!.dataSync()];
  a.dispose();
  b.dispose();
  return wa.every((v, i) => v === wb[i]);
}

const tsx = join(root, 'node_modules', '.bin', 'tsx');
const cli = join(root, 'src', 'cli', 'main.ts');
const chexzoo = (args: string[], env: Record<string, string> = {}) =>
  runCommand(tsx, [cli, ...args], { cwd: root, env: { ...process.env, CHEXZOO_OFFLINE: '1', ...env } });

describe('chexzoo study end to end (tiny grid)', () => {
  const data = join(tmp, 'data');
  const tiny = ['--data', data, '--archs', 'resnet18', '--init', 'random', '--truncate', 'layer3', '--max-steps', '2', '--image-size', '32', '--batch-size', '8'];
  beforeAll(async () => {
    await writeSynthDataset(data, { train: 48, valid: 40, size: 32, seed: 1 });
  });

  it('bad input fails before any training and overwrites nothing', async () => {
    const out = join(tmp, 'bad');
    await expect(runStudy({ preset: 'quick', data: tmp, out, log: () => {} })).rejects.toThrow(/not a CheXpert-format folder/);
    await expect(runStudy({ data, out, shard: '2/2', log: () => {} })).rejects.toThrow(/out of range for 2 shards/);
    await expect(runStudy({ data, out, archs: ['resnet18'], truncate: ['Mixed_6e'], log: () => {} })).rejects.toThrow(/Unknown stage 'Mixed_6e'/);
    await expect(runStudy({ preset: 'paper', out, log: () => {} })).rejects.toThrow(/needs --data/);
    await expect(runStudy({ data, out, archs: ['inception_v3'], imageSize: 32, log: () => {} })).rejects.toThrow(/below inception_v3's minimum input of 75 px/);
    expect(existsSync(out)).toBe(false);
    // a run folder of another grid (other settings) in --out
    const run = join(out, 'runs', 'resnet18.random.full.s0');
    await fs.mkdir(run, { recursive: true });
    const foreign = JSON.stringify({ version: 1, id: 'resnet18.random.full.s0', settings: { imgSize: 64 } });
    await fs.writeFile(join(run, 'study.json'), foreign);
    await expect(runStudy({ data, out, archs: ['resnet18'], inits: ['random'], truncate: 'none', maxSteps: 1, log: () => {} })).rejects.toThrow(/belongs to another grid/);
    expect(await fs.readFile(join(run, 'study.json'), 'utf8')).toBe(foreign);
    expect(readdirSync(run)).toEqual(['study.json']);
  });

  it('2 concurrent shard processes on one folder + chexzoo report = the single-process run, every run once', async () => {
    const sharded = join(tmp, 'sharded');
    const [a, b] = await Promise.all([chexzoo(['study', ...tiny, '--out', sharded, '--shard', '0/2']), chexzoo(['study', ...tiny, '--out', sharded, '--shard', '1/2'])]);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    expect(a.err).toMatch(/Shard 0\/2: 1 of the 2 runs/);
    expect(existsSync(join(sharded, 'results.json'))).toBe(false); // shards leave the merge to chexzoo report
    const rep = await chexzoo(['report', sharded]);
    expect(rep.code, rep.err).toBe(0);
    const merged = JSON.parse(await fs.readFile(join(sharded, 'results.json'), 'utf8'));
    const ids = merged.runs.map((r: { id: string }) => r.id);
    expect(ids).toEqual(['resnet18.random.full.s0', 'resnet18.random.layer3.s0']);
    expect(merged.skipped).toEqual([]);

    const single = join(tmp, 'single');
    const s = await chexzoo(['study', ...tiny, '--out', single]);
    expect(s.code, s.err).toBe(0);
    expect(s.err.match(/^\[[#.]+\] +\d\/2 /gm)).toHaveLength(2); // one line per run, with a bar
    const one = JSON.parse(await fs.readFile(join(single, 'results.json'), 'utf8'));
    const strip = (r: Record<string, unknown>) => ({ ...r, seconds: 0 });
    if (await seededInit()) {
      // training is reproducible from the seed: the sharded runs equal the single-process ones exactly
      expect(merged.runs.map(strip)).toEqual(one.runs.map(strip));
      expect(merged.findings).toEqual(one.findings);
    } else {
      // without seeded initialisation (issue 14) only the grid itself can be compared
      const shape = (r: Record<string, unknown>) => ({ id: r.id, config: r.config, params: r.params, steps: r.steps, seed: r.seed, validation: r.validation });
      expect(merged.runs.map(shape)).toEqual(one.runs.map(shape));
    }
    for (const r of one.runs) {
      const p = JSON.parse(await fs.readFile(join(single, 'runs', r.id, 'predictions.json'), 'utf8'));
      expect(p.n).toBe(40);
      expect(p.probs).toHaveLength(40 * 5);
      expect(existsSync(join(single, 'runs', r.id, 'config.json'))).toBe(true); // an ordinary chexzoo train run folder
      // each run's curves: in its folder, and linked from the report (drawn into figures/ from the same metrics.json)
      const curves = await fs.readFile(join(single, 'runs', r.id, 'curves.svg'), 'utf8');
      expect(await fs.readFile(join(single, 'figures', `curves-${r.id}.svg`), 'utf8')).toBe(curves);
    }
    const md = await fs.readFile(join(single, 'report.md'), 'utf8');
    expect(md).toMatch(/## 4\. Truncated models/);
    for (const r of one.runs) expect(md).toContain(`- [${r.id}](figures/curves-${r.id}.svg)`);

    // one report over runs of two different validation sets is refused
    const r0 = one.runs[0].id as string;
    const copy = join(tmp, 'other', 'runs', 'copy');
    await fs.mkdir(join(tmp, 'other', 'runs'), { recursive: true });
    await fs.cp(join(single, 'runs', r0), copy, { recursive: true });
    const study = JSON.parse(await fs.readFile(join(copy, 'study.json'), 'utf8'));
    await fs.writeFile(join(copy, 'study.json'), JSON.stringify({ ...study, id: 'copy' }));
    const preds = JSON.parse(await fs.readFile(join(copy, 'predictions.json'), 'utf8'));
    preds.labels[0] = 1 - preds.labels[0];
    await fs.writeFile(join(copy, 'predictions.json'), JSON.stringify(preds));
    await expect(writeStudyReport([single, join(tmp, 'other')], join(tmp, 'mixed'))).rejects.toThrow(/different validation sets/);
    expect(existsSync(join(tmp, 'mixed'))).toBe(false);
    await expect(writeStudyReport([join(tmp, 'nothing-here')], join(tmp, 'x'))).rejects.toThrow(/does not exist/);
  }, 900_000);
});
