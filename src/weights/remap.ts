import * as tf from '@tensorflow/tfjs';

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

/** Keys a PyTorch state dict may carry that have no TF.js counterpart and are safe to ignore. */
export function isIgnorableTorchKey(key: string): boolean {
  return key.endsWith('.num_batches_tracked');
}

/** Permutes a row-major array of shape `shape` by `perm` (like numpy transpose). */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * shape[i + 1]!;
  const strideForOut = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src]!;
    // odometer increment over the output index, tracking the source offset incrementally
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      src += strideForOut[d]!;
      if (idx[d]! < outShape[d]!) break;
      src -= strideForOut[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function slot(
  key: string,
  layer: tf.layers.Layer,
  variable: tf.LayerVariable,
  torchShape: number[],
  perm?: number[],
): TorchSlot {
  if (!perm) return { key, layer, variable, torchShape, toTf: (d) => d, toTorch: (d) => d };
  const tfShape = variable.shape as number[];
  const inv = inversePerm(perm);
  return {
    key,
    layer,
    variable,
    torchShape,
    toTf: (d) => permute(d, torchShape, perm),
    toTorch: (d) => permute(d, tfShape, inv),
  };
}

function suffixOf(v: tf.LayerVariable): string {
  const name = v.originalName ?? v.name;
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * Lists every trainable and non-trainable parameter of a zoo model under its reference (PyTorch) key,
 * with the layout conversion for its layer type. Layer names are module paths, so the key is
 * `<layer name>.<weight|bias|running_mean|running_var>`.
 * @example const keys = torchSlots(model).map((s) => s.key);
 */
export function torchSlots(model: tf.LayersModel): TorchSlot[] {
  const slots: TorchSlot[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const vars = layer.weights;
    if (vars.length === 0) continue;
    for (const v of vars) {
      const s = suffixOf(v);
      const shape = v.shape as number[];
      if (s === 'kernel' && shape.length === 4) {
        // HWIO <- OIHW
        const [kh, kw, cin, cout] = shape as [number, number, number, number];
        slots.push(slot(`${layer.name}.weight`, layer, v, [cout, cin, kh, kw], [2, 3, 1, 0]));
      } else if (s === 'depthwise_kernel') {
        // [kh, kw, in, mult] <- [in*mult, 1, kh, kw] viewed as [in, mult, kh, kw]
        const [kh, kw, cin, mult] = shape as [number, number, number, number];
        const torchShape = [cin * mult, 1, kh, kw];
        const viewShape = [cin, mult, kh, kw];
        slots.push({
          key: `${layer.name}.weight`,
          layer,
          variable: v,
          torchShape,
          toTf: (d) => permute(d, viewShape, [2, 3, 0, 1]),
          toTorch: (d) => permute(d, shape, [2, 3, 0, 1]),
        });
      } else if (s === 'kernel' && shape.length === 2) {
        const [cin, cout] = shape as [number, number];
        slots.push(slot(`${layer.name}.weight`, layer, v, [cout, cin], [1, 0]));
      } else if (s === 'bias' || s === 'beta') {
        slots.push(slot(`${layer.name}.bias`, layer, v, [...shape]));
      } else if (s === 'gamma') {
        slots.push(slot(`${layer.name}.weight`, layer, v, [...shape]));
      } else if (s === 'moving_mean') {
        slots.push(slot(`${layer.name}.running_mean`, layer, v, [...shape]));
      } else if (s === 'moving_variance') {
        slots.push(slot(`${layer.name}.running_var`, layer, v, [...shape]));
      } else {
        throw new Error(
          `Layer '${layer.name}' (${cls}) has a weight '${v.name}' with no PyTorch counterpart; ` +
            'only Conv2D, DepthwiseConv2D, Dense and BatchNormalization weights can be mapped.',
        );
      }
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

/** Reads the model's parameters back as a reference-layout state dict. */
export function modelToStateDict(model: tf.LayersModel): StateDict {
  const out: StateDict = new Map();
  for (const s of torchSlots(model)) {
    const data = s.variable.read().dataSync() as Float32Array;
    out.set(s.key, { shape: s.torchShape, data: s.toTorch(Float32Array.from(data)) });
  }
  return out;
}
