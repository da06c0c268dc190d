// The WebGPU backend: @tensorflow/tfjs-backend-webgpu on `navigator.gpu`; in Node through Dawn (the `webgpu`
// package), in browsers through the browser's own WebGPU.
//
// Both packages are optional peer dependencies: `webgpu` weighs 132 MB installed (every platform's Dawn), so it
// is loaded here only when WebGPU is asked for, through computed specifiers (bundlers leave them alone; an absent
// package is a clear error, never a broken import). In a browser bundle, import '@tensorflow/tfjs-backend-webgpu'
// once in the app: its own registration is used then.
//
// We pick the adapter ourselves (rather than the package's factory, which takes whatever requestAdapter returns)
// so that a software adapter (SwiftShader, WARP, llvmpipe: CPU-bound, slower than wasm) is never used unless
// asked for (`allowSoftware`, CHEXZOO_WEBGPU_SOFTWARE=1), and so that backendInfo() can name the adapter and the
// limits in force. Browser-safe: no Node import; `process` is read through globalThis.

import * as tf from '@tensorflow/tfjs';

/** The adapter in use and the limits the device was created with. */
export interface WebGPUAdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (SwiftShader, WARP, llvmpipe/lavapipe): not a GPU. */
  software: boolean;
  /** The device limits in force (bytes for the sizes). */
  limits: Record<(typeof LIMITS)[number], number>;
  /** Bytes a training step may use on this device (CHEXZOO_GPU_MEMORY, else the default budget). */
  memoryBudget: number;
  /** Where memoryBudget came from: 'env' (CHEXZOO_GPU_MEMORY) or 'default'. */
  memoryBudgetSource: 'env' | 'default';
}

/** Device limits requested at their adapter maximum (as the package's own factory does) and reported. */
const LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup',
] as const;

/**
 * The default GPU memory budget of a training step. WebGPU does not tell how much memory a device has; 4 GiB is
 * what nearly every discrete GPU of the last years holds. Set CHEXZOO_GPU_MEMORY (e.g. 10GiB) to use more.
 */
export const DEFAULT_GPU_MEMORY = 4 * 1024 ** 3;

/** The one line that installs the optional packages (kept in one place: errors, docs and tests quote it). */
export const WEBGPU_INSTALL = 'npm install webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0';

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|warp|basic render|software/i;

type GPUAdapterLike = {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
  features: Set<string>;
  requestDevice(d?: unknown): Promise<{ destroy(): void; lost?: Promise<unknown> }>;
};
type GPULike = { requestAdapter(o?: Record<string, unknown>): Promise<GPUAdapterLike | null> };
type WebGPUModule = { WebGPUBackend?: new (device: unknown, info?: unknown) => tf.KernelBackend };
type Env = Record<string, string | undefined>;

let report: WebGPUAdapterReport | undefined;
/** Set when this module put `gpu` on navigator (Node): removed again by {@link releaseWebGPU}. */
let installedGpu: { owner: Record<string, unknown>; createdNavigator: boolean } | undefined;

function env(): Env {
  return (globalThis as { process?: { env?: Env } }).process?.env ?? {};
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

/** Whether a software adapter may be used: the option, else CHEXZOO_WEBGPU_SOFTWARE=1. */
export function softwareAllowed(option?: boolean): boolean {
  if (option !== undefined) return option;
  const v = env().CHEXZOO_WEBGPU_SOFTWARE?.trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

/** Parses CHEXZOO_GPU_MEMORY: bytes, or a number with KiB/MiB/GiB (also KB/MB/GB, read as powers of 1024). */
export function gpuMemoryBudget(): { bytes: number; source: 'env' | 'default' } {
  const raw = env().CHEXZOO_GPU_MEMORY?.trim();
  if (!raw) return { bytes: DEFAULT_GPU_MEMORY, source: 'default' };
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g|t)?i?b?$/i.exec(raw);
  const scale: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const bytes = m ? Number(m[1]) * (m[2] ? scale[m[2].toLowerCase()]! : 1) : NaN;
  if (!(bytes > 0)) throw new Error(`Bad CHEXZOO_GPU_MEMORY "${raw}": give bytes or a size like 8GiB or 512MiB.`);
  return { bytes: Math.floor(bytes), source: 'env' };
}

const NO_ADAPTER =
  'No WebGPU adapter was found. Linux: install a Vulkan driver (Mesa\'s mesa-vulkan-drivers for AMD and Intel, ' +
  'NVIDIA\'s proprietary driver for NVIDIA; check with `vulkaninfo --summary`); macOS (Metal) and Windows (D3D12) have ' +
  'it built in; browsers: a recent Chrome or Edge (Firefox and Safari behind their WebGPU settings). ' +
  'Check what this machine offers with `chexzoo backend`.';

/** `navigator.gpu`, creating it through Dawn in Node when needed. */
async function gpuObject(): Promise<GPULike> {
  const nav = (globalThis as { navigator?: { gpu?: GPULike } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!isNode()) throw new Error(`This browser has no WebGPU (navigator.gpu is missing). ${NO_ADAPTER}`);
  let dawn: { create(o: string[]): GPULike; globals: Record<string, unknown> };
  try {
    const spec = 'webgpu'; // computed: bundlers must not pull in the 132 MB native package
    dawn = (await import(/* webpackIgnore: true */ /* @vite-ignore */ spec)) as typeof dawn;
  } catch (e) {
    throw new Error(`WebGPU in Node needs the optional package 'webgpu' (Dawn): ${WEBGPU_INSTALL}  (${(e as Error).message.split('\n')[0]})`);
  }
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage and friends, which tfjs-backend-webgpu reads as globals
  const gpu = dawn.create([]);
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const createdNavigator = g.navigator === undefined;
  if (createdNavigator) g.navigator = {};
  Object.defineProperty(g.navigator!, 'gpu', { value: gpu, configurable: true, writable: true });
  installedGpu = { owner: g.navigator!, createdNavigator };
  return gpu;
}

function describeAdapter(a: GPUAdapterLike): Omit<WebGPUAdapterReport, 'limits' | 'memoryBudget' | 'memoryBudgetSource'> {
  const info = (a.info ?? {}) as Record<string, unknown>;
  const s = (k: string) => (typeof info[k] === 'string' ? (info[k] as string) : '');
  const fallback = info.isFallbackAdapter === true || a.isFallbackAdapter === true;
  const software = fallback || SOFTWARE.test(`${s('architecture')} ${s('description')} ${s('device')}`);
  return { vendor: s('vendor'), architecture: s('architecture'), device: s('device'), description: s('description'), software };
}

/** A short human name of an adapter: "SwiftShader driver 5.0.0 (google swiftshader, software)". */
export function adapterLabel(r: Pick<WebGPUAdapterReport, 'vendor' | 'architecture' | 'description' | 'software'>): string {
  const what = [r.vendor, r.architecture].filter(Boolean).join(' ');
  const head = r.description || what || 'unnamed adapter';
  const tail = [r.description && what ? what : '', r.software ? 'software' : ''].filter(Boolean).join(', ');
  return tail ? `${head} (${tail})` : head;
}

/** Picks the adapter: the high-performance one; a software adapter only when allowed (else a clear error). */
async function pickAdapter(gpu: GPULike, allowSoftware: boolean): Promise<GPUAdapterLike> {
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter && allowSoftware) adapter = await gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) throw new Error(NO_ADAPTER);
  const d = describeAdapter(adapter);
  if (d.software && !allowSoftware) throw softwareRefused(d);
  return adapter;
}

function softwareRefused(d: Parameters<typeof adapterLabel>[0]): Error {
  const how = isNode()
    ? 'Install a GPU driver (see `chexzoo backend`), or, to use it anyway (tests), pass { allowSoftware: true } or set CHEXZOO_WEBGPU_SOFTWARE=1.'
    : 'This browser has no hardware WebGPU here; to use the software adapter anyway (tests), pass { allowSoftware: true }.';
  return new Error(`The only WebGPU adapter here is a software one (${adapterLabel(d)}): it runs on the CPU and is slower than the wasm backend. ${how}`);
}

/** The WebGPUBackend class, importing the package on first use. Undefined when only its registration is reachable. */
async function backendModule(): Promise<WebGPUModule | undefined> {
  try {
    const spec = '@tensorflow/tfjs-backend-webgpu'; // computed: an optional peer dependency
    return (await import(/* webpackIgnore: true */ /* @vite-ignore */ spec)) as WebGPUModule;
  } catch (e) {
    if (tf.findBackendFactory('webgpu')) return undefined; // a browser app imported it itself
    const how = isNode() ? WEBGPU_INSTALL : "npm install @tensorflow/tfjs-backend-webgpu@4.22.0, then import '@tensorflow/tfjs-backend-webgpu' once in your app";
    throw new Error(`The WebGPU backend needs @tensorflow/tfjs-backend-webgpu: ${how}  (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The device on `adapter` with the limits raised to the adapter's maxima (as the package's factory requests). */
async function openDevice(adapter: GPUAdapterLike): Promise<{ device: Awaited<ReturnType<GPUAdapterLike['requestDevice']>>; limits: WebGPUAdapterReport['limits'] }> {
  const limits = Object.fromEntries(LIMITS.map((k) => [k, adapter.limits[k]!])) as WebGPUAdapterReport['limits'];
  const requiredFeatures = ['timestamp-query', 'bgra8unorm-storage'].filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits: limits });
  return { device, limits };
}

/**
 * Makes 'webgpu' a TF.js backend on a chosen adapter (hardware unless software is allowed) and records what was
 * chosen for backendInfo(). Throws a clear error when a package or an adapter is missing. Idempotent.
 */
export async function prepareWebGPU(options: { allowSoftware?: boolean } = {}): Promise<WebGPUAdapterReport> {
  if (report && tf.findBackendFactory('webgpu')) {
    if (report.software && !softwareAllowed(options.allowSoftware)) throw softwareRefused(report);
    return report;
  }
  const budget = gpuMemoryBudget();
  const gpu = await gpuObject(); // before the package import: it registers only when navigator.gpu exists
  const adapter = await pickAdapter(gpu, softwareAllowed(options.allowSoftware));
  const mod = await backendModule();
  const { device, limits } = await openDevice(adapter);
  const described = describeAdapter(adapter);
  if (mod?.WebGPUBackend) {
    const Backend = mod.WebGPUBackend;
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => new Backend(device, adapter.info), 3);
  } else {
    device.destroy(); // the app's own registration opens its own device on the same (high-performance) adapter
  }
  report = { ...described, limits, memoryBudget: budget.bytes, memoryBudgetSource: budget.source };
  return report;
}

/** The adapter report once WebGPU was prepared (undefined before). */
export function webgpuReport(): WebGPUAdapterReport | undefined {
  return report ? { ...report, limits: { ...report.limits } } : undefined;
}

/**
 * Looks for a WebGPU adapter without starting the backend: for `chexzoo backend`. Never throws; `error` says
 * why there is none.
 */
export async function probeWebGPU(): Promise<{ adapter?: Omit<WebGPUAdapterReport, 'memoryBudget' | 'memoryBudgetSource'>; error?: string }> {
  try {
    const gpu = await gpuObject();
    const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) ?? (await gpu.requestAdapter({ forceFallbackAdapter: true }));
    if (!adapter) return { error: NO_ADAPTER };
    const limits = Object.fromEntries(LIMITS.map((k) => [k, adapter.limits[k]!])) as WebGPUAdapterReport['limits'];
    return { adapter: { ...describeAdapter(adapter), limits } };
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    if (!report) releaseWebGPU();
  }
}

/**
 * Drops what this module created in Node (the webgpu backend, navigator.gpu): Dawn then lets the process exit.
 * Programs exit by themselves without it (checked in test/webgpu.test.ts); call it to free the device early.
 * @example await train(...); releaseWebGPU();
 */
export function releaseWebGPU(): void {
  // removing the backend disposes it (its buffers) and leaves no active backend when it was the active one
  if (report && tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  report = undefined;
  if (!installedGpu) return;
  const { owner, createdNavigator } = installedGpu;
  delete owner.gpu;
  if (createdNavigator) delete (globalThis as { navigator?: unknown }).navigator;
  installedGpu = undefined;
}
