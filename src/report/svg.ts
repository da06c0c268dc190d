// A tiny dependency-free SVG scatter-plot writer for study reports (browser-safe: returns a string).

/** One point of a {@link scatterSvg} plot. */
export interface ScatterPoint {
  x: number;
  y: number;
  /** Text drawn next to the point (escaped). */
  label?: string;
  /** Colour group (e.g. the model family); points of a group share a colour and a legend entry. */
  group?: string;
  /** Vertical error bar from yLower to yUpper (e.g. a 95% CI), drawn when both are finite. */
  yLower?: number;
  yUpper?: number;
  /** Draw an open marker (e.g. a truncated model) instead of a filled one. */
  hollow?: boolean;
}

/** Options of {@link scatterSvg}. */
export interface ScatterOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Colour per group name; groups without one get a colour from a fixed palette, in order of appearance. */
  colors?: Record<string, string>;
  /** Tick label formatting (default: up to 3 significant decimals). */
  formatX?: (v: number) => string;
  formatY?: (v: number) => string;
  /** Line segments between points (indices into `points`), e.g. a full model to its truncated versions. */
  links?: { from: number; to: number }[];
}

// Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

/** Escapes text for SVG element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

// "Nice" ticks (1, 2, 5 x 10^k steps) covering [lo, hi].
function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

/** Tick labels: up to 3 decimals, no trailing zeros. */
export const fmtDefault = (v: number) => String(Number(v.toFixed(3)));
/** Pixel coordinates are rounded to 0.01 px (short, stable SVG text). */
export const r2 = (v: number) => Math.round(v * 100) / 100;

/** A plot's area inside its margins, its ticks, and the scales from data to pixels (rounded to 0.01 px). */
export interface PlotFrame {
  width: number;
  height: number;
  m: { left: number; right: number; top: number; bottom: number };
  /** Plot width and height in pixels. */
  pw: number;
  ph: number;
  xt: number[];
  yt: number[];
  sx(v: number): number;
  sy(v: number): number;
}

/** The data range with a little room around it, so markers and labels do not sit on the frame. */
function padded(v: number[], lo0: number, hi0: number): [number, number] {
  if (v.length === 0) return [lo0, hi0];
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

/**
 * Lays out a plot of the given data values: nice ticks covering them, margins (room for a title and, on the right,
 * a legend), and the scales. Shared by every figure in src/report/.
 * @example const f = plotFrame(xs, ys, { width: 640, height: 420, title: true, legend: true });
 */
export function plotFrame(xs: number[], ys: number[], o: { width: number; height: number; title: boolean; legend: boolean }): PlotFrame {
  const xt = niceTicks(...padded(xs, 0, 1));
  const yt = niceTicks(...padded(ys, 0, 1));
  const [x0, x1, y0, y1] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  const m = { left: 64, right: o.legend ? 130 : 24, top: o.title ? 40 : 16, bottom: 52 };
  const pw = o.width - m.left - m.right;
  const ph = o.height - m.top - m.bottom;
  const sx = (v: number) => r2(m.left + ((v - x0) / (x1 - x0)) * pw);
  const sy = (v: number) => r2(m.top + ph - ((v - y0) / (y1 - y0)) * ph);
  return { width: o.width, height: o.height, m, pw, ph, xt, yt, sx, sy };
}

/**
 * The opening of an SVG document (or of a panel nested in one, with `y`) with its background, title, grid, ticks,
 * tick labels, frame and axis labels. Close it with `</svg>`.
 */
export function axesSvg(
  f: PlotFrame,
  o: { title?: string; xLabel?: string; yLabel?: string; formatX: (v: number) => string; formatY: (v: number) => string; y?: number },
): string[] {
  const { width, height, m, pw, ph } = f;
  const out: string[] = [];
  // `y`: a panel nested in a larger figure, placed that far down
  const at = o.y !== undefined ? ` x="0" y="${o.y}"` : '';
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg"${at} width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (o.title) {
    out.push(`<text x="${r2(width / 2)}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`);
  }
  for (const t of f.xt) {
    const x = f.sx(t);
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="#333333"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${escapeXml(o.formatX(t))}</text>`);
  }
  for (const t of f.yt) {
    const y = f.sy(t);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#333333"/>`);
    out.push(`<text x="${m.left - 8}" y="${r2(y + 4)}" text-anchor="end">${escapeXml(o.formatY(t))}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333333"/>`);
  if (o.xLabel) {
    out.push(`<text x="${r2(m.left + pw / 2)}" y="${height - 12}" text-anchor="middle" font-size="12">${escapeXml(o.xLabel)}</text>`);
  }
  if (o.yLabel) {
    const cy = r2(m.top + ph / 2);
    out.push(`<text x="16" y="${cy}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${cy})">${escapeXml(o.yLabel)}</text>`);
  }
  return out;
}

/** The legend in the right margin: a coloured square and the name per entry (squares, so circles stay data points). */
export function legendSvg(f: PlotFrame, entries: [name: string, color: string][]): string[] {
  return entries.flatMap(([g, c], i) => {
    const y = f.m.top + 10 + i * 18;
    const x = f.m.left + f.pw + 14;
    return [`<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${c}"/>`, `<text x="${x + 10}" y="${y + 4}">${escapeXml(g)}</text>`];
  });
}

/** Colour per group: the caller's, else the palette in order of appearance. */
export function groupColors(groups: string[], colors?: Record<string, string>): Map<string, string> {
  const color = new Map<string, string>();
  let next = 0;
  for (const g of groups) color.set(g, colors?.[g] ?? PALETTE[next++ % PALETTE.length]!);
  return color;
}

type Spot = { tx: number; ty: number; anchor: 'start' | 'end' };

/**
 * Places point labels: the first of four spots around the marker that stays in the frame and clear of the labels
 * placed so far (text width estimated at 0.6 em per character).
 */
function labelPlacer(f: PlotFrame): (x: number, y: number, text: string) => Spot {
  const { m, pw, ph } = f;
  const placed: { x0: number; y0: number; x1: number; y1: number }[] = [];
  return (x, y, text) => {
    const w = text.length * 6;
    const spots: Spot[] = [
      { tx: x + 6, ty: y - 5, anchor: 'start' },
      { tx: x - 6, ty: y - 5, anchor: 'end' },
      { tx: x + 6, ty: y + 13, anchor: 'start' },
      { tx: x - 6, ty: y + 13, anchor: 'end' },
    ];
    const box = (s: Spot) => ({ x0: s.anchor === 'start' ? s.tx : s.tx - w, x1: s.anchor === 'start' ? s.tx + w : s.tx, y0: s.ty - 9, y1: s.ty + 2 });
    const inside = (b: ReturnType<typeof box>) => b.x0 >= m.left && b.x1 <= m.left + pw && b.y0 >= m.top && b.y1 <= m.top + ph;
    const clear = (b: ReturnType<typeof box>) => placed.every((q) => b.x1 <= q.x0 || b.x0 >= q.x1 || b.y1 <= q.y0 || b.y0 >= q.y1);
    const pick = spots.find((s) => inside(box(s)) && clear(box(s))) ?? spots.find((s) => inside(box(s))) ?? spots[0]!;
    placed.push(box(pick));
    return { tx: r2(pick.tx), ty: r2(pick.ty), anchor: pick.anchor };
  };
}

/** Dashed links between points, drawn before the points so these sit on top. */
function linksSvg(f: PlotFrame, points: ScatterPoint[], links: { from: number; to: number }[], color: Map<string, string>): string[] {
  const out: string[] = [];
  for (const l of links) {
    const a = points[l.from];
    const b = points[l.to];
    if (!a || !b || ![a.x, a.y, b.x, b.y].every(Number.isFinite)) continue;
    const c = a.group !== undefined ? color.get(a.group)! : '#999999';
    out.push(`<line x1="${f.sx(a.x)}" y1="${f.sy(a.y)}" x2="${f.sx(b.x)}" y2="${f.sy(b.y)}" stroke="${c}" stroke-opacity="0.7" stroke-dasharray="4 3"/>`);
  }
  return out;
}

/** Vertical error bars with caps, for the points that have both ends. */
function errorBarsSvg(f: PlotFrame, pts: ScatterPoint[], color: Map<string, string>): string[] {
  const out: string[] = [];
  for (const p of pts) {
    if (!(Number.isFinite(p.yLower) && Number.isFinite(p.yUpper))) continue;
    const c = p.group !== undefined ? color.get(p.group)! : '#333333';
    const x = f.sx(p.x);
    const [ya, yb] = [f.sy(p.yLower!), f.sy(p.yUpper!)];
    out.push(`<line x1="${x}" y1="${ya}" x2="${x}" y2="${yb}" stroke="${c}" stroke-opacity="0.6"/>`);
    out.push(`<line x1="${r2(x - 3)}" y1="${ya}" x2="${r2(x + 3)}" y2="${ya}" stroke="${c}" stroke-opacity="0.6"/>`);
    out.push(`<line x1="${r2(x - 3)}" y1="${yb}" x2="${r2(x + 3)}" y2="${yb}" stroke="${c}" stroke-opacity="0.6"/>`);
  }
  return out;
}

/** The markers (with a tooltip) and their labels. */
function markersSvg(f: PlotFrame, pts: ScatterPoint[], color: Map<string, string>, fx: (v: number) => string, fy: (v: number) => string): string[] {
  const out: string[] = [];
  const placeLabel = labelPlacer(f);
  for (const p of pts) {
    const c = p.group !== undefined ? color.get(p.group)! : '#0072B2';
    const [x, y] = [f.sx(p.x), f.sy(p.y)];
    const title = p.label !== undefined ? `<title>${escapeXml(`${p.label}: (${fx(p.x)}, ${fy(p.y)})`)}</title>` : '';
    const style = p.hollow ? `fill="#ffffff" stroke="${c}" stroke-width="1.6"` : `fill="${c}" stroke="#ffffff" stroke-width="0.8"`;
    out.push(`<circle cx="${x}" cy="${y}" r="4" ${style}>${title}</circle>`);
    if (p.label !== undefined) {
      const { tx, ty, anchor } = placeLabel(x, y, p.label);
      out.push(`<text x="${tx}" y="${ty}" text-anchor="${anchor}" font-size="10" fill="#222222">${escapeXml(p.label)}</text>`);
    }
  }
  return out;
}

/**
 * Renders a scatter plot as a standalone SVG document: axes with ticks, labelled points, optional CI error bars,
 * per-group colours with a legend, and a title. Non-finite points are skipped.
 * @example const svg = scatterSvg([{ x: 69.8, y: 0.86, label: 'resnet18', group: 'resnet' }], { title: 'AUROC vs top-1' });
 */
export function scatterSvg(points: ScatterPoint[], options: ScatterOptions = {}): string {
  const fx = options.formatX ?? fmtDefault;
  const fy = options.formatY ?? fmtDefault;
  const pts = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const groups = [...new Set(pts.map((p) => p.group).filter((g): g is string => g !== undefined))];
  const color = groupColors(groups, options.colors);
  const ys = pts.flatMap((p) => [p.y, ...(Number.isFinite(p.yLower) && Number.isFinite(p.yUpper) ? [p.yLower!, p.yUpper!] : [])]);
  const f = plotFrame(pts.map((p) => p.x), ys, { width: options.width ?? 640, height: options.height ?? 420, title: !!options.title, legend: groups.length > 0 });
  const out = [
    ...axesSvg(f, { title: options.title, xLabel: options.xLabel, yLabel: options.yLabel, formatX: fx, formatY: fy }),
    ...linksSvg(f, points, options.links ?? [], color),
    ...errorBarsSvg(f, pts, color),
    ...markersSvg(f, pts, color, fx, fy),
    ...legendSvg(f, groups.map((g) => [g, color.get(g)!])),
    '</svg>',
  ];
  return out.join('\n') + '\n';
}
