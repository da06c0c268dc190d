import * as tf from '@tensorflow/tfjs';
import { add, act, batchNorm, conv2d, head, maxPool, type ST } from './layers.js';
import { spec, type BuildConfig, type FamilyDefaults, type ModelSpec } from './spec.js';

// ResNet (He et al., 2015) as torchvision 0.14 builds it: V1.5 bottlenecks (stride on the 3x3 conv),
// BatchNorm eps 1e-5, no zero-init of the last BN (init does not matter once weights are loaded).

type BlockKind = 'basic' | 'bottleneck';

function basicBlock(x: ST, p: string, planes: number, stride: number, downsample: boolean): ST {
  let identity = x;
  let y = conv2d(x, { name: `${p}.conv1`, filters: planes, kernel: 3, stride, padding: 1 });
  y = batchNorm(y, `${p}.bn1`);
  y = act(y, 'relu', `${p}.relu1`);
  y = conv2d(y, { name: `${p}.conv2`, filters: planes, kernel: 3, padding: 1 });
  y = batchNorm(y, `${p}.bn2`);
  if (downsample) {
    identity = conv2d(x, { name: `${p}.downsample.0`, filters: planes, kernel: 1, stride });
    identity = batchNorm(identity, `${p}.downsample.1`);
  }
  return act(add([y, identity], `${p}.add`), 'relu', `${p}.relu`);
}

function bottleneck(x: ST, p: string, planes: number, stride: number, downsample: boolean): ST {
  let identity = x;
  let y = conv2d(x, { name: `${p}.conv1`, filters: planes, kernel: 1 });
  y = batchNorm(y, `${p}.bn1`);
  y = act(y, 'relu', `${p}.relu1`);
  y = conv2d(y, { name: `${p}.conv2`, filters: planes, kernel: 3, stride, padding: 1 });
  y = batchNorm(y, `${p}.bn2`);
  y = act(y, 'relu', `${p}.relu2`);
  y = conv2d(y, { name: `${p}.conv3`, filters: planes * 4, kernel: 1 });
  y = batchNorm(y, `${p}.bn3`);
  if (downsample) {
    identity = conv2d(x, { name: `${p}.downsample.0`, filters: planes * 4, kernel: 1, stride });
    identity = batchNorm(identity, `${p}.downsample.1`);
  }
  return act(add([y, identity], `${p}.add`), 'relu', `${p}.relu`);
}

/** Generic ResNet builder: `layers[i]` residual units in block `layer<i+1>`, basic or bottleneck units. */
export function buildResNet(kind: BlockKind, layers: number[], config: BuildConfig): tf.LayersModel {
  const input = tf.input({ shape: config.inputShape, name: 'input' });
  let x = conv2d(input, { name: 'conv1', filters: 64, kernel: 7, stride: 2, padding: 3 });
  x = batchNorm(x, 'bn1');
  x = act(x, 'relu', 'relu');
  x = maxPool(x, 'maxpool', { kernel: 3, stride: 2, padding: 1 });
  const expansion = kind === 'basic' ? 1 : 4;
  const block = kind === 'basic' ? basicBlock : bottleneck;
  let inplanes = 64;
  layers.forEach((n, i) => {
    const planes = 64 * 2 ** i;
    const stride = i === 0 ? 1 : 2;
    for (let b = 0; b < n; b++) {
      const s = b === 0 ? stride : 1;
      const downsample = b === 0 && (s !== 1 || inplanes !== planes * expansion);
      x = block(x, `layer${i + 1}.${b}`, planes, s, downsample);
      inplanes = planes * expansion;
    }
  });
  const out = head(x, { numClasses: config.numClasses, poolName: 'avgpool', fcName: 'fc' });
  return tf.model({ inputs: input, outputs: out, name: config.name });
}

const RESNET: FamilyDefaults = {
  family: 'resnet',
  reference: 'torchvision 0.14',
  minImageSize: 32,
  blocks: ['layer1', 'layer2', 'layer3', 'layer4'],
};

export const resnetModels: ModelSpec[] = [
  spec(RESNET, { name: 'resnet18', params: 11_689_512, build: (c) => buildResNet('basic', [2, 2, 2, 2], c) }),
  spec(RESNET, { name: 'resnet34', params: 21_797_672, build: (c) => buildResNet('basic', [3, 4, 6, 3], c) }),
  spec(RESNET, { name: 'resnet50', params: 25_557_032, build: (c) => buildResNet('bottleneck', [3, 4, 6, 3], c) }),
  spec(RESNET, { name: 'resnet101', params: 44_549_160, build: (c) => buildResNet('bottleneck', [3, 4, 23, 3], c) }),
];
