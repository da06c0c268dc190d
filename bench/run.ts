// `npm run bench`: TF.js (backend chosen by ensureBackend) versus torchvision on PyTorch CPU, same run.
// Per architecture: inference at 224 px batch 1, one Adam step (trainOnBatch, sigmoid cross-entropy,
// 5 classes) at 128 px batch 8. Median of --runs after --warmup. Wall-clock and process CPU time are
// both recorded: CPU time stays meaningful when other processes compete for the cores.
// `npm run bench -- --memory` runs the memory benchmark instead (bench/memory.ts).
// Usage: npm run bench -- [--archs resnet18,densenet121] [--runs 5] [--warmup 2] [--no-torch] [--torch-threads N]
//        [--out bench/results]
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { backendInfo, ensureBackend } from '../src/backend/index.js';
import { createModel } from '../src/zoo/registry.js';
import { cpuMs } from './probe.js';

const DEFAULT_ARCHS = ['resnet18', 'densenet121', 'mobilenet_v2', 'efficientnet_b0'];
const PY = '/usr/bin/python3';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const archs = arg('archs', DEFAULT_ARCHS.join(',')).split(',').filter(Boolean);
const runs = Number(arg('runs', '5'));
const warmup = Number(arg('warmup', '2'));
const outDir = arg('out', 'bench/results');
const withTorch = !process.argv.includes('--no-torch');
// 0 = PyTorch's default thread count (what the targets are defined against).
const torchThreads = Number(arg('torch-threads', '0'));
const cfg = { inferSize: 224, inferBatch: 1, trainSize: 128, trainBatch: 8, classes: 5 };

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const geomean = (a: number[]) => Math.exp(a.reduce((s, v) => s + Math.log(v), 0) / a.length);
const rssMb = () => process.resourceUsage().maxRSS / 1024;

async function measure(fn: () => Promise<void>): Promise<{ wall: number[]; cpu: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const w0 = performance.now(), c0 = cpuMs();
    await fn();
    wall.push(performance.now() - w0);
    cpu.push(cpuMs() - c0);
  }
  return { wall, cpu };
}

interface TfjsResult {
  inferMs?: number; inferCpuMs?: number; trainMs?: number; trainCpuMs?: number;
  inferRuns?: number[]; trainRuns?: number[];
  tensorsPerStepGrowth?: number; tensorsAfterWarmup?: number; tensorsAfterRuns?: number;
  peakRssMb?: number; error?: string;
}

async function benchTfjs(arch: string): Promise<TfjsResult> {
  const r: TfjsResult = {};
  try {
    const m = await createModel(arch, { numClasses: cfg.classes, inputShape: [cfg.inferSize, cfg.inferSize, 3] });
    const x = tf.randomNormal([cfg.inferBatch, cfg.inferSize, cfg.inferSize, 3]);
    const inf = await measure(async () => {
      const y = m.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
    });
    r.inferMs = median(inf.wall); r.inferCpuMs = median(inf.cpu); r.inferRuns = inf.wall;
    x.dispose();
    m.dispose();

    const t = await createModel(arch, { numClasses: cfg.classes, inputShape: [cfg.trainSize, cfg.trainSize, 3] });
    t.compile({
      optimizer: tf.train.adam(1e-3),
      loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.sigmoidCrossEntropy(yTrue, yPred),
    });
    const xt = tf.randomNormal([cfg.trainBatch, cfg.trainSize, cfg.trainSize, 3]);
    const yt = tf.cast(tf.greater(tf.randomUniform([cfg.trainBatch, cfg.classes]), 0.5), 'float32');
    const step = async () => { await t.trainOnBatch(xt, yt); };
    for (let i = 0; i < warmup; i++) await step();
    r.tensorsAfterWarmup = tf.memory().numTensors;
    const tr = await measure(step);
    r.tensorsAfterRuns = tf.memory().numTensors;
    r.tensorsPerStepGrowth = (r.tensorsAfterRuns - r.tensorsAfterWarmup) / (runs + warmup);
    r.trainMs = median(tr.wall); r.trainCpuMs = median(tr.cpu); r.trainRuns = tr.wall;
    tf.dispose([xt, yt]);
    t.optimizer.dispose();
    t.dispose();
  } catch (e) {
    r.error = (e as Error).message.split('\n')[0];
  }
  r.peakRssMb = rssMb();
  return r;
}

function benchTorch(arch: string): Record<string, unknown> & { error?: string } {
  const p = spawnSync(PY, ['bench/bench_torch.py', '--archs', arch, '--runs', String(runs), '--warmup', String(warmup),
    '--infer-size', String(cfg.inferSize), '--infer-batch', String(cfg.inferBatch), '--train-size', String(cfg.trainSize),
    '--train-batch', String(cfg.trainBatch), '--classes', String(cfg.classes), '--threads', String(torchThreads)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (p.status !== 0) return { error: `bench_torch.py failed: ${(p.stderr || p.error?.message || '').trim().split('\n').pop()}` };
  const j = JSON.parse(p.stdout) as { results: Record<string, Record<string, unknown>>; threads: number; torch: string; peakRssMb: number };
  return { ...j.results[arch], threads: j.threads, torch: j.torch, peakRssMb: j.peakRssMb };
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

const fmt = (v: unknown, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');

async function main() {
  await ensureBackend();
  const info = backendInfo()!;
  console.error(`backend: ${info.name} (simd ${info.simd ?? '-'}, threads ${info.threads ?? '-'}); fast kernels: ${info.fastKernels.join(', ')}`);
  const rows: { arch: string; tfjs: TfjsResult; torch: Record<string, unknown> & { error?: string } }[] = [];
  for (const arch of archs) {
    console.error(`${arch}: tfjs ...`);
    const tfjs = await benchTfjs(arch);
    console.error(`${arch}: ${JSON.stringify({ ...tfjs, inferRuns: undefined, trainRuns: undefined })}`);
    const torch = withTorch ? benchTorch(arch) : { error: 'skipped (--no-torch)' };
    console.error(`${arch}: torch ${JSON.stringify({ ...torch, inferRuns: undefined, trainRuns: undefined })}`);
    rows.push({ arch, tfjs, torch });
  }
  const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : undefined);
  const table = rows.map(({ arch, tfjs, torch }) => ({
    arch,
    tfjsInferMs: tfjs.inferMs, torchInferMs: torch.inferMs as number | undefined, inferRatio: ratio(tfjs.inferMs, torch.inferMs),
    inferCpuRatio: ratio(tfjs.inferCpuMs, torch.inferCpuMs),
    tfjsTrainMs: tfjs.trainMs, torchTrainMs: torch.trainMs as number | undefined, trainRatio: ratio(tfjs.trainMs, torch.trainMs),
    trainCpuRatio: ratio(tfjs.trainCpuMs, torch.trainCpuMs),
    tensorsPerStepGrowth: tfjs.tensorsPerStepGrowth, tfjsPeakRssMb: tfjs.peakRssMb, torchPeakRssMb: torch.peakRssMb as number | undefined,
    error: tfjs.error ?? torch.error,
  }));
  const ok = (k: 'inferRatio' | 'trainRatio' | 'inferCpuRatio' | 'trainCpuRatio') =>
    table.every((t) => typeof t[k] === 'number') ? geomean(table.map((t) => t[k] as number)) : undefined;
  const summary = {
    inferGeomeanRatio: ok('inferRatio'), trainGeomeanRatio: ok('trainRatio'),
    inferCpuGeomeanRatio: ok('inferCpuRatio'), trainCpuGeomeanRatio: ok('trainCpuRatio'),
    targets: { infer: 4, train: 6 },
  };
  const torchMeta = rows.find((r) => r.torch.torch)?.torch;
  const meta = {
    date: new Date().toISOString(), node: process.version, tfjs: tf.version.tfjs, backend: info,
    torch: torchMeta?.torch, torchThreads: torchMeta?.threads, loadavg: loadavg(), runs, warmup, ...cfg,
  };
  mkdirSync(outDir, { recursive: true });
  writeAtomic(join(outDir, 'latest.json'), JSON.stringify({ meta, summary, table, raw: rows }, null, 2) + '\n');
  const md = [
    `# Benchmark ${meta.date}`,
    '',
    `TF.js ${meta.tfjs} on \`${info.name}\` (SIMD ${info.simd ?? '-'}, threads ${info.threads ?? '-'}) vs PyTorch ${meta.torch ?? '—'} CPU ` +
      `(${meta.torchThreads ?? '?'} threads), Node ${meta.node}. Median of ${runs} runs after ${warmup} warm-up. ` +
      `Load average at the end: ${meta.loadavg.map((l) => l.toFixed(1)).join(' ')}.`,
    `Inference: ${cfg.inferSize} px, batch ${cfg.inferBatch}. Training: one Adam step (trainOnBatch), ${cfg.trainSize} px, ` +
      `batch ${cfg.trainBatch}, ${cfg.classes} classes, sigmoid cross-entropy.`,
    '',
    '| arch | infer tfjs ms | infer torch ms | ratio (cpu-time ratio) | train tfjs ms | train torch ms | ratio (cpu-time ratio) | tensor growth / step | peak RSS tfjs / torch MB | error |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...table.map((t) => `| ${t.arch} | ${fmt(t.tfjsInferMs)} | ${fmt(t.torchInferMs)} | ${fmt(t.inferRatio, 2)} (${fmt(t.inferCpuRatio, 2)}) | ` +
      `${fmt(t.tfjsTrainMs)} | ${fmt(t.torchTrainMs)} | ${fmt(t.trainRatio, 2)} (${fmt(t.trainCpuRatio, 2)}) | ${fmt(t.tensorsPerStepGrowth, 1)} | ` +
      `${fmt(t.tfjsPeakRssMb)} / ${fmt(t.torchPeakRssMb)} | ${t.error ?? ''} |`),
    '',
    `Geometric-mean ratio: inference ${fmt(summary.inferGeomeanRatio, 2)} (CPU time ${fmt(summary.inferCpuGeomeanRatio, 2)}; target <= 4), ` +
      `training step ${fmt(summary.trainGeomeanRatio, 2)} (CPU time ${fmt(summary.trainCpuGeomeanRatio, 2)}; target <= 6).`,
    '',
    'Peak RSS of the TF.js process is cumulative over the run (maxRSS after each architecture).',
    '',
  ].join('\n');
  writeAtomic(join(outDir, 'latest.md'), md);
  console.log(md);
}

if (process.argv.includes('--memory')) {
  const { memoryBench } = await import('./memory.js');
  await memoryBench();
} else {
  await main();
}
