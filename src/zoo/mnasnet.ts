import * as tf from '@tensorflow/tfjs';
import { act, add, batchNorm, conv2d, head, type ST } from './layers.js';
import { numberedBlocks, spec, type BuildConfig, type FamilyDefaults, type ModelSpec } from './spec.js';

// MNASNet B1 (Tan et al., 2018) as torchvision 0.14 builds it (`MNASNet(alpha)`, module version 2).
// Every layer is a direct child of the `layers` Sequential, so each index `layers.i` is a block.

/** torchvision's _BN_MOMENTUM (PyTorch convention: weight of the new batch statistic). */
const BN_MOMENTUM = 1 - 0.9997;
const BN_EPS = 1e-5;

const bn = (x: ST, name: string): ST => batchNorm(x, name, BN_EPS, BN_MOMENTUM);

/**
 * `_InvertedResidual`: 1x1 expand, depthwise kxk, 1x1 project (`<p>.layers.0..7`), plus the identity when
 * shapes allow. The residual add is functional in PyTorch, so it is `<p>.add`.
 */
function invertedResidual(x: ST, p: string, outCh: number, kernel: number, stride: number, expansion: number): ST {
  const inCh = x.shape[3]!;
  const mid = inCh * expansion;
  let y = conv2d(x, { name: `${p}.layers.0`, filters: mid, kernel: 1 });
  y = bn(y, `${p}.layers.1`);
  y = act(y, 'relu', `${p}.layers.2`);
  y = conv2d(y, {
    name: `${p}.layers.3`,
    filters: mid,
    kernel,
    stride,
    padding: Math.floor(kernel / 2),
    depthwise: true,
  });
  y = bn(y, `${p}.layers.4`);
  y = act(y, 'relu', `${p}.layers.5`);
  y = conv2d(y, { name: `${p}.layers.6`, filters: outCh, kernel: 1 });
  y = bn(y, `${p}.layers.7`);
  return inCh === outCh && stride === 1 ? add([y, x], `${p}.add`) : y;
}

/** torchvision `_round_to_multiple_of` (asymmetric rounding, prefers rounding up). */
function roundToMultipleOf(val: number, divisor: number, roundUpBias = 0.9): number {
  const v = Math.max(divisor, Math.floor(Math.trunc(val + divisor / 2) / divisor) * divisor);
  return v >= roundUpBias * val ? v : v + divisor;
}

/** [out channels, kernel, stride, expansion, repeats] of the six `_stack`s (layers.8 .. layers.13). */
const STACKS: [number, number, number, number][] = [
  [3, 2, 3, 3],
  [5, 2, 3, 3],
  [5, 2, 6, 3],
  [3, 1, 6, 2],
  [5, 2, 6, 4],
  [3, 1, 6, 1],
];

/** Generic MNASNet builder (torchvision `MNASNet(alpha)`). */
export function buildMnasNet(alpha: number, config: BuildConfig): tf.LayersModel {
  const depths = [32, 16, 24, 40, 80, 96, 192, 320].map((d) => roundToMultipleOf(d * alpha, 8));
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = conv2d(input, { name: 'layers.0', filters: depths[0]!, kernel: 3, stride: 2, padding: 1 });
  x = bn(x, 'layers.1');
  x = act(x, 'relu', 'layers.2');
  x = conv2d(x, { name: 'layers.3', filters: depths[0]!, kernel: 3, padding: 1, depthwise: true });
  x = bn(x, 'layers.4');
  x = act(x, 'relu', 'layers.5');
  x = conv2d(x, { name: 'layers.6', filters: depths[1]!, kernel: 1 });
  x = bn(x, 'layers.7');
  STACKS.forEach(([kernel, stride, expansion, repeats], i) => {
    const out = depths[i + 2]!;
    for (let r = 0; r < repeats; r++) {
      x = invertedResidual(x, `layers.${8 + i}.${r}`, out, kernel, r === 0 ? stride : 1, expansion);
    }
  });
  x = conv2d(x, { name: 'layers.14', filters: 1280, kernel: 1 });
  x = bn(x, 'layers.15');
  x = act(x, 'relu', 'layers.16');
  // `x.mean([2, 3])` is functional: `avgpool` is no reference module path.
  const out = head(x, {
    numClasses: config.numClasses,
    poolName: 'avgpool',
    dropout: config.dropout ?? 0.2,
    dropoutName: 'classifier.0',
    fcName: 'classifier.1',
  });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

const MNASNET: FamilyDefaults = {
  family: 'mnasnet',
  reference: 'torchvision 0.14',
  // Every conv pads k // 2, so even a 1x1 input keeps a 1x1 map through all strides (torchvision: min_size 1).
  minImageSize: 1,
  blocks: numberedBlocks('layers', 17),
};

export const mnasnetModels: ModelSpec[] = [spec(MNASNET, { name: 'mnasnet1_0', params: 4_383_312, build: (c) => buildMnasNet(1.0, c) })];
