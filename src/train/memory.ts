// Memory planning for training steps: estimate a step's peak before running it, pick gradient checkpointing and
// the micro-batch that fit the backend's memory, and turn allocation failures into clear errors instead of the
// wasm runtime's abort. Browser-safe.
import * as tf from '@tensorflow/tfjs';
import { checkpointSegments, graphNodes } from '../zoo/checkpointing.js';
import { gpuMemoryBudget, webgpuReport } from '../backend/webgpu.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** wasm32 addresses at most 4 GiB; tfjs-backend-wasm grows its heap up to that. */
export const WASM_MEMORY_CAP = 4 * GiB;

/**
 * Bytes of tape per byte of layer outputs. A plain TF.js step keeps every op output and every gradient until the
 * backward pass ends (BatchNorm and activations add several op outputs per layer output). Calibrated on wasm heap
 * peaks (docs/memory.md): mobilenet_v3_small 320 px batch 16 (3.7 GiB), resnet18 224 px batch 16 (2.7 GiB).
 */
export const TAPE_FACTOR = 5.5;
/**
 * The same for the one segment a checkpointed step recomputes at a time, which also holds the gradient flowing in,
 * the gradient of its input and the fast kernels' transposed copies (resnet18 320 px batch 16: 2.2 GiB heap).
 */
export const SEGMENT_FACTOR = 9;
/** The plain step is chosen only below this share of the limit (heap growth overshoots and fragments). */
export const PLAIN_HEADROOM = 0.8;
/** Bytes per parameter byte held during a step: weights, gradients, two Adam moments and the update's temporaries. */
export const PARAM_FACTOR = 5;

/** Thrown instead of a runtime abort when a step cannot fit (before any work) or an allocation fails. */
export class MemoryError extends Error {
  override readonly name = 'MemoryError';
  constructor(
    message: string,
    readonly details: { estimateBytes?: number; limitBytes?: number; largestMicroBatch?: number } = {},
  ) {
    super(message);
  }
}

/** How a step runs: micro-batch size and whether activations are recomputed. */
export interface StepPlan {
  batch: number;
  microBatch: number;
  /** Micro-batches per step (gradients accumulated over them). */
  chunks: number;
  checkpointing: boolean;
  /** Estimated peak bytes of one micro-batch step. */
  estimateBytes: number;
  /** The memory limit planned against (Infinity when the backend has none). */
  limitBytes: number;
}

/** Memory options of a training step. */
export interface MemoryOptions {
  /**
   * Images per forward/backward pass; gradients of the micro-batches of a batch are accumulated into one
   * optimizer step. 'auto' (default) uses the whole batch when it fits, else the largest equal split that fits.
   * BatchNorm then normalizes with each micro-batch's statistics, not the batch's.
   */
  microBatch?: number | 'auto';
  /** Recompute activations per block instead of storing them. 'auto' (default): on when the plain step does not fit. */
  checkpointing?: boolean | 'auto';
  /**
   * Bytes a step may use. Default: 4 GiB on wasm (its cap); on webgpu the GPU memory budget (CHEXZOO_GPU_MEMORY,
   * else 4 GiB: WebGPU does not report a device's memory); unlimited on other backends.
   */
  memoryLimit?: number;
  /**
   * Largest single tensor in bytes (a WebGPU storage buffer binding cannot be larger). Default: the device's
   * maxStorageBufferBindingSize on webgpu, unlimited elsewhere.
   */
  maxTensorBytes?: number;
}

/** Default memory limit of the active backend. */
export function backendMemoryLimit(backend: string = tf.getBackend()): number {
  if (backend === 'webgpu') return webgpuReport()?.memoryBudget ?? gpuMemoryBudget().bytes;
  return backend === 'wasm' ? WASM_MEMORY_CAP : Infinity;
}

/** Largest tensor the active backend can hold in one buffer (WebGPU's binding limit), else Infinity. */
export function backendTensorLimit(backend: string = tf.getBackend()): number {
  const limits = backend === 'webgpu' ? webgpuReport()?.limits : undefined;
  return limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : Infinity;
}

/** Bytes of the largest layer output of a step on `batch` images (its gradient has the same size). */
export function largestTensorBytes(model: tf.LayersModel, batch: number): number {
  return 4 * batch * activationProfile(model).largestOutput;
}

/** Per-image float counts of a model's graph, for estimates. */
export interface ActivationProfile {
  /** Every layer output summed (what a plain step's tape scales with). */
  total: number;
  /** Stored boundaries and the largest segment of the checkpointed step. */
  boundaries: number;
  largestSegment: number;
  segments: number;
  /** Input elements per image. */
  input: number;
  params: number;
  /** The largest single layer output. */
  largestOutput: number;
}

const profiles = new WeakMap<tf.LayersModel, ActivationProfile>();

/** Activation sizes of a model (cached per model). */
export function activationProfile(model: tf.LayersModel): ActivationProfile {
  const hit = profiles.get(model);
  if (hit) return hit;
  const elems = (s: (number | null)[]) => s.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  let total = 0;
  let largestOutput = elems(model.inputs[0]!.shape);
  for (const n of graphNodes(model)) for (const o of n.outputs) {
    total += elems(o.shape);
    largestOutput = Math.max(largestOutput, elems(o.shape));
  }
  const segs = checkpointSegments(model);
  const boundaries = segs.slice(0, -1).reduce((a, s) => a + elems(s.output.shape), 0);
  const largestSegment = Math.max(...segs.map((s) => s.elementsPerImage));
  const params = model.weights.reduce((a, w) => a + w.shape.reduce((p: number, q) => p * (q ?? 1), 1), 0);
  const p: ActivationProfile = { total, boundaries, largestSegment, segments: segs.length, input: elems(model.inputs[0]!.shape), params, largestOutput };
  profiles.set(model, p);
  return p;
}

/** Estimated peak bytes of one training step on `batch` images. */
export function estimateStepBytes(model: tf.LayersModel, batch: number, checkpointing: boolean): number {
  const p = activationProfile(model);
  const perImage = checkpointing ? p.boundaries + SEGMENT_FACTOR * p.largestSegment : TAPE_FACTOR * p.total;
  return 4 * (PARAM_FACTOR * p.params + batch * (perImage + p.input)) + 64 * MiB;
}

export const formatBytes = (b: number) => (b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / MiB).toFixed(0)} MiB`);

/** Largest micro-batch (<= batch) whose checkpointed step fits, or 0. */
export function largestFittingMicroBatch(model: tf.LayersModel, batch: number, limit: number): number {
  for (let m = batch; m >= 1; m--) if (estimateStepBytes(model, m, true) <= limit) return m;
  return 0;
}

function describe(model: tf.LayersModel, batch: number): string {
  const shape = model.inputs[0]!.shape;
  return `${model.name} at ${shape[1]}x${shape[2]} px, batch ${batch}`;
}

/**
 * Chooses how a step on `batch` images runs within the memory limit, or throws a {@link MemoryError} naming the
 * architecture, size, batch, estimate and the largest micro-batch that fits, before any work.
 */
export function planStep(model: tf.LayersModel, batch: number, options: MemoryOptions = {}): StepPlan {
  const limit = options.memoryLimit ?? backendMemoryLimit();
  if (!(limit > 0)) throw new Error(`memoryLimit must be a positive number of bytes, got ${String(options.memoryLimit)}.`);
  const want = options.microBatch ?? 'auto';
  if (want !== 'auto' && (!Number.isInteger(want) || want < 1)) throw new Error(`microBatch must be a positive integer or 'auto', got ${String(want)}.`);
  const ck = options.checkpointing ?? 'auto';
  const plan = (microBatch: number, checkpointing: boolean): StepPlan => ({
    batch, microBatch, chunks: Math.ceil(batch / microBatch), checkpointing,
    estimateBytes: estimateStepBytes(model, microBatch, checkpointing), limitBytes: limit,
  });
  const tensorLimit = options.maxTensorBytes ?? backendTensorLimit();
  const fits = (m: number, c: boolean) =>
    estimateStepBytes(model, m, c) <= (c ? limit : PLAIN_HEADROOM * limit) && largestTensorBytes(model, m) <= tensorLimit;
  const cOptions = ck === 'auto' ? [false, true] : [ck];
  if (want !== 'auto') {
    const m = Math.min(want, batch);
    for (const c of cOptions) if (fits(m, c)) return plan(m, c);
    const largest = largestFittingMicroBatch(model, batch, limit);
    const est = estimateStepBytes(model, m, cOptions.at(-1)!);
    throw new MemoryError(
      `${describe(model, batch)} with micro-batch ${m} needs about ${formatBytes(est)} but the limit is ${formatBytes(limit)}` +
        (largest > 0 ? `; use micro-batch ${largest} or smaller (--micro-batch ${largest}).` : '; even one image does not fit: lower the image size.'),
      { estimateBytes: est, limitBytes: limit, largestMicroBatch: largest },
    );
  }
  for (const c of cOptions) if (fits(batch, c)) return plan(batch, c);
  const c = cOptions.at(-1)!;
  // fewest chunks of equal size that fit
  for (let chunks = 2; chunks <= batch; chunks++) {
    const m = Math.ceil(batch / chunks);
    if (fits(m, c)) return plan(m, c);
  }
  const est = estimateStepBytes(model, 1, c);
  throw new MemoryError(
    `${describe(model, batch)} cannot train within ${formatBytes(limit)}: even a micro-batch of 1 image needs about ${formatBytes(est)}` +
      ` (the whole batch ${formatBytes(estimateStepBytes(model, batch, c))}). Lower the image size or use a backend without the limit (tfjs-node).`,
    { estimateBytes: est, limitBytes: limit, largestMicroBatch: 0 },
  );
}

/** Largest batch inference can run in one call within the limit (forward only; intermediates are freed as it goes). */
export function inferenceBatchLimit(model: tf.LayersModel, limit: number = backendMemoryLimit()): number {
  if (!Number.isFinite(limit)) return Infinity;
  let p: ActivationProfile, nodes: ReturnType<typeof graphNodes>;
  try {
    p = activationProfile(model);
    nodes = graphNodes(model);
  } catch {
    return 32; // not a single-input functional graph: TF.js' default batch
  }
  let widest = 0;
  for (const n of nodes) widest = Math.max(widest, n.outputs.reduce((a, o) => a + o.shape.slice(1).reduce((x: number, y) => x * (y ?? 1), 1), 0));
  // input + a few live layer outputs (a block's input, branches, its output) per image
  const perImage = 4 * (p.input + 4 * widest);
  const byMemory = Math.floor((limit * 0.5 - 4 * p.params - 64 * MiB) / perImage);
  return Math.max(1, Math.min(byMemory, Math.floor(backendTensorLimit() / (4 * p.largestOutput))));
}

/** True for the messages the wasm runtime produces when it runs out of memory. */
export function isOutOfMemory(e: unknown): boolean {
  if (e instanceof MemoryError) return true;
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return /out of memory|memory access out of bounds|Aborted\(|Cannot enlarge memory|Array buffer allocation failed|allocation failed|Invalid typed array length|RangeError: .*(buffer|memory)/i.test(msg);
}

const guarded = new WeakSet<object>();

/**
 * Makes a failed wasm allocation throw a {@link MemoryError} (tfjs-backend-wasm otherwise takes the 0 that
 * malloc returns as an address and corrupts or aborts later). Idempotent; a no-op on other backends.
 */
export function guardWasmAllocations(): void {
  if (tf.getBackend() !== 'wasm') return;
  const wasm = (tf.backend() as unknown as { wasm?: { _malloc: (n: number) => number; HEAPU8: Uint8Array } }).wasm;
  if (!wasm || guarded.has(wasm)) return;
  guarded.add(wasm);
  const malloc = wasm._malloc.bind(wasm);
  wasm._malloc = (n: number) => {
    // sizes of 4 GiB and more would wrap around in wasm32's size_t
    const ptr = n >= WASM_MEMORY_CAP ? 0 : malloc(n);
    if (ptr === 0 && n > 0) {
      throw new MemoryError(`The wasm backend could not allocate ${formatBytes(n)} (heap ${formatBytes(wasm.HEAPU8.length)} of at most ${formatBytes(WASM_MEMORY_CAP)}).`);
    }
    return ptr;
  };
}

/** Current wasm heap size in bytes (it never shrinks: the peak), or undefined on other backends. */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length;
}

/** The memory options out of a larger options object. */
export function pickMemoryOptions(o: MemoryOptions): MemoryOptions {
  const out: MemoryOptions = {};
  if (o.microBatch !== undefined) out.microBatch = o.microBatch;
  if (o.checkpointing !== undefined) out.checkpointing = o.checkpointing;
  if (o.memoryLimit !== undefined) out.memoryLimit = o.memoryLimit;
  return out;
}
