// Synthetic CheXpert: chest-radiograph phantoms with learnable signs for the 5 competition findings.
// Browser-safe: pure arithmetic into a Uint8Array; JPEG encoding and files are in synth-node.ts.
import { CHEXPERT_OBSERVATIONS, type ChexpertRecord, type LabelValue, type Observation } from './chexpert.js';
import { randNormal, rng } from '../utils/rng.js';

export type SynthSplit = 'train' | 'valid';

/** The folder the synthetic dataset is written to, as in the real (downsampled) release. */
export const SYNTH_DATASET_FOLDER = 'CheXpert-v1.0-small';

/** First patient number of the valid split (as in the release, valid patients follow train's). */
export const SYNTH_VALID_FIRST_PATIENT = 64541;

/** Largest image count per split (patient numbers of train must stay below the valid ones). */
export const SYNTH_MAX_IMAGES = 100_000;

/** What is drawn in a study (shared by its frontal and lateral views). Severity 0 = absent, else in (0, 1]. */
export interface SynthTruth {
  cardiomegaly: number;
  /** Per side: index 0 = patient's right (image left), 1 = patient's left (image right). */
  effusion: [number, number];
  edema: number;
  consolidation: number;
  atelectasis: number;
  /** Side of atelectasis / consolidation: 0 = patient's right, 1 = left. */
  atelectasisSide: 0 | 1;
  consolidationSide: 0 | 1;
  supportDevices: boolean;
  /** Body habitus: 0 slim .. 1 large. */
  habitus: number;
  /** Seed of the study's fine random details (lesion shapes, textures). */
  detailSeed: number;
}

/** A CSV row of the synthetic dataset plus what its image shows. */
export interface SynthRecord extends ChexpertRecord {
  split: SynthSplit;
  view: 'frontal' | 'lateral';
  truth: SynthTruth;
  /** Seed of the view's acquisition (position, rotation, exposure, noise). */
  viewSeed: number;
}

/** A grayscale image, row-major, one byte per pixel. */
export interface SynthImage {
  width: number;
  height: number;
  data: Uint8Array;
}

// Per-task label generation in train: P(label -1 | present) and P(label -1 | absent). Uncertain positives are
// drawn mild. The share of true findings among -1 follows the CheXpert paper's lesson (U-Ones suits
// Atelectasis and Edema, U-Zeros suits Cardiomegaly and Consolidation). Prevalences are in sampleTruth.
const TASK_GEN = {
  Cardiomegaly: { uncPos: 0.06, uncNeg: 0.05 },
  Edema: { uncPos: 0.14, uncNeg: 0.03 },
  Consolidation: { uncPos: 0.12, uncNeg: 0.1 },
  Atelectasis: { uncPos: 0.3, uncNeg: 0.05 },
  'Pleural Effusion': { uncPos: 0.1, uncNeg: 0.04 },
} as const;

/** Share of negatives written as an explicit 0 (the rest blank) in train, as in the release. */
const TRAIN_EXPLICIT_NEGATIVE = 0.35;
/** Train-only label noise on the findings: a positive left unmentioned, a negative reported positive. */
const TRAIN_MISS = 0.03;
const TRAIN_FALSE_POSITIVE = 0.015;

function mix(a: number, b: number, c: number): number {
  // murmur3 finaliser over three words: independent seeds for each (seed, split, index).
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c + 0x165667b1, 0x27d4eb2f)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const between = (rand: () => number, lo: number, hi: number) => lo + (hi - lo) * rand();

function sampleTruth(rand: () => number, split: SynthSplit): { truth: SynthTruth; labels: Record<Observation, LabelValue> } {
  const present: Record<keyof typeof TASK_GEN, boolean> = {
    Cardiomegaly: rand() < 0.26,
    Edema: false,
    Consolidation: rand() < 0.2,
    Atelectasis: false,
    'Pleural Effusion': false,
  };
  // Co-occurrence as in heart failure: cardiomegaly raises edema and effusion; effusion raises atelectasis.
  present.Edema = rand() < (present.Cardiomegaly ? 0.4 : 0.18);
  present['Pleural Effusion'] = rand() < (present.Edema ? 0.45 : present.Cardiomegaly ? 0.35 : 0.24);
  present.Atelectasis = rand() < (present['Pleural Effusion'] ? 0.33 : 0.2);

  const labels = {} as Record<Observation, LabelValue>;
  const severity: Record<keyof typeof TASK_GEN, number> = { Cardiomegaly: 0, Edema: 0, Consolidation: 0, Atelectasis: 0, 'Pleural Effusion': 0 };
  for (const task of Object.keys(TASK_GEN) as (keyof typeof TASK_GEN)[]) {
    const g = TASK_GEN[task];
    let label: LabelValue;
    if (split === 'valid') {
      label = present[task] ? 1 : 0;
      if (present[task]) severity[task] = between(rand, 0.25, 1);
    } else if (present[task]) {
      const uncertain = rand() < g.uncPos;
      severity[task] = uncertain ? between(rand, 0.1, 0.5) : between(rand, 0.25, 1);
      label = uncertain ? -1 : rand() < TRAIN_MISS ? null : 1;
    } else {
      label = rand() < g.uncNeg ? -1 : rand() < TRAIN_FALSE_POSITIVE ? 1 : rand() < TRAIN_EXPLICIT_NEGATIVE ? 0 : null;
    }
    labels[task] = label;
  }

  const effSideRoll = rand();
  const eff = severity['Pleural Effusion'];
  const effusion: [number, number] =
    eff === 0 ? [0, 0] : effSideRoll < 0.4 ? [eff, between(rand, 0.6, 1) * eff] : effSideRoll < 0.75 ? [eff, 0] : [0, eff];
  const supportDevices = rand() < (present.Edema || present.Cardiomegaly ? 0.5 : 0.3);
  const truth: SynthTruth = {
    cardiomegaly: severity.Cardiomegaly,
    effusion,
    edema: severity.Edema,
    consolidation: severity.Consolidation,
    atelectasis: severity.Atelectasis,
    atelectasisSide: rand() < 0.55 ? 1 : 0,
    consolidationSide: rand() < 0.5 ? 1 : 0,
    supportDevices,
    habitus: rand(),
    detailSeed: Math.floor(rand() * 4294967296),
  };

  // The other observations: correlated label noise (nothing drawn for them except support devices).
  const noisy = (p: number, pUnc: number): LabelValue => {
    const r = rand();
    if (r < p) return 1;
    if (split === 'train' && r < p + pUnc) return -1;
    if (split === 'valid') return 0;
    return rand() < TRAIN_EXPLICIT_NEGATIVE ? 0 : null;
  };
  const anyOpacity = present.Edema || present.Consolidation || present.Atelectasis;
  labels['Enlarged Cardiomediastinum'] = noisy(present.Cardiomegaly ? 0.35 : 0.04, present.Cardiomegaly ? 0.25 : 0.05);
  labels['Lung Opacity'] = noisy(anyOpacity ? 0.7 : 0.08, 0.03);
  labels['Lung Lesion'] = noisy(0.04, 0.01);
  labels.Pneumonia = noisy(present.Consolidation ? 0.3 : 0.03, present.Consolidation ? 0.25 : 0.05);
  labels.Pneumothorax = noisy(0.07, 0.01);
  labels['Pleural Other'] = noisy(0.02, 0.01);
  labels.Fracture = noisy(0.03, 0.005);
  labels['Support Devices'] = supportDevices ? (rand() < 0.95 ? 1 : split === 'valid' ? 0 : null) : noisy(0.02, 0.01);
  // No Finding follows the release's rule: positive only when no pathology (support devices aside) is positive or uncertain.
  const pathology = CHEXPERT_OBSERVATIONS.filter((o) => o !== 'No Finding' && o !== 'Support Devices');
  const anyMention = pathology.some((o) => labels[o] === 1 || labels[o] === -1);
  labels['No Finding'] = anyMention ? (split === 'valid' ? 0 : null) : 1;
  return { truth, labels };
}

const NOISE_TABLE = 1 << 16;
const GAMMA_STEPS = 2048;
const GAMMA_MAX = 1.6;
let gaussians: Float32Array | undefined;

/** Standard normals from a fixed seed, shared by all renders (cheaper than Box-Muller per pixel). */
function gaussianTable(): Float32Array {
  if (!gaussians) {
    const r = rng(0x6a55);
    gaussians = new Float32Array(NOISE_TABLE);
    for (let i = 0; i < NOISE_TABLE; i++) gaussians[i] = randNormal(r);
  }
  return gaussians;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/**
 * The rows of a synthetic split: `count` images grouped in studies and patients like the release
 * (train: several studies per patient, some lateral views, -1 and blank labels; valid: 0/1 labels only).
 * Deterministic per (split, seed); a smaller count gives a prefix of a larger one.
 * @example const rows = synthRecords('valid', 300, 1); renderSynthImage(rows[0], 128);
 */
export function synthRecords(split: SynthSplit, count: number, seed = 0): SynthRecord[] {
  if (!Number.isInteger(count) || count < 0 || count > SYNTH_MAX_IMAGES) {
    throw new Error(`Synthetic ${split} size must be an integer in [0, ${SYNTH_MAX_IMAGES}], got ${count}.`);
  }
  if (!Number.isFinite(seed)) throw new Error(`Synthetic dataset seed must be a number, got ${seed}.`);
  const splitCode = split === 'train' ? 1 : 2;
  const rand = rng(mix(seed >>> 0, splitCode, 0xabcdef));
  const out: SynthRecord[] = [];
  let patient = split === 'train' ? 1 : SYNTH_VALID_FIRST_PATIENT;
  let studyCounter = 0;
  while (out.length < count) {
    const sex = rand() < 0.58 ? 'Male' : 'Female';
    const age = Math.max(18, Math.min(90, Math.round(61 + 17 * randNormal(rand))));
    let studies = 1;
    if (split === 'train') while (studies < 8 && rand() < 0.35) studies++;
    for (let s = 1; s <= studies && out.length < count; s++) {
      const studyRand = rng(mix(seed >>> 0, splitCode, ++studyCounter));
      const { truth, labels } = sampleTruth(studyRand, split);
      const apPa = studyRand() < (split === 'train' ? 0.7 : 0.6) ? 'AP' : 'PA';
      const withLateral = studyRand() < (split === 'train' ? 0.22 : 0.17);
      const views: ('frontal' | 'lateral')[] = withLateral ? ['frontal', 'lateral'] : ['frontal'];
      views.forEach((view, k) => {
        if (out.length >= count) return;
        out.push({
          path: `${SYNTH_DATASET_FOLDER}/${split}/patient${pad(patient, 5)}/study${s}/view${k + 1}_${view}.jpg`,
          sex,
          age,
          frontalLateral: view === 'frontal' ? 'Frontal' : 'Lateral',
          apPa: view === 'frontal' ? apPa : '',
          labels: { ...labels },
          split,
          view,
          truth,
          viewSeed: mix(truth.detailSeed, k + 1, 0x5eed),
        });
      });
    }
    patient++;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rasteriser. Anatomy lives in normalised coordinates (u, v) in [-1, 1] (v downwards), so the same phantom
// renders at any size; brightness is density (bones, heart, fluid bright; aerated lung dark).

/** Linear ramp from 1 (d <= -w/2) to 0 (d >= w/2): an anti-aliased inside test on a signed distance. */
function inside(d: number, w: number): number {
  const t = 0.5 - d / w;
  return t <= 0 ? 0 : t >= 1 ? 1 : t;
}

/** A smooth random field on a lattice over [-1.3, 1.3]^2, sampled bilinearly. */
class Field {
  private readonly g: Float32Array;
  constructor(
    rand: () => number,
    private readonly n: number,
  ) {
    this.g = new Float32Array((n + 1) * (n + 1));
    for (let i = 0; i < this.g.length; i++) this.g[i] = rand() * 2 - 1;
  }
  at(u: number, v: number): number {
    const n = this.n;
    const x = Math.min(Math.max(((u + 1.3) / 2.6) * n, 0), n - 1e-6);
    const y = Math.min(Math.max(((v + 1.3) / 2.6) * n, 0), n - 1e-6);
    const i = x | 0;
    const j = y | 0;
    const fx = x - i;
    const fy = y - j;
    const r = n + 1;
    const a = this.g[j * r + i] + (this.g[j * r + i + 1] - this.g[j * r + i]) * fx;
    const b = this.g[(j + 1) * r + i] + (this.g[(j + 1) * r + i + 1] - this.g[(j + 1) * r + i]) * fx;
    return a + (b - a) * fy;
  }
}

interface Segment {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  half: number;
  value: number;
}

/** Signed distance to a capsule (thick segment). */
function segDist(u: number, v: number, s: Segment): number {
  const dx = s.x1 - s.x0;
  const dy = s.y1 - s.y0;
  const l2 = dx * dx + dy * dy;
  let t = l2 > 0 ? ((u - s.x0) * dx + (v - s.y0) * dy) / l2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const ex = u - s.x0 - t * dx;
  const ey = v - s.y0 - t * dy;
  return Math.sqrt(ex * ex + ey * ey) - s.half;
}

interface Blob {
  x: number;
  y: number;
  r: number;
  phases: number[];
  amps: number[];
  value: number;
}

function blobDist(u: number, v: number, b: Blob): number {
  const dx = u - b.x;
  const dy = v - b.y;
  const a = Math.atan2(dy, dx);
  let rr = 1;
  for (let k = 0; k < b.phases.length; k++) rr += b.amps[k] * Math.sin((k + 2) * a + b.phases[k]);
  return Math.sqrt(dx * dx + dy * dy) - b.r * rr;
}

interface Lung {
  cx: number;
  cy: number;
  rx: number;
  ryTop: number;
  ryBottom: number;
  /** Diaphragm: v = dTop + dDepth * ((l + 0.15) / 1.15)^2, l = lateral coordinate in [-1, 1] (1 = costophrenic side). */
  dTop: number;
  dDepth: number;
  /** Direction of the costophrenic side in u (frontal: outwards; lateral: posterior). */
  lateralSign: number;
  fluid: number;
}

interface LungPoint {
  /** Signed distance-ish to the lung outline (superellipse: round apex, square base). */
  shape: number;
  /** Signed distance-ish to the diaphragm (positive below it). */
  diaphragm: number;
  /** Lateral coordinate, -1 .. 1 across the lung (1 = costophrenic side). */
  l: number;
}

/** Where (u, v) lies relative to lung `L`, written into `out` (reused per pixel: no allocation in the render loop). */
function lungDist(u: number, v: number, L: Lung, out: LungPoint = { shape: 0, diaphragm: 0, l: 0 }): LungPoint {
  const l = ((u - L.cx) / L.rx) * L.lateralSign;
  const dy = v - L.cy;
  const ny = dy < 0 ? dy / L.ryTop : dy / L.ryBottom;
  const nx2 = l * l;
  const q = dy < 0 ? nx2 + ny * ny : Math.sqrt(nx2 * nx2 + ny * ny * ny * ny);
  const t = (l + 0.15) / 1.15;
  out.shape = (Math.sqrt(q) - 1) * Math.min(L.rx, L.ryTop);
  out.diaphragm = v - (L.dTop + L.dDepth * t * t);
  out.l = l;
  return out;
}

/** Fluid top: a meniscus rising towards the costophrenic side; severity 0 = none. */
function fluidTop(L: Lung, l: number): number {
  const lateralBottom = L.dTop + L.dDepth;
  const rise = 0.2 + 0.42 * L.fluid;
  const t = Math.max(0, (l + 1) / 2);
  return lateralBottom - rise * (0.45 + 0.55 * t * t);
}

type RenderedRecord = Pick<SynthRecord, 'truth' | 'view' | 'apPa' | 'viewSeed'>;

/** The heart silhouette: an ellipse. */
interface Heart {
  x: number;
  y: number;
  rx: number;
  ry: number;
}

/** Signed distance-ish to the heart's outline. */
function heartDist(u: number, v: number, h: Heart): number {
  const hxn = (u - h.x) / h.rx;
  const hyn = (v - h.y) / h.ry;
  return (Math.sqrt(hxn * hxn + hyn * hyn) - 1) * Math.min(h.rx, h.ry);
}

/** How a view was taken: patient position and rotation, exposure and noise level. */
interface Acquisition {
  zoom: number;
  tx: number;
  ty: number;
  cosT: number;
  sinT: number;
  gain: number;
  bias: number;
  gamma: number;
  noiseSigma: number;
  /** Anode heel: a brightness gradient from top to bottom. */
  heel: number;
}

function drawAcquisition(vr: () => number): Acquisition {
  const zoom = between(vr, 0.9, 1.04);
  const theta = (between(vr, -5, 5) * Math.PI) / 180;
  const tx = between(vr, -0.05, 0.05);
  const ty = between(vr, -0.05, 0.05);
  const gain = between(vr, 0.85, 1.15);
  const bias = between(vr, -0.04, 0.05);
  const gamma = between(vr, 0.85, 1.2);
  const noiseSigma = between(vr, 0.008, 0.03);
  const heel = between(vr, -0.06, 0.06);
  return { zoom, tx, ty, cosT: Math.cos(theta), sinT: Math.sin(theta), gain, bias, gamma, noiseSigma, heel };
}

/**
 * The centres of the pixels of row `py` of a `size` x `size` image in anatomy coordinates (the inverse of the
 * acquisition transform) into `u` and `v`; returns the row's image coordinate y in [-1, 1] (downwards).
 */
function anatomyRow(a: Acquisition, size: number, py: number, u: Float64Array, v: Float64Array): number {
  const y = ((py + 0.5) / size) * 2 - 1;
  for (let pxi = 0; pxi < size; pxi++) {
    const x = ((pxi + 0.5) / size) * 2 - 1;
    const xs = (x - a.tx) / a.zoom;
    const ys = (y - a.ty) / a.zoom;
    u[pxi] = a.cosT * xs + a.sinT * ys;
    v[pxi] = -a.sinT * xs + a.cosT * ys;
  }
  return y;
}

/** Lungs (fluid-free), heart and the fixed bony lines of a view. */
function drawAnatomy(T: SynthTruth, frontal: boolean, apPa: string, bw: number, dr: () => number): { lungs: Lung[]; heart: Heart; segments: Segment[] } {
  const lungs: Lung[] = [];
  const segments: Segment[] = [];
  let heart: Heart;
  const atelSide = T.atelectasisSide;
  const atelLift = T.atelectasis > 0 ? 0.05 + 0.07 * T.atelectasis : 0;
  const ctrBase = T.cardiomegaly > 0 ? 0.54 + 0.14 * T.cardiomegaly : between(dr, 0.36, 0.46);
  const ctr = ctrBase * (frontal && apPa === 'AP' ? 1.05 : 1);

  if (frontal) {
    const thorax = 0.9 * bw;
    for (const side of [0, 1] as const) {
      const s = side === 0 ? -1 : 1; // patient's right lung is on the image left
      lungs.push({
        cx: s * 0.5 * thorax,
        cy: -0.04,
        rx: 0.4 * thorax,
        ryTop: 0.64,
        ryBottom: 0.68,
        dTop: (side === 0 ? 0.26 : 0.3) - (side === atelSide ? atelLift : 0) + between(dr, -0.03, 0.03),
        dDepth: 0.3,
        lateralSign: s,
        fluid: 0,
      });
    }
    const hw = ctr * 0.9 * thorax;
    heart = { x: 0.3 * hw, y: 0.36, rx: hw, ry: 0.2 + 0.1 * (hw / thorax) };
    // Clavicles.
    for (const s of [-1, 1]) {
      segments.push({ x0: s * 0.06, y0: -0.6, x1: s * 0.42 * bw, y1: -0.66, half: 0.035, value: 0.16 });
      segments.push({ x0: s * 0.42 * bw, y0: -0.66, x1: s * 0.8 * bw, y1: -0.74, half: 0.03, value: 0.16 });
    }
  } else {
    const depth = 0.78 * bw;
    lungs.push({
      cx: 0.02,
      cy: -0.04,
      rx: 0.62 * (depth / 0.75),
      ryTop: 0.64,
      ryBottom: 0.7,
      dTop: 0.28 - atelLift * 0.6 + between(dr, -0.03, 0.03),
      dDepth: 0.32,
      lateralSign: 1, // posterior costophrenic angle on the image right
      fluid: 0,
    });
    heart = { x: -0.25, y: 0.27, rx: 0.27 * (ctr / 0.42), ry: 0.3 };
    segments.push({ x0: -0.72 * depth, y0: -0.55, x1: -0.66 * depth, y1: 0.3, half: 0.025, value: 0.12 }); // sternum
  }
  return { lungs, heart, segments };
}

/** Consolidation: 1-2 dense irregular patches in a lung's mid/lower zone. */
function drawConsolidation(T: SynthTruth, frontal: boolean, lungs: Lung[], dr: () => number): Blob[] {
  const blobs: Blob[] = [];
  if (T.consolidation > 0) {
    const n = dr() < 0.25 ? 2 : 1;
    for (let k = 0; k < n; k++) {
      const L = lungs[frontal ? (k === 0 ? T.consolidationSide : 1 - T.consolidationSide) : 0]!;
      const r = 0.1 + 0.08 * T.consolidation;
      blobs.push({
        x: L.cx + L.lateralSign * between(dr, -0.1, 0.45) * L.rx,
        y: L.cy + between(dr, -0.35, 0.35) * L.ryBottom,
        r: k === 0 ? r : r * 0.7,
        phases: [dr() * 6.28, dr() * 6.28, dr() * 6.28],
        amps: [between(dr, 0.05, 0.15), between(dr, 0.03, 0.1), between(dr, 0.02, 0.06)],
        value: 0.5 + 0.1 * T.consolidation,
      });
    }
  }
  return blobs;
}

/** Atelectasis: plate-like bands, near-horizontal, in the lower half of the lung above the diaphragm. */
function drawAtelectasis(T: SynthTruth, frontal: boolean, lungs: Lung[], dr: () => number): Segment[] {
  const bands: Segment[] = [];
  if (T.atelectasis > 0) {
    const L = lungs[frontal ? T.atelectasisSide : 0]!;
    const n = 1 + (dr() < 0.5 + 0.4 * T.atelectasis ? 1 : 0) + (dr() < 0.25 ? 1 : 0);
    for (let k = 0; k < n; k++) {
      const len = between(dr, 0.22, 0.36) * (frontal ? 1 : 1.3);
      const ang = (between(dr, -18, 18) * Math.PI) / 180;
      const cx = L.cx + L.lateralSign * between(dr, -0.15, 0.35) * L.rx;
      const cy = L.dTop - between(dr, 0.06, 0.32) - k * 0.09;
      const dx = (Math.cos(ang) * len) / 2;
      const dy = (Math.sin(ang) * len) / 2;
      bands.push({ x0: cx - dx, y0: cy - dy, x1: cx + dx, y1: cy + dy, half: 0.022 + 0.014 * T.atelectasis, value: 0.3 + 0.12 * T.atelectasis });
    }
  }
  return bands;
}

/** Support devices: ECG leads, their wires, and a tube down the mediastinum. */
function drawSupportDevices(T: SynthTruth, frontal: boolean, bw: number, dr: () => number): { leads: { x: number; y: number; r: number }[]; lines: Segment[] } {
  const leads: { x: number; y: number; r: number }[] = [];
  const lines: Segment[] = [];
  if (T.supportDevices) {
    const n = 2 + Math.floor(dr() * 3);
    for (let k = 0; k < n; k++) leads.push({ x: between(dr, -0.7, 0.7) * bw, y: between(dr, -0.6, 0.5), r: 0.035 });
    for (const ld of leads) {
      lines.push({ x0: ld.x, y0: ld.y, x1: ld.x + between(dr, -0.4, 0.4), y1: 1.2, half: 0.008, value: 0.35 });
    }
    const tubeEnd = between(dr, -0.2, 0.1);
    const tx0 = frontal ? between(dr, -0.03, 0.03) : -0.3;
    lines.push({ x0: tx0, y0: -1.2, x1: tx0 + (frontal ? 0.02 : 0.05), y1: tubeEnd, half: 0.012, value: 0.45 });
  }
  return { leads, lines };
}

/** The phantom's geometry and acquisition for one render (consumes the record's random streams in render order). */
function synthLayout(record: RenderedRecord, size: number) {
  if (!Number.isInteger(size) || size < 16 || size > 4096) throw new Error(`Synthetic image size must be an integer in [16, 4096] pixels, got ${size}.`);
  const T = record.truth;
  const frontal = record.view === 'frontal';
  const dr = rng(T.detailSeed);
  const vr = rng(record.viewSeed);
  const acquisition = drawAcquisition(vr);
  const texture = new Field(dr, 28);
  const mottle = new Field(dr, 7);
  const bw = 0.8 + 0.12 * T.habitus; // body half width
  const px = 2 / size; // one pixel in normalised units
  const edge = Math.max(1.2 * px, 0.02);
  const { lungs, heart, segments } = drawAnatomy(T, frontal, record.apPa, bw, dr);
  lungs.forEach((L, i) => {
    L.fluid = frontal ? T.effusion[i] : Math.max(T.effusion[0], T.effusion[1]);
  });
  const blobs = drawConsolidation(T, frontal, lungs, dr);
  const bands = drawAtelectasis(T, frontal, lungs, dr); // only inside lungs
  const { leads, lines } = drawSupportDevices(T, frontal, bw, dr);
  segments.push(...lines);
  return { T, frontal, vr, acquisition, texture, mottle, bw, edge, lungs, heart, segments, bands, blobs, leads };
}

type Layout = ReturnType<typeof synthLayout>;
type Box = [number, number, number, number];

/** A layout plus what the per-pixel density needs, computed once per render (bounding boxes skip small shapes). */
interface Scene extends Layout {
  shoulderTop: number;
  edemaHaze: number;
  segBoxes: Box[];
  bandBoxes: Box[];
  blobReach: number[];
  lungBoxes: Box[];
}

const HILUM_Y = -0.02;

function sceneOf(layout: Layout): Scene {
  const { T, edge } = layout;
  const box = (x0: number, y0: number, x1: number, y1: number, m: number): Box => [Math.min(x0, x1) - m, Math.min(y0, y1) - m, Math.max(x0, x1) + m, Math.max(y0, y1) + m];
  // every field listed (not spread) so the scene is a fast-property object: the render loop reads it per pixel
  const { frontal, vr, acquisition, texture, mottle, bw, lungs, heart, segments, bands, blobs, leads } = layout;
  return {
    T,
    frontal,
    vr,
    acquisition,
    texture,
    mottle,
    bw,
    edge,
    lungs,
    heart,
    segments,
    bands,
    blobs,
    leads,
    shoulderTop: -0.86 + 0.06 * T.habitus,
    edemaHaze: T.edema > 0 ? 0.13 + 0.13 * T.edema : 0,
    segBoxes: layout.segments.map((s) => box(s.x0, s.y0, s.x1, s.y1, s.half + edge)),
    bandBoxes: layout.bands.map((s) => box(s.x0, s.y0, s.x1, s.y1, s.half + edge)),
    blobReach: layout.blobs.map((b) => b.r * 1.4 + edge),
    lungBoxes: layout.lungs.map((L) => box(L.cx - L.rx, L.cy - L.ryTop, L.cx + L.rx, L.cy + L.ryBottom, edge)),
  };
}

const outsideBox = (b: Box, u: number, v: number) => u < b[0] || u > b[2] || v < b[1] || v > b[3];

/**
 * One image row being painted: its pixels' anatomy coordinates and the density drawn so far. The render paints
 * a row in layers (body, lungs, heart, spine, lines, leads), each a loop over the row: per pixel, the same
 * operations in the same order as one pass would do, without a function call per pixel and step.
 */
interface Row {
  y: number;
  u: Float64Array;
  v: Float64Array;
  /** Density. */
  I: Float64Array;
  /** Inside-the-body weight (0 outside). */
  inBody: Float64Array;
  /** Soft-tissue mottle (heart and body share it). */
  mottle: Float64Array;
}

/** Background, then the body outline (with shoulders and neck on frontal views) and the denser abdomen. */
function paintBody(s: Scene, r: Row): void {
  const bw = s.bw;
  for (let p = 0; p < r.u.length; p++) {
    const u = r.u[p]!;
    const v = r.v[p]!;
    let I = 0.03;
    const bx = u / (s.frontal ? bw : 0.8 * bw);
    const by = (v - 0.15) / 1.25;
    let bodyD = (Math.sqrt(bx * bx + by * by) - 1) * bw;
    if (s.frontal && v < 0) {
      // Shoulders (a band sloping down from the neck) and the neck, so the outline is not an egg.
      const shoulder = Math.max(s.shoulderTop + 0.22 * (u / bw) * (u / bw) - v, Math.abs(u) - bw * (1.1 - 0.5 * Math.max(0, v + 0.6)), v);
      const neck = Math.abs(u) - 0.2 * bw;
      bodyD = Math.min(bodyD, shoulder, neck);
    }
    const inBody = inside(bodyD, s.edge * 2);
    r.inBody[p] = inBody;
    if (inBody > 0) {
      const m = s.mottle.at(u, v);
      r.mottle[p] = m;
      I += (0.4 + 0.03 * m - I) * inBody;
      // Abdomen under the diaphragm is a little denser (liver).
      if (v > 0.3) I += 0.05 * inBody * Math.min(1, (v - 0.3) / 0.3);
    }
    r.I[p] = I;
  }
}

/** Each lung inside the body: aerated tissue with ribs, edema haze, atelectasis bands and consolidation patches; then fluid. */
function paintLungs(s: Scene, r: Row): void {
  const edge = s.edge;
  const at: LungPoint = { shape: 0, diaphragm: 0, l: 0 };
  for (let p = 0; p < r.u.length; p++) {
    if (r.inBody[p]! <= 0) continue;
    const u = r.u[p]!;
    const v = r.v[p]!;
    let I = r.I[p]!;
    for (let i = 0; i < s.lungs.length; i++) {
      if (outsideBox(s.lungBoxes[i]!, u, v)) continue;
      const L = s.lungs[i]!;
      const { shape, diaphragm, l } = lungDist(u, v, L, at);
      const inShape = inside(shape, edge);
      if (inShape <= 0) continue;
      const aerated = inShape * inside(diaphragm, edge);
      const hx = u - (s.frontal ? L.cx - L.lateralSign * 0.7 * L.rx : 0);
      const hy = v - HILUM_Y;
      const r2 = hx * hx + hy * hy;
      const perihilar = r2 > 1 ? 0 : Math.exp(-r2 / 0.09);
      const tex = s.texture.at(u, v);
      let lung = 0.11 + 0.035 * tex * (0.5 + perihilar) + 0.08 * perihilar;
      // Posterior ribs: arcs sagging laterally.
      const rib = (v + 0.22 * (l * l) + 1.2) / 0.17;
      const ribFrac = rib - Math.floor(rib);
      lung += 0.035 * inside(Math.abs(ribFrac - 0.5) - 0.2, 0.14);
      if (s.edemaHaze > 0) lung += s.edemaHaze * (0.6 + 0.55 * perihilar) + 0.05 * tex * s.T.edema;
      for (let k = 0; k < s.bands.length; k++) {
        if (outsideBox(s.bandBoxes[k]!, u, v)) continue;
        lung += s.bands[k]!.value * inside(segDist(u, v, s.bands[k]!), edge);
      }
      for (let k = 0; k < s.blobs.length; k++) {
        const b = s.blobs[k]!;
        if (Math.abs(u - b.x) > s.blobReach[k]! || Math.abs(v - b.y) > s.blobReach[k]!) continue;
        lung += (b.value - lung) * inside(blobDist(u, v, b), Math.max(edge, b.r * 0.35));
      }
      I += (lung - I) * aerated;
      if (L.fluid > 0) {
        // Fluid fills the angle and hides the diaphragm, densest at the bottom.
        const top = fluidTop(L, l);
        const f = inShape * inside(top - v, edge * 1.5);
        if (f > 0) {
          const depth = Math.min(1, (v - top) / 0.12);
          I += (0.44 + 0.1 * depth - I) * f;
        }
      }
    }
    r.I[p] = I;
  }
}

/** The heart silhouette over the lungs. */
function paintHeart(s: Scene, r: Row): void {
  for (let p = 0; p < r.u.length; p++) {
    if (r.inBody[p]! <= 0) continue;
    const inHeart = inside(heartDist(r.u[p]!, r.v[p]!, s.heart), s.edge * 1.5);
    if (inHeart > 0) r.I[p]! += (0.54 + 0.02 * r.mottle[p]! - r.I[p]!) * inHeart;
  }
}

/** Vertebrae with darker discs (frontal: midline, fading above the shoulders; lateral: posterior). */
function paintSpine(s: Scene, r: Row): void {
  for (let p = 0; p < r.u.length; p++) {
    const inBody = r.inBody[p]!;
    if (inBody <= 0) continue;
    const u = r.u[p]!;
    const v = r.v[p]!;
    if (s.frontal) {
      const spine = inside(Math.abs(u) - 0.075, s.edge);
      if (spine > 0) {
        const disc = (v + 1.3) / 0.13;
        const discFrac = disc - Math.floor(disc);
        r.I[p]! += spine * (0.13 - 0.05 * inside(Math.abs(discFrac - 0.5) - 0.4, 0.06)) * inBody * (v < -0.75 ? 0.6 : 1);
      }
    } else {
      const spine = inside(Math.abs(u - 0.62 * s.bw) - 0.09, s.edge);
      if (spine > 0) {
        const disc = (v + 1.3) / 0.15;
        const discFrac = disc - Math.floor(disc);
        r.I[p]! += spine * (0.2 - 0.1 * inside(Math.abs(discFrac - 0.5) - 0.42, 0.05)) * inBody;
      }
    }
  }
}

/** Thin dense lines over everything: clavicles or sternum, lead wires, the tube. */
function paintLines(s: Scene, r: Row): void {
  for (let k = 0; k < s.segments.length; k++) {
    const seg = s.segments[k]!;
    const bb = s.segBoxes[k]!;
    for (let p = 0; p < r.u.length; p++) {
      if (outsideBox(bb, r.u[p]!, r.v[p]!)) continue;
      r.I[p]! += seg.value * inside(segDist(r.u[p]!, r.v[p]!, seg), s.edge);
    }
  }
}

/** ECG lead electrodes: bright discs. */
function paintLeads(s: Scene, r: Row): void {
  const edge = s.edge;
  for (const ld of s.leads) {
    for (let p = 0; p < r.u.length; p++) {
      const ddx = r.u[p]! - ld.x;
      const ddy = r.v[p]! - ld.y;
      if (Math.abs(ddx) > ld.r + edge || Math.abs(ddy) > ld.r + edge) continue;
      r.I[p]! += (0.95 - r.I[p]!) * inside(Math.sqrt(ddx * ddx + ddy * ddy) - ld.r, edge);
    }
  }
}

/** The film: gamma (through a table: Math.pow per pixel dominated the render time), gain, bias, heel, noise. */
interface Exposure {
  acquisition: Acquisition;
  gammaLut: Float32Array;
  normals: Float32Array;
  noiseOffset: number;
  noiseStride: number;
}

function exposureOf(layout: Layout): Exposure {
  const { vr, acquisition } = layout;
  const normals = gaussianTable();
  const noiseOffset = Math.floor(vr() * NOISE_TABLE);
  const noiseStride = 1 + 2 * Math.floor(vr() * 1000); // odd: visits the whole (power-of-two) table
  const gammaLut = new Float32Array(GAMMA_STEPS + 1);
  for (let i = 0; i <= GAMMA_STEPS; i++) gammaLut[i] = Math.pow((i / GAMMA_STEPS) * GAMMA_MAX, acquisition.gamma);
  return { acquisition, gammaLut, normals, noiseOffset, noiseStride };
}

/** Row `py` of the image from its densities: gamma, gain, bias, anode heel gradient, quantum noise. */
function exposeRow(e: Exposure, r: Row, py: number, data: Uint8Array): void {
  const a = e.acquisition;
  const size = r.I.length;
  for (let p = 0; p < size; p++) {
    const I = r.I[p]!;
    const gi = I <= 0 ? 0 : I >= GAMMA_MAX ? GAMMA_STEPS : Math.round((I / GAMMA_MAX) * GAMMA_STEPS);
    const n = e.normals[(e.noiseOffset + (py * size + p) * e.noiseStride) & (NOISE_TABLE - 1)]!;
    const out = (a.bias + a.gain * e.gammaLut[gi]! + a.heel * r.y + a.noiseSigma * n) * 1.45;
    data[py * size + p] = out <= 0 ? 0 : out >= 1 ? 255 : Math.round(out * 255);
  }
}

/**
 * Renders one synthetic radiograph (grayscale, `size` x `size`), deterministic from the record.
 * Findings: cardiomegaly = wide heart silhouette; effusion = bright fluid with a meniscus filling the
 * costophrenic angle; edema = haze over both lungs (perihilar); consolidation = dense irregular patch;
 * atelectasis = plate-like bright bands plus an elevated hemidiaphragm. Support devices draw leads and a tube.
 * @example const img = renderSynthImage(synthRecords('train', 1, 0)[0], 128); // img.data.length === 128 * 128
 */
export function renderSynthImage(record: RenderedRecord, size = 128): SynthImage {
  const layout = synthLayout(record, size);
  const scene = sceneOf(layout);
  const exposure = exposureOf(layout);
  const data = new Uint8Array(size * size);
  const row: Row = { y: 0, u: new Float64Array(size), v: new Float64Array(size), I: new Float64Array(size), inBody: new Float64Array(size), mottle: new Float64Array(size) };
  for (let py = 0; py < size; py++) {
    row.y = anatomyRow(layout.acquisition, size, py, row.u, row.v);
    paintBody(scene, row);
    paintLungs(scene, row);
    paintHeart(scene, row);
    paintSpine(scene, row);
    paintLines(scene, row);
    paintLeads(scene, row);
    exposeRow(exposure, row, py, data);
  }
  return { width: size, height: size, data };
}

/** The competition tasks whose signs a phantom draws, and where. */
export type SynthRegionTask = 'Atelectasis' | 'Cardiomegaly' | 'Consolidation' | 'Edema' | 'Pleural Effusion';

/**
 * Where each competition finding's sign is drawn in `renderSynthImage(record, size)`: one mask per task
 * (1 inside, row-major, `size` x `size`), from the same geometry and acquisition transform as the render.
 * Cardiomegaly: the heart silhouette. Pleural Effusion: the fluid under each affected lung's meniscus.
 * Edema: both lung fields (the haze covers them). Consolidation: the patches. Atelectasis: the plate-like
 * bands and the elevated hemidiaphragm of the affected lung. Regions are widened by `margin` (normalised
 * units, default 0.04 = 2% of the image side) so that a map at a coarse stride can land in them. A task the
 * record does not have gets an empty mask.
 * @example const masks = renderSynthRegions(record, 128); masks.Cardiomegaly.reduce((a, b) => a + b); // heart pixels
 */
export function renderSynthRegions(record: RenderedRecord, size = 128, margin = 0.04): Record<SynthRegionTask, Uint8Array> {
  const { T, frontal, acquisition, lungs, heart, bands, blobs } = synthLayout(record, size);
  const out: Record<SynthRegionTask, Uint8Array> = {
    Atelectasis: new Uint8Array(size * size),
    Cardiomegaly: new Uint8Array(size * size),
    Consolidation: new Uint8Array(size * size),
    Edema: new Uint8Array(size * size),
    'Pleural Effusion': new Uint8Array(size * size),
  };
  const atelLung = T.atelectasis > 0 ? lungs[frontal ? T.atelectasisSide : 0] : undefined;
  const us = new Float64Array(size);
  const vs = new Float64Array(size);
  for (let py = 0; py < size; py++) {
    anatomyRow(acquisition, size, py, us, vs);
    for (let px = 0; px < size; px++) markRegions(py * size + px, us[px]!, vs[px]!);
  }
  return out;

  function markRegions(i: number, u: number, v: number): void {
    if (T.cardiomegaly > 0 && heartDist(u, v, heart) <= margin) out.Cardiomegaly[i] = 1;
    for (const L of lungs) {
      const d = lungDist(u, v, L);
      if (d.shape > margin) continue;
      if (T.edema > 0) out.Edema[i] = 1;
      if (L.fluid > 0 && v >= fluidTop(L, d.l) - margin) out['Pleural Effusion'][i] = 1;
      if (L === atelLung && Math.abs(d.diaphragm) <= 0.06 + margin && Math.abs(d.l) <= 1) out.Atelectasis[i] = 1;
    }
    for (const b of bands) if (segDist(u, v, b) <= margin) out.Atelectasis[i] = 1;
    for (const b of blobs) if (blobDist(u, v, b) <= margin) out.Consolidation[i] = 1;
  }
}

/**
 * Label prevalence of records: for each observation, the share of 1, 0, -1 and blank.
 * @example labelPrevalence(synthRecords('train', 500))['Edema'].positive;
 */
export function labelPrevalence(records: readonly Pick<ChexpertRecord, 'labels'>[]): Record<Observation, { positive: number; negative: number; uncertain: number; blank: number }> {
  const out = {} as Record<Observation, { positive: number; negative: number; uncertain: number; blank: number }>;
  const n = Math.max(1, records.length);
  for (const o of CHEXPERT_OBSERVATIONS) {
    let p = 0;
    let z = 0;
    let u = 0;
    let b = 0;
    for (const r of records) {
      const v = r.labels[o];
      if (v === 1) p++;
      else if (v === 0) z++;
      else if (v === -1) u++;
      else b++;
    }
    out[o] = { positive: p / n, negative: z / n, uncertain: u / n, blank: b / n };
  }
  return out;
}
