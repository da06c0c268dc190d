// The one table of how a TF.js layer weight corresponds to a PyTorch state-dict entry: key suffix, shape and
// axis order. Used in both directions: model -> state dict (export, torchSlots) and checkpoint -> model.
import { permute } from '../utils/strided.js';

/** A TF.js weight seen as its PyTorch state-dict entry. */
export interface TorchLayout {
  /** State-dict key suffix after the module path. */
  suffix: 'weight' | 'bias' | 'running_mean' | 'running_var';
  /** Shape PyTorch stores. */
  torchShape: number[];
  /** TF.js layout -> PyTorch layout (same element count). */
  toTorch(data: Float32Array): Float32Array;
  /** PyTorch layout -> TF.js layout. */
  toTf(data: Float32Array): Float32Array;
}

const STATS = { bias: 'bias', beta: 'bias', gamma: 'weight', moving_mean: 'running_mean', moving_variance: 'running_var' } as const;

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/**
 * Axis order: `perm` takes the TF.js array to PyTorch's, read as `view` (PyTorch's shape, or the shape its
 * memory has before a reshape: a depthwise [C * M, 1, kh, kw] is [C, M, kh, kw] in memory).
 */
function withPerm(suffix: TorchLayout['suffix'], tfShape: number[], torchShape: number[], perm: number[], view = torchShape): TorchLayout {
  const inv = inversePerm(perm);
  return {
    suffix,
    torchShape,
    toTorch: (d) => permute(d, tfShape, perm),
    toTf: (d) => permute(d, view, inv),
  };
}

/**
 * How the TF.js weight `kind` (the variable name after its layer: `kernel`, `depthwise_kernel`, `gamma`, ...)
 * of shape `tfShape` is stored by PyTorch, or undefined when it has no counterpart.
 * - Conv2D kernel [kh, kw, in, out] (HWIO) <-> [out, in, kh, kw] (OIHW)
 * - DepthwiseConv2D kernel [kh, kw, in, mult] <-> [in * mult, 1, kh, kw]
 * - Dense kernel [in, out] <-> Linear weight [out, in]
 * - BatchNorm gamma / beta / moving_mean / moving_variance <-> weight / bias / running_mean / running_var; bias <-> bias
 * @example torchLayout('kernel', [3, 3, 16, 32])!.torchShape // [32, 16, 3, 3]
 */
export function torchLayout(kind: string, tfShape: number[]): TorchLayout | undefined {
  const shape = [...tfShape];
  if (kind === 'kernel' && shape.length === 4) {
    const [kh, kw, cin, cout] = shape as [number, number, number, number];
    return withPerm('weight', shape, [cout, cin, kh, kw], [3, 2, 0, 1]);
  }
  if (kind === 'depthwise_kernel' && shape.length === 4) {
    const [kh, kw, cin, mult] = shape as [number, number, number, number];
    return withPerm('weight', shape, [cin * mult, 1, kh, kw], [2, 3, 0, 1], [cin, mult, kh, kw]);
  }
  if (kind === 'kernel' && shape.length === 2) {
    const [cin, cout] = shape as [number, number];
    return withPerm('weight', shape, [cout, cin], [1, 0]);
  }
  const suffix = (STATS as Record<string, TorchLayout['suffix'] | undefined>)[kind];
  if (!suffix) return undefined;
  return { suffix, torchShape: shape, toTorch: (d) => d, toTf: (d) => d };
}
