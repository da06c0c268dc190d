// Where does Grad-CAM look on the synthetic phantoms? Trains a small model on frontal phantoms with the repo's
// train(), then for held-out (valid-split) images positive for a task measures the share of the heatmap's mass
// inside the region that carries the task's sign (renderSynthRegions), next to
//   - `area`: the region's share of the image (what a uniform map gets: chance), and
//   - `ceiling`: what an ideal map at the block's resolution gets (the region's coverage of each cell of the
//     block's grid, upsampled exactly as gradCam upsamples): the most a map of that resolution can put inside.
// `aligned` re-upsamples the same low-resolution map with each cell centred where its receptive field is centred
// (pixel stride * n for torchvision's symmetrically padded stride-2 convs) instead of gradCam's half-pixel grid.
// Also per image: whether the heatmap's peak is inside (`peakInRegion`), the mass share of its faint part
// (< 0.3 of the peak, `faintMass`) and the in-region share of its strong part (>= 0.5, `strongInRegion`); and how far
// outside the rest lies: the share within one and two cells of the region (`withinOneCell`, `withinTwoCells`: the
// region grown by stride and 2 * stride pixels) next to those grown regions' areas (`areaOneCell`, `areaTwoCells`).
// Writes docs/gradcam-phantoms.json (the table in docs/gradcam.md) and docs/gradcam-phantoms.png (the figure), or
// <--out>.json / .png. --size sets the image side (the layer2 map is side / 8 cells wide); --cut the block resnet18
// is truncated at (default layer2; the cut block and the one before it are explained).
//
//   npx tsx tools/gradcam_phantoms.ts [--steps 150] [--size 128] [--cut layer2] [--out docs/gradcam-phantoms]
//                                     [--save dir] [--model dir] [--init dir] [--lr 1e-3]
//                                     [--explain 40] [--valid 400] [--train 2400]
//
// --save writes the trained model (saveModel, plus training.json), --model measures a saved one instead of training,
// --init trains a saved one --steps more (a new cosine schedule from --lr; training.json lists the runs). Deterministic
// for a given step count (seeded init, data order and phantoms); the run time depends on the machine's load.
//
//   npx tsx tools/gradcam_phantoms.ts --checks    (about a minute; writes docs/gradcam-phantom-checks.json)
//
// checks the phantoms themselves, no model: (1) where a finding changes the image: the same record rendered with
// and without the finding (cardiomegaly: severity 1 vs 0.25, since a heart without cardiomegaly takes one more
// random draw), share of |difference| inside the region; `clean` counts only records where removing the finding
// shifts no later random draw (nothing drawn after it); (2) global shortcuts: the AUROC of each image's mean and
// standard deviation of intensity for each label; (3) label correlations between the tasks.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import {
  COMPETITION_TASKS,
  auroc,
  createModel,
  ensureBackend,
  gradCam,
  labelTargets,
  preprocess,
  renderSynthImage,
  renderSynthRegions,
  synthRecords,
  train,
  truncate,
  type PreprocessSpec,
  type SynthRecord,
} from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { heatColor } from '../examples/browser/pipeline.js';

const arg = (name: string, dflt: string | undefined): string | undefined => {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 ? process.argv[k + 1] : dflt;
};
const SIZE = Number(arg('size', '128'));
const OUT = arg('out', 'docs/gradcam-phantoms')!; // writes OUT.json and OUT.png
// truncation point: with the default, the classifier sees layer2 (16 x 16 at 128 px, stride 8)
const BLOCK = arg('cut', 'layer2')!;
const RESNET_BLOCKS: { block: string; stride: number }[] = [
  { block: 'layer1', stride: 4 },
  { block: 'layer2', stride: 8 },
  { block: 'layer3', stride: 16 },
  { block: 'layer4', stride: 32 },
];
const cutAt = RESNET_BLOCKS.findIndex((b) => b.block === BLOCK);
if (cutAt < 0) throw new Error(`--cut must be one of ${RESNET_BLOCKS.map((b) => b.block).join(', ')}, got ${BLOCK}.`);
// explained: the last block (the cut) and the one before it, if any
const STAGES = RESNET_BLOCKS.slice(Math.max(0, cutAt - 1), cutAt + 1).reverse();
const TRAIN = Number(arg('train', '2400'));
const STEPS = Number(arg('steps', '150'));
const VALID = Number(arg('valid', '400'));
const EXPLAIN = Number(arg('explain', '40')); // positives explained per task
const SAVE = arg('save', undefined);
const LOAD = arg('model', undefined);
const INIT = arg('init', undefined); // continue training a saved model (same --size and --cut)
if (LOAD && INIT) throw new Error('Pass --model (measure a saved model) or --init (train it further), not both.');
const BATCH = 16;
const DEFAULT_LR = 1e-3;
const LR = Number(arg('lr', String(DEFAULT_LR)));
const SPEC: PreprocessSpec = { resizeSize: SIZE, cropSize: SIZE, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const t0 = Date.now();
type Task = keyof ReturnType<typeof renderSynthRegions>;

/** The checks of the phantoms (no model). */
function phantomChecks(): Record<string, unknown> {
  const N = 64;
  const recs = frontal('valid', 500);
  const truthWithout = (r: SynthRecord, t: Task): SynthRecord['truth'] => {
    const T = r.truth;
    if (t === 'Atelectasis') return { ...T, atelectasis: 0 };
    if (t === 'Consolidation') return { ...T, consolidation: 0 };
    if (t === 'Edema') return { ...T, edema: 0 };
    if (t === 'Pleural Effusion') return { ...T, effusion: [0, 0] };
    return { ...T, cardiomegaly: 0.25 };
  };
  const out: Record<string, unknown> = { imageSize: N, images: recs.length };
  const diff: Record<string, unknown> = {};
  for (const t of COMPETITION_TASKS as readonly string[] as Task[]) {
    const all: number[] = [];
    const clean: number[] = [];
    for (const r0 of recs.filter((r) => r.labels[t] === 1).slice(0, 40)) {
      const r = t === 'Cardiomegaly' ? { ...r0, truth: { ...r0.truth, cardiomegaly: 1 } } : r0;
      const m = renderSynthRegions(r, N)[t];
      const a = renderSynthImage(r, N).data;
      const b = renderSynthImage({ ...r, truth: truthWithout(r, t) }, N).data;
      let tot = 0;
      let ins = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i]! - b[i]!);
        tot += d;
        ins += d * m[i]!;
      }
      all.push(ins / tot);
      const T = r.truth; // draws after a finding: consolidation -> atelectasis -> support devices
      const shifts = t === 'Consolidation' ? T.atelectasis > 0 || T.supportDevices : t === 'Atelectasis' ? T.supportDevices : false;
      if (!shifts) clean.push(ins / tot);
    }
    diff[t] = { inRegion: mean(all), n: all.length, cleanInRegion: mean(clean), cleanN: clean.length };
  }
  out.differenceInRegion = diff;
  const stats = recs.map((r) => {
    const d = renderSynthImage(r, N).data;
    let s1 = 0;
    let s2 = 0;
    for (const v of d) {
      s1 += v;
      s2 += v * v;
    }
    const m = s1 / d.length;
    return [m, Math.sqrt(s2 / d.length - m * m)] as const;
  });
  const lab = (t: string) => recs.map((r) => (r.labels[t as Task] === 1 ? 1 : 0));
  out.globalIntensityAuroc = Object.fromEntries(
    COMPETITION_TASKS.map((t) => [t, { mean: +auroc(lab(t), stats.map((s) => s[0])).toFixed(3), std: +auroc(lab(t), stats.map((s) => s[1])).toFixed(3) }]),
  );
  const corr = (x: number[], y: number[]) => {
    const mx = x.reduce((p, q) => p + q, 0) / x.length;
    const my = y.reduce((p, q) => p + q, 0) / y.length;
    let c = 0;
    let vx = 0;
    let vy = 0;
    for (let k = 0; k < x.length; k++) {
      c += (x[k]! - mx) * (y[k]! - my);
      vx += (x[k]! - mx) ** 2;
      vy += (y[k]! - my) ** 2;
    }
    return +(c / Math.sqrt(vx * vy)).toFixed(2);
  };
  out.labelCorrelation = Object.fromEntries(COMPETITION_TASKS.map((a) => [a, Object.fromEntries(COMPETITION_TASKS.map((b) => [b, corr(lab(a), lab(b))]))]));
  return out;
}

const secs = () => ((Date.now() - t0) / 1000).toFixed(0);
console.log('backend', await ensureBackend());
function frontal(split: 'train' | 'valid', n: number): SynthRecord[] {
  return synthRecords(split, n * 2, 3).filter((r) => r.view === 'frontal').slice(0, n);
}
function mean(a: number[]): number {
  return +(a.reduce((s, v) => s + v, 0) / Math.max(a.length, 1)).toFixed(3);
}
if (process.argv.includes('--checks')) {
  const checks = phantomChecks();
  writeFileSync('docs/gradcam-phantom-checks.json', JSON.stringify(checks, null, 2) + '\n');
  console.log(JSON.stringify(checks, null, 2));
  process.exit(0);
}

/** The phantoms of `recs`, preprocessed, as one tensor. Chunked: one pass over 2,400 images at 256 px would hold
 * several full-size temporaries in the 4 GiB wasm heap at once. */
function images(recs: SynthRecord[]): tf.Tensor4D {
  const px = SIZE * SIZE;
  const out = new Float32Array(recs.length * px);
  for (let s = 0; s < recs.length; s += 64) {
    const part = recs.slice(s, s + 64);
    const data = new Int32Array(part.length * px);
    part.forEach((r, k) => data.set(renderSynthImage(r, SIZE).data, k * px));
    const x = tf.tidy(() => preprocess(tf.tensor4d(data, [part.length, SIZE, SIZE, 1], 'int32'), SPEC, { channels: 1 }));
    out.set(x.dataSync(), s * px);
    x.dispose();
  }
  return tf.tensor4d(out, [recs.length, SIZE, SIZE, 1]);
}

interface Training {
  steps: number;
  /** Training images (older training.json files lack it: the --train given when measuring is reported). */
  images?: number;
  seconds: number;
  size?: number;
  cut?: string;
  /** How the steps were run, when not one cosine schedule from DEFAULT_LR (a continued run: one entry per run). */
  runs?: { steps: number; lr: number }[];
}
/** A saved model and its training.json, refused when it was trained at another --size or --cut. */
async function loadSaved(dir: string): Promise<{ model: tf.LayersModel; saved: Training }> {
  const saved = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8')) as Training;
  if ((saved.size ?? SIZE) !== SIZE || (saved.cut ?? BLOCK) !== BLOCK) {
    throw new Error(`${dir} was trained with --size ${saved.size} --cut ${saved.cut}; pass the same to use it.`);
  }
  return { model: await loadModel(dir), saved };
}

let model: tf.LayersModel;
let training: Training;
if (LOAD) {
  ({ model, saved: training } = await loadSaved(LOAD));
} else {
  // resnet18 truncated at layer2 (BatchNorm, residual adds) on 1-channel phantoms, 5 logits; U-Ones labels
  const recs = frontal('train', TRAIN);
  const x = images(recs);
  const t = recs.map((r) => labelTargets(r, COMPETITION_TASKS, { uncertainty: 'ones' }));
  const y = tf.tensor2d(t.map((v) => Array.from(v.y)));
  const mask = tf.tensor2d(t.map((v) => Array.from(v.mask)));
  console.log(`rendered ${TRAIN} training phantoms (${secs()} s)`);
  const before = INIT ? await loadSaved(INIT) : undefined;
  if (before) model = before.model;
  else {
    const full = await createModel('resnet18', { inputShape: [SIZE, SIZE, 1], numClasses: 5, seed: 1 });
    model = truncate(full, BLOCK, { numClasses: 5, seed: 1 }); // the new head is seeded too
    full.dispose();
  }
  const ts = Date.now();
  const res = await train(model, { train: { x, y, mask } }, {
    lr: LR,
    lrSchedule: 'cosine',
    maxSteps: STEPS,
    batchSize: BATCH,
    topK: 0,
    seed: 1,
    onStep: (i) => {
      if (i.step % 10 === 0) console.log(`step ${i.step}/${STEPS} loss ${i.smoothLoss.toFixed(4)} (${secs()} s)`);
    },
  });
  const seconds = (Date.now() - ts) / 1000;
  console.log(`trained ${res.steps} steps in ${seconds.toFixed(0)} s`);
  tf.dispose([x, y, mask]);
  const prior = before?.saved;
  const priorRuns = prior ? (prior.runs ?? [{ steps: prior.steps, lr: DEFAULT_LR }]) : [];
  const runs = [...priorRuns, { steps: STEPS, lr: LR }];
  training = {
    steps: (prior?.steps ?? 0) + STEPS,
    images: TRAIN,
    seconds: Math.round((prior?.seconds ?? 0) + seconds),
    size: SIZE,
    cut: BLOCK,
    ...(runs.length > 1 || LR !== DEFAULT_LR ? { runs } : {}),
  };
  if (SAVE) {
    await saveModel(model, SAVE);
    writeFileSync(join(SAVE, 'training.json'), JSON.stringify(training) + '\n');
  }
}

// held-out phantoms: AUROC, then Grad-CAM of positives
const validRecs = frontal('valid', VALID);
const probs: number[][] = [];
for (let s = 0; s < validRecs.length; s += 50) {
  const x = images(validRecs.slice(s, s + 50));
  const p = tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor));
  probs.push(...(p.arraySync() as number[][]));
  tf.dispose([x, p]);
}

/** `cam` (c x c) upsampled to SIZE with cell n centred on pixel stride * n (its receptive field's centre). */
function upsampleAligned(cam: Float32Array, c: number, stride: number): Float32Array {
  const out = new Float32Array(SIZE * SIZE);
  const at = (p: number) => {
    const f = Math.min(Math.max(p / stride, 0), c - 1);
    const i = Math.min(Math.floor(f), c - 2);
    return [i, f - i] as const;
  };
  for (let y = 0; y < SIZE; y++) {
    const [i, a] = at(y);
    for (let x = 0; x < SIZE; x++) {
      const [j, b] = at(x);
      const top = cam[i * c + j]! * (1 - b) + cam[i * c + j + 1]! * b;
      const bot = cam[(i + 1) * c + j]! * (1 - b) + cam[(i + 1) * c + j + 1]! * b;
      out[y * SIZE + x] = top * (1 - a) + bot * a;
    }
  }
  return out;
}
/** The region's coverage of each cell of a c x c grid, upsampled as gradCam upsamples: an ideal map's heatmap. */
function idealHeatmap(region: Uint8Array, stride: number): Float32Array {
  const c = SIZE / stride;
  const cov = new Float32Array(c * c);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) cov[Math.floor(y / stride) * c + Math.floor(x / stride)]! += region[y * SIZE + x]! / (stride * stride);
  return tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(cov, [1, c, c, 1]), [SIZE, SIZE], false, true).dataSync() as Float32Array);
}
const share = (heat: ArrayLike<number>, region: Uint8Array): number => {
  let mass = 0;
  let inside = 0;
  for (let p = 0; p < heat.length; p++) {
    mass += heat[p]!;
    inside += heat[p]! * region[p]!;
  }
  return mass > 0 ? inside / mass : NaN;
};
/** `region` grown by k pixels in every direction (a (2k+1)-square structuring element: Chebyshev distance <= k),
 * as two passes of a 1-D grow: along rows, then along columns. */
function dilate(region: Uint8Array, k: number): Uint8Array {
  const grow = (src: Uint8Array, alongRows: boolean): Uint8Array => {
    const out = new Uint8Array(src.length);
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++) {
        const c = alongRows ? x : y;
        for (let d = Math.max(0, c - k); d <= Math.min(SIZE - 1, c + k); d++)
          if (src[alongRows ? y * SIZE + d : d * SIZE + x]) {
            out[y * SIZE + x] = 1;
            break;
          }
      }
    return out;
  };
  return grow(grow(region, true), false);
}
/** A mask's share of the image. */
const areaOf = (mask: Uint8Array): number => mask.reduce((s, v) => s + v, 0) / mask.length;
const median = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  return +(s.length ? s[Math.floor((s.length - 1) / 2)]! * 0.5 + s[Math.ceil((s.length - 1) / 2)]! * 0.5 : NaN).toFixed(3);
};

const result: Record<string, unknown> = {
  model: `resnet18 truncated at ${BLOCK}, 1-channel ${SIZE} x ${SIZE}, 5 logits, seed 1`,
  // one cosine schedule from LR, or (`runs`) one per run of a continued model
  training: { images: training.images ?? TRAIN, steps: training.steps, batch: BATCH, lr: training.runs ? undefined : LR, schedule: 'cosine', labels: 'U-Ones', seconds: training.seconds, runs: training.runs },
  validImages: validRecs.length,
  tasks: {},
};
const tasks = result.tasks as Record<string, unknown>;
const figure: { task: string; rec: SynthRecord; heat: Float32Array; region: Uint8Array }[] = [];
for (const [ti, task] of COMPETITION_TASKS.entries()) {
  const labels = validRecs.map((r) => (r.labels[task] === 1 ? 1 : 0));
  const auc = auroc(labels, probs.map((p) => p[ti]!));
  const pos = validRecs.filter((_, k) => labels[k] === 1).slice(0, EXPLAIN);
  const per: Record<string, unknown> = {};
  // each explained positive's input and region, made once for every block explained
  const explained = pos.map((r) => ({ r, region: renderSynthRegions(r, SIZE)[task as Task], x: images([r]) }));
  for (const { block, stride } of STAGES) {
    const inR: number[] = [];
    const aligned: number[] = [];
    const ceiling: number[] = [];
    const area: number[] = [];
    const peakIn: number[] = [];
    const lowMass: number[] = [];
    const strongIn: number[] = [];
    const near1: number[] = [];
    const near2: number[] = [];
    const area1: number[] = [];
    const area2: number[] = [];
    for (const { r, region, x } of explained) {
      const cam = await gradCam(model, x, { block, classIndex: ti });
      const f = share(cam.heatmap, region);
      if (Number.isNaN(f)) continue; // nothing positive to explain
      inR.push(f);
      aligned.push(share(upsampleAligned(cam.cam, cam.camWidth, stride), region));
      ceiling.push(share(idealHeatmap(region, stride), region));
      area.push(areaOf(region));
      // how far outside the rest lies: the share within one and two cells (stride, 2 * stride pixels) of the region
      const grown1 = dilate(region, stride);
      const grown2 = dilate(region, 2 * stride);
      near1.push(share(cam.heatmap, grown1));
      near2.push(share(cam.heatmap, grown2));
      area1.push(areaOf(grown1));
      area2.push(areaOf(grown2));
      // where the peak is, how much mass the faint part (< 0.3 of the peak) holds, and the strong part's (>= 0.5) share inside
      const h = cam.heatmap;
      let arg = 0;
      let mass = 0;
      let faint = 0;
      const strong = h.map((v) => (v >= 0.5 ? v : 0));
      for (let p = 0; p < h.length; p++) {
        if (h[p]! > h[arg]!) arg = p;
        mass += h[p]!;
        if (h[p]! < 0.3) faint += h[p]!;
      }
      peakIn.push(region[arg]!);
      lowMass.push(faint / mass);
      strongIn.push(share(strong, region));
      if (block === BLOCK && !figure.some((g) => g.task === task) && probs[validRecs.indexOf(r)]![ti]! > 0.5) figure.push({ task, rec: r, heat: cam.heatmap, region });
    }
    per[block] = { inRegion: mean(inR), medianInRegion: median(inR), mostlyInside: mean(inR.map((v) => (v > 0.5 ? 1 : 0))), aligned: mean(aligned), ceiling: mean(ceiling), area: mean(area), peakInRegion: mean(peakIn), faintMass: mean(lowMass), strongInRegion: mean(strongIn), withinOneCell: mean(near1), areaOneCell: mean(area1), withinTwoCells: mean(near2), areaTwoCells: mean(area2), n: inR.length };
  }
  tf.dispose(explained.map((e) => e.x));
  tasks[task] = { auroc: +auc.toFixed(3), positives: labels.filter((v) => v === 1).length, ...per };
  console.log(task, JSON.stringify(tasks[task]), `(${secs()} s)`);
}
result.seconds = Math.round((Date.now() - t0) / 1000);
writeFileSync(`${OUT}.json`, JSON.stringify(result, null, 2) + '\n');

// figure: per task, the phantom with the region outlined (top) and the Grad-CAM overlay at BLOCK (bottom)
const S = SIZE;
const W = figure.length * (S + 8) + 8;
const H = 2 * (S + 8) + 8;
const canvas = new Uint8Array(W * H * 3).fill(255);
for (const [c, f] of figure.entries()) {
  const img = renderSynthImage(f.rec, SIZE).data;
  for (let row = 0; row < 2; row++) {
    for (let yy = 0; yy < S; yy++) {
      for (let xx = 0; xx < S; xx++) {
        const p = yy * SIZE + xx;
        const g = img[p]!;
        let rgb: [number, number, number] = [g, g, g];
        if (row === 0) {
          const edge =
            f.region[p] &&
            [[-1, 0], [1, 0], [0, -1], [0, 1]].some(([dx, dy]) => {
              const qx = xx + dx!;
              const qy = yy + dy!;
              return qx < 0 || qy < 0 || qx >= SIZE || qy >= SIZE || !f.region[qy * SIZE + qx];
            });
          if (edge) rgb = [40, 220, 90];
        } else {
          const v = f.heat[p]!;
          const [r, gg, b] = heatColor(v);
          const al = 0.55 * Math.min(1, v * 1.5);
          rgb = [g * (1 - al) + r * al, g * (1 - al) + gg * al, g * (1 - al) + b * al];
        }
        const o = ((8 + row * (S + 8) + yy) * W + 8 + c * (S + 8) + xx) * 3;
        canvas.set(rgb.map(Math.round), o);
      }
    }
  }
}
await sharp(Buffer.from(canvas), { raw: { width: W, height: H, channels: 3 } }).png().toFile(`${OUT}.png`);
console.log('figure tasks:', figure.map((f) => f.task).join(', '), `(${secs()} s)`);
model.dispose();
