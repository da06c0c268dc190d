import * as tf from '@tensorflow/tfjs';
import { registerFastKernels } from './kernels.js';
import { availableCores, settleWorkers, startThreadedWasm } from './wasm-threads.js';
import { startCopyHelper } from './copy-helper.js';
import { prepareWebGPU, releaseWebGPU as releaseDawn, webgpuReport, type WebGPUAdapterReport } from './webgpu.js';

export { registerFastKernels } from './kernels.js';

/** TF.js backend names; 'tensorflow' is libtensorflow through @tensorflow/tfjs-node(-gpu). */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu';
export type { WebGPUAdapterReport } from './webgpu.js';

/** Options of {@link ensureBackend}. */
export interface EnsureBackendOptions {
  /** Force one backend (wins over `CHEXZOO_BACKEND`). Aliases: 'node', 'tfjs-node' = 'tensorflow'. */
  backend?: BackendName | 'node' | 'tfjs-node';
  /** Register the fast gradient kernels on wasm / cpu (default true). */
  fastKernels?: boolean;
  /**
   * Threads of the wasm backend in Node (default: `CHEXZOO_THREADS`, else every available core). 1 runs the
   * single-threaded SIMD binary. Takes effect when wasm starts; asking for another count once it runs is an error.
   */
  threads?: number;
  /**
   * WebGPU: accept a software adapter (SwiftShader, WARP, llvmpipe), which runs on the CPU and is slower than
   * wasm. Default: `CHEXZOO_WEBGPU_SOFTWARE=1`, else false (only a hardware adapter is used).
   */
  allowSoftware?: boolean;
}

/** What {@link ensureBackend} chose and why. */
export interface BackendInfo {
  name: string;
  /** 'option', 'env' (CHEXZOO_BACKEND) or 'auto'. */
  source: 'option' | 'env' | 'auto';
  /** For wasm: whether the SIMD binary is in use. */
  simd?: boolean;
  /** For wasm: threads in use (1 = the single-threaded SIMD binary). */
  threads?: number;
  /** For wasm: where the thread count came from ('option', 'env' = CHEXZOO_THREADS, 'auto' = all cores). */
  threadsSource?: 'option' | 'env' | 'auto';
  /** For 'tensorflow': the package that provided it. */
  nodePackage?: string;
  /** For 'webgpu': the adapter (vendor, architecture, description, software or not) and the limits in force. */
  webgpu?: WebGPUAdapterReport;
  /** Kernels replaced by {@link registerFastKernels}. */
  fastKernels: string[];
  /** Backends tried before the chosen one, with the reason they were skipped. */
  skipped: { name: string; reason: string }[];
}

let pending: Promise<string> | undefined;
let info: BackendInfo | undefined;

const ALIASES: Record<string, BackendName> = {
  tensorflow: 'tensorflow', node: 'tensorflow', 'tfjs-node': 'tensorflow', 'tfjs-node-gpu': 'tensorflow',
  wasm: 'wasm', cpu: 'cpu', webgl: 'webgl', webgpu: 'webgpu', gpu: 'webgpu',
};

/** Every name (and alias) ensureBackend accepts. */
export const BACKEND_NAMES: readonly string[] = Object.keys(ALIASES);

function envValue(key: string): string | undefined {
  // Read through globalThis so browser bundles need no `process` polyfill.
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = proc?.env?.[key];
  return v && v.trim() ? v.trim() : undefined;
}

function checkThreads(n: number, origin: string, raw: string = String(n)): number {
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new Error(`Bad thread count "${raw}" (from ${origin}): use a whole number from 1 to 256.`);
  }
  return n;
}

/** Threads asked for: the option, else CHEXZOO_THREADS, else every available core. */
function wantedThreads(opts: EnsureBackendOptions): { threads: number; source: 'option' | 'env' | 'auto' } {
  if (opts.threads !== undefined) return { threads: checkThreads(opts.threads, 'the threads option'), source: 'option' };
  const env = envValue('CHEXZOO_THREADS');
  if (env !== undefined) return { threads: checkThreads(Number(env), 'CHEXZOO_THREADS', env), source: 'env' };
  return { threads: availableCores(), source: 'auto' };
}

/** The wasm backend runs with a fixed thread count; asking for another one later is a mistake worth an error. */
function checkRunningThreads(asked: number): void {
  if (info?.name !== 'wasm' || info.threads === undefined || info.threads === asked) return;
  throw new Error(
    `The wasm backend already runs with ${info.threads} thread(s); ${asked} cannot be set now. ` +
      'Pass { threads } to the first ensureBackend() call (before createModel) or set CHEXZOO_THREADS.',
  );
}

function envBackend(): string | undefined {
  return envValue('CHEXZOO_BACKEND');
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

function normalize(name: string, origin: string): BackendName {
  const b = ALIASES[name.toLowerCase()];
  if (!b) {
    throw new Error(`Unknown TF.js backend '${name}' (from ${origin}). Use one of: tensorflow (tfjs-node), wasm, cpu, webgl, webgpu.`);
  }
  return b;
}

/**
 * Makes sure a TF.js backend is initialised and returns its name. The first call decides:
 * explicit option, else `CHEXZOO_BACKEND`, else tfjs-node-gpu / tfjs-node when importable (Node only),
 * else wasm (SIMD), else cpu; in browsers a hardware WebGPU adapter, then webgl, then wasm, then cpu. In Node
 * WebGPU is used only when asked for (as PyTorch needs `.cuda()`); a software adapter only with `allowSoftware`.
 * Fast gradient kernels are registered for wasm and cpu.
 * @example await ensureBackend(); // 'wasm'
 * @example await ensureBackend({ backend: 'cpu' });
 * @example await ensureBackend({ backend: 'webgpu' }); // needs: npm install webgpu @tensorflow/tfjs-backend-webgpu
 */
export function ensureBackend(preferred?: BackendName | EnsureBackendOptions): Promise<string> {
  const opts: EnsureBackendOptions = typeof preferred === 'string' ? { backend: preferred } : (preferred ?? {});
  try {
    wantedThreads(opts); // a bad option or CHEXZOO_THREADS is an error, not a reason to skip wasm
  } catch (e) {
    return Promise.reject(e);
  }
  if (opts.backend) {
    let name: BackendName;
    try {
      name = normalize(opts.backend, 'option');
    } catch (e) {
      return Promise.reject(e);
    }
    // An explicit choice is remembered: later plain calls (createModel makes one) keep it.
    const previous = pending;
    const chosen = selectBackend([name], 'option', opts);
    pending = chosen;
    chosen.catch(() => { if (pending === chosen) pending = previous; });
    return chosen;
  }
  if (!pending) {
    const env = envBackend();
    let order: BackendName[];
    try {
      // browsers: a hardware WebGPU adapter, then WebGL (GPU, all gradients), then wasm (needs its .wasm files
      // served; see setWasmPaths)
      order = env ? [normalize(env, 'CHEXZOO_BACKEND')] : isNode() ? ['tensorflow', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
    } catch (e) {
      return Promise.reject(e);
    }
    const chosen = selectBackend(order, env ? 'env' : 'auto', opts);
    pending = chosen;
    chosen.catch(() => { if (pending === chosen) pending = undefined; });
    return chosen;
  }
  if (opts.threads !== undefined) {
    const asked = opts.threads;
    return pending.then((name) => {
      checkRunningThreads(asked);
      return name;
    });
  }
  return pending;
}

/**
 * Report of the backend in use (after {@link ensureBackend}); undefined before.
 * @example await ensureBackend(); console.log(backendInfo());
 */
export function backendInfo(): BackendInfo | undefined {
  return info ? { ...info, fastKernels: [...info.fastKernels], skipped: [...info.skipped] } : undefined;
}

/**
 * Name of the active TF.js backend.
 * @example getBackendName(); // 'wasm'
 */
export function getBackendName(): string {
  return tf.getBackend();
}

async function loadTfjsNode(): Promise<string> {
  if (!isNode()) throw new Error('tfjs-node only runs in Node');
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // A computed specifier keeps bundlers from resolving (and shipping) the native addon.
      const spec = pkg;
      await import(/* webpackIgnore: true */ /* @vite-ignore */ spec);
      if (tf.findBackend('tensorflow')) return pkg;
      errors.push(`${pkg}: imported but registered no 'tensorflow' backend (duplicate @tensorflow/tfjs-core?)`);
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(errors.join('; '));
}

type ProcessEvent = 'uncaughtException' | 'unhandledRejection';
const PROCESS_EVENTS: ProcessEvent[] = ['uncaughtException', 'unhandledRejection'];

type Listener = (...args: unknown[]) => void;
// typed loosely: these two events have distinct listener signatures in @types/node
const emitter = (): { listeners(e: string): Listener[]; removeListener(e: string, l: Listener): void } =>
  process as unknown as { listeners(e: string): Listener[]; removeListener(e: string, l: Listener): void };

function processListeners(): Map<ProcessEvent, Listener[]> | undefined {
  if (!isNode()) return undefined;
  return new Map(PROCESS_EVENTS.map((e) => [e, [...emitter().listeners(e)]]));
}

/**
 * The emscripten glue of tfjs-backend-wasm adds process-wide `uncaughtException` / `unhandledRejection`
 * handlers that rethrow: any later error in the user's program then exits with code 7 and prints the whole
 * minified wasm module as its source line. Those handlers do nothing useful for us; remove them.
 */
function removeNewListeners(before: Map<ProcessEvent, Listener[]>): void {
  for (const e of PROCESS_EVENTS) {
    const old = before.get(e) ?? [];
    for (const l of emitter().listeners(e)) if (!old.includes(l)) emitter().removeListener(e, l);
  }
}

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');
let wasmThreadsSource: BackendInfo['threadsSource'];

/**
 * Loads @tensorflow/tfjs-backend-wasm on first use (importing it registers a 'wasm' backend of the highest
 * priority whose initialisation is asynchronous, and until then every tensor op throws "backend 'wasm' has not
 * yet been initialized"; importing this package must leave TF.js usable). In Node, with more than one thread
 * wanted, the wasm backend is then re-registered on the threaded SIMD binary; if that cannot start, the stock
 * single-threaded backend stays and `skipped` says why.
 */
async function prepareWasm(opts: EnsureBackendOptions, skipped: BackendInfo['skipped']): Promise<WasmPackage> {
  const wasm: WasmPackage = await import('@tensorflow/tfjs-backend-wasm');
  if (wasmThreadsSource) return wasm; // prepared before (wasm may be running already)
  const want = wantedThreads(opts);
  wasmThreadsSource = want.source;
  wasm.setThreadsCount(want.threads); // browsers: tfjs starts its own threads when the page allows them
  if (!isNode() || want.threads === 1) return wasm;
  let started: Awaited<ReturnType<typeof startThreadedWasm>> | undefined;
  try {
    started = await startThreadedWasm(want.threads);
    const backend = new wasm.BackendWasm(started.module as never);
    settleWorkers(started.module);
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => backend, 2);
    // a second JS thread for the fast kernels' transposes, on the shared wasm memory
    const why = startCopyHelper(started.module.wasmMemory);
    if (why) skipped.push({ name: 'wasm-copy-helper', reason: why });
  } catch (e) {
    started?.terminate();
    wasm.setThreadsCount(1);
    skipped.push({ name: 'wasm-threads', reason: `${want.threads} threads could not start, using 1: ${(e as Error).message?.split('\n')[0] ?? String(e)}` });
  }
  return wasm;
}

async function selectBackend(order: BackendName[], source: BackendInfo['source'], opts: EnsureBackendOptions): Promise<string> {
  const fast = opts.fastKernels ?? true;
  const skipped: BackendInfo['skipped'] = [];
  for (const name of order) {
    try {
      let nodePackage: string | undefined;
      if (name === 'tensorflow' && !tf.findBackend('tensorflow')) nodePackage = await loadTfjsNode();
      if (name === 'webgpu') await prepareWebGPU({ allowSoftware: opts.allowSoftware });
      const listenersBefore = name === 'wasm' ? processListeners() : undefined;
      let wasm: WasmPackage | undefined;
      let ok: boolean;
      try {
        if (name === 'wasm') {
          if (opts.threads !== undefined) checkRunningThreads(opts.threads);
          wasm = await prepareWasm(opts, skipped);
        }
        ok = await tf.setBackend(name);
      } finally {
        if (listenersBefore) removeNewListeners(listenersBefore);
      }
      if (!ok) {
        skipped.push({ name, reason: 'initialisation failed' });
        continue;
      }
      await tf.ready();
      const active = tf.getBackend();
      if (active !== name) {
        skipped.push({ name, reason: `TF.js fell back to ${active}` });
        continue;
      }
      const fastKernels = fast && (active === 'wasm' || active === 'cpu') ? registerFastKernels(active) : [];
      info = { name: active, source, fastKernels, skipped };
      if (nodePackage) info.nodePackage = nodePackage;
      if (active === 'webgpu') info.webgpu = webgpuReport();
      if (wasm) {
        info.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
        info.threads = wasm.getThreadsCount();
        info.threadsSource = wasmThreadsSource;
      }
      return active;
    } catch (e) {
      // one backend asked for: its own error, whole (it says what to install)
      if (order.length === 1 && source !== 'auto') throw e;
      skipped.push({ name, reason: (e as Error).message.split('\n')[0] ?? String(e) });
    }
  }
  throw new Error(
    `No TF.js backend could be initialised (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}). ` +
      'Set CHEXZOO_BACKEND to one that works here (wasm or cpu).',
  );
}

/**
 * Frees the WebGPU device and, in Node, the `navigator.gpu` this library created; the next ensureBackend()
 * chooses again. Programs exit without it; call it to give the GPU back early. A no-op when WebGPU is not in use.
 * @example await ensureBackend({ backend: 'webgpu' }); ...; releaseWebGPU();
 */
export function releaseWebGPU(): void {
  if (info?.name === 'webgpu') {
    info = undefined;
    pending = undefined;
  }
  releaseDawn();
}
