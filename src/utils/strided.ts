// Strided copies of row-major Float32Arrays: the one gather behind PyTorch's non-contiguous tensors (weights/pth.ts),
// layout permutations between TF.js and PyTorch (weights/layout.ts) and block copies of slices.

/** Row-major (C order) strides of `shape`, in elements. @example rowMajorStrides([2, 3, 4]) // [12, 4, 1] */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  return strides;
}

/**
 * Copies the view `src[offset + sum(i_d * stride[d])]` of shape `size` into a contiguous array (`out`, or a new
 * one), as PyTorch's `as_strided(...).contiguous()`. The innermost axes that are contiguous in `src` are copied
 * as one block each; the outer ones are walked with an odometer. Callers check that the view stays in `src`.
 * @example gatherStrided(Float32Array.of(0, 1, 2, 3, 4, 5), 0, [3, 2], [1, 3]) // [0, 3, 1, 4, 2, 5]
 */
export function gatherStrided(
  src: Float32Array,
  offset: number,
  size: readonly number[],
  stride: readonly number[],
  out?: Float32Array,
): Float32Array {
  const n = size.reduce((a, b) => a * b, 1);
  const dst = out ?? new Float32Array(n);
  if (n === 0) return dst;
  // k: the axes before k are walked one by one; the axes from k on form one contiguous run of `run` elements
  let k = size.length;
  let run = 1;
  while (k > 0 && (size[k - 1] === 1 || stride[k - 1] === run)) {
    k--;
    run *= size[k]!;
  }
  const count = n / run;
  const idx = new Array<number>(k).fill(0);
  let base = offset;
  for (let o = 0; o < count; o++) {
    if (run === 1) dst[o] = src[base]!;
    else dst.set(src.subarray(base, base + run), o * run);
    for (let d = k - 1; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < size[d]!) break;
      base -= idx[d]! * stride[d]!;
      idx[d] = 0;
    }
  }
  return dst;
}

/**
 * Permutes a row-major array of shape `shape` by `perm`, like numpy's `transpose(perm)`.
 * @example permute(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3], [1, 0]) // [1, 4, 2, 5, 3, 6]
 */
export function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const strides = rowMajorStrides(shape);
  return gatherStrided(data, 0, perm.map((p) => shape[p]!), perm.map((p) => strides[p]!));
}
