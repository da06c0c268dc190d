// Where does Grad-CAM look on the synthetic phantoms? Trains a small model briefly on phantoms, then for every
// valid-split image positive for a task measures the share of the heatmap's mass inside the region that carries
// the task's sign (renderSynthRegions), next to the region's share of the image (what a uniform map would get).
// Writes docs/gradcam-phantoms.json (the table in docs/gradcam.md) and docs/gradcam-phantoms.png (the figure).
//
//   npx tsx tools/gradcam_phantoms.ts [--seconds 840] [--valid 300]   (training is time-budgeted: steps depend on the machine)
import { writeFileSync } from 'node:fs';
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
  truncate,
  type PreprocessSpec,
  type SynthRecord,
} from '../src/index.js';
import { heatColor } from '../examples/browser/pipeline.js';

const SIZE = 64;
const TRAIN = 2400;
const j = process.argv.indexOf('--valid');
const VALID = j > 0 ? Number(process.argv[j + 1]) : 300;
const BATCH = 16;
const MAX_POS = 40; // positives explained per task
const i = process.argv.indexOf('--seconds'); // training time budget
const SECONDS = i > 0 ? Number(process.argv[i + 1]) : 840;
const SPEC: PreprocessSpec = { resizeSize: SIZE, cropSize: SIZE, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const STAGES = ['layer3', 'layer2'];

console.log('backend', await ensureBackend());
const frontal = (split: 'train' | 'valid', n: number) => synthRecords(split, n * 2, 3).filter((r) => r.view === 'frontal').slice(0, n);
const trainRecs = frontal('train', TRAIN);
const validRecs = frontal('valid', VALID);

function batchX(recs: SynthRecord[]): tf.Tensor4D {
  return tf.tidy(() => {
    const data = new Int32Array(recs.length * SIZE * SIZE);
    recs.forEach((r, k) => data.set(renderSynthImage(r, SIZE).data, k * SIZE * SIZE));
    return preprocess(tf.tensor4d(data, [recs.length, SIZE, SIZE, 1], 'int32'), SPEC, { channels: 1 });
  });
}
function batchY(recs: SynthRecord[]): { y: tf.Tensor2D; mask: tf.Tensor2D } {
  const y: number[][] = [];
  const m: number[][] = [];
  for (const r of recs) {
    const t = labelTargets(r, COMPETITION_TASKS, { uncertainty: 'ones' });
    y.push(Array.from(t.y));
    m.push(Array.from(t.mask));
  }
  return { y: tf.tensor2d(y), mask: tf.tensor2d(m) };
}

// resnet18 up to layer3 on 1-channel 64 x 64 phantoms, 5 logits (BatchNorm, residual adds)
const full = await createModel('resnet18', { inputShape: [SIZE, SIZE, 1], numClasses: 5 });
const model = truncate(full, 'layer3', { numClasses: 5 });
full.dispose();
const opt = tf.train.adam(1e-3);
const t0 = Date.now();
let step = 0;
let epoch = 0;
train: for (;;) {
  const order = trainRecs.map((_, k) => k).sort((a, b) => ((a * 2654435761 + epoch * 97) % 4093) - ((b * 2654435761 + epoch * 97) % 4093));
  for (let s = 0; s + BATCH <= order.length; s += BATCH) {
    const recs = order.slice(s, s + BATCH).map((k) => trainRecs[k]!);
    const x = batchX(recs);
    const { y, mask } = batchY(recs);
    const loss = opt.minimize(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.sigmoidCrossEntropy(y, logits, mask);
    }, true) as tf.Scalar;
    if (++step % 20 === 0) console.log(`step ${step} epoch ${epoch} loss ${(await loss.data())[0]!.toFixed(4)} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    tf.dispose([x, y, mask, loss]);
    if ((Date.now() - t0) / 1000 > SECONDS) break train;
  }
  epoch++;
}
const trainSeconds = (Date.now() - t0) / 1000;

// validation AUROC
const probs: number[][] = [];
for (let s = 0; s < validRecs.length; s += 50) {
  const x = batchX(validRecs.slice(s, s + 50));
  const p = tf.tidy(() => tf.sigmoid(model.predict(x) as tf.Tensor));
  probs.push(...(p.arraySync() as number[][]));
  tf.dispose([x, p]);
}
const result: Record<string, unknown> = { model: 'resnet18 truncated at layer3, 1-channel 64 x 64, 5 logits', trainImages: TRAIN, steps: step, batch: BATCH, trainSeconds: Math.round(trainSeconds), validImages: VALID, tasks: {} };
const tasks = result.tasks as Record<string, unknown>;
const figure: { task: string; rec: SynthRecord; heat: Float32Array; region: Uint8Array }[] = [];
for (const [ti, task] of COMPETITION_TASKS.entries()) {
  const labels = validRecs.map((r) => (r.labels[task] === 1 ? 1 : 0));
  const auc = auroc(labels, probs.map((p) => p[ti]!));
  const pos = validRecs.filter((_, k) => labels[k] === 1).slice(0, MAX_POS);
  const per: Record<string, { inRegion: number; areaShare: number; n: number }> = {};
  for (const stage of STAGES) {
    let inSum = 0;
    let areaSum = 0;
    let n = 0;
    for (const r of pos) {
      const region = renderSynthRegions(r, SIZE)[task];
      const x = batchX([r]);
      const cam = await gradCam(model, x, { block: stage, classIndex: ti });
      x.dispose();
      let mass = 0;
      let inside = 0;
      let area = 0;
      for (let p = 0; p < cam.heatmap.length; p++) {
        mass += cam.heatmap[p]!;
        inside += cam.heatmap[p]! * region[p]!;
        area += region[p]!;
      }
      if (mass === 0) continue; // nothing positive to explain
      inSum += inside / mass;
      areaSum += area / region.length;
      n++;
      if (stage === STAGES[0] && !figure.some((f) => f.task === task) && probs[validRecs.indexOf(r)]![ti]! > 0.5) figure.push({ task, rec: r, heat: cam.heatmap, region });
    }
    per[stage] = { inRegion: +(inSum / Math.max(n, 1)).toFixed(3), areaShare: +(areaSum / Math.max(n, 1)).toFixed(3), n };
  }
  tasks[task] = { auroc: +auc.toFixed(3), explained: pos.length, ...per };
  console.log(task, JSON.stringify(tasks[task]));
}
writeFileSync('docs/gradcam-phantoms.json', JSON.stringify(result, null, 2) + '\n');

// figure: per task, the phantom with the region outlined (top) and the Grad-CAM overlay (bottom), 2x scaled
const S = SIZE * 2;
const cols = figure.length;
const W = cols * (S + 8) + 8;
const H = 2 * (S + 8) + 8;
const canvas = new Uint8Array(W * H * 3).fill(255);
for (const [c, f] of figure.entries()) {
  const img = renderSynthImage(f.rec, SIZE).data;
  for (let row = 0; row < 2; row++) {
    for (let yy = 0; yy < S; yy++) {
      for (let xx = 0; xx < S; xx++) {
        const p = (yy >> 1) * SIZE + (xx >> 1);
        const g = img[p]!;
        let rgb: [number, number, number] = [g, g, g];
        if (row === 0) {
          const edge = f.region[p] && [[-1, 0], [1, 0], [0, -1], [0, 1]].some(([dx, dy]) => {
            const qx = (xx >> 1) + dx!;
            const qy = (yy >> 1) + dy!;
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
await sharp(Buffer.from(canvas), { raw: { width: W, height: H, channels: 3 } }).png().toFile('docs/gradcam-phantoms.png');
console.log('figure tasks:', figure.map((f) => f.task).join(', '));
model.dispose();
