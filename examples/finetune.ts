// Fine-tune pretrained weights on a CheXpert folder (real, or the synthetic phantoms), evaluate with bootstrap CIs,
// save the model. With ImageNet weights this is the study's "pretrained" arm for one architecture.
//
//   npx tsx examples/finetune.ts --data DIR [--arch resnet18] [--weights imagenet|PATH] [--image-size 224]
//        [--epochs 3 | --max-steps N] [--out runs/finetune]
//
// --weights takes 'imagenet' (downloaded once into the cache, hash-checked; CHEXZOO_WEIGHTS_MIRROR / CHEXZOO_OFFLINE
// apply) or a checkpoint file (.pth, .safetensors). Run it again after an interruption: it resumes.
// In your own project import from '@chexzoo/models/node' instead of '../src/node.js'.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COMPETITION_TASKS, FileCheckpointStore, createModel, ensureBackend, evaluate, loadChexpert, saveModel, train } from '../src/node.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    arch: { type: 'string', default: 'resnet18' },
    weights: { type: 'string', default: 'imagenet' },
    'image-size': { type: 'string', default: '224' },
    epochs: { type: 'string', default: '3' },
    'max-steps': { type: 'string' },
    'batch-size': { type: 'string', default: '16' },
    out: { type: 'string', default: 'runs/finetune' },
  },
});
if (!values.data) throw new Error('--data DIR is required: a CheXpert-format folder (make one with `chexzoo synth --out DIR`).');
const imageSize = Number(values['image-size']);
const tasks = [...COMPETITION_TASKS];
console.log('backend:', await ensureBackend());

// the study's protocol: U-Ones, Adam 1e-4, batch 16
const common = { tasks, uncertainty: 'ones', imageSize, batchSize: Number(values['batch-size']), seed: 0 } as const;
const trainSet = await loadChexpert(values.data, { ...common, split: 'train' });
const validSet = await loadChexpert(values.data, { ...common, split: 'valid', shuffle: false });

// the pretrained backbone with a new 5-task head (the checkpoint's 1000-class classifier is skipped)
const model = await createModel(values.arch!, { weights: values.weights!, numClasses: tasks.length, inputShape: [imageSize, imageSize, 3] });
const maxSteps = values['max-steps'] ? Number(values['max-steps']) : undefined;
const result = await train(model, { train: trainSet, valid: validSet }, {
  lr: 1e-4,
  ...(maxSteps ? { maxSteps, validateEvery: Math.max(1, Math.ceil(maxSteps / 2)) } : { epochs: Number(values.epochs) }),
  topK: 3,
  seed: 0,
  store: new FileCheckpointStore(join(values.out!, 'checkpoints')),
  onValidation: ({ step, meanAuroc }) => console.log(`step ${step}: valid mean AUROC ${meanAuroc.toFixed(4)}`),
});
const { meanAuroc, ci } = await evaluate(model, validSet, { bootstrap: { n: 1000, seed: 0 } });
console.log(`${values.arch} fine-tuned from ${values.weights} for ${result.steps} steps: mean AUROC ${meanAuroc.toFixed(4)} (95% CI ${ci!.lower.toFixed(3)}-${ci!.upper.toFixed(3)}); top-k ensemble ${result.ensemble?.meanAuroc.toFixed(4) ?? 'n/a'}`);
await saveModel(model, join(values.out!, 'final'));
model.dispose();
console.log(`Saved ${join(values.out!, 'final')}`);
