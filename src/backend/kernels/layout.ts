import * as tf from '@tensorflow/tfjs';
import { splitTranspose, transposeRows } from '../copy-helper.js';
import { gatherStrided, rowMajorStrides } from '../../utils/strided.js';
import { callStock, scoped, sizeOf, type Info, type KernelArgs } from './scope.js';

// Data-movement kernels of the wasm backend: Transpose, Slice, SplitV as block copies; Identity sharing buffers.

/**
 * Transpose that swaps the last two non-trivial axes in JS with cache blocking: the stock wasm kernel
 * takes ~20 ns per element on tall matrices with power-of-two sizes (cache-set conflicts), which the
 * tensors of these networks have. Every other permutation goes to the stock kernel.
 */
export function fastTranspose(args: KernelArgs, backendName: string): Info {
  const { x } = args.inputs as { x: Info };
  const { perm } = args.attrs as { perm: number[] };
  const keep = x.shape.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  const p = perm.filter((a) => x.shape[a] !== 1);
  const r = keep.length;
  const size = sizeOf(x.shape);
  const swapsLastTwo = r >= 2 && p.slice(0, r - 2).every((a, i) => a === keep[i]) &&
    p[r - 2] === keep[r - 1] && p[r - 1] === keep[r - 2];
  if (x.dtype !== 'float32' || !swapsLastTwo || size < 4096) return callStock('Transpose', backendName, args);
  const rows = x.shape[keep[r - 2]!]!, cols = x.shape[keep[r - 1]!]!;
  return scoped(args, backendName, (s) => {
    const out = s.alloc(perm.map((a) => x.shape[a]!));
    const src = s.view(x), dst = s.view(out), batch = size / (rows * cols);
    // half of the rows on the copy helper's thread when it runs (Node, threaded wasm)
    if (!splitTranspose(src, dst, batch, rows, cols)) transposeRows(src, 0, dst, 0, batch, rows, cols, 0, rows);
    return out;
  });
}

/**
 * SplitV (the gradient of Concat, e.g. DenseNet's feature concatenation) as contiguous block copies in
 * JS; the stock wasm kernel slices element by element.
 */
export function fastSplitV(args: KernelArgs, backendName: string): Info[] {
  const { x } = args.inputs as { x: Info };
  const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
  const r = x.shape.length;
  const ax = axis < 0 ? axis + r : axis;
  const sizes = typeof numOrSizeSplits === 'number'
    ? new Array<number>(numOrSizeSplits).fill(x.shape[ax]! / numOrSizeSplits)
    : [...numOrSizeSplits];
  const neg = sizes.indexOf(-1);
  if (neg >= 0) sizes[neg] = x.shape[ax]! - sizes.reduce((p, q) => p + (q === -1 ? 0 : q), 0);
  if (x.dtype !== 'float32') return callStock('SplitV', backendName, args) as unknown as Info[];
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const rowLen = x.shape[ax]! * inner;
  return scoped(args, backendName, (s) => {
    const outs = sizes.map((sz) => s.alloc(x.shape.map((d, i) => (i === ax ? sz : d))));
    const src = s.view(x);
    let off = 0;
    sizes.forEach((sz, k) => {
      gatherStrided(src, off, [outer, sz * inner], [rowLen, 1], s.view(outs[k]!));
      off += sz * inner;
    });
    return outs;
  });
}

/**
 * Slice as contiguous block copies (the innermost run of full axes is copied at once); the stock wasm
 * kernel copies element by element. Used by padding gradients and crops.
 */
export function fastSlice(args: KernelArgs, backendName: string): Info {
  const { x } = args.inputs as { x: Info };
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  const [b, sz] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
  const r = x.shape.length;
  if (x.dtype !== 'float32' || r === 0 || sz.some((v) => v <= 0)) return callStock('Slice', backendName, args);
  const strides = rowMajorStrides(x.shape);
  const base = b.reduce((acc, v, i) => acc + v * strides[i]!, 0);
  return scoped(args, backendName, (s) => {
    const out = s.alloc(sz);
    gatherStrided(s.view(x), base, sz, strides, s.view(out));
    return out;
  });
}

/**
 * Identity sharing the buffer (as the cpu backend does) instead of copying it: the engine clones every
 * tensor it saves for the backward pass, and tensors are immutable, so the copy is pure overhead.
 */
export function sharedIdentity(args: KernelArgs): Info {
  const { x } = args.inputs as { x: Info };
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
