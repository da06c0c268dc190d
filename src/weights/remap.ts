import * as tf from '@tensorflow/tfjs';
import { torchLayout } from './layout.js';

/** A tensor in the reference (PyTorch) layout: row-major data with the PyTorch shape. */
export interface TorchTensor {
  shape: number[];
  data: Float32Array;
}

/** A state dict as PyTorch writes it: `layer1.0.conv1.weight` -> tensor. */
export type StateDict = Map<string, TorchTensor>;

/** One parameter of a TF.js model seen through the reference's eyes. */
export interface TorchSlot {
  /** Reference key, e.g. `layer1.0.conv1.weight`. */
  key: string;
  /** Shape the reference stores for this key. */
  torchShape: number[];
  /** The TF.js variable that receives it. */
  variable: tf.LayerVariable;
  /** The layer that owns the variable (its name is the module path). */
  layer: tf.layers.Layer;
  /** Converts a reference-layout tensor to this variable's layout (same element count). */
  toTf(data: Float32Array): Float32Array;
  /** Converts the variable's values back to the reference layout. */
  toTorch(data: Float32Array): Float32Array;
}

function suffixOf(v: tf.LayerVariable): string {
  const name = v.originalName ?? v.name;
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * Lists every trainable and non-trainable parameter of a zoo model under its reference (PyTorch) key,
 * with the layout conversion of weights/layout.ts. Layer names are module paths, so the key is
 * `<layer name>.<weight|bias|running_mean|running_var>`.
 * @example const keys = torchSlots(model).map((s) => s.key);
 */
export function torchSlots(model: tf.LayersModel): TorchSlot[] {
  const slots: TorchSlot[] = [];
  for (const layer of model.layers) {
    for (const v of layer.weights) {
      const layout = torchLayout(suffixOf(v), v.shape as number[]);
      if (!layout) {
        throw new Error(
          `Layer '${layer.name}' (${layer.getClassName()}) has a weight '${v.name}' with no PyTorch counterpart; ` +
            'only Conv2D, DepthwiseConv2D, Dense and BatchNormalization weights can be mapped.',
        );
      }
      const { suffix, torchShape, toTf, toTorch } = layout;
      slots.push({ key: `${layer.name}.${suffix}`, layer, variable: v, torchShape, toTf, toTorch });
    }
  }
  return slots;
}

/**
 * Writes reference-layout tensors into the model. Every key must exist in `slots` with the same
 * element count; callers (loadWeights) decide about strictness before calling this.
 */
export function assignTorchTensors(slots: TorchSlot[], dict: StateDict): void {
  for (const s of slots) {
    const t = dict.get(s.key);
    if (!t) continue;
    const size = s.torchShape.reduce((a, b) => a * b, 1);
    if (t.data.length !== size) {
      throw new Error(
        `Weight '${s.key}' has ${t.data.length} values (shape [${t.shape}]) but the model expects [${s.torchShape}].`,
      );
    }
    const value = tf.tensor(s.toTf(t.data), s.variable.shape as number[], 'float32');
    s.variable.write(value);
    value.dispose();
  }
}

/**
 * Reads the model's parameters back as a reference-layout state dict (a synchronous read: on WebGPU in Node,
 * which cannot read synchronously, use {@link modelToStateDictAsync}).
 * @example const dict = modelToStateDict(model);
 */
export function modelToStateDict(model: tf.LayersModel): StateDict {
  if (tf.getBackend() === 'webgpu' && typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined') {
    throw new Error('modelToStateDict reads weights synchronously, which WebGPU cannot do in Node: use `await modelToStateDictAsync(model)`.');
  }
  const out: StateDict = new Map();
  for (const s of torchSlots(model)) {
    const data = s.variable.read().dataSync() as Float32Array;
    out.set(s.key, { shape: s.torchShape, data: s.toTorch(Float32Array.from(data)) });
  }
  return out;
}

/**
 * {@link modelToStateDict} with asynchronous reads: works on every backend, WebGPU in Node included.
 * @example const dict = await modelToStateDictAsync(model);
 */
export async function modelToStateDictAsync(model: tf.LayersModel): Promise<StateDict> {
  const slots = torchSlots(model);
  const data = await Promise.all(slots.map((s) => s.variable.read().data() as Promise<Float32Array>));
  return new Map(slots.map((s, i) => [s.key, { shape: s.torchShape, data: s.toTorch(Float32Array.from(data[i]!)) }]));
}
