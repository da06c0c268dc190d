// Synthetic data -> training -> evaluation with the library API (the CLI equivalent is
// `chexzoo synth --out DIR && chexzoo train --arch resnet18 --data DIR --out RUN && chexzoo eval --run RUN --data DIR`).
//
//   npx tsx examples/train-synth.ts [workdir]
//
// In your own project import from '@chexzoo/models/node' instead of '../src/node.js'.
// Run it twice: the second run resumes from (or, when finished, reuses) the checkpoints of the first.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import {
  FileCheckpointStore,
  createModel,
  ensureBackend,
  evaluate,
  loadChexpert,
  loadTopK,
  train,
  writeSynthDataset,
} from '../src/node.js';

const work = process.argv[2] ?? 'synth-run';
const dataDir = join(work, 'data');
const imageSize = 64;
const tasks = ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion'];

console.log('backend:', await ensureBackend());

// 1. a small synthetic CheXpert-format dataset (chest-radiograph phantoms with known findings)
if (!existsSync(join(dataDir, 'CheXpert-v1.0-small'))) {
  const info = await writeSynthDataset(dataDir, { train: 2000, valid: 300, size: 128, seed: 0 });
  console.log(`wrote ${info.counts.train} + ${info.counts.valid} images in ${info.seconds.toFixed(1)} s`);
}

// 2. batch sources: seeded shuffling; U-Ones for uncertain labels
const common = { tasks, uncertainty: 'ones', imageSize, batchSize: 16, seed: 0 } as const;
const trainDs = await loadChexpert(dataDir, { ...common, split: 'train' });
const validDs = await loadChexpert(dataDir, { ...common, split: 'valid', shuffle: false });

// 3. resnet18 from scratch (no network here; pass weights: 'imagenet' where the weights can be downloaded)
const model = await createModel('resnet18', { numClasses: tasks.length, inputShape: [imageSize, imageSize, 3] });
const store = new FileCheckpointStore(join(work, 'checkpoints'));
const result = await train(model, { train: trainDs, valid: validDs }, {
  lr: 1e-3,
  epochs: 1,
  validateEvery: 42,
  topK: 3,
  seed: 0,
  store,
  onResume: ({ step }) => console.log(`resuming from step ${step}`),
  onStep: ({ step, totalSteps, smoothLoss }) => {
    if (step % 10 === 0) console.log(`step ${step}/${totalSteps} loss ${smoothLoss.toFixed(4)}`);
  },
  onValidation: ({ step, meanAuroc, isBest }) => console.log(`step ${step}: valid mean AUROC ${meanAuroc.toFixed(4)}${isBest ? ' (best)' : ''}`),
});
console.log(`trained ${result.steps} steps; top-${result.topK.length} ensemble valid mean AUROC ${result.ensemble?.meanAuroc.toFixed(4)}`);

// 4. evaluate the top-k ensemble from disk, with bootstrap confidence intervals
const models = await loadTopK(store, result.topK);
const ev = await evaluate(models, validDs, { bootstrap: { n: 1000, seed: 0 } });
for (const t of tasks) console.log(`${t.padEnd(17)} ${ev.perTask[t]!.toFixed(4)}  [${ev.ci!.perTask[t]!.lower.toFixed(3)}, ${ev.ci!.perTask[t]!.upper.toFixed(3)}]`);
console.log(`${'mean AUROC'.padEnd(17)} ${ev.meanAuroc.toFixed(4)}  [${ev.ci!.lower.toFixed(3)}, ${ev.ci!.upper.toFixed(3)}]`);
models.forEach((m) => m.dispose());
model.dispose();
