// The models of the PyTorch round-trip fixture (test/fixtures/export, made by tools/make_export_fixtures.py):
// formula weights on both sides, so the fixture holds only the exported file's hash and torch's logits.
import type * as tf from '@tensorflow/tfjs';
import { createModel } from '../../src/zoo/registry.js';
import { truncate } from '../../src/truncate.js';
import { fillFromFormula } from './formula.js';

export interface ExportCase {
  name: string;
  size: number;
  build(): Promise<tf.LayersModel>;
}

async function truncated(arch: string, stage: string, size: number, pooling: 'avg' | 'max' = 'avg'): Promise<tf.LayersModel> {
  const full = await createModel(arch, { numClasses: 1000, inputShape: [size, size, 3] });
  const model = truncate(full, stage, { numClasses: 5, pooling });
  full.dispose();
  fillFromFormula(model);
  return model;
}

export const EXPORT_CASES: ExportCase[] = [
  { name: 'resnet18-layer2', size: 64, build: () => truncated('resnet18', 'layer2', 64) },
  { name: 'densenet121-transition2', size: 64, build: () => truncated('densenet121', 'features.transition2', 64) },
  { name: 'efficientnet_b0-features.4-max', size: 64, build: () => truncated('efficientnet_b0', 'features.4', 64, 'max') },
  { name: 'inception_v3-Mixed_5d', size: 96, build: () => truncated('inception_v3', 'Mixed_5d', 96) },
  {
    name: 'mobilenet_v3_small-full',
    size: 64,
    build: async () => {
      const model = await createModel('mobilenet_v3_small', { numClasses: 5, inputShape: [64, 64, 3] });
      fillFromFormula(model);
      return model;
    },
  },
];
