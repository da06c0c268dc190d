// The multi-threaded SIMD wasm binary of @tensorflow/tfjs-backend-wasm, started in Node.
//
// Upstream turns threads off in Node (flag WASM_HAS_MULTITHREAD_SUPPORT, tfjs issue 3830): its loader hands the
// Emscripten pthread pool Blob URLs, which Node's worker_threads cannot load. The package also ships the plain
// Emscripten glue (wasm-out/tfjs-backend-wasm-threaded-simd.js) and the pthread worker source; with those we
// build the module ourselves:
// - the worker runs from a `data:` URL (an ES module): a two-line prelude gives the worker source the `require`
//   and `__filename` it expects, and the glue file is the script each worker imports (a real path);
// - the C++ side sizes its pool as emscripten_num_logical_cores() / 2 (capped at the pool size), assuming
//   hyper-threads; the import is answered with 2 x the requested thread count so the pool gets what was asked;
// - idle workers of Emscripten's prebuilt pool (8) beyond those the thread pool took are terminated.
// Nothing under node_modules is modified. Node builtins are reached through process.getBuiltinModule, so this
// file has no static Node import and the root entry stays browser-safe.

type PoolWorker = { terminate(): unknown; unref?(): void };
type Req = ((id: string) => unknown) & { resolve(id: string): string };
type NodeProcess = { getBuiltinModule?: (id: string) => unknown; versions?: { node?: string } };

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: { unusedWorkers: PoolWorker[]; runningWorkers: PoolWorker[]; terminateAllThreads(): void };
  tfjs?: Record<string, unknown>;
  [k: string]: unknown;
}

const GLUE = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
const WORKER = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';

function nodeProcess(): NodeProcess | undefined {
  const proc = (globalThis as { process?: NodeProcess }).process;
  return typeof proc?.versions?.node === 'string' ? proc : undefined;
}

/** Logical cores available to this process (1 outside Node). */
export function availableCores(): number {
  const os = nodeProcess()?.getBuiltinModule?.('os') as
    | { availableParallelism?: () => number; cpus: () => unknown[] }
    | undefined;
  if (!os) return 1;
  return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
}

function requireHere(): Req {
  const mod = nodeProcess()?.getBuiltinModule?.('module') as { createRequire(from: string): Req } | undefined;
  if (!mod) throw new Error('process.getBuiltinModule is missing (Node >= 20.16 is needed for wasm threads)');
  // CJS build: __filename; ESM build and sources: import.meta.url. Either locates our installed package.
  const from = typeof __filename === 'string' ? __filename : import.meta.url;
  return mod.createRequire(from);
}

/** A started threaded module and what it cost. */
export interface ThreadedWasm {
  /** The Emscripten module, ready for `new BackendWasm(module)`. */
  module: EmscriptenModule;
  /** Stops every worker (used when the backend could not be created from this module). */
  terminate(): void;
}

/**
 * Starts the threaded SIMD wasm module with `threads` threads (the calling thread included).
 * Rejects (and stops any worker it started) when the module cannot start within `timeoutMs`.
 */
export async function startThreadedWasm(threads: number, timeoutMs = 60_000): Promise<ThreadedWasm> {
  const proc = nodeProcess();
  if (!proc) throw new Error('threads are started this way in Node only');
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is not available');
  const req = requireHere();
  const fs = proc.getBuiltinModule!('fs') as { readFileSync(p: string): Uint8Array };
  const url = proc.getBuiltinModule!('url') as { pathToFileURL(p: string): URL };
  const gluePath = req.resolve(GLUE);
  const factory = req(gluePath) as (config: Record<string, unknown>) => Promise<EmscriptenModule>;
  const { wasmWorkerContents } = req(WORKER) as { wasmWorkerContents: string };
  if (typeof factory !== 'function' || typeof wasmWorkerContents !== 'string') {
    throw new Error(`unexpected layout of ${GLUE} (tfjs-backend-wasm version?)`);
  }
  // The worker source was written for a Blob: its string literals hold raw newlines (upstream escapes them too).
  const prelude = `import { createRequire } from 'node:module';\n` +
    `const require = createRequire(${JSON.stringify(url.pathToFileURL(gluePath).href)});\n` +
    `const __filename = ${JSON.stringify(gluePath)};\n`;
  const workerUrl = new URL(`data:text/javascript,${encodeURIComponent(prelude + wasmWorkerContents.replace(/\n/g, '\\n'))}`);
  const wasmBytes = fs.readFileSync(gluePath.replace(/\.js$/, '.wasm'));

  const config: Record<string, unknown> = {
    locateFile: (path: string, prefix: string) => (path.endsWith('.worker.js') ? workerUrl : prefix + path),
    // each worker evaluates the glue from this path (importScripts in the worker source reads files)
    mainScriptUrlOrBlob: gluePath,
    instantiateWasm: (imports: { env: Record<string, unknown> }, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => {
      imports.env.emscripten_num_logical_cores = () => 2 * threads;
      WebAssembly.instantiate(wasmBytes as BufferSource, imports as unknown as WebAssembly.Imports)
        .then((r) => {
          // Emscripten prebuilt 8 workers and is about to load the module into each: keep the pool's share only
          const pool = config.PThread as EmscriptenModule['PThread'];
          for (const w of pool?.unusedWorkers.splice(threads) ?? []) void w.terminate();
          receive(r.instance, r.module);
        })
        .catch((e: unknown) => fail(e));
      return {};
    },
    // Emscripten's default prints and keeps going; make aborts reject instead
    onAbort: (what: unknown) => fail(new Error(`wasm aborted: ${String(what)}`)),
  };
  let fail: (e: unknown) => void = () => {};
  const stop = () => {
    try {
      (config.PThread as EmscriptenModule['PThread'])?.terminateAllThreads();
    } catch {
      // nothing left to stop
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const module = await new Promise<EmscriptenModule>((resolve, reject) => {
      fail = reject;
      timer = setTimeout(() => reject(new Error(`threaded wasm did not start within ${timeoutMs} ms`)), timeoutMs);
      factory(config).then(resolve, reject);
    });
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    return { module, terminate: stop };
  } catch (e) {
    stop();
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Once the backend made its thread pool: terminates the prebuilt workers the pool did not take (each holds a
 * wasm instance), and unrefs the pool's workers. Emscripten refs a worker while its thread runs, and the pool's
 * threads run (waiting for work) forever, so without this a user's program would never exit by itself. The
 * main thread takes part in and waits for every parallel job, so no work can be cut short by an exit.
 */
export function settleWorkers(module: EmscriptenModule): void {
  const pool = module.PThread;
  if (!pool) return;
  for (const w of pool.unusedWorkers.splice(0)) void w.terminate();
  for (const w of pool.runningWorkers) w.unref?.();
}
