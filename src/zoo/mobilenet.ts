import * as tf from '@tensorflow/tfjs';
import { makeDivisible } from './efficientnet.js';
import { act, add, batchNorm, conv2d, convBnAct, Dropout, head, squeezeExcitation, type Act, type ST } from './layers.js';
import { numberedBlocks, spec, type BuildConfig, type FamilyDefaults, type ModelSpec } from './spec.js';

// MobileNetV2 (Sandler et al., 2018) and MobileNetV3 (Howard et al., 2019) as torchvision 0.14 builds them
// at width 1.0 (every channel count below is already a multiple of 8).

// ---------------------------------------------------------------------------------------------------------------
// MobileNetV2: ReLU6, BatchNorm eps 1e-5, InvertedResidual children under `conv`.

/** [expand ratio, out channels, repeats, first stride] per row, torchvision's table. */
const V2_TABLE: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function invertedResidualV2(x: ST, p: string, inCh: number, outCh: number, stride: number, expand: number): ST {
  const hidden = Math.round(inCh * expand);
  let y = x;
  let k = 0;
  if (expand !== 1) y = convBnAct(y, `${p}.conv.${k++}`, { filters: hidden, kernel: 1, act: 'relu6' });
  y = convBnAct(y, `${p}.conv.${k++}`, { filters: hidden, kernel: 3, stride, depthwise: true, act: 'relu6' });
  y = conv2d(y, { name: `${p}.conv.${k++}`, filters: outCh, kernel: 1 });
  y = batchNorm(y, `${p}.conv.${k}`);
  return stride === 1 && inCh === outCh ? add([x, y], `${p}.add`) : y;
}

/** MobileNetV2 at width 1.0. */
export function buildMobileNetV2(config: BuildConfig): tf.LayersModel {
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let inCh = 32;
  let x = convBnAct(input, 'features.0', { filters: inCh, kernel: 3, stride: 2, act: 'relu6' });
  let idx = 1;
  for (const [t, c, n, s] of V2_TABLE) {
    for (let i = 0; i < n; i++) {
      x = invertedResidualV2(x, `features.${idx++}`, inCh, c, i === 0 ? s : 1, t);
      inCh = c;
    }
  }
  x = convBnAct(x, `features.${idx}`, { filters: 1280, kernel: 1, act: 'relu6' });
  // torchvision pools functionally (no module); 'avgpool' is not a module path of MobileNetV2, so it cannot collide.
  const out = head(x, {
    numClasses: config.numClasses,
    poolName: 'avgpool',
    fcName: 'classifier.1',
    dropout: config.dropout ?? 0.2,
    dropoutName: 'classifier.0',
  });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

// ---------------------------------------------------------------------------------------------------------------
// MobileNetV3: BatchNorm eps 1e-3 / momentum 0.01, SE with ReLU + hard-sigmoid, blocks under `block`.

/** [in, kernel, expanded, out, SE, activation, stride] per block, torchvision's table (dilation 1). */
type V3Row = [number, number, number, number, boolean, 'RE' | 'HS', number];

const V3_LARGE: V3Row[] = [
  [16, 3, 16, 16, false, 'RE', 1],
  [16, 3, 64, 24, false, 'RE', 2],
  [24, 3, 72, 24, false, 'RE', 1],
  [24, 5, 72, 40, true, 'RE', 2],
  [40, 5, 120, 40, true, 'RE', 1],
  [40, 5, 120, 40, true, 'RE', 1],
  [40, 3, 240, 80, false, 'HS', 2],
  [80, 3, 200, 80, false, 'HS', 1],
  [80, 3, 184, 80, false, 'HS', 1],
  [80, 3, 184, 80, false, 'HS', 1],
  [80, 3, 480, 112, true, 'HS', 1],
  [112, 3, 672, 112, true, 'HS', 1],
  [112, 5, 672, 160, true, 'HS', 2],
  [160, 5, 960, 160, true, 'HS', 1],
  [160, 5, 960, 160, true, 'HS', 1],
];

const V3_SMALL: V3Row[] = [
  [16, 3, 16, 16, true, 'RE', 2],
  [16, 3, 72, 24, false, 'RE', 2],
  [24, 3, 88, 24, false, 'RE', 1],
  [24, 5, 96, 40, true, 'HS', 2],
  [40, 5, 240, 40, true, 'HS', 1],
  [40, 5, 240, 40, true, 'HS', 1],
  [40, 5, 120, 48, true, 'HS', 1],
  [48, 5, 144, 48, true, 'HS', 1],
  [48, 5, 288, 96, true, 'HS', 2],
  [96, 5, 576, 96, true, 'HS', 1],
  [96, 5, 576, 96, true, 'HS', 1],
];

const V3_BN = { eps: 1e-3, momentum: 0.01 };

function invertedResidualV3(x: ST, p: string, row: V3Row): ST {
  const [inCh, kernel, expanded, outCh, se, a, stride] = row;
  const activation: Act = a === 'HS' ? 'hardswish' : 'relu';
  let y = x;
  let k = 0;
  if (expanded !== inCh) {
    y = convBnAct(y, `${p}.block.${k++}`, { filters: expanded, kernel: 1, act: activation, ...V3_BN });
  }
  y = convBnAct(y, `${p}.block.${k++}`, {
    filters: expanded,
    kernel,
    stride,
    depthwise: true,
    act: activation,
    ...V3_BN,
  });
  if (se) {
    y = squeezeExcitation(y, `${p}.block.${k++}`, {
      squeeze: makeDivisible(Math.floor(expanded / 4), 8),
      act: 'relu',
      gate: 'hardsigmoid',
    });
  }
  y = convBnAct(y, `${p}.block.${k}`, { filters: outCh, kernel: 1, act: 'none', ...V3_BN });
  return stride === 1 && inCh === outCh ? add([y, x], `${p}.add`) : y;
}

/** MobileNetV3 (large or small table) at width 1.0; `lastChannel` is the hidden width of the classifier. */
export function buildMobileNetV3(rows: V3Row[], lastChannel: number, config: BuildConfig): tf.LayersModel {
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = convBnAct(input, 'features.0', { filters: rows[0]![0], kernel: 3, stride: 2, act: 'hardswish', ...V3_BN });
  rows.forEach((row, i) => {
    x = invertedResidualV3(x, `features.${i + 1}`, row);
  });
  const lastConv = 6 * rows[rows.length - 1]![3];
  x = convBnAct(x, `features.${rows.length + 1}`, { filters: lastConv, kernel: 1, act: 'hardswish', ...V3_BN });
  x = tf.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as ST;
  if (config.numClasses > 0) {
    x = tf.layers.dense({ units: lastChannel, name: 'classifier.0', kernelInitializer: 'zeros' }).apply(x) as ST;
    x = act(x, 'hardswish', 'classifier.1');
    x = new Dropout({ rate: config.dropout ?? 0.2, name: 'classifier.2' }).apply(x) as ST;
    x = tf.layers.dense({ units: config.numClasses, name: 'classifier.3', kernelInitializer: 'zeros' }).apply(x) as ST;
  }
  return tf.model({ inputs: input, outputs: x, name: config.name });
}

// ---------------------------------------------------------------------------------------------------------------

// blocks: features.0 .. features.<n-1>: the stem, one per inverted residual, the last conv
const MOBILENET: FamilyDefaults = { family: 'mobilenet', reference: 'torchvision 0.14', minImageSize: 1 };

export const mobilenetModels: ModelSpec[] = [
  spec(MOBILENET, { name: 'mobilenet_v2', params: 3_504_872, blocks: numberedBlocks('features', V2_TABLE.reduce((n, r) => n + r[2], 0) + 2), build: buildMobileNetV2 }),
  spec(MOBILENET, { name: 'mobilenet_v3_large', params: 5_483_032, blocks: numberedBlocks('features', V3_LARGE.length + 2), build: (c) => buildMobileNetV3(V3_LARGE, 1280, c) }),
  spec(MOBILENET, { name: 'mobilenet_v3_small', params: 2_542_856, blocks: numberedBlocks('features', V3_SMALL.length + 2), build: (c) => buildMobileNetV3(V3_SMALL, 1024, c) }),
];
