// The study grid: presets, truncation points per family, the runs of a grid, and deterministic balanced shards.
// Browser-safe (no IO).
import { getModelInfo, listModels, type Family } from '../zoo/registry.js';

/**
 * How a run's weights start: ImageNet weights, random, or 'cxr' (in-domain chest X-ray pretraining, beyond the
 * paper: torchxrayvision's weights, for the architectures in {@link CXR_WEIGHTS}; other runs are skipped with the reason).
 */
export type StudyInit = 'imagenet' | 'random' | 'cxr';

/** The chest X-ray weights (registry tags, weights/manifest.json) of the 'cxr' init, per architecture. */
export const CXR_WEIGHTS: Readonly<Record<string, string>> = { densenet121: 'xrv-all', resnet50: 'xrv-res512-all' };

/** A preset of {@link buildStudyGrid}: which runs, and how each is trained. */
export interface StudyPreset {
  name: 'quick' | 'paper';
  archs: string[];
  inits: StudyInit[];
  /** Truncations per architecture: how many of {@link TRUNCATION_POINTS}' entries (0 = none). */
  truncations: number;
  /** Which inits get truncated runs. */
  truncateInits: StudyInit[];
  /** Square input side in pixels. */
  imageSize: number;
  batchSize: number;
  /** Epochs; null when `maxSteps` bounds training. */
  epochs: number | null;
  maxSteps: number | null;
  /** Adam learning rate per init. */
  lr: Record<StudyInit, number>;
  /** Validate (and checkpoint) every N steps; null: 3 times per epoch as `chexzoo train` does. */
  validEvery: number | null;
  topK: number;
  uncertainty: 'ones';
  /** The synthetic dataset made when no --data is given (quick), or null (paper: needs a CheXpert copy). */
  synth: { train: number; valid: number; size: number; seed: number } | null;
}

/**
 * Where each family is truncated ("before its final block(s)"): the stage after which the network is cut,
 * first dropping the last block, then the last two. Stage names are the `blocks()` / `truncate()` names.
 */
export const TRUNCATION_POINTS: Record<string, readonly string[]> = {
  // ResNet: drop layer4, then layer3 too
  resnet18: ['layer3', 'layer2'],
  resnet34: ['layer3', 'layer2'],
  resnet50: ['layer3', 'layer2'],
  resnet101: ['layer3', 'layer2'],
  // DenseNet: drop transition3 + denseblock4 (+ norm5), then transition2 + denseblock3 too
  densenet121: ['features.denseblock3', 'features.denseblock2'],
  densenet169: ['features.denseblock3', 'features.denseblock2'],
  densenet201: ['features.denseblock3', 'features.denseblock2'],
  // EfficientNet: drop the last MBConv stage (features.7) and the 1x1 head conv (features.8), then features.6 too
  efficientnet_b0: ['features.6', 'features.5'],
  efficientnet_b1: ['features.6', 'features.5'],
  efficientnet_b2: ['features.6', 'features.5'],
  efficientnet_b3: ['features.6', 'features.5'],
  // MobileNet: drop the last resolution stage (160/320 channels in V2, 160 in V3) with the head conv, then the one before
  mobilenet_v2: ['features.13', 'features.10'],
  mobilenet_v3_large: ['features.12', 'features.10'],
  mobilenet_v3_small: ['features.8', 'features.6'],
  // MNASNet: drop the last inverted-residual stack (layers.13) and the head conv, then layers.12 too
  mnasnet1_0: ['layers.12', 'layers.11'],
  // Inception: drop the Mixed_7 (Inception-C) blocks, then Mixed_6 too (cut after Mixed_5d)
  inception_v3: ['Mixed_6e', 'Mixed_5d'],
  inception_v4: ['features.17', 'features.9'],
};

const PAPER_ARCHS = listModels().filter((a) => a !== 'mobilenet_v3_small');

/** The presets. `quick` runs on the synthetic phantoms in minutes; `paper` is the CheXtransfer protocol on real data. */
export const STUDY_PRESETS: Record<'quick' | 'paper', StudyPreset> = {
  quick: {
    name: 'quick',
    archs: ['resnet18', 'resnet34', 'densenet121', 'efficientnet_b0'],
    inits: ['random', 'imagenet'],
    truncations: 1,
    truncateInits: ['random', 'imagenet'],
    imageSize: 32,
    batchSize: 16,
    epochs: null,
    maxSteps: 60,
    lr: { random: 1e-3, imagenet: 1e-4, cxr: 1e-4 },
    validEvery: 30,
    topK: 2,
    uncertainty: 'ones',
    synth: { train: 480, valid: 160, size: 48, seed: 0 },
  },
  paper: {
    name: 'paper',
    archs: PAPER_ARCHS,
    inits: ['imagenet', 'random'],
    truncations: 2,
    truncateInits: ['imagenet'],
    imageSize: 320,
    batchSize: 16,
    epochs: 3,
    maxSteps: null,
    lr: { random: 1e-4, imagenet: 1e-4, cxr: 1e-4 },
    validEvery: 4800,
    topK: 10,
    uncertainty: 'ones',
    synth: null,
  },
};

/** One run of the grid. */
export interface StudyRunSpec {
  /** Folder name under OUT/runs: `<arch>.<init>.<full|stage>.s<seed>`. */
  id: string;
  /** The configuration without the seed (runs differing only by seed share it). */
  config: string;
  arch: string;
  family: Family;
  init: StudyInit;
  truncatedAt: string | null;
  seed: number;
}

/** Options of {@link buildStudyGrid} (override the preset). */
export interface StudyGridOptions {
  preset?: 'quick' | 'paper';
  archs?: string[];
  inits?: StudyInit[];
  /** Stages to cut at (applied to every arch that has it) or `none`; default the preset's per-family points. */
  truncate?: string[] | 'none';
  /** Seeds per configuration (default 1); seeds are `seed`, `seed + 1`, ... */
  seeds?: number;
  /** First seed (default 0). */
  seed?: number;
}

/** Returns a preset by name; throws naming the valid ones. */
export function getStudyPreset(name: string): StudyPreset {
  if (name !== 'quick' && name !== 'paper') throw new Error(`Unknown preset '${name}'. Valid presets: quick, paper.`);
  return STUDY_PRESETS[name];
}

const INITS: StudyInit[] = ['imagenet', 'random', 'cxr'];

/**
 * The runs of a study grid, in a fixed order: per architecture, per init, the full model then its truncations,
 * each repeated per seed. Unknown architectures, inits or stages throw before anything runs.
 * @example buildStudyGrid({ preset: 'quick' }).map((r) => r.id); // ['resnet18.random.full.s0', 'resnet18.random.layer3.s0', ...]
 */
export function buildStudyGrid(options: StudyGridOptions = {}): StudyRunSpec[] {
  const preset = getStudyPreset(options.preset ?? 'quick');
  const archs = options.archs ?? preset.archs;
  if (archs.length === 0) throw new Error('The grid has no architectures; pass at least one in --archs.');
  for (const a of archs) {
    if (!listModels().includes(a)) throw new Error(`Unknown architecture '${a}'. Valid: ${listModels().join(', ')}.`);
  }
  const inits = options.inits ?? preset.inits;
  for (const i of inits) if (!INITS.includes(i)) throw new Error(`Unknown init '${String(i)}'. Valid: imagenet, random, cxr.`);
  const seeds = options.seeds ?? 1;
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${String(options.seeds)}.`);
  const seed0 = options.seed ?? 0;
  if (!Number.isInteger(seed0) || seed0 < 0) throw new Error(`--seed must be a non-negative integer, got ${String(options.seed)}.`);
  const cutsOf = (arch: string): string[] => {
    const stages = getModelInfo(arch).blocks;
    if (options.truncate === 'none') return [];
    if (options.truncate) {
      const bad = options.truncate.filter((s) => !listModels().some((a) => getModelInfo(a).blocks.includes(s)));
      if (bad.length > 0) throw new Error(`Unknown stage '${bad[0]}' in --truncate: no architecture has it. Stages of ${arch}: ${stages.join(', ')}.`);
      const mine = options.truncate.filter((s) => stages.includes(s));
      // the last stage keeps the whole network: not a truncation
      return mine.filter((s) => s !== stages[stages.length - 1]);
    }
    return (TRUNCATION_POINTS[arch] ?? []).slice(0, preset.truncations);
  };
  if (options.truncate && options.truncate !== 'none') {
    for (const s of options.truncate) {
      if (!archs.some((a) => getModelInfo(a).blocks.includes(s))) {
        throw new Error(`Unknown stage '${s}' in --truncate for the architectures ${archs.join(', ')}: ${archs.map((a) => `${a}: ${getModelInfo(a).blocks.join(', ')}`).join('; ')}.`);
      }
    }
  }
  const truncInits = options.truncate ? inits : preset.truncateInits;
  const runs: StudyRunSpec[] = [];
  for (const arch of archs) {
    const family = getModelInfo(arch).family;
    for (const init of inits) {
      const cuts: (string | null)[] = [null, ...(truncInits.includes(init) ? cutsOf(arch) : [])];
      for (const cut of cuts) {
        const config = `${arch}.${init}.${cut ?? 'full'}`;
        for (let k = 0; k < seeds; k++) {
          const seed = seed0 + k;
          runs.push({ id: `${config}.s${seed}`, config, arch, family, init, truncatedAt: cut, seed });
        }
      }
    }
  }
  return runs;
}

/** Relative cost of a run for balancing shards: parameters of the full architecture (truncations cost a bit less). */
export function estimateRunCost(run: StudyRunSpec): number {
  const p = getModelInfo(run.arch).params;
  return run.truncatedAt ? p * 0.8 : p;
}

/** A shard: index (0-based) of count. */
export interface ShardSpec {
  index: number;
  count: number;
}

/**
 * Parses `I/N` (0-based index I of N shards). Throws naming the problem when out of range.
 * @example parseShard('1/4'); // { index: 1, count: 4 }
 */
export function parseShard(spec: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new Error(`--shard must be I/N (0-based shard I of N, e.g. 0/4), got '${spec}'.`);
  return checkShard(Number(m[1]), Number(m[2]), `--shard ${spec}`);
}

function checkShard(index: number, count: number, where: string): ShardSpec {
  if (!Number.isInteger(count) || count < 1) throw new Error(`${where}: the shard count must be at least 1, got ${count}.`);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new Error(`${where}: shard index ${index} is out of range for ${count} shards (valid: 0 to ${count - 1}; indices are 0-based).`);
  }
  return { index, count };
}

/**
 * The shard to run: `--shard I/N` when given; else Kubernetes' JOB_COMPLETION_INDEX with `shards` (--shards N);
 * else Slurm's SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT; else undefined (all runs).
 * @example resolveShard({ shard: undefined, shards: 4, env: { JOB_COMPLETION_INDEX: '2' } }); // { index: 2, count: 4 }
 */
export function resolveShard(options: { shard?: string; shards?: number; env?: Record<string, string | undefined> }): ShardSpec | undefined {
  const env = options.env ?? {};
  if (options.shard !== undefined) return parseShard(options.shard);
  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined && k8s !== '') {
    if (options.shards === undefined) {
      throw new Error('JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but --shards N is not: pass --shards equal to the Job\'s completions.');
    }
    return checkShard(Number(k8s), options.shards, `JOB_COMPLETION_INDEX=${k8s} with --shards ${options.shards}`);
  }
  const sid = env.SLURM_ARRAY_TASK_ID;
  if (sid !== undefined && sid !== '') {
    const count = Number(options.shards ?? env.SLURM_ARRAY_TASK_COUNT);
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    return checkShard(Number(sid) - min, count, `SLURM_ARRAY_TASK_ID=${sid} (min ${min}) of ${count}`);
  }
  if (options.shards !== undefined && options.shards !== 1) {
    throw new Error(`--shards ${options.shards} without a shard index: pass --shard I/${options.shards}, or run under a Kubernetes Indexed Job or a Slurm array.`);
  }
  return undefined;
}

/**
 * The runs of one shard: a deterministic, cost-balanced split (longest runs first, each to the shard with the least
 * total cost so far, ties to the lower index), returned in grid order. Every run lands in exactly one shard.
 * @example shardRuns(buildStudyGrid(), { index: 0, count: 2 });
 */
export function shardRuns(runs: readonly StudyRunSpec[], shard: ShardSpec | undefined): StudyRunSpec[] {
  if (!shard || shard.count === 1) return [...runs];
  const order = runs.map((r, i) => ({ r, i, c: estimateRunCost(r) })).sort((a, b) => b.c - a.c || a.i - b.i);
  const load = new Array<number>(shard.count).fill(0);
  const owner = new Array<number>(runs.length);
  for (const { i, c } of order) {
    let best = 0;
    for (let s = 1; s < shard.count; s++) if (load[s]! < load[best]!) best = s;
    owner[i] = best;
    load[best]! += c;
  }
  return runs.filter((_, i) => owner[i] === shard.index);
}
