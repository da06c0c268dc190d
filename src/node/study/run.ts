// The study on disk (Node-only): data, the grid (or one shard of it), one ordinary `chexzoo train` run folder per
// run (plus predictions.json and study.json), results.json, report.md and figures. `chexzoo study`, `chexzoo
// report`, `npm run reproduce` and the examples all call these functions.
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ensureBackend } from '../../backend/index.js';
import { findChexpertCsv } from '../data/dataset.js';
import { checkDataFolder, detectDataLayout, resolveDataTasks } from '../data/layouts.js';
import { parseChexpertCsv, COMPETITION_TASKS } from '../../data/chexpert.js';
import { writeSynthDataset } from '../data/synth-node.js';
import { countParams, createModel, getModelInfo, listModels } from '../../zoo/registry.js';
import { truncate } from '../../truncate.js';
import { downloadWeights, installNodeWeightsResolver } from '../weights/fetch-node.js';
import { checkDecodeWorkers } from '../data/image-dataset.js';
import { checkDicomPolicy, resolveRunConfig, trainRun, type RunPredictionsFile } from '../train/run.js';
import type { IntensityPolicy } from '../../dicom/index.js';
import { acquireRunLock, RunLockedError, type RunLock } from '../train/lock.js';
import { readRunCurves } from '../train/curves.js';
import type { TrainingCurves } from '../../report/curves.js';
import { writeFileAtomic } from '../utils/atomic.js';
import { downloadProgress, progressBarText } from '../progress.js';
import {
  buildStudyGrid,
  getStudyPreset,
  resolveShard,
  shardRuns,
  type ShardSpec,
  type StudyGridOptions,
  type StudyInit,
  CXR_WEIGHTS,
  type StudyPreset,
  type StudyRunSpec,
} from '../../study/grid.js';
import {
  studyReport,
  studyResults,
  validationFingerprint,
  type RunPredictions,
  type StudyResults,
  type StudyRunResult,
  type StudySkipped,
} from '../../study/findings.js';

/** Options of {@link runStudy}: the grid, where, how long, which shard. */
export interface StudyOptions extends StudyGridOptions {
  /** A CheXpert, MIMIC-CXR(-JPG) or labelled-CSV dataset; default (quick): a synthetic set made once in OUT/data. */
  data?: string;
  /**
   * Tasks every run trains (default: the 5 competition tasks; a labelled CSV without them: its label columns).
   * On other tasks than the competition tasks the report does not compare with the paper's numbers.
   */
  tasks?: readonly string[];
  /** Output folder (default runs/study). */
  out?: string;
  epochs?: number;
  maxSteps?: number;
  /** Square input side in pixels (default: the preset's). */
  imageSize?: number;
  batchSize?: number;
  /** `I/N`: run shard I (0-based) of N. */
  shard?: string;
  /** N for Kubernetes' JOB_COMPLETION_INDEX (or to override SLURM_ARRAY_TASK_COUNT). */
  shards?: number;
  /** Environment to read JOB_COMPLETION_INDEX / SLURM_* from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Bootstrap replicates of the report's tests (default 1000). */
  bootstrap?: number;
  /** DICOM intensity policy of every run: `'voi'` (default) or `'minmax'` (docs/dicom.md). */
  dicomPolicy?: IntensityPolicy;
  /** Decode images on this many worker threads in every run (default 0; results do not depend on it). */
  decodeWorkers?: number;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Where the bar is drawn (default process.stderr); `null` draws none. */
  barStream?: { write(s: string): unknown; isTTY?: boolean } | null;
}

/** What {@link runStudy} returns. */
export interface StudyOutcome {
  out: string;
  shard: ShardSpec | undefined;
  /** Runs of this process's part of the grid and what happened to each. */
  runs: { id: string; status: 'trained' | 'done' | 'skipped' | 'locked' | 'failed' | 'interrupted'; detail?: string }[];
  /** results.json as written (undefined for a shard: `chexzoo report OUT` merges the shards). */
  results: StudyResults | undefined;
  seconds: number;
}

/** OUT/runs/<id>/study.json: the run's place in the grid and the settings it was trained with. */
interface StudyRunFile extends Omit<StudyRunSpec, 'family'> {
  version: 1;
  family: string;
  preset: string;
  /** What must match for an existing folder to be resumed or reused. */
  settings: Record<string, unknown>;
  data: StudyResults['data'];
  status: 'pending' | 'skipped' | 'failed' | 'done';
  reason?: string;
}

const RUNS = 'runs';
const LOCKS = '.locks';

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message}); delete it (and its run folder if it is a run) to redo it.`);
  }
}

const positive = (name: string, v: number | undefined) => {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`--${name} must be a positive integer, got ${String(v)}.`);
};

/** Checks that a folder is a CheXpert-format dataset (train.csv and valid.csv with the CheXpert columns). */
export function checkChexpertFolder(dir: string): { root: string; train: number; valid: number } {
  const counts: Record<string, number> = {};
  let root = '';
  for (const split of ['train', 'valid']) {
    let found;
    try {
      found = findChexpertCsv(dir, split);
    } catch (e) {
      throw new Error(`--data '${dir}' is not a CheXpert-format folder: ${(e as Error).message}`);
    }
    try {
      counts[split] = parseChexpertCsv(readFileSync(found.csvPath, 'utf8')).length;
    } catch (e) {
      throw new Error(`--data '${dir}' is not a CheXpert-format folder: ${found.csvPath}: ${(e as Error).message}`);
    }
    root = found.root;
  }
  return { root, train: counts.train!, valid: counts.valid! };
}

/** Resolved training settings of a study (preset + overrides). */
export function studySettings(preset: StudyPreset, o: StudyOptions): {
  imageSize: number;
  batchSize: number;
  epochs: number | null;
  maxSteps: number | null;
  validEvery: number | null;
  topK: number;
  lr: Record<StudyInit, number>;
  uncertainty: string;
} {
  positive('image-size', o.imageSize);
  positive('batch-size', o.batchSize);
  positive('epochs', o.epochs);
  positive('max-steps', o.maxSteps);
  const maxSteps = o.maxSteps ?? (o.epochs !== undefined ? null : preset.maxSteps);
  const epochs = o.epochs ?? (o.maxSteps !== undefined ? null : preset.epochs);
  const validEvery = preset.validEvery === null ? null : maxSteps !== null ? Math.min(preset.validEvery, Math.max(1, Math.ceil(maxSteps / 2))) : preset.validEvery;
  return {
    imageSize: o.imageSize ?? preset.imageSize,
    batchSize: o.batchSize ?? preset.batchSize,
    epochs,
    maxSteps,
    validEvery,
    topK: preset.topK,
    lr: preset.lr,
    uncertainty: preset.uncertainty,
  };
}

async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    let lock: RunLock;
    try {
      lock = await acquireRunLock(dir);
    } catch (e) {
      if (!(e instanceof RunLockedError)) throw e;
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }
}

/** Makes (once) or reuses the preset's synthetic dataset in OUT/data; concurrent shards wait for the one making it. */
async function ensureSynth(out: string, synth: NonNullable<StudyPreset['synth']>, log: (s: string) => void): Promise<string> {
  const dir = join(out, 'data');
  const stamp = join(dir, 'synth.json');
  const want = JSON.stringify(synth);
  return withLock(join(out, LOCKS, 'data'), async () => {
    const have = await readJson<unknown>(stamp);
    if (have !== undefined && JSON.stringify(have) === want && existsSync(join(dir, 'CheXpert-v1.0-small', 'valid.csv'))) return dir;
    if (have !== undefined && JSON.stringify(have) !== want) {
      throw new Error(`${dir} holds a synthetic dataset made with other settings (${JSON.stringify(have)}); use another --out, or delete ${dir}.`);
    }
    log(`Making the synthetic CheXpert-format dataset (${synth.train} train / ${synth.valid} valid phantoms, ${synth.size} px) in ${dir} ...`);
    const info = await writeSynthDataset(dir, { ...synth, overwrite: true });
    await writeFileAtomic(stamp, want + '\n');
    log(`  done in ${info.seconds.toFixed(1)} s`);
    return dir;
  });
}

function bar(done: number, total: number, width = 20): string {
  return `${progressBarText(total > 0 ? done / total : 1, width, '.')} ${String(done).padStart(String(total).length)}/${total}`;
}

type StudySettings = ReturnType<typeof studySettings>;
/** study.json's `settings` (an on-disk format: `imgSize` is its key) without the per-init learning rate. */
type TrainSettings = Record<string, unknown> & { data: string };

/** Everything checked before any training: the grid, this process's shard, the settings and the data folder. */
interface StudyPlan {
  presetName: string;
  preset: StudyPreset;
  grid: StudyRunSpec[];
  mine: StudyRunSpec[];
  shard: ShardSpec | undefined;
  settings: StudySettings;
  out: string;
  dataDir: string;
  kind: StudyResults['data']['kind'];
  /** The tasks every run trains (resolved against the data). */
  tasks: string[];
  trainSettings: TrainSettings;
  /** DICOM policy of every run (recorded in trainSettings when 'minmax'). */
  dicomPolicy: IntensityPolicy;
  decodeWorkers: number;
}

/** What the run loop shares: the plan, the data summary, the reasons pretrained runs are skipped, the progress line. */
interface StudyLoop {
  plan: StudyPlan;
  data: StudyResults['data'];
  weightsWhy: Map<string, string>;
  line: (r: StudyRunSpec, text: string) => void;
  /** Redraws the bar with the run's step, on a terminal only. */
  onStep: (r: StudyRunSpec) => ((i: { step: number; totalSteps?: number | null; smoothLoss: number }) => void) | undefined;
}

type RunOutcome = StudyOutcome['runs'][number];

function checkImageSizes(grid: StudyRunSpec[], imageSize: number): void {
  for (const arch of new Set(grid.map((r) => r.arch))) {
    const min = getModelInfo(arch).minImageSize;
    if (imageSize < min) throw new Error(`--image-size ${imageSize} is below ${arch}'s minimum input of ${min} px; raise it or leave ${arch} out of --archs.`);
  }
}

/** The data folder: --data (checked now), else the preset's synthetic set in OUT/data (made later). */
async function studyData(options: StudyOptions, preset: StudyPreset, presetName: string, out: string, log: (s: string) => void): Promise<{ dataDir: string; kind: StudyResults['data']['kind'] }> {
  if (options.data !== undefined) {
    const dataDir = resolve(options.data);
    log(`Data: ${(await checkDataFolder(dataDir, options.tasks ? { tasks: options.tasks } : {})).description}`);
    return { dataDir, kind: existsSync(join(dataDir, 'synth.json')) ? 'synthetic' : detectDataLayout(dataDir).layout };
  }
  if (!preset.synth) throw new Error(`The '${presetName}' preset needs --data DIR: a CheXpert copy (CheXpert-v1.0-small or its parent).`);
  return { dataDir: join(out, 'data'), kind: 'synthetic' };
}

/** A run folder of another grid (other settings or data) is never reused or overwritten. */
async function checkRunFolders(grid: StudyRunSpec[], out: string, trainSettings: TrainSettings, settings: StudySettings): Promise<void> {
  for (const r of grid) {
    const dir = join(out, RUNS, r.id);
    const s = await readJson<StudyRunFile>(join(dir, 'study.json'));
    if (s === undefined) {
      if (existsSync(join(dir, 'config.json'))) {
        throw new Error(`${dir} is a run folder the study did not make (no study.json); move it away or use another --out.`);
      }
      continue;
    }
    const want = JSON.stringify({ ...trainSettings, lr: settings.lr[r.init] });
    if (JSON.stringify(s.settings) !== want) {
      throw new Error(
        `${dir} belongs to another grid: it was trained with ${JSON.stringify(s.settings)}, this study asks ${want}. ` +
          'Use another --out (or the same settings to resume); nothing was overwritten.',
      );
    }
  }
}

/** Every check before any training. */
async function planStudy(options: StudyOptions, log: (s: string) => void): Promise<StudyPlan> {
  const presetName = options.preset ?? 'quick';
  const preset = getStudyPreset(presetName);
  const grid = buildStudyGrid(options);
  const shard = resolveShard({ ...(options.shard !== undefined ? { shard: options.shard } : {}), ...(options.shards !== undefined ? { shards: options.shards } : {}), env: options.env ?? process.env });
  const settings = studySettings(preset, options);
  checkImageSizes(grid, settings.imageSize);
  const out = resolve(options.out ?? join('runs', 'study'));
  const { dataDir, kind } = await studyData(options, preset, presetName, out, log);
  const tasks = resolveDataTasks(dataDir, options.tasks);
  const dicomPolicy = checkDicomPolicy(options.dicomPolicy);
  const decodeWorkers = checkDecodeWorkers(options.decodeWorkers);
  const trainSettings: TrainSettings = {
    imgSize: settings.imageSize, // study.json's key (an on-disk format)
    batchSize: settings.batchSize,
    epochs: settings.epochs,
    maxSteps: settings.maxSteps,
    validEvery: settings.validEvery,
    topK: settings.topK,
    uncertainty: settings.uncertainty,
    data: dataDir,
    // only when not the competition tasks, so the study.json of every earlier study still matches its grid
    ...(tasks.join('\n') === COMPETITION_TASKS.join('\n') ? {} : { tasks }),
    ...(dicomPolicy === 'minmax' ? { dicomPolicy } : {}), // likewise only when not the default
  };
  await checkRunFolders(grid, out, trainSettings, settings);
  const mine = shardRuns(grid, shard);
  if (shard) log(`Shard ${shard.index}/${shard.count}: ${mine.length} of the ${grid.length} runs.`);
  return { presetName, preset, grid, mine, shard, settings, out, dataDir, kind, tasks, trainSettings, dicomPolicy, decodeWorkers };
}

/** Makes the run folders' parent and the synthetic data if needed, counts the data, starts the backend. */
async function prepareStudy(plan: StudyPlan, options: StudyOptions, log: (s: string) => void): Promise<StudyResults['data']> {
  const { out, settings, grid } = plan;
  await fs.mkdir(join(out, RUNS), { recursive: true });
  if (options.data === undefined) await ensureSynth(out, plan.preset.synth!, log);
  const counts = await checkDataFolder(plan.dataDir, { tasks: plan.tasks });
  const data: StudyResults['data'] = { dir: plan.dataDir, kind: plan.kind, train: counts.train, valid: counts.valid, tasks: [...plan.tasks], imgSize: settings.imageSize };
  const backend = await ensureBackend();
  log(`Study '${plan.presetName}': ${grid.length} runs (${[...new Set(grid.map((r) => r.arch))].join(', ')}; init ${[...new Set(grid.map((r) => r.init))].join(', ')}), ${settings.imageSize} px, ${settings.maxSteps !== null ? `${settings.maxSteps} steps` : `${settings.epochs} epochs`}, backend ${backend}; out ${out}`);
  return data;
}

/**
 * Pretrained weights (ImageNet, or chest X-ray for the cxr init): from the cache or a download (progress bar,
 * hash-checked); otherwise the runs are skipped, with the reason, keyed `<arch>.<init>`.
 */
async function fetchPretrained(plan: StudyPlan, options: StudyOptions): Promise<Map<string, string>> {
  const { mine, out } = plan;
  const weightsWhy = new Map<string, string>();
  const needWeights = [...new Set(mine.filter((r) => r.init !== 'random').map((r) => `${r.arch}.${r.init}`))];
  if (needWeights.length > 0) installNodeWeightsResolver();
  for (const key of needWeights) {
    const [arch, init] = key.split('.') as [string, StudyInit];
    const pending = mine.some((r) => r.arch === arch && r.init === init && !existsSync(join(out, RUNS, r.id, 'metrics.json')));
    if (!pending) continue;
    const tag = init === 'cxr' ? CXR_WEIGHTS[arch] : 'imagenet';
    if (!tag) {
      weightsWhy.set(key, `no chest X-ray weights are registered for ${arch} (the cxr init has: ${Object.keys(CXR_WEIGHTS).join(', ')})`);
      continue;
    }
    const what = init === 'cxr' ? `chest X-ray weights ${tag}` : 'ImageNet weights';
    const progress = options.barStream === null ? undefined : downloadProgress(`${arch} ${what}`, options.barStream ? { stream: options.barStream } : {});
    try {
      await downloadWeights(arch, { ...(progress ? { onProgress: progress } : {}), tag });
    } catch (e) {
      // the first sentence says why (offline and not cached, unreachable, hash mismatch)
      const msg = (e as Error).message.split('\n')[0]!.replace(/^(.*?)\.\s+[A-Z].*$/, '$1');
      weightsWhy.set(key, `${what} unavailable (${msg})`);
    } finally {
      progress?.done();
    }
  }
  return weightsWhy;
}

/** The progress line after each run and the step bar on a terminal. */
function studyProgress(options: StudyOptions, total: number, log: (s: string) => void): Pick<StudyLoop, 'line' | 'onStep'> {
  const barStream = options.barStream === null ? undefined : (options.barStream ?? process.stderr);
  const tty = Boolean(barStream?.isTTY);
  let finished = 0;
  const line = (r: StudyRunSpec, text: string) => {
    finished++;
    if (tty) barStream!.write('\r\x1b[K');
    log(`${bar(finished, total)} ${r.id.padEnd(40)} ${text}`);
  };
  const onStep = (r: StudyRunSpec) => {
    if (!tty) return undefined;
    let lastDraw = 0;
    return (i: { step: number; totalSteps?: number | null; smoothLoss: number }) => {
      const now = Date.now();
      if (now - lastDraw < 200 && i.step !== i.totalSteps) return;
      lastDraw = now;
      barStream!.write(`\r${bar(finished, total)} ${r.id} step ${i.step}${i.totalSteps ? `/${i.totalSteps}` : ''} loss ${i.smoothLoss.toFixed(3)}\x1b[K`);
    };
  };
  return { line, onStep };
}

function studyRunFile(r: StudyRunSpec, loop: StudyLoop): StudyRunFile {
  const { plan } = loop;
  return {
    version: 1,
    id: r.id,
    config: r.config,
    arch: r.arch,
    family: r.family,
    init: r.init,
    truncatedAt: r.truncatedAt,
    seed: r.seed,
    preset: plan.presetName,
    settings: { ...plan.trainSettings, lr: plan.settings.lr[r.init] },
    data: loop.data,
    status: 'pending',
  };
}

/** Trains one run in its folder: 0 done, 130 interrupted (checkpoint kept), 1 failed (with the reason). */
async function trainStudyRun(r: StudyRunSpec, dir: string, loop: StudyLoop): Promise<{ code: 0 | 130 | 1; failure: string }> {
  const { settings, dataDir } = loop.plan;
  try {
    const config = resolveRunConfig({
      arch: r.arch,
      data: dataDir,
      imageSize: settings.imageSize,
      batchSize: settings.batchSize,
      lr: settings.lr[r.init],
      weights: r.init === 'random' ? 'none' : r.init === 'cxr' ? CXR_WEIGHTS[r.arch]! : 'imagenet',
      uncertainty: settings.uncertainty,
      tasks: loop.plan.tasks,
      topK: settings.topK,
      seed: r.seed,
      block: r.truncatedAt,
      ...(settings.maxSteps !== null ? { maxSteps: settings.maxSteps } : {}),
      ...(settings.epochs !== null ? { epochs: settings.epochs } : {}),
      ...(settings.validEvery !== null ? { validEvery: settings.validEvery } : {}),
      dicomPolicy: loop.plan.dicomPolicy,
    });
    const onStep = loop.onStep(r);
    const trained = await trainRun(config, dir, { quiet: true, decodeWorkers: loop.plan.decodeWorkers, ...(onStep ? { onStep } : {}) });
    return { code: trained.interrupted ? 130 : 0, failure: '' };
  } catch (e) {
    return { code: 1, failure: `chexzoo train: ${(e as Error).message}` };
  }
}

/** Records how a trained run ended in its study.json and on the progress line. */
async function recordRun(r: StudyRunSpec, dir: string, studyFile: StudyRunFile, result: { code: 0 | 130 | 1; failure: string }, loop: StudyLoop): Promise<RunOutcome> {
  const { code, failure } = result;
  if (code === 0) {
    const m = await readJson<{ valid?: { meanAuroc?: number; ci95?: { lower: number; upper: number } | null } | null; train?: { steps: number; seconds: number } }>(join(dir, 'metrics.json'));
    await writeFileAtomic(join(dir, 'study.json'), JSON.stringify({ ...studyFile, status: 'done' }, null, 2) + '\n');
    const v = m?.valid;
    loop.line(
      r,
      `mean AUROC ${v?.meanAuroc?.toFixed(3) ?? 'n/a'}${v?.ci95 ? ` (${v.ci95.lower.toFixed(3)}-${v.ci95.upper.toFixed(3)})` : ''}, ${m?.train?.steps ?? '?'} steps, ${Math.round(m?.train?.seconds ?? 0)} s`,
    );
    return { id: r.id, status: 'trained' };
  }
  if (code === 130) {
    loop.line(r, 'interrupted; checkpoint saved (run the same command again to resume)');
    return { id: r.id, status: 'interrupted' };
  }
  await writeFileAtomic(join(dir, 'study.json'), JSON.stringify({ ...studyFile, status: 'failed', reason: failure }, null, 2) + '\n');
  loop.line(r, `FAILED: ${failure}`);
  return { id: r.id, status: 'failed', detail: failure };
}

/** One run of the grid: done already, skipped (no weights), left to the process holding its lock, or trained. */
async function studyRun(r: StudyRunSpec, loop: StudyLoop): Promise<RunOutcome> {
  const dir = join(loop.plan.out, RUNS, r.id);
  const studyFile = studyRunFile(r, loop);
  if (existsSync(join(dir, 'metrics.json'))) {
    loop.line(r, 'already done');
    return { id: r.id, status: 'done' };
  }
  const why = loop.weightsWhy.get(`${r.arch}.${r.init}`);
  if (why) {
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, 'study.json'), JSON.stringify({ ...studyFile, status: 'skipped', reason: why }, null, 2) + '\n');
    loop.line(r, `skipped: ${why}`);
    return { id: r.id, status: 'skipped', detail: why };
  }
  let lock: RunLock;
  try {
    lock = await acquireRunLock(join(loop.plan.out, LOCKS, r.id));
  } catch (e) {
    if (!(e instanceof RunLockedError)) throw e;
    loop.line(r, `left to process ${e.holderPid}, which holds its lock`);
    return { id: r.id, status: 'locked', detail: `process ${e.holderPid} is training it` };
  }
  try {
    if (existsSync(join(dir, 'metrics.json'))) {
      loop.line(r, 'already done');
      return { id: r.id, status: 'done' };
    }
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, 'study.json'), JSON.stringify(studyFile, null, 2) + '\n');
    return await recordRun(r, dir, studyFile, await trainStudyRun(r, dir, loop), loop);
  } finally {
    await lock.release();
  }
}

/**
 * Runs a study (or one shard of it): checks every input before training, makes or checks the data, trains each run
 * of the grid not yet finished as an ordinary `chexzoo train` run folder under OUT/runs/<id> (resuming an
 * interrupted one from its checkpoint, skipping one another live process holds), skips ImageNet runs whose weights
 * cannot be had (with the reason), and, unless sharded, writes OUT/results.json, OUT/report.md and OUT/figures.
 * @example const { results } = await runStudy({ preset: 'quick', out: 'runs/reproduce' });
 */
export async function runStudy(options: StudyOptions = {}): Promise<StudyOutcome> {
  const t0 = Date.now();
  const log = options.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const plan = await planStudy(options, log);
  const data = await prepareStudy(plan, options, log);
  const weightsWhy = await fetchPretrained(plan, options);
  const loop: StudyLoop = { plan, data, weightsWhy, ...studyProgress(options, plan.mine.length, log) };
  const outcome: RunOutcome[] = [];
  for (const r of plan.mine) {
    const o = await studyRun(r, loop);
    outcome.push(o);
    if (o.status === 'interrupted') break;
  }
  const interrupted = outcome.some((o) => o.status === 'interrupted');
  const { out, shard } = plan;
  let results: StudyResults | undefined;
  if (!shard && !interrupted) {
    results = await writeStudyReport([out], out, { preset: plan.presetName, bootstrap: options.bootstrap ?? 1000 });
    log(`Wrote ${join(out, 'results.json')}, ${join(out, 'report.md')} and ${join(out, 'figures')}/ in ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  } else if (shard) {
    log(`Shard ${shard.index}/${shard.count} done. When every shard has finished: chexzoo report ${out}`);
  }
  return { out, shard, runs: outcome, results, seconds: (Date.now() - t0) / 1000 };
}

// Parameters do not depend on the input size (convolutions + global pooling): count on a model built at the
// architecture's smallest input.
const paramCache = new Map<string, Promise<number>>();
/** Parameters of `arch` (cut after `stage`, with a `numClasses` head), torchvision counting. */
export function studyParams(arch: string, stage: string | null, numClasses: number): Promise<number> {
  const key = `${arch}|${stage ?? ''}|${numClasses}`;
  let p = paramCache.get(key);
  if (!p) {
    p = (async () => {
      const s = Math.max(getModelInfo(arch).minImageSize, 32);
      const base = await createModel(arch, { numClasses, inputShape: [s, s, 3] });
      if (!stage) {
        try {
          return countParams(base);
        } finally {
          base.dispose();
        }
      }
      let cut;
      try {
        cut = truncate(base, stage, { numClasses });
      } finally {
        base.dispose();
      }
      try {
        return countParams(cut);
      } finally {
        cut.dispose();
      }
    })();
    p.catch(() => paramCache.delete(key));
    paramCache.set(key, p);
  }
  return p;
}

interface RunConfigJson {
  arch?: unknown;
  tasks?: unknown;
  truncate?: unknown;
  weights?: unknown;
  seed?: unknown;
  data?: unknown;
  imgSize?: unknown;
}

/** A run folder read back: its result row and predictions, or why it has none (skipped / unfinished). */
export interface StudyRunRead {
  dir: string;
  result?: StudyRunResult;
  predictions?: RunPredictions;
  skipped?: StudySkipped;
  data?: StudyResults['data'];
  preset?: string;
  /** The study's training settings (study runs only). */
  settings?: Record<string, unknown>;
}

/**
 * Reads one run folder: a study run (study.json) or any `chexzoo train` run folder (metrics.json, config.json,
 * predictions.json). Skipped and failed study runs come back as `skipped`; an unfinished run as neither.
 * @example const { result, predictions } = await readStudyRun('runs/reproduce/runs/resnet18.random.full.s0');
 */
export async function readStudyRun(dir: string): Promise<StudyRunRead> {
  const study = await readJson<StudyRunFile>(join(dir, 'study.json'));
  const metrics = await readJson<{ valid?: { meanAuroc?: number; perTask?: Record<string, number>; ci95?: { lower: number; upper: number } | null } | null; train?: { steps?: number; seconds?: number }; config?: RunConfigJson }>(join(dir, 'metrics.json'));
  const base: StudyRunRead = { dir, ...(study ? { data: study.data, preset: study.preset, settings: study.settings } : {}) };
  if (!metrics) {
    if (study && (study.status === 'skipped' || study.status === 'failed')) return { ...base, skipped: { id: study.id, reason: study.reason ?? study.status } };
    return base;
  }
  const config = ((await readJson<RunConfigJson>(join(dir, 'config.json'))) ?? metrics.config ?? {}) as RunConfigJson;
  const arch = config.arch;
  if (typeof arch !== 'string' || !listModels().includes(arch)) {
    throw new Error(`Run '${dir}': config.json names architecture '${String(arch)}', which the zoo does not know. Valid: ${listModels().join(', ')}.`);
  }
  const auroc = metrics.valid?.meanAuroc;
  if (typeof auroc !== 'number' || !Number.isFinite(auroc)) {
    throw new Error(`Run '${dir}': metrics.json has no validation mean AUROC (valid.meanAuroc is ${String(auroc)}). Train with validation (valid.csv with both classes per task) or leave the run out.`);
  }
  const pf = await readJson<RunPredictionsFile>(join(dir, 'predictions.json'));
  if (!pf) {
    throw new Error(`Run '${dir}' has no predictions.json (validation predictions, which the paired tests need): it was trained by an older chexzoo. Re-run its \`chexzoo train\` command with --restart, or leave it out.`);
  }
  const predictions: RunPredictions = { n: pf.n, tasks: pf.tasks, labels: pf.labels, mask: pf.mask, probs: pf.probs };
  const truncatedAt = typeof config.truncate === 'string' && config.truncate !== '' ? config.truncate : null;
  const info = getModelInfo(arch);
  const init: StudyInit = study?.init ?? (config.weights === 'none' || config.weights === undefined ? 'random' : Object.values(CXR_WEIGHTS).includes(String(config.weights)) ? 'cxr' : 'imagenet');
  const seed = study?.seed ?? (typeof config.seed === 'number' ? config.seed : 0);
  const cfg = study?.config ?? `${arch}.${init}.${truncatedAt ?? 'full'}`;
  let params: number;
  try {
    params = await studyParams(arch, truncatedAt, pf.tasks.length);
  } catch (e) {
    throw new Error(`Run '${dir}': cannot rebuild ${arch}${truncatedAt ? ` truncated at ${truncatedAt}` : ''} to count its parameters: ${(e as Error).message}`);
  }
  const ci = metrics.valid?.ci95;
  const result: StudyRunResult = {
    id: study?.id ?? basename(resolve(dir)),
    config: cfg,
    arch,
    family: info.family,
    init,
    truncatedAt,
    seed,
    params,
    imagenetTop1: info.top1,
    meanAuroc: auroc,
    ci: ci && Number.isFinite(ci.lower) && Number.isFinite(ci.upper) ? [ci.lower, ci.upper] : null,
    perTask: metrics.valid?.perTask ?? {},
    steps: metrics.train?.steps ?? 0,
    seconds: metrics.train?.seconds ?? 0,
    validation: validationFingerprint(predictions),
  };
  const data: StudyResults['data'] = study?.data ?? {
    dir: typeof config.data === 'string' ? config.data : '',
    kind: typeof config.data === 'string' && existsSync(join(config.data, 'synth.json')) ? 'synthetic' : 'chexpert',
    train: null,
    valid: pf.n,
    tasks: pf.tasks,
    imgSize: typeof config.imgSize === 'number' ? config.imgSize : null,
  };
  return { ...base, data, result, predictions };
}

/** Run folders under a path: a study folder (OUT/runs/*), a parent of run folders, or a run folder itself. */
export async function findRunFolders(path: string): Promise<string[]> {
  const isRun = (d: string) => ['metrics.json', 'study.json', 'config.json'].some((f) => existsSync(join(d, f)));
  let st;
  try {
    st = await fs.stat(path);
  } catch {
    throw new Error(`'${path}' does not exist: pass a study folder, a folder of run folders, or run folders.`);
  }
  if (!st.isDirectory()) throw new Error(`'${path}' is not a folder: pass a study folder, a folder of run folders, or run folders.`);
  if (isRun(path)) return [path];
  const parent = existsSync(join(path, RUNS)) ? join(path, RUNS) : path;
  const entries = (await fs.readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const dirs = entries.map((e) => join(parent, e)).filter(isRun);
  if (dirs.length === 0) throw new Error(`'${path}' holds no run folders (folders with metrics.json from \`chexzoo train\` or study.json from \`chexzoo study\`).`);
  return dirs;
}

/**
 * Rebuilds results.json, report.md and figures/*.svg in `out` from any set of run folders, study folders or
 * shard outputs (this is how shards merge). Unfinished runs are listed as skipped ("not finished").
 * @example await writeStudyReport(['runs/shard-a', 'runs/shard-b'], 'runs/merged');
 */
export async function writeStudyReport(paths: string[], out: string, options: { preset?: string; bootstrap?: number; title?: string } = {}): Promise<StudyResults> {
  if (paths.length === 0) throw new Error('Give at least one study folder or run folder to report on.');
  const dirs = [...new Set((await Promise.all(paths.map((p) => findRunFolders(resolve(p))))).flat())];
  const runs: StudyRunResult[] = [];
  const preds = new Map<string, RunPredictions>();
  const skipped: StudySkipped[] = [];
  const curves = new Map<string, TrainingCurves>();
  let data: StudyResults['data'] | undefined;
  let preset = options.preset;
  let settings: Record<string, unknown> | undefined;
  for (const d of dirs) {
    const r = await readStudyRun(d);
    data ??= r.data;
    preset ??= r.preset;
    if (r.settings) {
      // lr differs per init; the rest is the grid's
      const { lr: _lr, ...rest } = r.settings;
      settings ??= rest;
    }
    if (r.result) {
      if (runs.some((q) => q.id === r.result!.id)) throw new Error(`Two run folders are both run '${r.result.id}' (one is ${d}); give each run once.`);
      runs.push(r.result);
      preds.set(r.result.id, r.predictions!);
      const c = await readRunCurves(d);
      if (c) curves.set(r.result.id, c);
    } else if (r.skipped) skipped.push(r.skipped);
    else skipped.push({ id: basename(d), reason: 'not finished (run the study again to resume it)' });
  }
  if (runs.length === 0) throw new Error(`No finished runs in ${paths.join(', ')}${skipped.length ? ` (${skipped.length} skipped or unfinished: ${skipped[0]!.id}: ${skipped[0]!.reason})` : ''}.`);
  const results = studyResults(runs, preds, skipped, {
    preset: preset ?? 'custom',
    ...(data ? { data } : {}),
    ...(settings ? { settings } : {}),
    bootstrap: options.bootstrap ?? 1000,
  });
  const report = studyReport(results, { ...(options.title ? { title: options.title } : {}), curves });
  await fs.mkdir(join(out, 'figures'), { recursive: true });
  for (const f of report.figures) await writeFileAtomic(join(out, 'figures', f.name), f.svg);
  await writeFileAtomic(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  await writeFileAtomic(join(out, 'report.md'), report.markdown);
  return results;
}
