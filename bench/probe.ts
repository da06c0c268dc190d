// Local probe models and a per-kernel wall-clock profiler for the wasm backend (synchronous kernels).
import * as tf from '@tensorflow/tfjs';

/** ResNet-18 shaped like the zoo builds it: explicit ZeroPadding2D + 'valid' for strided / padded convs. */
export function resnet18Probe(size: number, numClasses = 5): tf.LayersModel {
  const L = tf.layers;
  const inp = tf.input({ shape: [size, size, 3] });
  const cbr = (x: tf.SymbolicTensor, f: number, k: number, s: number, relu = true): tf.SymbolicTensor => {
    const p = (k - 1) >> 1;
    let y = p ? (L.zeroPadding2d({ padding: p }).apply(x) as tf.SymbolicTensor) : x;
    y = L.conv2d({ filters: f, kernelSize: k, strides: s, padding: 'valid', useBias: false }).apply(y) as tf.SymbolicTensor;
    y = L.batchNormalization({ epsilon: 1e-5 }).apply(y) as tf.SymbolicTensor;
    return relu ? (L.reLU().apply(y) as tf.SymbolicTensor) : y;
  };
  let x = cbr(inp, 64, 7, 2);
  x = L.zeroPadding2d({ padding: 1 }).apply(x) as tf.SymbolicTensor;
  x = L.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as tf.SymbolicTensor;
  let ch = 64;
  for (const [f, s0] of [[64, 1], [128, 2], [256, 2], [512, 2]] as const) {
    for (let b = 0; b < 2; b++) {
      const s = b === 0 ? s0 : 1;
      let y = cbr(x, f, 3, s);
      y = cbr(y, f, 3, 1, false);
      const sc = s !== 1 || ch !== f ? cbr(x, f, 1, s, false) : x;
      x = L.reLU().apply(L.add().apply([y, sc]) as tf.SymbolicTensor) as tf.SymbolicTensor;
      ch = f;
    }
  }
  x = L.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = L.dense({ units: numClasses }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: out });
}

/** CPU time of this process in ms: robust to other processes competing for the cores. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wraps every kernel of a backend to accumulate self time per kernel name. */
export function profileKernels(backendName: string) {
  const totals = new Map<string, { ms: number; calls: number }>();
  let depth = 0;
  const child: number[] = [];
  const names: string[] = [];
  for (const k of tf.getKernelsForBackend(backendName)) {
    const orig = k.kernelFunc;
    (k as { kernelFunc: tf.KernelFunc }).kernelFunc = ((args: unknown) => {
      depth++;
      child.push(0);
      const key = names.length ? `${names[names.length - 1]}>${k.kernelName}` : k.kernelName;
      names.push(k.kernelName);
      const t0 = cpuMs();
      try {
        return (orig as (a: unknown) => unknown)(args);
      } finally {
        const dt = cpuMs() - t0;
        const inner = child.pop()!;
        depth--;
        names.pop();
        if (child.length) child[child.length - 1]! += dt;
        const e = totals.get(key) ?? { ms: 0, calls: 0 };
        e.ms += dt - inner;
        e.calls++;
        totals.set(key, e);
      }
    }) as tf.KernelFunc;
  }
  return {
    reset: () => totals.clear(),
    report: (top = 15) =>
      [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)
        .map(([n, e]) => `${n.padEnd(36)} ${e.ms.toFixed(1).padStart(8)} ms  ${e.calls}`).join('\n'),
  };
}
