import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerFastKernels } from './kernels.js';

export { registerFastKernels } from './kernels.js';

/** TF.js backend names; 'tensorflow' is libtensorflow through @tensorflow/tfjs-node(-gpu). */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl';

/** Options of {@link ensureBackend}. */
export interface EnsureBackendOptions {
  /** Force one backend (wins over `CHEXZOO_BACKEND`). Aliases: 'node', 'tfjs-node' = 'tensorflow'. */
  backend?: BackendName | 'node' | 'tfjs-node';
  /** Register the fast gradient kernels on wasm / cpu (default true). */
  fastKernels?: boolean;
}

/** What {@link ensureBackend} chose and why. */
export interface BackendInfo {
  name: string;
  /** 'option', 'env' (CHEXZOO_BACKEND) or 'auto'. */
  source: 'option' | 'env' | 'auto';
  /** For wasm: whether the SIMD binary is in use. */
  simd?: boolean;
  /** For wasm: whether the multi-threaded binary is in use (not available in Node). */
  threads?: boolean;
  /** For 'tensorflow': the package that provided it. */
  nodePackage?: string;
  /** Kernels replaced by {@link registerFastKernels}. */
  fastKernels: string[];
  /** Backends tried before the chosen one, with the reason they were skipped. */
  skipped: { name: string; reason: string }[];
}

let pending: Promise<string> | undefined;
let info: BackendInfo | undefined;

const ALIASES: Record<string, BackendName> = {
  tensorflow: 'tensorflow', node: 'tensorflow', 'tfjs-node': 'tensorflow', 'tfjs-node-gpu': 'tensorflow',
  wasm: 'wasm', cpu: 'cpu', webgl: 'webgl',
};

function envBackend(): string | undefined {
  // Read through globalThis so browser bundles need no `process` polyfill.
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = proc?.env?.CHEXZOO_BACKEND;
  return v && v.trim() ? v.trim() : undefined;
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

function normalize(name: string, origin: string): BackendName {
  const b = ALIASES[name.toLowerCase()];
  if (!b) {
    throw new Error(`Unknown TF.js backend '${name}' (from ${origin}). Use one of: tensorflow (tfjs-node), wasm, cpu, webgl.`);
  }
  return b;
}

/**
 * Makes sure a TF.js backend is initialised and returns its name. The first call decides:
 * explicit option, else `CHEXZOO_BACKEND`, else tfjs-node-gpu / tfjs-node when importable (Node only),
 * else wasm (SIMD), else cpu; in browsers webgl, then wasm, then cpu. Fast gradient kernels are registered
 * for wasm and cpu.
 * @example await ensureBackend(); // 'wasm'
 * @example await ensureBackend({ backend: 'cpu' });
 */
export function ensureBackend(preferred?: BackendName | EnsureBackendOptions): Promise<string> {
  const opts: EnsureBackendOptions = typeof preferred === 'string' ? { backend: preferred } : (preferred ?? {});
  if (opts.backend) {
    let name: BackendName;
    try {
      name = normalize(opts.backend, 'option');
    } catch (e) {
      return Promise.reject(e);
    }
    return selectBackend([name], 'option', opts.fastKernels ?? true);
  }
  if (!pending) {
    const env = envBackend();
    let order: BackendName[];
    try {
      // browsers: WebGL first (GPU, all gradients), then wasm (needs its .wasm files served; see setWasmPaths)
      order = env ? [normalize(env, 'CHEXZOO_BACKEND')] : isNode() ? ['tensorflow', 'wasm', 'cpu'] : ['webgl', 'wasm', 'cpu'];
    } catch (e) {
      return Promise.reject(e);
    }
    pending = selectBackend(order, env ? 'env' : 'auto', opts.fastKernels ?? true);
    pending.catch(() => { pending = undefined; });
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

async function selectBackend(order: BackendName[], source: BackendInfo['source'], fast: boolean): Promise<string> {
  const skipped: BackendInfo['skipped'] = [];
  for (const name of order) {
    try {
      let nodePackage: string | undefined;
      if (name === 'tensorflow' && !tf.findBackend('tensorflow')) nodePackage = await loadTfjsNode();
      const listenersBefore = name === 'wasm' ? processListeners() : undefined;
      const ok = await tf.setBackend(name);
      if (listenersBefore) removeNewListeners(listenersBefore);
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
      if (active === 'wasm') {
        info.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
        info.threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
      }
      return active;
    } catch (e) {
      skipped.push({ name, reason: (e as Error).message.split('\n')[0] ?? String(e) });
    }
  }
  throw new Error(
    `No TF.js backend could be initialised (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}). ` +
      'Set CHEXZOO_BACKEND to one that works here (wasm or cpu).',
  );
}
