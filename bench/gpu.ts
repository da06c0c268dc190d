// `npm run bench -- --backend webgpu`: inference and training-step times per architecture on WebGPU beside wasm's,
// in one process, with the adapter's name; anyone with a GPU measures it in one command.
//
// Per architecture and backend: inference (224 px, batch 1, optimizeForInference; each timed run ends with an
// async read of the output, so the GPU work is inside the time) and one Adam step of our trainStep (the step
// `train()` runs: sigmoid cross-entropy, 5 classes, 128 px, batch 8). Medians of --runs after --warmup. Figures
// from a software adapter (SwiftShader, WARP, llvmpipe: isFallbackAdapter or a known CPU driver) are labelled so
// and are never GPU results. Sizes: --infer-size, --train-size, --train-batch (small values for a smoke run).
// Usage: npm run bench -- --backend webgpu [--archs resnet18,densenet121] [--runs 5] [--warmup 2] [--out DIR]
//        [--no-wasm] [--force]   (CHEXZOO_WEBGPU_SOFTWARE=1 to allow a software adapter)
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { backendInfo, ensureBackend, type BackendInfo } from '../src/backend/index.js';
import { adapterLabel } from '../src/backend/webgpu.js';
import { createModel } from '../src/zoo/registry.js';
import { optimizeForInference } from '../src/inference.js';
import { createAdam, trainStep } from '../src/train/step.js';

const DEFAULT_ARCHS = ['resnet18', 'densenet121', 'mobilenet_v2', 'efficientnet_b0'];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (v: number | undefined, d = 0) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : '—');

interface Row { arch: string; backend: string; inferMs?: number; trainMs?: number; error?: string }

async function timeMedian(fn: () => Promise<void>, warmup: number, runs: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

/** Inference and one training step of `arch` on the active backend. */
async function benchOne(arch: string, cfg: { inferSize: number; trainSize: number; trainBatch: number; warmup: number; runs: number }): Promise<Omit<Row, 'backend'>> {
  const row: Omit<Row, 'backend'> = { arch };
  try {
    const m = await createModel(arch, { numClasses: 5, inputShape: [cfg.inferSize, cfg.inferSize, 3] });
    const fast = optimizeForInference(m);
    const x = tf.randomNormal([1, cfg.inferSize, cfg.inferSize, 3]);
    row.inferMs = await timeMedian(async () => {
      const y = fast.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
    }, cfg.warmup, cfg.runs);
    tf.dispose([x]);
    fast.dispose();
    m.dispose();
    const t = await createModel(arch, { numClasses: 5, inputShape: [cfg.trainSize, cfg.trainSize, 3] });
    const xt = tf.randomNormal([cfg.trainBatch, cfg.trainSize, cfg.trainSize, 3]);
    const yt = tf.cast(tf.greater(tf.randomUniform([cfg.trainBatch, 5]), 0.5), 'float32');
    const opt = createAdam(1e-3);
    let step = 0;
    row.trainMs = await timeMedian(async () => void (await trainStep(t, opt, { x: xt, y: yt }, { seed: 0, step: step++ })), cfg.warmup, cfg.runs);
    tf.dispose([xt, yt]);
    opt.dispose();
    t.dispose();
  } catch (e) {
    row.error = (e as Error).message.split('\n')[0];
  }
  return row;
}

function describeBackend(info: BackendInfo): string {
  if (info.name === 'webgpu' && info.webgpu) {
    return `webgpu on ${adapterLabel(info.webgpu)}${info.webgpu.software ? ' — SOFTWARE ADAPTER: CPU speed, not a GPU result' : ''}`;
  }
  return `${info.name}${info.threads ? ` (${info.threads} thread(s))` : ''}`;
}

/** The WebGPU benchmark (bench/run.ts calls it for --backend webgpu). */
export async function gpuBench(): Promise<void> {
  const archs = arg('archs', DEFAULT_ARCHS.join(',')).split(',').filter(Boolean);
  const cfg = {
    inferSize: Number(arg('infer-size', '224')), trainSize: Number(arg('train-size', '128')), trainBatch: Number(arg('train-batch', '8')),
    warmup: Number(arg('warmup', '2')), runs: Number(arg('runs', '5')),
  };
  const loadBefore = loadavg();
  const backends = flag('no-wasm') ? ['webgpu'] : ['webgpu', 'wasm'];
  const rows: Row[] = [];
  const described: Record<string, string> = {};
  for (const b of backends) {
    await ensureBackend({ backend: b as 'webgpu' | 'wasm' });
    const info = backendInfo()!;
    described[b] = describeBackend(info);
    console.error(`backend: ${described[b]}`);
    for (const arch of archs) {
      console.error(`  ${arch} ...`);
      rows.push({ backend: b, ...(await benchOne(arch, cfg)) });
    }
  }
  const loadAfter = loadavg();
  const busy = Math.max(loadBefore[0]!, loadAfter[0]!) > 0.5 * availableParallelism() + 1;
  const cell = (arch: string, b: string, k: 'inferMs' | 'trainMs') => fmt(rows.find((r) => r.arch === arch && r.backend === b)?.[k]);
  const md = [
    `# WebGPU benchmark ${new Date().toISOString()}`,
    '',
    ...backends.map((b) => `- ${b}: ${described[b]}`),
    ...(busy ? ['', `**Measured on a loaded machine (load average ${loadBefore[0]!.toFixed(2)} / ${loadAfter[0]!.toFixed(2)}): not a result.**`] : []),
    '',
    `Inference: ${cfg.inferSize} px, batch 1, optimizeForInference. Training: one Adam step (trainStep), ${cfg.trainSize} px, batch ${cfg.trainBatch}, 5 classes. Median of ${cfg.runs} after ${cfg.warmup} warm-up, ms.`,
    '',
    `| arch | ${backends.map((b) => `infer ${b} ms`).join(' | ')} | ${backends.map((b) => `train step ${b} ms`).join(' | ')} | error |`,
    `|---|${backends.map(() => '---:').join('|')}|${backends.map(() => '---:').join('|')}|---|`,
    ...archs.map((a) => `| ${a} | ${backends.map((b) => cell(a, b, 'inferMs')).join(' | ')} | ${backends.map((b) => cell(a, b, 'trainMs')).join(' | ')} | ${rows.filter((r) => r.arch === a && r.error).map((r) => `${r.backend}: ${r.error}`).join('; ')} |`),
    '',
  ].join('\n');
  console.log(md);
  const out = arg('out', 'bench/results');
  mkdirSync(out, { recursive: true });
  for (const [name, text] of [['webgpu-latest.md', md], ['webgpu-latest.json', JSON.stringify({ cfg, described, loadBefore, loadAfter, busy, rows }, null, 2) + '\n']] as const) {
    const tmp = join(out, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(out, name));
  }
  console.error(`wrote ${join(out, 'webgpu-latest.md')} and .json`);
}
