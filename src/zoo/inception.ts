import * as tf from '@tensorflow/tfjs';
import { act, avgPool, batchNorm, concat, conv2d, head, maxPool, type Pair, type ST } from './layers.js';
import { dropKeys } from '../weights/filters.js';
import { numberedBlocks, spec, type BuildConfig, type ModelSpec } from './spec.js';

// Inception v3 as torchvision 0.14 builds it (aux_logits=False, transform_input=False) and Inception v4 as timm's
// `inception_v4`. Both use conv (no bias) + BatchNorm eps 1e-3 + ReLU units and valid (unpadded) stride-2
// reductions, so every size stays what PyTorch's floor arithmetic gives.

type Kernel = number | Pair;

/** Padding PyTorch's modules use for the "same-size" stride-1 convs: (k - 1) / 2 on each axis. */
const half = (k: Kernel): Pair => (Array.isArray(k) ? [(k[0] - 1) / 2, (k[1] - 1) / 2] : [(k - 1) / 2, (k - 1) / 2]);

interface UnitOptions {
  stride?: number;
  /** `true` for PyTorch padding (k - 1) / 2, otherwise no padding. */
  same?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Inception v3 (torchvision): BasicConv2d = `<p>.conv`, `<p>.bn`, functional relu (`<p>.relu`).

function v3Conv(x: ST, p: string, filters: number, kernel: Kernel, o: UnitOptions = {}): ST {
  x = conv2d(x, { name: `${p}.conv`, filters, kernel, stride: o.stride ?? 1, padding: o.same ? half(kernel) : 0 });
  x = batchNorm(x, `${p}.bn`, 1e-3);
  return act(x, 'relu', `${p}.relu`);
}

/** torchvision's avg_pool2d(3, 1, 1) keeps count_include_pad=True: border means include the zero padding. */
const v3AvgPool = (x: ST, p: string): ST => avgPool(x, `${p}.avg_pool`, { kernel: 3, stride: 1, padding: 1 });

function v3InceptionA(x: ST, p: string, poolFeatures: number): ST {
  const b1 = v3Conv(x, `${p}.branch1x1`, 64, 1);
  let b5 = v3Conv(x, `${p}.branch5x5_1`, 48, 1);
  b5 = v3Conv(b5, `${p}.branch5x5_2`, 64, 5, { same: true });
  let b3 = v3Conv(x, `${p}.branch3x3dbl_1`, 64, 1);
  b3 = v3Conv(b3, `${p}.branch3x3dbl_2`, 96, 3, { same: true });
  b3 = v3Conv(b3, `${p}.branch3x3dbl_3`, 96, 3, { same: true });
  const bp = v3Conv(v3AvgPool(x, p), `${p}.branch_pool`, poolFeatures, 1);
  return concat([b1, b5, b3, bp], `${p}.cat`);
}

function v3InceptionB(x: ST, p: string): ST {
  const b3 = v3Conv(x, `${p}.branch3x3`, 384, 3, { stride: 2 });
  let bd = v3Conv(x, `${p}.branch3x3dbl_1`, 64, 1);
  bd = v3Conv(bd, `${p}.branch3x3dbl_2`, 96, 3, { same: true });
  bd = v3Conv(bd, `${p}.branch3x3dbl_3`, 96, 3, { stride: 2 });
  const bp = maxPool(x, `${p}.max_pool`, { kernel: 3, stride: 2 });
  return concat([b3, bd, bp], `${p}.cat`);
}

function v3InceptionC(x: ST, p: string, c7: number): ST {
  const b1 = v3Conv(x, `${p}.branch1x1`, 192, 1);
  let b7 = v3Conv(x, `${p}.branch7x7_1`, c7, 1);
  b7 = v3Conv(b7, `${p}.branch7x7_2`, c7, [1, 7], { same: true });
  b7 = v3Conv(b7, `${p}.branch7x7_3`, 192, [7, 1], { same: true });
  let bd = v3Conv(x, `${p}.branch7x7dbl_1`, c7, 1);
  bd = v3Conv(bd, `${p}.branch7x7dbl_2`, c7, [7, 1], { same: true });
  bd = v3Conv(bd, `${p}.branch7x7dbl_3`, c7, [1, 7], { same: true });
  bd = v3Conv(bd, `${p}.branch7x7dbl_4`, c7, [7, 1], { same: true });
  bd = v3Conv(bd, `${p}.branch7x7dbl_5`, 192, [1, 7], { same: true });
  const bp = v3Conv(v3AvgPool(x, p), `${p}.branch_pool`, 192, 1);
  return concat([b1, b7, bd, bp], `${p}.cat`);
}

function v3InceptionD(x: ST, p: string): ST {
  let b3 = v3Conv(x, `${p}.branch3x3_1`, 192, 1);
  b3 = v3Conv(b3, `${p}.branch3x3_2`, 320, 3, { stride: 2 });
  let b7 = v3Conv(x, `${p}.branch7x7x3_1`, 192, 1);
  b7 = v3Conv(b7, `${p}.branch7x7x3_2`, 192, [1, 7], { same: true });
  b7 = v3Conv(b7, `${p}.branch7x7x3_3`, 192, [7, 1], { same: true });
  b7 = v3Conv(b7, `${p}.branch7x7x3_4`, 192, 3, { stride: 2 });
  const bp = maxPool(x, `${p}.max_pool`, { kernel: 3, stride: 2 });
  return concat([b3, b7, bp], `${p}.cat`);
}

function v3InceptionE(x: ST, p: string): ST {
  const b1 = v3Conv(x, `${p}.branch1x1`, 320, 1);
  const b3 = v3Conv(x, `${p}.branch3x3_1`, 384, 1);
  const b3cat = concat(
    [v3Conv(b3, `${p}.branch3x3_2a`, 384, [1, 3], { same: true }), v3Conv(b3, `${p}.branch3x3_2b`, 384, [3, 1], { same: true })],
    `${p}.branch3x3_cat`,
  );
  let bd = v3Conv(x, `${p}.branch3x3dbl_1`, 448, 1);
  bd = v3Conv(bd, `${p}.branch3x3dbl_2`, 384, 3, { same: true });
  const bdcat = concat(
    [
      v3Conv(bd, `${p}.branch3x3dbl_3a`, 384, [1, 3], { same: true }),
      v3Conv(bd, `${p}.branch3x3dbl_3b`, 384, [3, 1], { same: true }),
    ],
    `${p}.branch3x3dbl_cat`,
  );
  const bp = v3Conv(v3AvgPool(x, p), `${p}.branch_pool`, 192, 1);
  return concat([b1, b3cat, bdcat, bp], `${p}.cat`);
}

/** torchvision's Inception3 without AuxLogits (it only runs in training mode and is not part of the model here). */
export function buildInceptionV3(config: BuildConfig): tf.LayersModel {
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = v3Conv(input, 'Conv2d_1a_3x3', 32, 3, { stride: 2 });
  x = v3Conv(x, 'Conv2d_2a_3x3', 32, 3);
  x = v3Conv(x, 'Conv2d_2b_3x3', 64, 3, { same: true });
  x = maxPool(x, 'maxpool1', { kernel: 3, stride: 2 });
  x = v3Conv(x, 'Conv2d_3b_1x1', 80, 1);
  x = v3Conv(x, 'Conv2d_4a_3x3', 192, 3);
  x = maxPool(x, 'maxpool2', { kernel: 3, stride: 2 });
  x = v3InceptionA(x, 'Mixed_5b', 32);
  x = v3InceptionA(x, 'Mixed_5c', 64);
  x = v3InceptionA(x, 'Mixed_5d', 64);
  x = v3InceptionB(x, 'Mixed_6a');
  x = v3InceptionC(x, 'Mixed_6b', 128);
  x = v3InceptionC(x, 'Mixed_6c', 160);
  x = v3InceptionC(x, 'Mixed_6d', 160);
  x = v3InceptionC(x, 'Mixed_6e', 192);
  x = v3InceptionD(x, 'Mixed_7a');
  x = v3InceptionE(x, 'Mixed_7b');
  x = v3InceptionE(x, 'Mixed_7c');
  const out = head(x, { numClasses: config.numClasses, poolName: 'avgpool', fcName: 'fc', dropout: config.dropout ?? 0.5, dropoutName: 'dropout' });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

const V3_BLOCKS = [
  'Conv2d_1a_3x3',
  'Conv2d_2a_3x3',
  'Conv2d_2b_3x3',
  'maxpool1',
  'Conv2d_3b_1x1',
  'Conv2d_4a_3x3',
  'maxpool2',
  'Mixed_5b',
  'Mixed_5c',
  'Mixed_5d',
  'Mixed_6a',
  'Mixed_6b',
  'Mixed_6c',
  'Mixed_6d',
  'Mixed_6e',
  'Mixed_7a',
  'Mixed_7b',
  'Mixed_7c',
];

// ---------------------------------------------------------------------------------------------------------------
// Inception v4 (timm): ConvNormAct = `<p>.conv`, `<p>.bn` (BatchNormAct2d, its ReLU is the module `<p>.bn.act`).

function v4Conv(x: ST, p: string, filters: number, kernel: Kernel, o: UnitOptions = {}): ST {
  x = conv2d(x, { name: `${p}.conv`, filters, kernel, stride: o.stride ?? 1, padding: o.same ? half(kernel) : 0 });
  x = batchNorm(x, `${p}.bn`, 1e-3);
  return act(x, 'relu', `${p}.bn.act`);
}

/** timm's AvgPool2d(3, 1, 1, count_include_pad=False): border means over the valid pixels only. */
const v4AvgPool = (x: ST, name: string): ST =>
  avgPool(x, name, { kernel: 3, stride: 1, padding: 1, countIncludePad: false });

function v4Mixed3a(x: ST, p: string): ST {
  const x0 = maxPool(x, `${p}.maxpool`, { kernel: 3, stride: 2 });
  const x1 = v4Conv(x, `${p}.conv`, 96, 3, { stride: 2 });
  return concat([x0, x1], `${p}.cat`);
}

function v4Mixed4a(x: ST, p: string): ST {
  let b0 = v4Conv(x, `${p}.branch0.0`, 64, 1);
  b0 = v4Conv(b0, `${p}.branch0.1`, 96, 3);
  let b1 = v4Conv(x, `${p}.branch1.0`, 64, 1);
  b1 = v4Conv(b1, `${p}.branch1.1`, 64, [1, 7], { same: true });
  b1 = v4Conv(b1, `${p}.branch1.2`, 64, [7, 1], { same: true });
  b1 = v4Conv(b1, `${p}.branch1.3`, 96, 3);
  return concat([b0, b1], `${p}.cat`);
}

function v4Mixed5a(x: ST, p: string): ST {
  const x0 = v4Conv(x, `${p}.conv`, 192, 3, { stride: 2 });
  const x1 = maxPool(x, `${p}.maxpool`, { kernel: 3, stride: 2 });
  return concat([x0, x1], `${p}.cat`);
}

function v4InceptionA(x: ST, p: string): ST {
  const b0 = v4Conv(x, `${p}.branch0`, 96, 1);
  let b1 = v4Conv(x, `${p}.branch1.0`, 64, 1);
  b1 = v4Conv(b1, `${p}.branch1.1`, 96, 3, { same: true });
  let b2 = v4Conv(x, `${p}.branch2.0`, 64, 1);
  b2 = v4Conv(b2, `${p}.branch2.1`, 96, 3, { same: true });
  b2 = v4Conv(b2, `${p}.branch2.2`, 96, 3, { same: true });
  const b3 = v4Conv(v4AvgPool(x, `${p}.branch3.0`), `${p}.branch3.1`, 96, 1);
  return concat([b0, b1, b2, b3], `${p}.cat`);
}

function v4ReductionA(x: ST, p: string): ST {
  const b0 = v4Conv(x, `${p}.branch0`, 384, 3, { stride: 2 });
  let b1 = v4Conv(x, `${p}.branch1.0`, 192, 1);
  b1 = v4Conv(b1, `${p}.branch1.1`, 224, 3, { same: true });
  b1 = v4Conv(b1, `${p}.branch1.2`, 256, 3, { stride: 2 });
  const b2 = maxPool(x, `${p}.branch2`, { kernel: 3, stride: 2 });
  return concat([b0, b1, b2], `${p}.cat`);
}

function v4InceptionB(x: ST, p: string): ST {
  const b0 = v4Conv(x, `${p}.branch0`, 384, 1);
  let b1 = v4Conv(x, `${p}.branch1.0`, 192, 1);
  b1 = v4Conv(b1, `${p}.branch1.1`, 224, [1, 7], { same: true });
  b1 = v4Conv(b1, `${p}.branch1.2`, 256, [7, 1], { same: true });
  let b2 = v4Conv(x, `${p}.branch2.0`, 192, 1);
  b2 = v4Conv(b2, `${p}.branch2.1`, 192, [7, 1], { same: true });
  b2 = v4Conv(b2, `${p}.branch2.2`, 224, [1, 7], { same: true });
  b2 = v4Conv(b2, `${p}.branch2.3`, 224, [7, 1], { same: true });
  b2 = v4Conv(b2, `${p}.branch2.4`, 256, [1, 7], { same: true });
  const b3 = v4Conv(v4AvgPool(x, `${p}.branch3.0`), `${p}.branch3.1`, 128, 1);
  return concat([b0, b1, b2, b3], `${p}.cat`);
}

function v4ReductionB(x: ST, p: string): ST {
  let b0 = v4Conv(x, `${p}.branch0.0`, 192, 1);
  b0 = v4Conv(b0, `${p}.branch0.1`, 192, 3, { stride: 2 });
  let b1 = v4Conv(x, `${p}.branch1.0`, 256, 1);
  b1 = v4Conv(b1, `${p}.branch1.1`, 256, [1, 7], { same: true });
  b1 = v4Conv(b1, `${p}.branch1.2`, 320, [7, 1], { same: true });
  b1 = v4Conv(b1, `${p}.branch1.3`, 320, 3, { stride: 2 });
  const b2 = maxPool(x, `${p}.branch2`, { kernel: 3, stride: 2 });
  return concat([b0, b1, b2], `${p}.cat`);
}

function v4InceptionC(x: ST, p: string): ST {
  const b0 = v4Conv(x, `${p}.branch0`, 256, 1);
  const b10 = v4Conv(x, `${p}.branch1_0`, 384, 1);
  const b1 = concat(
    [
      v4Conv(b10, `${p}.branch1_1a`, 256, [1, 3], { same: true }),
      v4Conv(b10, `${p}.branch1_1b`, 256, [3, 1], { same: true }),
    ],
    `${p}.branch1_cat`,
  );
  let b2 = v4Conv(x, `${p}.branch2_0`, 384, 1);
  b2 = v4Conv(b2, `${p}.branch2_1`, 448, [3, 1], { same: true });
  b2 = v4Conv(b2, `${p}.branch2_2`, 512, [1, 3], { same: true });
  const b2cat = concat(
    [
      v4Conv(b2, `${p}.branch2_3a`, 256, [1, 3], { same: true }),
      v4Conv(b2, `${p}.branch2_3b`, 256, [3, 1], { same: true }),
    ],
    `${p}.branch2_cat`,
  );
  const b3 = v4Conv(v4AvgPool(x, `${p}.branch3.0`), `${p}.branch3.1`, 256, 1);
  return concat([b0, b1, b2cat, b3], `${p}.cat`);
}

/** timm's InceptionV4: `features.0`..`features.21`, then global average pooling and `last_linear` (drop_rate 0). */
export function buildInceptionV4(config: BuildConfig): tf.LayersModel {
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = v4Conv(input, 'features.0', 32, 3, { stride: 2 });
  x = v4Conv(x, 'features.1', 32, 3);
  x = v4Conv(x, 'features.2', 64, 3, { same: true });
  x = v4Mixed3a(x, 'features.3');
  x = v4Mixed4a(x, 'features.4');
  x = v4Mixed5a(x, 'features.5');
  let i = 6;
  for (let b = 0; b < 4; b++) x = v4InceptionA(x, `features.${i++}`);
  x = v4ReductionA(x, `features.${i++}`);
  for (let b = 0; b < 7; b++) x = v4InceptionB(x, `features.${i++}`);
  x = v4ReductionB(x, `features.${i++}`);
  for (let b = 0; b < 3; b++) x = v4InceptionC(x, `features.${i++}`);
  const out = head(x, { numClasses: config.numClasses, poolName: 'global_pool', fcName: 'last_linear', dropout: config.dropout ?? 0, dropoutName: 'head_drop' });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

const V4_BLOCKS = numberedBlocks('features', 22);

// minImageSize 75 for both: below it the last stride-2 reduction (Mixed_7a / features.18) has no output pixel.
const INCEPTION = { family: 'inception', minImageSize: 75 } as const;

export const inceptionModels: ModelSpec[] = [
  spec(
    {
      ...INCEPTION,
      reference: 'torchvision 0.14',
      // torchvision's checkpoint has the auxiliary classifier used in training; this model (aux_logits=False) does not
      checkpointFilter: dropKeys('AuxLogits.', (n) => `Ignored ${n} AuxLogits.* keys: Inception-V3's auxiliary classifier is only used in training and the model does not have it.`),
    },
    { name: 'inception_v3', params: 23_834_568, blocks: V3_BLOCKS, build: buildInceptionV3 },
  ),
  spec({ ...INCEPTION, reference: 'timm' }, { name: 'inception_v4', params: 42_679_816, blocks: V4_BLOCKS, build: buildInceptionV4 }),
];
