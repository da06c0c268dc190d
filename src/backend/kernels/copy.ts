import { splitTranspose, transposeRows } from '../copy-helper.js';

// Block copies in JS on a backend's float32 memory: the one place where the fast kernels move data without
// arithmetic (the phase interleave of transposed convolutions, transposes). Slice and SplitV use the package's one
// strided gather (src/utils/strided.ts).

/** Transpose of `batch` row-major [rows, cols] matrices (cache-blocked; see {@link transposeRows}). */
export function transpose2d(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  // half of the rows on the copy helper's thread when it runs (Node, threaded wasm)
  if (!splitTranspose(src, dst, batch, rows, cols)) transposeRows(src, 0, dst, 0, batch, rows, cols, 0, rows);
}
