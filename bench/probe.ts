// Process CPU time and a per-kernel wall-clock profiler for the wasm backend (synchronous kernels).
import * as tf from '@tensorflow/tfjs';

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
