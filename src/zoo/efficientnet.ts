import * as tf from '@tensorflow/tfjs';
import { add, convBnAct, head, squeezeExcitation, StochasticDepth, type ST } from './layers.js';
import { numberedBlocks, spec, type BuildConfig, type FamilyDefaults, type ModelSpec } from './spec.js';

// EfficientNet B0-B3 (Tan & Le, 2019) as torchvision 0.14 builds it: MBConv blocks with SiLU and a
// SqueezeExcitation whose squeeze width comes from the block's *input* channels. BatchNorm is torch's
// default (eps 1e-5, momentum 0.1): torchvision passes eps 1e-3 only for B5-B7 and the V2 models, and the
// TF reference's 1e-3 would shift every normalized value by ~1e-3 relative.
// Stochastic depth (torchvision's StochasticDepth, 'row' mode) drops each block's residual branch per sample with
// probability 0.2 * block index / blocks in training; it is the identity at inference.

/**
 * torchvision's `_make_divisible`: rounds `v` to the nearest multiple of `divisor` (at least `minValue`),
 * never going more than 10% below `v`.
 * @example makeDivisible(32 * 1.1, 8); // 32
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let n = Math.max(min, Math.floor(Math.floor(v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** One row of torchvision's MBConv table, before width/depth scaling. */
interface MBConvConf {
  expand: number;
  kernel: number;
  stride: number;
  inCh: number;
  outCh: number;
  layers: number;
}

const B0_CONFIG: MBConvConf[] = [
  { expand: 1, kernel: 3, stride: 1, inCh: 32, outCh: 16, layers: 1 },
  { expand: 6, kernel: 3, stride: 2, inCh: 16, outCh: 24, layers: 2 },
  { expand: 6, kernel: 5, stride: 2, inCh: 24, outCh: 40, layers: 2 },
  { expand: 6, kernel: 3, stride: 2, inCh: 40, outCh: 80, layers: 3 },
  { expand: 6, kernel: 5, stride: 1, inCh: 80, outCh: 112, layers: 3 },
  { expand: 6, kernel: 5, stride: 2, inCh: 112, outCh: 192, layers: 4 },
  { expand: 6, kernel: 3, stride: 1, inCh: 192, outCh: 320, layers: 1 },
];

const EPS = 1e-5;

function mbConv(
  x: ST,
  p: string,
  o: { inCh: number; outCh: number; expand: number; kernel: number; stride: number; sdProb: number },
): ST {
  const expanded = makeDivisible(o.inCh * o.expand, 8);
  let y = x;
  let k = 0;
  if (expanded !== o.inCh) {
    y = convBnAct(y, `${p}.block.${k++}`, { filters: expanded, kernel: 1, eps: EPS, act: 'silu' });
  }
  y = convBnAct(y, `${p}.block.${k++}`, {
    filters: expanded,
    kernel: o.kernel,
    stride: o.stride,
    depthwise: true,
    eps: EPS,
    act: 'silu',
  });
  y = squeezeExcitation(y, `${p}.block.${k++}`, { squeeze: Math.max(1, Math.floor(o.inCh / 4)), act: 'silu', gate: 'sigmoid' });
  y = convBnAct(y, `${p}.block.${k}`, { filters: o.outCh, kernel: 1, eps: EPS, act: 'none' });
  if (o.stride !== 1 || o.inCh !== o.outCh) return y;
  y = new StochasticDepth({ p: o.sdProb, name: `${p}.stochastic_depth` }).apply(y) as ST;
  return add([y, x], `${p}.add`);
}

/** Generic EfficientNet-B builder: the B0 table scaled by `width` (channels) and `depth` (repeats per row). */
export function buildEfficientNet(width: number, depth: number, dropout: number, config: BuildConfig): tf.LayersModel {
  const ch = (c: number): number => makeDivisible(c * width, 8);
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = convBnAct(input, 'features.0', { filters: ch(B0_CONFIG[0]!.inCh), kernel: 3, stride: 2, eps: EPS, act: 'silu' });
  // torchvision: sd_prob = stochastic_depth_prob * stage_block_id / total_stage_blocks (its variable names), over all units
  const sdProb = config.stochasticDepthProb ?? 0.2;
  const totalBlocks = B0_CONFIG.reduce((n, s) => n + Math.ceil(s.layers * depth), 0);
  let blockId = 0;
  B0_CONFIG.forEach((s, i) => {
    const n = Math.ceil(s.layers * depth);
    for (let b = 0; b < n; b++) {
      x = mbConv(x, `features.${i + 1}.${b}`, {
        inCh: b === 0 ? ch(s.inCh) : ch(s.outCh),
        outCh: ch(s.outCh),
        expand: s.expand,
        kernel: s.kernel,
        stride: b === 0 ? s.stride : 1,
        sdProb: (sdProb * blockId++) / totalBlocks,
      });
    }
  });
  const last = 4 * ch(B0_CONFIG[B0_CONFIG.length - 1]!.outCh);
  x = convBnAct(x, `features.${B0_CONFIG.length + 1}`, { filters: last, kernel: 1, eps: EPS, act: 'silu' });
  const out = head(x, {
    numClasses: config.numClasses,
    poolName: 'avgpool',
    fcName: 'classifier.1',
    dropout: config.dropout ?? dropout,
    dropoutName: 'classifier.0',
  });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

const EFFICIENTNET: FamilyDefaults = {
  family: 'efficientnet',
  reference: 'torchvision 0.14',
  minImageSize: 1,
  blocks: numberedBlocks('features', B0_CONFIG.length + 2),
};

const b = (name: string, width: number, depth: number, dropout: number, params: number): ModelSpec =>
  spec(EFFICIENTNET, { name, params, build: (c) => buildEfficientNet(width, depth, dropout, c) });

// width, depth, classifier dropout of torchvision's efficientnet_b0..b3
export const efficientnetModels: ModelSpec[] = [
  b('efficientnet_b0', 1.0, 1.0, 0.2, 5_288_548),
  b('efficientnet_b1', 1.0, 1.1, 0.2, 7_794_184),
  b('efficientnet_b2', 1.1, 1.2, 0.3, 9_109_994),
  b('efficientnet_b3', 1.2, 1.4, 0.3, 12_233_232),
];
