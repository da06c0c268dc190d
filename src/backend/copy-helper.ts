// A second JS thread for the fast kernels' block copies, in Node on the threaded wasm binary.
//
// The threaded binary's memory is a shared WebAssembly.Memory, so another thread can move floats in it while the
// main thread does the other half; during such a copy the wasm thread pool is idle, so the cores are free. One
// worker (worker_threads, started from source text) waits on a shared control block with Atomics.wait; the main
// thread posts a job, does its own share, and waits (Atomics.wait, bounded) until the worker's is done. The
// worker is unref'd: a program still exits by itself. If the worker fails to answer in time, the main thread
// does the worker's share itself and stops using it (the result is the same; only the split is lost).
// Node builtins are reached through process.getBuiltinModule: no static Node import (the root entry stays
// browser-safe; in a browser there is no helper and every copy runs on the calling thread).

type NodeProcess = { getBuiltinModule?: (id: string) => unknown; versions?: { node?: string } };
type WorkerLike = { unref(): void; terminate(): unknown; on(ev: string, f: (...a: unknown[]) => void): unknown };

// control block (Int32): the job's sequence number, the last finished one, the job's fields, readiness
const SEQ = 0, DONE = 1, OP = 2, SRC = 3, DST = 4, BATCH = 5, ROWS = 6, COLS = 7, R0 = 8, R1 = 9, READY = 10;
const OP_TRANSPOSE = 1;
/** Below this many floats a copy is not worth a hand-off. */
const MIN_FLOATS = 1 << 16;
/** How long the main thread waits for the worker's share before doing it itself. */
const WAIT_MS = 10_000;

/**
 * Cache-blocked transpose of rows [r0, r1) of `batch` row-major [rows, cols] matrices, read from `src` at float
 * offset `so` and written to `dst` at `do_`. Within a 32 x 32 block each output row is written as one contiguous
 * run: output rows lie `rows` floats apart, often a power of two, so writing one float to each of them in turn
 * (input-row order) would thrash a cache set (twice as slow on tall inputs). Self-contained: the helper thread
 * runs this function's source.
 */
export function transposeRows(src: Float32Array, so: number, dst: Float32Array, do_: number, batch: number, rows: number,
  cols: number, r0: number, r1: number): void {
  const B = 32;
  for (let b = 0; b < batch; b++) {
    const o = b * rows * cols;
    for (let rb = r0; rb < r1; rb += B) {
      const re = Math.min(rb + B, r1);
      for (let c0 = 0; c0 < cols; c0 += B) {
        const c1 = Math.min(c0 + B, cols);
        for (let c = c0; c < c1; c++) {
          const di = do_ + o + c * rows;
          for (let r = rb; r < re; r++) dst[di + r] = src[so + o + r * cols + c]!;
        }
      }
    }
  }
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, control } = workerData;
const c = new Int32Array(control);
const transposeRows = ${transposeRows.toString()};
Atomics.store(c, ${READY}, 1);
let seen = Atomics.load(c, ${SEQ});
for (;;) {
  Atomics.wait(c, ${SEQ}, seen);
  seen = Atomics.load(c, ${SEQ});
  if (c[${OP}] === ${OP_TRANSPOSE}) {
    const heap = new Float32Array(memory.buffer);
    transposeRows(heap, c[${SRC}], heap, c[${DST}], c[${BATCH}], c[${ROWS}], c[${COLS}], c[${R0}], c[${R1}]);
  }
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});
}
`;

let helper: { memory: WebAssembly.Memory; c: Int32Array; worker: WorkerLike } | undefined;
let broken: string | undefined;

/**
 * Starts the copy helper on the threaded module's shared memory (Node only; a no-op elsewhere or when the
 * memory is not shared). Returns why it did not start, or undefined.
 */
export function startCopyHelper(memory: unknown): string | undefined {
  if (helper) return undefined;
  const proc = (globalThis as { process?: NodeProcess }).process;
  const wt = proc?.getBuiltinModule?.('worker_threads') as
    | { Worker: new (src: string, o: Record<string, unknown>) => WorkerLike }
    | undefined;
  if (!wt) return 'worker_threads is not available';
  if (!(memory instanceof WebAssembly.Memory) || !(memory.buffer instanceof SharedArrayBuffer)) return 'the wasm memory is not shared';
  try {
    const control = new SharedArrayBuffer(16 * 4);
    const worker = new wt.Worker(WORKER_SOURCE, { eval: true, workerData: { memory, control } });
    worker.unref();
    worker.on('error', (e) => {
      broken = `copy helper failed: ${String((e as Error)?.message ?? e)}`;
    });
    helper = { memory, c: new Int32Array(control), worker };
    return undefined;
  } catch (e) {
    return `copy helper could not start: ${(e as Error).message}`;
  }
}

/** Whether the copy helper runs (started, ready, not failed). */
export function copyHelperActive(): boolean {
  return helper !== undefined && broken === undefined && Atomics.load(helper.c, READY) === 1;
}

/**
 * Transposes `batch` row-major [rows, cols] matrices from `src` to `dst` (views of the same shared wasm memory),
 * the main thread and the helper each taking half of the rows. Returns false (nothing done) when the helper
 * cannot take this copy; the caller then copies alone.
 */
export function splitTranspose(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): boolean {
  const h = helper;
  if (!h || broken !== undefined || rows < 64 || src.length < MIN_FLOATS || Atomics.load(h.c, READY) !== 1) return false;
  const heap = h.memory.buffer;
  if (src.buffer !== heap || dst.buffer !== heap) return false;
  const c = h.c;
  const mid = Math.floor(rows / 64) * 32; // half the rows, on a block boundary
  const s = src.byteOffset / 4, d = dst.byteOffset / 4;
  c[OP] = OP_TRANSPOSE; c[SRC] = s; c[DST] = d; c[BATCH] = batch; c[ROWS] = rows; c[COLS] = cols; c[R0] = mid; c[R1] = rows;
  const seq = Atomics.add(c, SEQ, 1) + 1;
  Atomics.notify(c, SEQ);
  const view = new Float32Array(heap);
  transposeRows(view, s, view, d, batch, rows, cols, 0, mid);
  const until = Date.now() + WAIT_MS;
  for (let done = Atomics.load(c, DONE); done !== seq; done = Atomics.load(c, DONE)) {
    const left = until - Date.now();
    if (left <= 0 || broken !== undefined) {
      broken ??= `copy helper did not answer within ${WAIT_MS} ms`;
      void h.worker.terminate(); // it must not write into memory that is reused after this call
      transposeRows(view, s, view, d, batch, rows, cols, mid, rows);
      return true;
    }
    Atomics.wait(c, DONE, done, left);
  }
  return true;
}

/** Why the helper stopped being used, if it did. */
export function copyHelperProblem(): string | undefined {
  return broken;
}
