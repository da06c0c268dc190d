// `npm run bench -- --memory`: per architecture, training steps at the paper's settings (320 px, batch 16) on the
// wasm backend with the memory planner of train(): the plan (checkpointing, micro-batch), the peak wasm heap and
// peak RSS, the step time; beside PyTorch's peak RSS for the same step (bench/memory_torch.py). Every architecture
// runs in its own process, one after the other (peaks are high-water marks). Results are merged by architecture
// into <out>/memory.json (rows of architectures not run are kept, each with its date, commit and load) and
// <out>/memory.md is rendered from all rows.
// Usage: npm run bench -- --memory [--archs a,b] [--size 320] [--batch 16] [--steps 2] [--micro-batch N]
//        [--checkpointing on|off|auto] [--no-torch] [--out bench/results] [--render]
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ensureBackend } from '../src/backend/index.js';
import { createModel, listModels } from '../src/zoo/registry.js';
import { createStepRunner } from '../src/train/accumulate.js';
import { wasmHeapBytes, type MemoryOptions } from '../src/train/memory.js';

const PY = '/usr/bin/python3';
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const size = Number(arg('size', '320'));
const batch = Number(arg('batch', '16'));
const steps = Number(arg('steps', '2'));
const classes = 5;
const MiB = 1024 ** 2;

interface Row {
  arch: string;
  /** When, at which commit and under which load the row was measured, and the steps it ran. */
  date?: string; commit?: string; loadavg?: number[]; steps?: number; microBatch?: number; chunks?: number; checkpointing?: boolean; estimateMb?: number;
  heapMb?: number; rssMb?: number; stepSeconds?: number; loss?: number; error?: string;
}

/** One architecture in this process. */
async function one(arch: string): Promise<Row> {
  const r: Row = { arch };
  try {
    await ensureBackend({ backend: 'wasm' });
    const model = await createModel(arch, { numClasses: classes, inputShape: [size, size, 3] });
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const opt = tf.train.adam(1e-4);
    const mem: MemoryOptions = {};
    const mb = arg('micro-batch', 'auto');
    if (mb !== 'auto') mem.microBatch = Number(mb);
    const ck = arg('checkpointing', 'auto');
    if (ck !== 'auto') mem.checkpointing = ck === 'on';
    const runner = createStepRunner(model, vars, opt, mem);
    const p = runner.plan(batch);
    Object.assign(r, { microBatch: p.microBatch, chunks: p.chunks, checkpointing: p.checkpointing, estimateMb: p.estimateBytes / MiB });
    const times: number[] = [];
    for (let s = 0; s < steps; s++) {
      const x = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
      const y = tf.cast(tf.greater(tf.randomUniform([batch, classes]), 0.5), 'float32') as tf.Tensor2D;
      const t0 = performance.now();
      r.loss = await runner.step({ x, y });
      times.push((performance.now() - t0) / 1000);
      tf.dispose([x, y]);
    }
    r.stepSeconds = Math.min(...times);
  } catch (e) {
    r.error = (e as Error).message.split('\n')[0];
  }
  r.heapMb = (wasmHeapBytes() ?? 0) / MiB;
  r.rssMb = process.resourceUsage().maxRSS / 1024;
  return r;
}

function child(cmd: string, args: string[]): Record<string, unknown> {
  const p = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (p.stdout || '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { error: `exit ${p.status ?? p.signal}: ${(p.stderr || '').trim().split('\n').pop()}` };
  }
}

const fmt = (v: unknown, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');

export async function memoryBench(): Promise<void> {
  // --render: no runs, only memory.md from the rows in memory.json
  const archs = process.argv.includes('--render') ? [] : arg('archs', listModels().join(',')).split(',').filter(Boolean);
  const outDir = arg('out', 'bench/results');
  const pass = ['size', 'batch', 'steps', 'micro-batch', 'checkpointing'].flatMap((k) => (process.argv.includes(`--${k}`) ? [`--${k}`, arg(k, '')] : []));
  type Result = Row & { torchRssMb?: number; torchStepSeconds?: number; torchError?: string; ratio?: number };
  const rows: Result[] = [];
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout?.trim() || undefined;
  for (const arch of archs) {
    console.error(`${arch}: tfjs ...`);
    const t = child(process.execPath, ['--import', 'tsx', 'bench/memory.ts', '--one', arch, ...pass]) as unknown as Row;
    t.arch = arch;
    console.error(`${arch}: ${JSON.stringify(t)}`);
    const row: (typeof rows)[number] = { ...t };
    if (!process.argv.includes('--no-torch')) {
      const p = child(PY, ['bench/memory_torch.py', '--arch', arch, '--size', String(size), '--batch', String(batch), '--steps', String(steps)]);
      console.error(`${arch}: torch ${JSON.stringify(p)}`);
      if (typeof p.error === 'string') row.torchError = p.error;
      else {
        row.torchRssMb = p.peakRssMb as number;
        row.torchStepSeconds = p.stepSeconds as number;
        if (t.rssMb) row.ratio = t.rssMb / row.torchRssMb;
      }
    }
    Object.assign(row, { date: new Date().toISOString(), loadavg: loadavg().map((l) => Number(l.toFixed(1))), steps }, commit ? { commit } : {});
    rows.push(row);
  }
  const meta = { date: new Date().toISOString(), node: process.version, tfjs: tf.version.tfjs, size, batch };
  mkdirSync(outDir, { recursive: true });
  // merge with the rows of earlier runs at the same settings (architectures not run now are kept)
  const file = join(outDir, 'memory.json');
  if (existsSync(file)) {
    const old = JSON.parse(readFileSync(file, 'utf8')) as { meta?: { size?: number; batch?: number }; rows?: Result[] };
    if (old.meta?.size === size && old.meta?.batch === batch) {
      for (const r of old.rows ?? []) if (!rows.some((n) => n.arch === r.arch)) rows.push(r);
    }
  }
  const order = listModels();
  rows.sort((a, b) => order.indexOf(a.arch) - order.indexOf(b.arch));
  const write = (name: string, text: string) => {
    const tmp = join(outDir, `${name}.${process.pid}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(outDir, name));
  };
  write('memory.json', JSON.stringify({ meta, rows }, null, 2) + '\n');
  const md = [
    `# Memory ${meta.date}`,
    '',
    `Training steps on wasm at ${size} px, batch ${batch} (effective), Adam, 5 classes; best of the row's steps. TF.js ${meta.tfjs}, Node ${meta.node}. ` +
      'Each row says when, at which commit and under which load average it ran (shared machine: times are inflated by load, memory is not).',
    '',
    '| arch | micro-batch | checkpointing | estimate MiB | wasm heap MiB | peak RSS MiB | step s | torch peak RSS MiB | torch step s | RSS ratio | measured (commit, load, steps) | error |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.arch} | ${r.microBatch ?? '—'}${r.chunks && r.chunks > 1 ? ` (x${r.chunks})` : ''} | ${r.checkpointing === undefined ? '—' : r.checkpointing ? 'yes' : 'no'} | ` +
      `${fmt(r.estimateMb)} | ${fmt(r.heapMb)} | ${fmt(r.rssMb)} | ${fmt(r.stepSeconds, 1)} | ${fmt(r.torchRssMb)} | ${fmt(r.torchStepSeconds, 1)} | ${fmt(r.ratio, 2)} | ` +
      `${r.date?.slice(0, 16) ?? '—'} (${r.commit ?? '?'}, ${r.loadavg?.[0] ?? '?'}, ${r.steps ?? '?'}) | ${r.error ?? r.torchError ?? ''} |`),
    '',
  ].join('\n');
  write('memory.md', md);
  console.log(md);
}

if (process.argv.includes('--one')) {
  console.log(JSON.stringify(await one(arg('one', ''))));
} else if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/memory.ts')) {
  await memoryBench();
}
