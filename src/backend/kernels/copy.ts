// Block copies in JS on a backend's float32 memory: the one place where the fast kernels move data without
// arithmetic (Slice, SplitV, the phase interleave of transposed convolutions, transposes). A shared
// strided-gather helper of the package (src/utils/) can replace `gatherRuns` here, and only here.

/**
 * Strided gather of contiguous runs: for every index tuple `i` of `outer` (row-major), copies `run` floats
 * from `src[srcBase + sum(i[k] * strides[k])]` to the next `run` floats of `dst` from `dstBase` on.
 * @example gatherRuns(x, 5, 3, [2, 4], [40, 10], out, 0); // a [2, 4, 3] window of a [., 4, 10] tensor at offset 5
 */
export function gatherRuns(src: Float32Array, srcBase: number, run: number, outer: readonly number[],
  strides: readonly number[], dst: Float32Array, dstBase = 0): void {
  const k = outer.length;
  const count = outer.reduce((p, q) => p * q, 1);
  if (count === 0 || run === 0) return;
  const idx = new Array<number>(k).fill(0);
  let base = srcBase;
  for (let o = 0; o < count; o++) {
    dst.set(src.subarray(base, base + run), dstBase + o * run);
    // odometer over the outer axes
    for (let i = k - 1; i >= 0; i--) {
      idx[i]!++;
      base += strides[i]!;
      if (idx[i]! < outer[i]!) break;
      base -= idx[i]! * strides[i]!;
      idx[i] = 0;
    }
  }
}

/** Cache-blocked transpose of `batch` row-major [rows, cols] matrices. */
export function transpose2d(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  const B = 32;
  for (let b = 0; b < batch; b++) {
    const o = b * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(r0 + B, rows);
      for (let c0 = 0; c0 < cols; c0 += B) {
        const c1 = Math.min(c0 + B, cols);
        for (let r = r0; r < r1; r++) {
          const si = o + r * cols;
          for (let c = c0; c < c1; c++) dst[o + c * rows + r] = src[si + c]!;
        }
      }
    }
  }
}
