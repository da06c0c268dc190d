// Block copies in JS on a backend's float32 memory: the one place where the fast kernels move data without
// arithmetic (the phase interleave of transposed convolutions, transposes). Slice and SplitV use the package's one
// strided gather (src/utils/strided.ts).

/**
 * Cache-blocked transpose of `batch` row-major [rows, cols] matrices. Within a 32 x 32 block each output row
 * is written as one contiguous run: output rows lie `rows` floats apart, often a power of two, so writing
 * one float to each of them in turn (input-row order) would thrash a cache set (twice as slow on tall inputs).
 */
export function transpose2d(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  const B = 32;
  for (let b = 0; b < batch; b++) {
    const o = b * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(r0 + B, rows);
      for (let c0 = 0; c0 < cols; c0 += B) {
        const c1 = Math.min(c0 + B, cols);
        for (let c = c0; c < c1; c++) {
          const di = o + c * rows;
          for (let r = r0; r < r1; r++) dst[di + r] = src[o + r * cols + c]!;
        }
      }
    }
  }
}
