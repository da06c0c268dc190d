import type * as tf from '@tensorflow/tfjs';
import { createModel, type CreateModelOptions } from './registry.js';

// One named builder per architecture, as torchvision exposes them: `await resnet50({ numClasses: 5 })`.
type Builder = (options?: CreateModelOptions) => Promise<tf.LayersModel>;
const named =
  (name: string): Builder =>
  (options) =>
    createModel(name, options);

export const resnet18 = named('resnet18');
export const resnet34 = named('resnet34');
export const resnet50 = named('resnet50');
export const resnet101 = named('resnet101');
export const densenet121 = named('densenet121');
export const densenet169 = named('densenet169');
export const densenet201 = named('densenet201');
export const efficientnet_b0 = named('efficientnet_b0');
export const efficientnet_b1 = named('efficientnet_b1');
export const efficientnet_b2 = named('efficientnet_b2');
export const efficientnet_b3 = named('efficientnet_b3');
export const mobilenet_v2 = named('mobilenet_v2');
export const mobilenet_v3_large = named('mobilenet_v3_large');
export const mobilenet_v3_small = named('mobilenet_v3_small');
export const mnasnet1_0 = named('mnasnet1_0');
export const inception_v3 = named('inception_v3');
export const inception_v4 = named('inception_v4');
