import * as tf from '@tensorflow/tfjs';

// What every fast kernel shares: the kernel-call scope that frees intermediates, the one try/abort wrapper
// (`scoped`), delegation to the stock kernels we replaced, and convolution geometry.

export type Info = tf.TensorInfo;
export type Pad = 'valid' | 'same' | number | number[][];
export type KernelArgs = {
  inputs: Record<string, Info>;
  attrs?: Record<string, unknown>;
  backend: tf.KernelBackend;
};
/** A fast kernel: the kernel's arguments and the name of the backend it is registered for. */
export type Impl = (args: KernelArgs, backendName: string) => Info | Info[];

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Calls kernels of one backend directly and frees every intermediate it made. Use through {@link scoped}. */
export class KernelScope {
  private readonly temps: Info[] = [];
  constructor(
    readonly backend: tf.KernelBackend,
    readonly backendName: string,
  ) {}

  run(kernelName: string, inputs: Record<string, Info> | Info[], attrs: Record<string, unknown> = {}): Info {
    const kernel = tf.getKernel(kernelName, this.backendName);
    if (!kernel) throw new Error(`Kernel ${kernelName} is not registered for the ${this.backendName} backend.`);
    const out = kernel.kernelFunc({
      inputs: inputs as unknown as tf.NamedTensorInfoMap,
      attrs: attrs as tf.NamedAttrMap,
      backend: this.backend,
    }) as Info | Info[];
    const info = Array.isArray(out) ? out[0]! : out;
    this.temps.push(info);
    return info;
  }

  /** Frees all intermediates except `keep`, which becomes the kernel's output(s). */
  finish<T extends Info | Info[]>(keep: T): T {
    const kept = new Set<Info>(Array.isArray(keep) ? keep : [keep]);
    for (const t of this.temps) if (!kept.has(t)) this.backend.disposeData(t.dataId);
    return keep;
  }

  /** Frees intermediates early (kernels that work in chunks). */
  free(...ts: Info[]): void {
    for (const t of ts) {
      const i = this.temps.indexOf(t);
      if (i < 0) continue;
      this.temps.splice(i, 1);
      this.backend.disposeData(t.dataId);
    }
  }

  /** Frees all intermediates (error path). */
  abort(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
  }

  /** A new float32 output; its memory is uninitialised on wasm. */
  alloc(shape: number[]): Info {
    const be = this.backend as unknown as {
      makeOutput?: (shape: number[], dtype: string) => Info;
      makeTensorInfo: (shape: number[], dtype: string, values: Float32Array) => Info;
    };
    const out = be.makeOutput ? be.makeOutput(shape, 'float32')
      : be.makeTensorInfo(shape, 'float32', new Float32Array(sizeOf(shape)));
    this.temps.push(out);
    return out;
  }

  /** Live view of a float32 tensor's memory (wasm heap or cpu array). Re-take after any allocation. */
  view(t: Info): Float32Array {
    const be = this.backend as unknown as {
      typedArrayFromHeap?: (t: Info) => Float32Array;
      data?: { get: (id: unknown) => { values: Float32Array } };
    };
    if (be.typedArrayFromHeap) return be.typedArrayFromHeap(t);
    if (be.data) return be.data.get(t.dataId).values;
    throw new Error(`Backend ${this.backendName} exposes no tensor memory to the fast kernels.`);
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }
  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }
  /** Pads (positive) or crops (negative) the two spatial axes of an NHWC tensor. */
  padCrop(x: Info, top: number, bottom: number, left: number, right: number): Info {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    let y = x;
    const ct = Math.max(0, -top), cb = Math.max(0, -bottom), cl = Math.max(0, -left), cr = Math.max(0, -right);
    if (ct || cb || cl || cr) {
      y = this.run('Slice', { x: y }, { begin: [0, ct, cl, 0], size: [n, h - ct - cb, w - cl - cr, c] });
    }
    const pt = Math.max(0, top), pb = Math.max(0, bottom), pl = Math.max(0, left), pr = Math.max(0, right);
    if (pt || pb || pl || pr) {
      y = this.run('PadV2', { x: y }, { paddings: [[0, 0], [pt, pb], [pl, pr], [0, 0]], constantValue: 0 });
    }
    return y;
  }
  /** Inserts stride-1 zeros after every row / column (the transpose of a strided read). */
  dilate(x: Info, sh: number, sw: number): Info {
    if (sh === 1 && sw === 1) return x;
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const x6 = this.reshape(x, [n, h, 1, w, 1, c]);
    const p = this.run('PadV2', { x: x6 }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
      constantValue: 0,
    });
    return this.reshape(p, [n, h * sh, w * sw, c]);
  }
}

/**
 * Runs a fast kernel's body in a {@link KernelScope}: on success every intermediate except the returned
 * output(s) is freed, on error all of them are, and the error is rethrown. The one try/abort of all kernels.
 */
export function scoped<T extends Info | Info[]>(args: KernelArgs, backendName: string, body: (s: KernelScope) => T): T {
  const s = new KernelScope(args.backend, backendName);
  try {
    return s.finish(body(s));
  } catch (e) {
    s.abort();
    throw e;
  }
}

/** Stock kernels replaced by ours (filled by registration), for delegation. */
export const stock = new Map<string, tf.KernelFunc>();

/** Runs the stock kernel that `kernelName` replaced on `backendName` (inputs the fast path does not handle). */
export function callStock(kernelName: string, backendName: string, args: KernelArgs): Info {
  const f = stock.get(`${kernelName}@${backendName}`);
  if (!f) throw new Error(`No stock ${kernelName} kernel for ${backendName}.`);
  return f(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
}

export function geometry(xShape: number[], filterShape: number[], strides: number | [number, number], pad: Pad,
  dimRoundingMode: unknown, depthwise: boolean, dilations: number | [number, number] = 1) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad as 'valid',
    dimRoundingMode as 'floor' | undefined,
    depthwise,
  );
}

export function assertNHWC(dataFormat: unknown, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel}: only NHWC (channelsLast) data is supported by the fast kernels, got ${String(dataFormat)}.`);
  }
}

export function isUnitDilation(d: unknown): boolean {
  if (d === undefined || d === null) return true;
  if (typeof d === 'number') return d === 1;
  return (d as number[]).every((v) => v === 1);
}
