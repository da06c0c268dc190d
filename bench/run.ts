// `npm run bench`: TF.js (backend chosen by ensureBackend, all cores) versus torchvision on PyTorch CPU.
//
// Per architecture: inference (224 px, batch 1; `predict` and optimizeForInference) and one Adam step
// (trainOnBatch, sigmoid cross-entropy, 5 classes, 128 px, batch 8). Runs are interleaved: after warm-up, each
// round times one TF.js run, one PyTorch run at its default thread count and one at every core (a persistent
// bench/bench_torch.py worker), so a change of load hits all alike; medians of --runs rounds. Then the whole
// `chexzoo train` loop (resnet18, batch 16, 128 px, 100 steps, image loading, one validation) against a PyTorch
// loop on the same files. The 1-minute load average is recorded before and after; on a busy machine (load > 0.5
// per core) the benchmark refuses to start, and refuses to write results if the load rose meanwhile beyond the
// benchmark's own threads, unless
// --force (the results then say they come from a loaded machine).
// `npm run bench -- --memory` runs the memory benchmark instead (bench/memory.ts); `npm run bench -- --backend
// webgpu` times WebGPU beside wasm per architecture (bench/gpu.ts).
// `--onnx` adds onnxruntime-node on the exported model (one thread, all cores) to the inference rounds (bench/onnx.ts).
// `npm run bench -- --memory` runs the memory benchmark instead (bench/memory.ts); `--decode-only` only the image
// decoding throughput (JPEG and DICOM at 320 px, bench/decode.ts), which the full run also reports (--no-decode).
// Usage: npm run bench -- [--archs resnet18,densenet121] [--runs 5] [--warmup 2] [--loop-steps 100]
//        [--no-loop | --loop-only] [--no-torch] [--onnx] [--force] [--out bench/results]
import * as tf from '@tensorflow/tfjs';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { backendInfo, ensureBackend } from '../src/backend/index.js';
import { createModel } from '../src/zoo/registry.js';
import { optimizeForInference } from '../src/inference.js';
import { writeSynthDataset } from '../src/node/data/synth-node.js';
import { cpuMs } from './probe.js';
import { onnxSides } from './onnx.js';
import { decodeBench, decodeMarkdown, type DecodeBenchResult } from './decode.js';

const DEFAULT_ARCHS = ['resnet18', 'densenet121', 'mobilenet_v2', 'efficientnet_b0'];
const PY = '/usr/bin/python3';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const archs = arg('archs', DEFAULT_ARCHS.join(',')).split(',').filter(Boolean);
const runs = Number(arg('runs', '5'));
const warmup = Number(arg('warmup', '2'));
const outDir = arg('out', 'bench/results');
const withTorch = !flag('no-torch');
const withOnnx = flag('onnx');
const force = flag('force');
const loopSteps = Number(arg('loop-steps', '100'));
const loopOnly = flag('loop-only');
const withLoop = (loopOnly || !flag('no-loop')) && loopSteps > 0;
const cores = availableParallelism();
const BUSY = 0.5 * cores;
const cfg = { inferSize: 224, inferBatch: 1, trainSize: 128, trainBatch: 8, classes: 5, loopBatch: 16, loopSize: 128 };
if (!(runs >= 5) && !force) {
  console.error(`--runs ${runs}: a median needs at least 5 runs (use --force for a quick check).`);
  process.exit(2);
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const geomean = (a: number[]) => Math.exp(a.reduce((s, v) => s + Math.log(v), 0) / a.length);
const fmt = (v: unknown, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');
const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);

/** The PyTorch worker: one JSON request, one JSON answer. */
class Torch {
  private readonly proc = spawn(PY, ['bench/bench_torch.py'], { stdio: ['pipe', 'pipe', 'inherit'] });
  private readonly lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  async ask<T = Record<string, number>>(msg: Record<string, unknown>): Promise<T & { error?: string }> {
    this.proc.stdin!.write(JSON.stringify(msg) + '\n');
    const line = await this.lines.next();
    if (line.done) throw new Error('bench_torch.py exited (is python3-torch installed for /usr/bin/python3?)');
    return JSON.parse(line.value) as T & { error?: string };
  }
  close() {
    this.proc.stdin!.end();
  }
}

interface Timing { wall: number[]; cpu: number[] }
const timing = (): Timing => ({ wall: [], cpu: [] });
const push = (t: Timing, r: { wall: number; cpu: number }) => { t.wall.push(r.wall); t.cpu.push(r.cpu); };
async function timeOnce(fn: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const w0 = performance.now(), c0 = cpuMs();
  await fn();
  return { wall: performance.now() - w0, cpu: cpuMs() - c0 };
}

type Side = 'tfjs' | 'tfjsOpt' | 'torch' | 'torchAll' | 'ort1' | 'ortAll';
interface ArchResult {
  arch: string;
  infer: Partial<Record<Side, Timing>>;
  train: Partial<Record<Side, Timing>>;
  tensorsPerStepGrowth?: number;
  error?: string;
}

async function benchArch(arch: string, torch: Torch | undefined): Promise<ArchResult> {
  const r: ArchResult = { arch, infer: { tfjs: timing(), tfjsOpt: timing() }, train: { tfjs: timing() } };
  const sides: ('torch' | 'torchAll')[] = torch ? ['torch', 'torchAll'] : [];
  for (const s of sides) { r.infer[s] = timing(); r.train[s] = timing(); }
  const torchRun = async (cmd: 'infer' | 'train', side: 'torch' | 'torchAll') => {
    const a = await torch!.ask<{ wall: number; cpu: number }>({ cmd, threads: side === 'torchAll' ? cores : 0 });
    if (a.error) throw new Error(`PyTorch ${cmd}: ${a.error}`);
    return a;
  };
  try {
    if (torch) {
      const b = await torch.ask({ cmd: 'build', arch, ...cfg });
      if (b.error) throw new Error(`PyTorch build: ${b.error}`);
    }
    // inference
    const m = await createModel(arch, { numClasses: cfg.classes, inputShape: [cfg.inferSize, cfg.inferSize, 3] });
    const fast = optimizeForInference(m);
    const x = tf.randomNormal([cfg.inferBatch, cfg.inferSize, cfg.inferSize, 3]);
    const run = (f: () => tf.Tensor) => async () => { const y = f(); await y.data(); y.dispose(); };
    const plain = run(() => m.predict(x) as tf.Tensor);
    const opt = run(() => fast.predict(x) as tf.Tensor);
    const onnx = withOnnx ? await onnxSides(m, x as tf.Tensor4D, cores) : undefined;
    for (const [s] of onnx?.sides ?? []) r.infer[s] = timing();
    for (let i = 0; i < warmup; i++) {
      await plain(); await opt();
      for (const s of sides) await torchRun('infer', s);
      for (const [, f] of onnx?.sides ?? []) await f();
    }
    for (let i = 0; i < runs; i++) {
      push(r.infer.tfjs!, await timeOnce(plain));
      push(r.infer.tfjsOpt!, await timeOnce(opt));
      for (const s of sides) push(r.infer[s]!, await torchRun('infer', s));
      for (const [s, f] of onnx?.sides ?? []) push(r.infer[s]!, await timeOnce(f));
    }
    await onnx?.release();
    x.dispose(); fast.dispose(); m.dispose();
    // one training step
    const t = await createModel(arch, { numClasses: cfg.classes, inputShape: [cfg.trainSize, cfg.trainSize, 3] });
    t.compile({ optimizer: tf.train.adam(1e-3), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.sigmoidCrossEntropy(yt, yp) });
    const xt = tf.randomNormal([cfg.trainBatch, cfg.trainSize, cfg.trainSize, 3]);
    const yt = tf.cast(tf.greater(tf.randomUniform([cfg.trainBatch, cfg.classes]), 0.5), 'float32');
    const step = async () => { await t.trainOnBatch(xt, yt); };
    for (let i = 0; i < warmup; i++) {
      await step();
      for (const s of sides) await torchRun('train', s);
    }
    const before = tf.memory().numTensors;
    for (let i = 0; i < runs; i++) {
      push(r.train.tfjs!, await timeOnce(step));
      for (const s of sides) push(r.train[s]!, await torchRun('train', s));
    }
    r.tensorsPerStepGrowth = (tf.memory().numTensors - before) / runs;
    tf.dispose([xt, yt]);
    t.optimizer.dispose();
    t.dispose();
  } catch (e) {
    r.error = (e as Error).message.split('\n')[0];
  }
  return r;
}

/** A synthetic CheXpert folder big enough for the loop (reused between benchmark runs). */
async function loopData(): Promise<string> {
  const train = loopSteps * cfg.loopBatch;
  const dir = join(tmpdir(), `chexzoo-bench-data-${train}`);
  if (!existsSync(join(dir, '.complete'))) {
    rmSync(dir, { recursive: true, force: true });
    const made = await writeSynthDataset(dir, { train, valid: 64, size: 320, seed: 1 });
    writeFileSync(join(dir, '.complete'), made.root);
    return made.root;
  }
  return readFileSync(join(dir, '.complete'), 'utf8');
}

interface LoopResult {
  steps: number;
  /** Whole-process wall ms: `chexzoo train`, the PyTorch loop at its default threads and at every core. */
  tfjsMs?: number; torchMs?: number; torchAllMs?: number;
  /** The PyTorch loop's own wall ms (model build to the end of validation, start-up excluded). */
  torchLoopMs?: number; torchAllLoopMs?: number;
  error?: string;
}

/** Wall ms of a child process run to its end; throws with its last stderr lines when it fails. */
function timedProcess(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { ms: number; stdout: string } {
  const t0 = performance.now();
  const p = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, env });
  const ms = performance.now() - t0;
  if (p.status !== 0) throw new Error(`${what} failed (exit ${p.status}): ${(p.stderr || String(p.error ?? '')).trim().split('\n').slice(-3).join(' | ')}`);
  return { ms, stdout: p.stdout };
}

/**
 * The whole training loop, each side in its own process timed from outside (start-up, data loading, validation
 * included): `chexzoo train` from the sources as users run it, then bench_torch.py --loop on the same files at
 * PyTorch's default thread count and at every core.
 */
async function benchLoop(): Promise<LoopResult> {
  const res: LoopResult = { steps: loopSteps };
  try {
    const data = await loopData();
    const out = mkdtempSync(join(tmpdir(), 'chexzoo-bench-run-'));
    try {
      res.tfjsMs = timedProcess('chexzoo train', process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), 'train',
        '--arch', 'resnet18', '--data', data, '--out', join(out, 'run'), '--batch-size', String(cfg.loopBatch),
        '--image-size', String(cfg.loopSize), '--max-steps', String(loopSteps), '--valid-every', String(loopSteps), '--quiet']).ms;
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    if (withTorch) {
      for (const side of ['torch', 'torchAll'] as const) {
        const msg = { threads: side === 'torchAll' ? cores : 0, data, steps: loopSteps, batch: cfg.loopBatch, size: cfg.loopSize, workers: cores };
        const r = timedProcess('PyTorch loop', PY, ['bench/bench_torch.py', '--loop', JSON.stringify(msg)]);
        const inner = JSON.parse(r.stdout.trim().split('\n').pop()!) as { wall: number; steps: number };
        if (inner.steps !== loopSteps) throw new Error(`PyTorch loop ran ${inner.steps} steps, not ${loopSteps}`);
        if (side === 'torch') { res.torchMs = r.ms; res.torchLoopMs = inner.wall; } else { res.torchAllMs = r.ms; res.torchAllLoopMs = inner.wall; }
      }
    }
  } catch (e) {
    res.error = (e as Error).message.split('\n')[0];
  }
  return res;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

async function main() {
  const loadBefore = loadavg();
  if (loadBefore[0]! > BUSY && !force) {
    console.error(`The machine is busy (1-minute load average ${loadBefore[0]!.toFixed(2)} > ${BUSY} = 0.5 per core on ${cores} cores): ` +
      'timings now would not be a result. Stop other work and retry, or pass --force for figures marked as from a loaded machine.');
    process.exit(3);
  }
  await ensureBackend();
  const info = backendInfo()!;
  console.error(`backend: ${info.name} (simd ${info.simd ?? '-'}, threads ${info.threads ?? '-'}); load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const torch = withTorch ? new Torch() : undefined;
  const torchInfo = torch ? await torch.ask<{ torch: string; defaultThreads: number; cores: number }>({ cmd: 'info' }) : undefined;
  const rows: ArchResult[] = [];
  let loop: LoopResult | undefined;
  let torchRss: number | undefined;
  let decode: DecodeBenchResult | undefined;
  try {
    for (const arch of loopOnly ? [] : archs) {
      console.error(`${arch} ...`);
      rows.push(await benchArch(arch, torch));
    }
    if (withLoop) {
      console.error(`training loop (resnet18, ${loopSteps} steps) ...`);
      loop = await benchLoop();
    }
    if (!flag('no-decode')) {
      console.error('image decoding (JPEG and DICOM at 320 px) ...');
      decode = await decodeBench(Number(arg('decode-images', '64')), Number(arg('decode-source', '1024')));
    }
    torchRss = torch ? (await torch.ask({ cmd: 'rss' })).peakRssMb : undefined;
  } finally {
    torch?.close();
  }
  const loadAfter = loadavg();
  const med = (t?: Timing, k: keyof Timing = 'wall') => (t && t[k].length ? median(t[k]) : undefined);
  const table = rows.map((r) => {
    const t = {
      arch: r.arch,
      inferTfjs: med(r.infer.tfjs), inferTfjsOpt: med(r.infer.tfjsOpt), inferTorch: med(r.infer.torch), inferTorchAll: med(r.infer.torchAll),
      inferOrt1: med(r.infer.ort1), inferOrtAll: med(r.infer.ortAll),
      trainTfjs: med(r.train.tfjs), trainTorch: med(r.train.torch), trainTorchAll: med(r.train.torchAll),
      inferCpuTfjsOpt: med(r.infer.tfjsOpt, 'cpu'), trainCpuTfjs: med(r.train.tfjs, 'cpu'),
      tensorsPerStepGrowth: r.tensorsPerStepGrowth, error: r.error,
    };
    return {
      ...t,
      inferRatio: ratio(t.inferTfjsOpt, t.inferTorch), inferRatioAll: ratio(t.inferTfjsOpt, t.inferTorchAll),
      inferRatioPlain: ratio(t.inferTfjs, t.inferTorch),
      trainRatio: ratio(t.trainTfjs, t.trainTorch), trainRatioAll: ratio(t.trainTfjs, t.trainTorchAll),
    };
  });
  type Key = 'inferRatio' | 'inferRatioAll' | 'trainRatio' | 'trainRatioAll' | 'inferRatioPlain';
  const gm = (k: Key) => (table.length && table.every((t) => typeof t[k] === 'number') ? geomean(table.map((t) => t[k] as number)) : undefined);
  const summary = {
    inferGeomeanRatio: gm('inferRatio'), inferGeomeanRatioAllCores: gm('inferRatioAll'), inferGeomeanRatioPlainPredict: gm('inferRatioPlain'),
    trainGeomeanRatio: gm('trainRatio'), trainGeomeanRatioAllCores: gm('trainRatioAll'),
    loopRatio: ratio(loop?.tfjsMs, loop?.torchMs), loopRatioAllCores: ratio(loop?.tfjsMs, loop?.torchAllMs),
    targets: { infer: 2, train: 3, perArch: 4, loop: 4 },
  };
  // The benchmark itself keeps up to `threads` cores busy (TF.js wasm threads, PyTorch at all cores), which the
  // 1-minute average after the run includes: only load beyond that counts as other work.
  const ownLoad = Math.max(info.threads ?? 1, cores);
  const busy = loadBefore[0]! > BUSY || loadAfter[0]! > BUSY + ownLoad;
  const meta = {
    date: new Date().toISOString(), node: process.version, tfjs: tf.version.tfjs, backend: info, cores,
    torch: torchInfo?.torch, torchDefaultThreads: torchInfo?.defaultThreads, loadBefore, loadAfter, busy, forced: force,
    runs, warmup, ...cfg, loopSteps, torchPeakRssMb: torchRss, tfjsPeakRssMb: process.resourceUsage().maxRSS / 1024,
  };
  const md = [
    `# Benchmark ${meta.date}`,
    '',
    ...(busy ? [`**Measured on a loaded machine (1-minute load average above ${BUSY}): these figures are not a result.**`, ''] : []),
    `TF.js ${meta.tfjs} on \`${info.name}\` (SIMD ${info.simd ?? '-'}, ${info.threads ?? 1} thread(s)) vs PyTorch ${meta.torch ?? '—'} CPU at its ` +
      `default ${meta.torchDefaultThreads ?? '?'} thread(s) and at all ${cores} cores, Node ${meta.node}. Interleaved rounds, median of ${runs} ` +
      `after ${warmup} warm-up. Load average (1, 5, 15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}.`,
    `Inference: ${cfg.inferSize} px, batch ${cfg.inferBatch}, TF.js through optimizeForInference (plain \`predict\` in its own column). ` +
      `Training: one Adam step (trainOnBatch), ${cfg.trainSize} px, batch ${cfg.trainBatch}, ${cfg.classes} classes. Ratios: TF.js / PyTorch.`,
    '',
    '| arch | infer tfjs (predict) ms | torch ms | torch all-cores ms | ratio | ratio all-cores | train tfjs ms | torch ms | torch all-cores ms | ratio | ratio all-cores | tensor growth / step | error |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...table.map((t) => `| ${t.arch} | ${fmt(t.inferTfjsOpt)} (${fmt(t.inferTfjs)}) | ${fmt(t.inferTorch)} | ${fmt(t.inferTorchAll)} | ${fmt(t.inferRatio, 2)} | ${fmt(t.inferRatioAll, 2)} | ` +
      `${fmt(t.trainTfjs)} | ${fmt(t.trainTorch)} | ${fmt(t.trainTorchAll)} | ${fmt(t.trainRatio, 2)} | ${fmt(t.trainRatioAll, 2)} | ${fmt(t.tensorsPerStepGrowth, 1)} | ${t.error ?? ''} |`),
    '',
    `Geometric-mean ratio vs PyTorch at default threads: inference ${fmt(summary.inferGeomeanRatio, 2)} (plain predict ${fmt(summary.inferGeomeanRatioPlainPredict, 2)}; target <= 2), ` +
      `training step ${fmt(summary.trainGeomeanRatio, 2)} (target <= 3; no architecture above 4). At all cores: inference ${fmt(summary.inferGeomeanRatioAllCores, 2)}, training ${fmt(summary.trainGeomeanRatioAllCores, 2)}.`,
    '',
    ...(withOnnx
      ? ['onnxruntime-node on the exported model (toOnnx; inference only, same input, in the same rounds): ms at 1 thread / all cores, and our predict / ONNX Runtime at 1 thread.', '',
        '| arch | ort 1 thread ms | ort all-cores ms | tfjs / ort-1 |', '|---|---:|---:|---:|',
        ...table.map((t) => `| ${t.arch} | ${fmt(t.inferOrt1, 1)} | ${fmt(t.inferOrtAll, 1)} | ${fmt(ratio(t.inferTfjsOpt, t.inferOrt1), 2)} |`), '']
      : []),
    loop
      ? `Training loop (\`chexzoo train\` resnet18, batch ${cfg.loopBatch}, ${cfg.loopSize} px, ${loop.steps} steps from JPEG files, one validation; PyTorch: ` +
        `the same files through PIL and a DataLoader with ${cores} workers; each side a whole process timed from outside, start-up included): TF.js ${fmt((loop.tfjsMs ?? NaN) / 1000, 1)} s, PyTorch ${fmt((loop.torchMs ?? NaN) / 1000, 1)} s ` +
        `(all cores ${fmt((loop.torchAllMs ?? NaN) / 1000, 1)} s; its loops alone ${fmt((loop.torchLoopMs ?? NaN) / 1000, 1)} s / ${fmt((loop.torchAllLoopMs ?? NaN) / 1000, 1)} s): ratio ${fmt(summary.loopRatio, 2)} (all cores ${fmt(summary.loopRatioAllCores, 2)}; target <= 4).${loop.error ? ` Error: ${loop.error}` : ''}`
      : 'Training loop: not run (--no-loop).',
    '',
    decode ? decodeMarkdown(decode) : 'Image decoding: not run (--no-decode).',
    '',
    `Peak RSS: TF.js process ${fmt(meta.tfjsPeakRssMb)} MB (cumulative over the run), PyTorch worker ${fmt(meta.torchPeakRssMb)} MB.`,
    '',
  ].join('\n');
  console.log(md);
  if (busy && !force) {
    console.error(`Not writing results: the load average was above ${BUSY} before the run or above ${BUSY} + the benchmark's own ${ownLoad} after it (before ${loadBefore[0]!.toFixed(2)}, after ${loadAfter[0]!.toFixed(2)}). Rerun on a quiet machine, or --force.`);
    process.exit(3);
  }
  mkdirSync(outDir, { recursive: true });
  writeAtomic(join(outDir, 'latest.json'), JSON.stringify({ meta, summary, table, loop, decode, raw: rows }, null, 2) + '\n');
  writeAtomic(join(outDir, 'latest.md'), md);
  console.error(`wrote ${join(outDir, 'latest.md')} and latest.json`);
}

if (process.argv.includes('--decode-only')) {
  console.log(decodeMarkdown(await decodeBench(Number(arg('decode-images', '64')), Number(arg('decode-source', '1024')))));
} else if (process.argv.includes('--memory')) {
  const { memoryBench } = await import('./memory.js');
  await memoryBench();
} else if (arg('backend', '') === 'webgpu') {
  // WebGPU beside wasm, per architecture (bench/gpu.ts)
  const { gpuBench } = await import('./gpu.js');
  await gpuBench();
} else {
  await main();
}
