// Truncation as the study does it: list an architecture's stages, cut it before its final block(s) at the study's
// truncation points, and see what that saves in parameters (the parameter-efficiency gain of finding 4).
//
//   npx tsx examples/truncate.ts [--arch densenet121] [--image-size 224]
//
// To see what it costs in AUROC, train both: `chexzoo study --archs densenet121 --init random` (the report's
// finding 4 pairs each full model with its truncated versions in a paired bootstrap test).
// In your own project import from '@chexzoo/models/node' instead of '../src/node.js'.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { TRUNCATION_POINTS, blocks, countParams, createModel, efficiencyGain, ensureBackend, featureExtractor, truncate } from '../src/node.js';

const { values } = parseArgs({ options: { arch: { type: 'string', default: 'densenet121' }, 'image-size': { type: 'string', default: '224' } } });
const arch = values.arch!;
const s = Number(values['image-size']);
await ensureBackend();

const model = await createModel(arch, { numClasses: 5, inputShape: [s, s, 3] });
const full = countParams(model);
console.log(`${arch}: ${full.toLocaleString('en-US')} parameters with a 5-task head. Stages:`);
for (const b of blocks(model)) console.log(`  ${b.name.padEnd(24)} ${String(b.channels).padStart(5)} channels, 1/${b.reduction} resolution`);

const x = tf.randomNormal([1, s, s, 3]);
for (const stage of TRUNCATION_POINTS[arch] ?? []) {
  const cut = truncate(model, stage, { numClasses: 5 });
  const p = countParams(cut);
  const y = cut.predict(x) as tf.Tensor;
  console.log(`cut after ${stage.padEnd(22)} ${p.toLocaleString('en-US').padStart(12)} parameters, ${efficiencyGain(full, p).toFixed(2)}x fewer; output [${y.shape}]`);
  y.dispose();
  cut.dispose();
}

// multi-stage features (e.g. for a detection or segmentation head)
const names = blocks(model).map((b) => b.name);
const fx = featureExtractor(model, names.slice(-3));
const feats = fx.predict(x) as tf.Tensor[];
console.log(`features of ${names.slice(-3).join(', ')}: ${feats.map((f) => `[${f.shape}]`).join(' ')}`);
tf.dispose([x, ...feats]);
fx.dispose();
model.dispose();
