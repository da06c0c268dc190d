import { mkdtempSync, promises as fs, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { scatterSvg, escapeXml } from '../src/report/svg.js';
import { studyReport, type StudyRow } from '../src/report/study.js';
import { spearman, kendallTau } from '../src/metrics/correlation.js';
import { efficiencyGain } from '../src/metrics/efficiency.js';
import { readRun, runReport } from '../src/cli/report.js';

/** Checks that every opened tag is closed in order (a light XML well-formedness check) and returns the tag names seen. */
function checkBalanced(xml: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(xml)) !== null) {
    // text between tags must not hold a raw '<' or an unescaped '&'
    const text = xml.slice(last, m.index);
    expect(text).not.toMatch(/<|&(?!(amp|lt|gt|quot|#39);)/);
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (close) expect(stack.pop()).toBe(name);
    else {
      if (!self) stack.push(name!);
      seen.push(name!);
    }
  }
  expect(xml.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  return seen;
}

const count = (s: string, sub: string) => s.split(sub).length - 1;

describe('scatterSvg', () => {
  it('writes a balanced SVG with one circle per finite point, error bars, legend and escaped text', () => {
    const svg = scatterSvg(
      [
        { x: 69.8, y: 0.81, label: 'r<18>&"x"', group: 'resnet', yLower: 0.78, yUpper: 0.84 },
        { x: 74.4, y: 0.86, label: 'densenet121', group: 'densenet' },
        { x: 77.7, y: 0.83, label: 'effnet', group: 'efficientnet', yLower: 0.8, yUpper: 0.86 },
        { x: Number.NaN, y: 0.5, label: 'skipped' },
      ],
      { title: 'AUROC & top-1 <test>', xLabel: 'top-1', yLabel: 'AUROC' },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const tags = checkBalanced(svg);
    expect(tags.filter((t) => t === 'circle')).toHaveLength(3);
    expect(count(svg, '<circle')).toBe(3);
    expect(svg).not.toContain('skipped');
    expect(svg).toContain(escapeXml('r<18>&"x"'));
    expect(svg).toContain('r&lt;18&gt;&amp;&quot;x&quot;');
    expect(svg).toContain('AUROC &amp; top-1 &lt;test&gt;');
    // 2 CI bars x 3 lines
    expect(count(svg, 'stroke-opacity="0.6"')).toBe(6);
    for (const g of ['resnet', 'densenet', 'efficientnet']) expect(svg).toContain(`>${g}</text>`);
    // every point lies inside the plot area
    for (const m of svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)) {
      expect(Number(m[1])).toBeGreaterThan(64);
      expect(Number(m[1])).toBeLessThan(640);
      expect(Number(m[2])).toBeGreaterThan(0);
      expect(Number(m[2])).toBeLessThan(420 - 52);
    }
  });

  it('keeps labels of neighbouring points apart and inside the frame', () => {
    const svg = scatterSvg([
      { x: 77.3, y: 0.826, label: 'inc3' },
      { x: 77.7, y: 0.829, label: 'b0' },
      { x: 60, y: 0.7, label: 'far' },
    ]);
    const pos = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" text-anchor="(start|end)" font-size="10"[^>]*>([^<]+)</g)].map((m) => ({
      x: Number(m[1]),
      y: Number(m[2]),
      anchor: m[3],
      label: m[4],
    }));
    expect(pos.map((p) => p.label)).toEqual(['inc3', 'b0', 'far']);
    const box = (p: (typeof pos)[number]) => {
      const w = p.label!.length * 6;
      return { x0: p.anchor === 'start' ? p.x : p.x - w, x1: p.anchor === 'start' ? p.x + w : p.x, y0: p.y - 9, y1: p.y + 2 };
    };
    const [a, b] = [box(pos[0]!), box(pos[1]!)];
    expect(a.x1 <= b.x0 || b.x1 <= a.x0 || a.y1 <= b.y0 || b.y1 <= a.y0).toBe(true);
    for (const p of pos) expect(box(p).x1).toBeLessThanOrEqual(640 - 24);
  });

  it('handles a single point and no points', () => {
    expect(count(checkBalanced(scatterSvg([{ x: 1, y: 1 }])).join(' '), 'circle')).toBe(1);
    expect(count(scatterSvg([]), '<circle')).toBe(0);
    checkBalanced(scatterSvg([]));
  });
});

const row = (name: string, arch: string, family: string, params: number, top1: number, auroc: number, extra: Partial<StudyRow> = {}): StudyRow => ({
  name,
  arch,
  family,
  params,
  imagenetTop1: top1,
  meanAuroc: auroc,
  lower: auroc - 0.03,
  upper: auroc + 0.03,
  weights: 'imagenet',
  ...extra,
});

describe('studyReport', () => {
  const rows: StudyRow[] = [
    row('r18', 'resnet18', 'resnet', 11_179_077, 69.758, 0.812),
    row('r50', 'resnet50', 'resnet', 23_518_277, 76.13, 0.835),
    row('d121', 'densenet121', 'densenet', 6_958_981, 74.434, 0.861),
    row('b0', 'efficientnet_b0', 'efficientnet', 4_013_953, 77.692, 0.829),
    row('mv2', 'mobilenet_v2', 'mobilenet', 2_230_277, 71.878, 0.84),
    row('d121-t3', 'densenet121', 'densenet', 1_850_000, 74.434, 0.855, { truncatedAt: 'features.denseblock3' }),
    row('d121-t3-none', 'densenet121', 'densenet', 1_850_000, 74.434, 0.7, { truncatedAt: 'features.denseblock3', weights: 'none' }),
  ];
  const full = rows.filter((r) => !r.truncatedAt);

  it('reports the correlations spearman()/kendallTau() give over the full models', () => {
    const rep = studyReport(rows);
    const top1 = full.map((r) => r.imagenetTop1);
    const params = full.map((r) => r.params);
    const auroc = full.map((r) => r.meanAuroc);
    const s1 = spearman(top1, auroc);
    const k1 = kendallTau(top1, auroc);
    const s2 = spearman(params, auroc);
    const k2 = kendallTau(params, auroc);
    expect(rep.correlations.imagenetTop1.n).toBe(5);
    expect(rep.correlations.imagenetTop1.spearman.rho).toBe(s1.rho);
    expect(rep.correlations.imagenetTop1.kendall.tau).toBe(k1.tau);
    expect(rep.correlations.params.spearman.pValue).toBe(s2.pValue);
    expect(rep.correlations.params.kendall.pValue).toBe(k2.pValue);
    // hand check of one: ranks of top-1 [1,4,3,5,2] vs AUROC [1,3,5,2,4]: sum d^2 = 0+1+4+9+4 = 18, rho = 1 - 6*18/120 = 0.1
    expect(s1.rho).toBeCloseTo(0.1, 12);
    const line = (what: string) => rep.markdown.split('\n').find((l) => l.startsWith(`| ${what} |`))!;
    expect(line('ImageNet top-1')).toBe(
      `| ImageNet top-1 | 5 | ${s1.rho.toFixed(3)} | ${s1.pValue.toPrecision(3)} | ${k1.tau.toFixed(3)} | ${k1.pValue.toPrecision(3)} |`,
    );
    expect(line('parameter count')).toBe(
      `| parameter count | 5 | ${s2.rho.toFixed(3)} | ${s2.pValue.toPrecision(3)} | ${k2.tau.toFixed(3)} | ${k2.pValue.toPrecision(3)} |`,
    );
    expect(rep.markdown).toContain('the paper reports Spearman rho = 0.08');
  });

  it('sorts the table by AUROC, averages families, pairs truncated with full models of the same weights', () => {
    const rep = studyReport(rows, { title: 'My study' });
    expect(rep.markdown.startsWith('# My study\n')).toBe(true);
    const tableNames = rep.markdown
      .split('\n')
      .filter((l) => /^\| \d+ \| /.test(l))
      .map((l) => l.split(' | ')[1]);
    expect(tableNames).toEqual([...rows].sort((a, b) => b.meanAuroc - a.meanAuroc).map((r) => r.name));
    const resnet = rep.familyMeans.find((f) => f.family === 'resnet')!;
    expect(resnet.n).toBe(2);
    expect(resnet.meanAuroc).toBeCloseTo((0.812 + 0.835) / 2, 12);
    expect(rep.familyMeans.find((f) => f.family === 'densenet')!.n).toBe(1);
    expect(rep.truncation).toHaveLength(1);
    const p = rep.truncation[0]!;
    expect(p.truncated).toBe('d121-t3');
    expect(p.full).toBe('d121');
    expect(p.gain).toBe(efficiencyGain(6_958_981, 1_850_000));
    expect(p.aurocDiff).toBeCloseTo(0.855 - 0.861, 12);
    expect(rep.markdown).toContain(`| d121-t3 | features.denseblock3 | d121 | ${p.gain.toFixed(2)}x | -0.0060 |`);
    expect(rep.markdown).toMatch(/No p-value is given/);
    expect(rep.markdown).toContain('Without a full run of the same architecture and weights: d121-t3-none');
    expect(rep.figures.map((f) => f.name)).toEqual(['auroc-vs-imagenet.svg', 'auroc-vs-params.svg']);
    expect(count(rep.figures[0]!.svg, '<circle')).toBe(5);
    expect(count(rep.figures[1]!.svg, '<circle')).toBe(7);
    for (const f of rep.figures) checkBalanced(f.svg);
    for (const f of rep.figures) expect(rep.markdown).toContain(`](figures/${f.name})`);
  });

  it('says n/a with fewer than 3 full models and rejects bad rows', () => {
    const rep = studyReport(rows.slice(0, 2));
    expect(rep.markdown).toContain('| ImageNet top-1 | 2 | n/a | n/a | n/a | n/a |');
    expect(() => studyReport([])).toThrow(/non-empty array/);
    expect(() => studyReport([row('x', 'resnet18', 'resnet', 1e6, 70, Number.NaN)])).toThrow(/rows\[0\] \(x\): meanAuroc/);
    expect(() => studyReport([row('x', 'resnet18', 'resnet', 0, 70, 0.8)])).toThrow(/params must be a positive/);
  });
});

// metrics.json / config.json as src/cli/train.ts writes them (only the fields a report reads need real values)
async function writeRun(dir: string, arch: string, auroc: number | null, opts: { truncate?: string; weights?: string; noConfig?: boolean } = {}) {
  await fs.mkdir(dir, { recursive: true });
  const tasks = ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion'];
  const config = {
    arch,
    imgSize: 64,
    channels: 3,
    batchSize: 16,
    tasks,
    uncertainty: 'ones',
    views: 'all',
    truncate: opts.truncate ?? null,
    weights: opts.weights ?? 'none',
    lr: 0.001,
    lrSchedule: 'constant',
    epochs: 1,
    maxSteps: null,
    augment: false,
    posWeight: false,
    seed: 0,
    data: '/tmp/synth',
  };
  const perTask = Object.fromEntries(tasks.map((t, i) => [t, auroc === null ? null : auroc + (i - 2) * 0.01]));
  const metrics = {
    valid:
      auroc === null
        ? null
        : { meanAuroc: auroc, perTask, ci95: { lower: auroc - 0.04, upper: auroc + 0.04, perTask: {} }, undefinedTasks: [], n: 200, models: 3, prediction: 'mean probability of the top-3 checkpoints' },
    best: auroc === null ? null : { step: 20, meanAuroc: auroc, perTask },
    last: auroc === null ? null : { step: 30, meanAuroc: auroc - 0.01, perTask },
    topK: [{ id: 'step-20', step: 20, meanAuroc: auroc, path: 'checkpoints/step-20' }],
    train: { steps: 30, epochs: 1, seconds: 12.3, stoppedEarly: false, resumedFrom: null, finalLoss: 0.5, backend: 'wasm' },
    validations: [{ step: 20, meanAuroc: auroc, trainLoss: 0.6 }],
    config,
  };
  await fs.writeFile(join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2));
  if (!opts.noConfig) await fs.writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

describe('chexzoo report', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-report-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    return { out, err, restore: () => (so.mockRestore(), se.mockRestore()) };
  };

  it('reads runs, counts parameters of the trained (5-task, truncated) models and writes report.md + figures', async () => {
    const runs = join(tmp, 'runs');
    await writeRun(join(runs, 'r18'), 'resnet18', 0.81);
    await writeRun(join(runs, 'r18-l3'), 'resnet18', 0.8, { truncate: 'layer3' });
    await writeRun(join(runs, 'mv3s'), 'mobilenet_v3_small', 0.78, { noConfig: true }); // config from metrics.json
    await writeRun(join(runs, 'mnas'), 'mnasnet1_0', 0.83);
    await fs.mkdir(join(runs, 'not-a-run'));

    const before = tf.memory().numTensors;
    // parameter counts with a 5-class head, derived by hand from the 1000-class references (head in x 1000 + 1000)
    const r18 = await readRun(join(runs, 'r18'));
    expect(r18).toMatchObject({ name: 'r18', arch: 'resnet18', family: 'resnet', imagenetTop1: 69.758, meanAuroc: 0.81, truncatedAt: null, weights: 'none' });
    expect(r18.params).toBe(11_689_512 - 513 * 1000 + 513 * 5);
    expect(r18.lower).toBeCloseTo(0.77, 12);
    expect(r18.upper).toBeCloseTo(0.85, 12);
    // stem 9536 + layer1 147968 + layer2 525568 + layer3 2099712, then a 256 -> 5 head
    expect((await readRun(join(runs, 'r18-l3'))).params).toBe(9_536 + 147_968 + 525_568 + 2_099_712 + 257 * 5);
    expect((await readRun(join(runs, 'mv3s'))).params).toBe(2_542_856 - 1025 * 1000 + 1025 * 5);
    expect((await readRun(join(runs, 'mnas'))).params).toBe(4_383_312 - 1281 * 1000 + 1281 * 5);
    expect(tf.memory().numTensors).toBe(before);

    const out = join(tmp, 'report');
    const io = capture();
    let code;
    try {
      code = await runReport(['--runs-dir', runs, '--out', out, '--json']);
    } finally {
      io.restore();
    }
    expect(io.err.join('')).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(io.out.join(''));
    expect(json.rows.map((r: StudyRow) => r.name).sort()).toEqual(['mnas', 'mv3s', 'r18', 'r18-l3']);
    expect(json.correlations.imagenetTop1.n).toBe(3);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| # | run | architecture | family | truncated at | weights | params (M) | ImageNet top-1 | mean AUROC | 95% CI |');
    expect(md).toContain('| 1 | mnas | mnasnet1_0 | mnasnet | - | none | 3.11 | 73.46 | 0.8300 | 0.790-0.870 |');
    expect(md).toContain('| 4 | mv3s |');
    const gain = efficiencyGain(11_179_077, 2_784_069);
    expect(md).toContain(`| r18-l3 | layer3 | r18 | ${gain.toFixed(2)}x | -0.0100 |`);
    const top1 = [73.456, 69.758, 67.668];
    const s = spearman(top1, [0.83, 0.81, 0.78]);
    expect(md).toContain(`| ImageNet top-1 | 3 | ${s.rho.toFixed(3)} |`);
    for (const [f, n] of [['auroc-vs-imagenet.svg', 3], ['auroc-vs-params.svg', 4]] as const) {
      const svg = readFileSync(join(out, 'figures', f), 'utf8');
      checkBalanced(svg);
      expect(count(svg, '<circle')).toBe(n);
    }
    // nothing left behind by the atomic writes
    expect((await fs.readdir(out)).sort()).toEqual(['figures', 'report.md']);

    // the same runs listed with --runs (two after one flag) give the same report
    const out2 = join(tmp, 'report2');
    const io2 = capture();
    try {
      code = await runReport(['--runs', join(runs, 'r18'), join(runs, 'r18-l3'), join(runs, 'mv3s'), join(runs, 'mnas'), '--out', out2]);
    } finally {
      io2.restore();
    }
    expect(code).toBe(0);
    expect(readFileSync(join(out2, 'report.md'), 'utf8')).toBe(md);
  });

  it('fails clearly on a run without metrics.json or without a validation result', async () => {
    const runs = join(tmp, 'bad');
    await writeRun(join(runs, 'ok'), 'resnet18', 0.8);
    await fs.mkdir(join(runs, 'unfinished'), { recursive: true });
    await fs.writeFile(join(runs, 'unfinished', 'config.json'), '{"arch":"resnet18"}');
    await expect(readRun(join(runs, 'unfinished'))).rejects.toThrow(/unfinished' has no metrics\.json.*run the same `chexzoo train` command again/);

    const io = capture();
    let code;
    try {
      code = await runReport(['--runs-dir', runs, '--out', join(tmp, 'bad-report')]);
    } finally {
      io.restore();
    }
    expect(code).toBe(1);
    expect(io.err.join('')).toMatch(/chexzoo report: Run '.*unfinished' has no metrics\.json/);
    expect(existsSync(join(tmp, 'bad-report', 'report.md'))).toBe(false);

    await writeRun(join(runs, 'noval'), 'resnet18', null);
    await expect(readRun(join(runs, 'noval'))).rejects.toThrow(/noval': metrics\.json has no validation mean AUROC/);
  });

  it('rejects bad usage with exit code 2', async () => {
    const io = capture();
    const codes: number[] = [];
    try {
      codes.push(await runReport(['--out', join(tmp, 'x')]));
      codes.push(await runReport(['--runs', join(tmp, 'runs', 'r18')]));
      codes.push(await runReport(['--runs-dir', join(tmp, 'nope'), '--out', join(tmp, 'x')]));
    } finally {
      io.restore();
    }
    expect(codes).toEqual([2, 2, 2]);
    const err = io.err.join('');
    expect(err).toContain('--runs RUN [RUN ...] or --runs-dir PARENT is required');
    expect(err).toContain('--out REPORT_DIR is required');
    expect(err).toContain("--runs-dir '");
  });
});
