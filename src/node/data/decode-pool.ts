// Image decoding on worker threads, for datasets that decode faster than one thread can: DICOM (decodeDicom and
// the intensity pipeline are JavaScript) and the PIL-equal resize run on the main thread otherwise, beside the
// training loop. Results are the same bytes as decodeGray's in this thread (test/decode-pool.test.ts).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DecodeReply, DecodeRequest } from './decode-worker.js';
import type { DecodeOptions, GrayImage } from './images.js';

/** A set of decode threads; idle ones never keep the process alive. */
export interface DecodePool {
  /** Threads it may run (started on demand). */
  readonly threads: number;
  /** Allows `threads` threads when that is more than now. */
  grow(threads: number): void;
  /** decodeGray(file, options) on one of the threads. */
  decode(file: string, options: DecodeOptions): Promise<GrayImage>;
  /** Stops every thread (pending decodes reject). */
  close(): Promise<void>;
}

/** A decode thread failed or stopped: the pool's problem, not the image's (a dataset does not skip the image). */
export class DecodeThreadError extends Error {
  override name = 'DecodeThreadError';
}

interface Pending {
  resolve: (g: GrayImage) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * The worker script beside this module: decode-worker.js / .cjs in the built package, decode-worker.ts from the
 * sources (tests, tsx), started through a two-line loader that registers tsx first (Node 20 starts a worker's
 * entry before `--import` hooks are in place).
 */
function workerScript(): { entry: URL | string; eval: boolean } {
  // CJS build: __filename; ESM build and sources: import.meta.url (as src/backend/wasm-threads.ts)
  const here = typeof __filename === 'string' ? pathToFileURL(__filename) : new URL(import.meta.url);
  const ext = /\.(c?js|mjs|ts)$/.exec(here.pathname)?.[1] ?? 'js';
  const url = new URL(`./decode-worker.${ext}`, here);
  if (!existsSync(fileURLToPath(url))) throw new Error(`the decode worker script is missing (${fileURLToPath(url)}); reinstall the package, or pass decodeWorkers: 0.`);
  if (ext !== 'ts') return { entry: url, eval: false };
  // tsx resolved from here, not from the working directory the eval'd loader would resolve against
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href;
  return { entry: `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(url.href)}); });`, eval: true };
}

function failAll(slot: Slot, e: Error): void {
  for (const p of slot.pending.values()) p.reject(e);
  slot.pending.clear();
}

function startSlot(script: ReturnType<typeof workerScript>, onGone: (s: Slot) => void): Slot {
  // the parent's flags, less those that would make the thread misread its script (node --input-type=module -e ...)
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const worker = new Worker(script.entry, { eval: script.eval, execArgv });
  const slot: Slot = { worker, pending: new Map() };
  worker.unref();
  worker.on('message', (m: DecodeReply) => {
    const p = slot.pending.get(m.id);
    if (!p) return;
    slot.pending.delete(m.id);
    if (slot.pending.size === 0) worker.unref();
    if ('image' in m) p.resolve(m.image);
    else p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
  });
  worker.on('error', (e) => {
    onGone(slot);
    failAll(slot, new DecodeThreadError(`a decode thread failed: ${e.message}`));
  });
  worker.on('exit', (code) => {
    onGone(slot);
    failAll(slot, new DecodeThreadError(`a decode thread exited (code ${code}) before answering`));
  });
  return slot;
}

function checkThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`decode threads must be a positive integer, got ${String(n)}.`);
}

/**
 * Starts a pool of `threads` decode threads (started on first use, restarted after a crash).
 * @example const pool = createDecodePool(3); const g = await pool.decode('a.dcm', { size: 320 }); await pool.close();
 */
export function createDecodePool(threads: number): DecodePool {
  checkThreads(threads);
  const script = workerScript();
  const slots: Slot[] = [];
  const gone = (s: Slot): void => {
    const i = slots.indexOf(s);
    if (i >= 0) slots.splice(i, 1);
  };
  let nextId = 0;
  const pick = (): Slot => {
    if (slots.length < threads) slots.push(startSlot(script, gone));
    return slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  };
  return {
    get threads() {
      return threads;
    },
    grow(n) {
      checkThreads(n);
      threads = Math.max(threads, n);
    },
    decode(file, options) {
      const slot = pick();
      const id = nextId++;
      return new Promise<GrayImage>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.ref(); // a pending decode keeps the process alive until it answers
        slot.worker.postMessage({ id, file, options } satisfies DecodeRequest);
      });
    },
    async close() {
      const all = slots.splice(0);
      for (const s of all) failAll(s, new DecodeThreadError('the decode pool was closed'));
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}

let shared: DecodePool | undefined;

/** The process's shared pool with at least `threads` threads (the datasets of a run share it). */
export function sharedDecodePool(threads: number): DecodePool {
  if (shared) shared.grow(threads);
  else shared = createDecodePool(threads);
  return shared;
}
