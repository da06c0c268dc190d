// RUN/curves.svg: well-formed, every point of metrics.json where the figure's own axes say it is, the top-k
// checkpoints ringed. Pixel positions are checked against a linear map fitted to the drawn tick labels (value ->
// pixel), not against the code's scale functions. A real run writes it: test/cli-runs.test.ts (`chexzoo train`).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { curvesFromMetrics, curvesSvg, type CurvesMetrics } from '../src/report/curves.js';
import { writeRunCurves } from '../src/node/train/curves.js';
import { checkBalanced } from './helpers/xml.js';

const TASKS = ['Atelectasis', 'Cardiomegaly', 'Pleural Effusion'];
const metrics: CurvesMetrics = {
  lossHistory: [[10, 0.69], [20, 0.61], [30, 0.55], [40, 0.52], [50, 0.47], [60, 0.45]],
  validations: [
    { step: 20, meanAuroc: 0.61, trainLoss: 0.65, perTask: { Atelectasis: 0.58, Cardiomegaly: 0.7, 'Pleural Effusion': 0.55 } },
    { step: 40, meanAuroc: 0.74, trainLoss: 0.53, perTask: { Atelectasis: 0.66, Cardiomegaly: null, 'Pleural Effusion': 0.82 } },
    { step: 60, meanAuroc: 0.71, trainLoss: 0.46, perTask: { Atelectasis: 0.69, Cardiomegaly: 0.79, 'Pleural Effusion': 0.65 } },
  ],
  topK: [{ step: 40 }, { step: 60 }],
};

const attr = (el: string, name: string) => el.match(new RegExp(`\\s${name}="([^"]*)"`))?.[1];
const num = (el: string, name: string) => Number(attr(el, name));

/** The figure's two panels (nested <svg> elements), each as its text. */
function panels(svg: string): string[] {
  return svg.split(/(?=<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" x="0")/).slice(1);
}

/** value -> pixel maps read off a panel's tick labels: x labels sit 18 px below the frame, y labels 8 px left of it. */
function axes(panel: string): { x: (v: number) => number; y: (v: number) => number } {
  const texts = [...panel.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map((m) => ({ el: ` ${m[1]}`, text: m[2]! }));
  const xTicks = texts.filter((t) => attr(t.el, 'text-anchor') === 'middle' && !attr(t.el, 'font-size')).map((t) => [Number(t.text), num(t.el, 'x')] as const);
  const yTicks = texts.filter((t) => attr(t.el, 'text-anchor') === 'end').map((t) => [Number(t.text), num(t.el, 'y') - 4] as const);
  const fit = (ticks: readonly (readonly [number, number])[]) => {
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    const [[v0, p0], [v1, p1]] = [ticks[0]!, ticks[ticks.length - 1]!];
    return (v: number) => p0 + ((v - v0) / (v1 - v0)) * (p1 - p0);
  };
  return { x: fit(xTicks), y: fit(yTicks) };
}

const pointsOf = (el: string) => attr(el, 'points')!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
function expectAt(got: [number, number][], want: [number, number][], map: { x: (v: number) => number; y: (v: number) => number }) {
  expect(got).toHaveLength(want.length);
  got.forEach(([px, py], i) => {
    // 0.01 px rounding in the figure
    expect(Math.abs(px - map.x(want[i]![0]))).toBeLessThan(0.011);
    expect(Math.abs(py - map.y(want[i]![1]))).toBeLessThan(0.011);
  });
}

describe('training curves (curves.svg)', () => {
  const svg = curvesSvg(curvesFromMetrics(metrics), { title: 'resnet18 & co' });
  const [lossPanel, aurocPanel] = panels(svg);

  it('is a well-formed SVG document with two panels on one step axis', () => {
    const tags = checkBalanced(svg);
    expect(tags[0]).toBe('svg');
    expect(tags.filter((t) => t === 'svg')).toHaveLength(3);
    expect(svg).toContain('resnet18 &amp; co: training loss');
    const lx = axes(lossPanel!).x;
    const ax = axes(aurocPanel!).x;
    for (const s of [0, 20, 60]) expect(Math.abs(lx(s) - ax(s))).toBeLessThan(0.011);
  });

  it('draws the training loss of every logged step where the axes put it', () => {
    const line = lossPanel!.match(/<polyline [^>]*class="loss"[^>]*>/)![0];
    expectAt(pointsOf(line), metrics.lossHistory!, axes(lossPanel!));
  });

  it('draws the validation mean AUROC (line and markers) and each task, skipping undefined AUROCs', () => {
    const map = axes(aurocPanel!);
    const mean = metrics.validations.map((v): [number, number] => [v.step, v.meanAuroc!]);
    expectAt(pointsOf(aurocPanel!.match(/<polyline [^>]*class="mean-auroc"[^>]*>/)![0]), mean, map);
    const markers = [...aurocPanel!.matchAll(/<circle [^>]*class="mean-auroc"[^>]*>/g)].map((m): [number, number] => [num(m[0], 'cx'), num(m[0], 'cy')]);
    expectAt(markers, mean, map);
    for (const task of TASKS) {
      const line = aurocPanel!.match(new RegExp(`<polyline [^>]*data-task="${task}"[^>]*>`))![0];
      const want = metrics.validations.filter((v) => v.perTask![task] !== null).map((v): [number, number] => [v.step, v.perTask![task]!]);
      expectAt(pointsOf(line), want, map);
    }
    expect(aurocPanel).toContain('>Pleural Effusion</text>'); // legend
  });

  it('rings exactly the checkpoints kept by top-k', () => {
    const map = axes(aurocPanel!);
    const rings = [...aurocPanel!.matchAll(/<circle [^>]*class="top-k"[^>]*>/g)].map((m): [number, number] => [num(m[0], 'cx'), num(m[0], 'cy')]);
    expectAt(rings, [[40, 0.74], [60, 0.71]], map);
  });

  it('reads run folders written before lossHistory: the loss is the validations\' mean training loss', () => {
    const { lossHistory: _drop, ...legacy } = metrics;
    const c = curvesFromMetrics({ ...legacy, validations: legacy.validations.map(({ perTask: _p, ...v }) => v) });
    expect(c.loss).toEqual([[20, 0.65], [40, 0.53], [60, 0.46]]);
    const s = curvesSvg(c);
    checkBalanced(s);
    expect(s).not.toContain('class="task"');
  });

  describe('writeRunCurves (rebuild from a run folder)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chexzoo-curves-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('writes RUN/curves.svg from RUN/metrics.json, and says why when the run has not finished', async () => {
      await expect(writeRunCurves(dir)).rejects.toThrow(/no metrics\.json: the run has not finished/);
      writeFileSync(join(dir, 'metrics.json'), JSON.stringify(metrics));
      const path = await writeRunCurves(dir);
      expect(path).toBe(join(dir, 'curves.svg'));
      expect(readFileSync(path, 'utf8')).toBe(curvesSvg(curvesFromMetrics(metrics), { title: dir.split('/').pop()! }));
      writeFileSync(join(dir, 'metrics.json'), '{"valid": ');
      await expect(writeRunCurves(dir)).rejects.toThrow(/not valid JSON/);
    });
  });
});
