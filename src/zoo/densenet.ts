import * as tf from '@tensorflow/tfjs';
import { act, avgPool, batchNorm, concat, conv2d, head, maxPool, type ST } from './layers.js';
import { renameKeys } from '../weights/filters.js';
import { spec, type BuildConfig, type FamilyDefaults, type ModelSpec } from './spec.js';

// DenseNet-BC (Huang et al., 2016) as torchvision 0.14 builds it: bn_size 4, BatchNorm eps 1e-5, no dropout
// (drop_rate 0), transitions halve the channels, a final functional ReLU before global average pooling.

const BN_SIZE = 4;

/**
 * One `_DenseLayer`: norm1 -> relu1 -> conv1 (1x1, bn_size * growth) -> norm2 -> relu2 -> conv2 (3x3, growth).
 * Returns only the new `growth` features (the block concatenates them).
 */
function denseLayer(x: ST, p: string, growth: number): ST {
  let y = batchNorm(x, `${p}.norm1`);
  y = act(y, 'relu', `${p}.relu1`);
  y = conv2d(y, { name: `${p}.conv1`, filters: BN_SIZE * growth, kernel: 1 });
  y = batchNorm(y, `${p}.norm2`);
  y = act(y, 'relu', `${p}.relu2`);
  return conv2d(y, { name: `${p}.conv2`, filters: growth, kernel: 3, padding: 1 });
}

/**
 * `_DenseBlock`: layer m sees cat(block input, f1, ..., f(m-1)). A running concatenation gives the same channel
 * order as torch.cat(features) while keeping only one copy alive per layer (the naive form is quadratic in
 * memory). The concat that feeds layer m belongs to that layer's bn_function, so it is `<layer>.concat`; the
 * block's own output concat is `<block>.concat` and is the block's last layer.
 */
function denseBlock(x: ST, p: string, layers: number, growth: number): ST {
  let features = x;
  for (let m = 1; m <= layers; m++) {
    const lp = `${p}.denselayer${m}`;
    const f = denseLayer(features, lp, growth);
    features = concat([features, f], m === layers ? `${p}.concat` : `${p}.denselayer${m + 1}.concat`);
  }
  return features;
}

/** `_Transition`: norm -> relu -> conv 1x1 (channels / 2) -> avg pool 2x2 stride 2. */
function transition(x: ST, p: string, filters: number): ST {
  let y = batchNorm(x, `${p}.norm`);
  y = act(y, 'relu', `${p}.relu`);
  y = conv2d(y, { name: `${p}.conv`, filters, kernel: 1 });
  return avgPool(y, `${p}.pool`, { kernel: 2, stride: 2 });
}

/** Generic DenseNet builder (torchvision `DenseNet(growth_rate, block_config, num_init_features)`). */
export function buildDenseNet(
  growth: number,
  blockConfig: number[],
  initFeatures: number,
  config: BuildConfig,
): tf.LayersModel {
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = conv2d(input, { name: 'features.conv0', filters: initFeatures, kernel: 7, stride: 2, padding: 3 });
  x = batchNorm(x, 'features.norm0');
  x = act(x, 'relu', 'features.relu0');
  x = maxPool(x, 'features.pool0', { kernel: 3, stride: 2, padding: 1 });
  let channels = initFeatures;
  blockConfig.forEach((n, i) => {
    x = denseBlock(x, `features.denseblock${i + 1}`, n, growth);
    channels += n * growth;
    if (i !== blockConfig.length - 1) {
      channels = Math.floor(channels / 2);
      x = transition(x, `features.transition${i + 1}`, channels);
    }
  });
  x = batchNorm(x, 'features.norm5');
  // DenseNet.forward applies F.relu after `features`; it is no module. It is named `features.relu5` (not
  // `features.norm5.*`) so that the `features.norm5` block ends at the BatchNorm, as the reference module does.
  x = act(x, 'relu', 'features.relu5');
  // F.adaptive_avg_pool2d is functional too; `avgpool` is not a reference module path either.
  const out = head(x, { numClasses: config.numClasses, poolName: 'avgpool', fcName: 'classifier' });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

function blockNames(denseBlocks: number): string[] {
  const s: string[] = [];
  for (let i = 1; i <= denseBlocks; i++) {
    s.push(`features.denseblock${i}`);
    if (i < denseBlocks) s.push(`features.transition${i}`);
  }
  s.push('features.norm5');
  return s;
}

const OLD_KEY = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

/**
 * torchvision's DenseNet checkpoints predate the ban on '.' in module names and say
 * `denselayer1.norm.1.weight` for `denselayer1.norm1.weight` (torchvision's `_load_state_dict` renames them).
 * @example renameOldDenseNetKey('features.denseblock1.denselayer1.norm.1.weight') // '...denselayer1.norm1.weight'
 */
export function renameOldDenseNetKey(key: string): string {
  const m = OLD_KEY.exec(key);
  return m ? m[1]! + m[2]! : key;
}

const DENSENET: FamilyDefaults = {
  family: 'densenet',
  reference: 'torchvision 0.14',
  // conv0 (s2) + pool0 (s2) + three 2x2 transitions: 29 is the smallest side leaving 1x1 in denseblock4
  // (torchvision's weight metadata also gives min_size 29).
  minImageSize: 29,
  blocks: blockNames(4),
  checkpointFilter: renameKeys(renameOldDenseNetKey, "Renamed old torchvision DenseNet keys ('denselayerN.norm.1' -> 'denselayerN.norm1')."),
};

export const densenetModels: ModelSpec[] = [
  spec(DENSENET, { name: 'densenet121', params: 7_978_856, build: (c) => buildDenseNet(32, [6, 12, 24, 16], 64, c) }),
  spec(DENSENET, { name: 'densenet169', params: 14_149_480, build: (c) => buildDenseNet(32, [6, 12, 32, 32], 64, c) }),
  spec(DENSENET, { name: 'densenet201', params: 20_013_928, build: (c) => buildDenseNet(32, [6, 12, 48, 32], 64, c) }),
];
