import { describe, expect, it } from 'vitest';
import { scatterSvg, escapeXml } from '../src/report/svg.js';
import { checkBalanced } from './helpers/xml.js';

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

  it('draws links between points (full model to its truncated versions)', () => {
    const svg = scatterSvg(
      [
        { x: 1, y: 0.8, group: 'a' },
        { x: 2, y: 0.7, group: 'a', hollow: true },
        { x: 3, y: Number.NaN },
      ],
      { links: [{ from: 0, to: 1 }, { from: 1, to: 2 }, { from: 0, to: 9 }] },
    );
    checkBalanced(svg);
    expect(count(svg, 'stroke-dasharray')).toBe(1); // links to a non-finite or missing point are dropped
  });
});
