// Redo the CheXtransfer study (Ke et al., CHIL 2021) on a CheXpert copy, or on the synthetic phantoms:
// train several architectures, compare their CheXpert AUROC with their ImageNet accuracy and size, and
// measure what truncating the final blocks costs and gains.
//
//   npx tsx examples/chextransfer-study.ts [--data DIR] [--out DIR] [--archs a,b,c] [--img-size 64]
//        [--epochs 1] [--max-steps N] [--weights none|imagenet] [--truncate STAGE|-K|none] [--seed 0]
//        [--paper] [--micro-batch N|auto]
//
// --paper uses the paper's settings: 320 px, batch 16 (micro-batches and gradient checkpointing are chosen to
// fit the backend's memory, wasm: 4 GiB; see docs/memory.md). --micro-batch fixes the micro-batch instead.
//
// Without --data it writes and uses a small synthetic CheXpert-format dataset. Results: OUT/results.json and
// OUT/report.md (per-model AUROC with 95% CIs, Spearman/Kendall correlations, truncation gains with paired
// bootstrap tests). Every run checkpoints under OUT/<model>/ and resumes after a kill.
// In your own project import from '@chexzoo/models/node' instead of '../src/node.js'.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  COMPETITION_TASKS,
  FileCheckpointStore,
  countParams,
  createModel,
  ensureBackend,
  getModelInfo,
  kendallTau,
  loadChexpert,
  pairedBootstrapMeanAurocTest,
  predict,
  scorePredictions,
  spearman,
  summarizeTruncation,
  train,
  truncate,
  writeSynthDataset,
  type Predictions,
  getPreprocessConfig,
  type ChexpertDataset,
} from '../src/node.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string', default: 'study-run' },
    archs: { type: 'string', default: 'resnet18,densenet121,efficientnet_b0,mobilenet_v3_small' },
    'img-size': { type: 'string', default: '64' },
    epochs: { type: 'string', default: '1' },
    'max-steps': { type: 'string' },
    weights: { type: 'string', default: 'none' },
    truncate: { type: 'string', default: '-1' },
    seed: { type: 'string', default: '0' },
    paper: { type: 'boolean', default: false },
    'micro-batch': { type: 'string', default: 'auto' },
  },
});
const out = values.out!;
const archs = values.archs!.split(',').map((a) => a.trim());
const imageSize = values.paper ? 320 : Number(values['img-size']);
const microBatch = values['micro-batch'] === 'auto' ? 'auto' : Number(values['micro-batch']);
const epochs = Number(values.epochs);
const seed = Number(values.seed);
const maxSteps = values['max-steps'] ? Number(values['max-steps']) : undefined;
const weights = values.weights === 'none' ? undefined : values.weights;
const cut = /^-\d+$/.test(values.truncate!) ? Number(values.truncate) : values.truncate!;
archs.forEach((a) => getModelInfo(a)); // unknown names fail here, before any training
mkdirSync(out, { recursive: true });
console.log('backend:', await ensureBackend());

let dataDir = values.data;
if (!dataDir) {
  dataDir = join(out, 'synth');
  if (!existsSync(join(dataDir, 'CheXpert-v1.0-small'))) await writeSynthDataset(dataDir, { train: 2000, valid: 300, size: 128, seed });
}
const tasks = [...COMPETITION_TASKS];
const common = { tasks, uncertainty: 'ones', imageSize, batchSize: 16, seed } as const;
// each architecture gets its weights' normalisation (getPreprocessConfig: mean = std = 0.5 for inception_v3/v4);
// archs that share one reuse the datasets (and their decoded-image caches)
const datasets = new Map<string, Promise<{ trainSet: ChexpertDataset; validSet: ChexpertDataset }>>();
function datasetsFor(arch: string) {
  const { mean, std, interpolation } = getPreprocessConfig(arch);
  const key = JSON.stringify([mean, std, interpolation]);
  if (!datasets.has(key)) {
    datasets.set(key, (async () => ({
      trainSet: await loadChexpert(dataDir!, { ...common, arch, split: 'train' }),
      validSet: await loadChexpert(dataDir!, { ...common, arch, split: 'valid', shuffle: false }),
    }))());
  }
  return datasets.get(key)!;
}

interface Row {
  name: string;
  arch: string;
  truncatedAt: string | null;
  params: number;
  imagenetTop1: number;
  meanAuroc: number;
  lower: number;
  upper: number;
  perTask: Record<string, number>;
}
const rows: Row[] = [];
const preds = new Map<string, Predictions>();

async function run(name: string, arch: string, truncatedAt: string | number | null): Promise<void> {
  const { trainSet, validSet } = await datasetsFor(arch);
  let model = await createModel(arch, {
    numClasses: tasks.length,
    inputShape: [imageSize, imageSize, 3],
    ...(weights ? { weights } : {}), // a checkpoint head of another size is skipped
  });
  if (truncatedAt !== null) {
    const small = truncate(model, truncatedAt, { numClasses: tasks.length });
    model.dispose();
    model = small;
  }
  const lr = weights ? 1e-4 : 1e-3;
  const result = await train(model, { train: trainSet, valid: validSet }, {
    lr,
    epochs,
    ...(maxSteps ? { maxSteps, validateEvery: Math.max(1, Math.floor(maxSteps / 2)) } : {}),
    topK: 1,
    seed,
    microBatch,
    store: new FileCheckpointStore(join(out, name.replace(/[^\w.-]+/g, '_'))),
    onValidation: ({ step, meanAuroc }) => console.log(`${name} step ${step}: valid mean AUROC ${meanAuroc.toFixed(4)}`),
  });
  const p = await predict(model, validSet, { tasks });
  const scored = scorePredictions(p, { bootstrap: { n: 1000, seed } });
  preds.set(name, p);
  rows.push({
    name,
    arch,
    truncatedAt: truncatedAt === null ? null : model.name.split('/')[1] ?? String(truncatedAt),
    params: countParams(model),
    imagenetTop1: getModelInfo(arch).top1,
    meanAuroc: scored.meanAuroc,
    lower: scored.ci!.lower,
    upper: scored.ci!.upper,
    perTask: scored.perTask,
  });
  console.log(`${name}: ${result.steps} steps, mean AUROC ${scored.meanAuroc.toFixed(4)} [${scored.ci!.lower.toFixed(3)}, ${scored.ci!.upper.toFixed(3)}]`);
  model.dispose();
}

for (const arch of archs) await run(arch, arch, null);
if (values.truncate !== 'none') for (const arch of archs) await run(`${arch}@${cut}`, arch, cut);

const full = rows.filter((r) => r.truncatedAt === null);
const byRows = (p: Predictions, what: 'labels' | 'probs' | 'mask') =>
  Array.from({ length: p.n }, (_, i) => Array.from(p[what].subarray(i * tasks.length, (i + 1) * tasks.length)));
const comparisons = rows
  .filter((r) => r.truncatedAt !== null)
  .map((t) => {
    const ref = full.find((f) => f.arch === t.arch)!;
    const a = preds.get(t.name)!;
    const b = preds.get(ref.name)!;
    const test = pairedBootstrapMeanAurocTest(byRows(a, 'labels'), byRows(a, 'probs'), byRows(b, 'probs'), {
      tasks,
      mask: byRows(a, 'mask'),
      n: 1000,
      seed,
    });
    return {
      name: t.name,
      referenceParams: ref.params,
      candidateParams: t.params,
      referenceAuroc: ref.meanAuroc,
      candidateAuroc: t.meanAuroc,
      pValue: test.pValue,
      diffCi: [test.lower, test.upper] as [number, number],
    };
  });
const truncation = summarizeTruncation(comparisons);
const correlations =
  full.length >= 3
    ? {
        imagenetVsAuroc: { spearman: spearman(full.map((r) => r.imagenetTop1), full.map((r) => r.meanAuroc)), kendall: kendallTau(full.map((r) => r.imagenetTop1), full.map((r) => r.meanAuroc)) },
        paramsVsAuroc: { spearman: spearman(full.map((r) => r.params), full.map((r) => r.meanAuroc)) },
      }
    : null;

const results = { config: { ...values, data: dataDir }, rows, comparisons, truncation, correlations };
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const { trainSet, validSet } = await datasetsFor(archs[0]!);
const md = [
  `# CheXtransfer study run`,
  '',
  `Data: ${dataDir} (${trainSet.size} train / ${validSet.size} valid images, ${imageSize} px, each architecture normalised as its weights expect); weights: ${values.weights}; epochs: ${epochs}; seed ${seed}.`,
  '',
  '| model | params | ImageNet top-1 | mean AUROC | 95% CI |',
  '|---|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.name} | ${r.params.toLocaleString('en-US')} | ${r.imagenetTop1.toFixed(3)} | ${fmt(r.meanAuroc)} | [${fmt(r.lower)}, ${fmt(r.upper)}] |`),
  '',
  correlations
    ? `ImageNet top-1 vs mean AUROC: Spearman rho ${fmt(correlations.imagenetVsAuroc.spearman.rho)} (p ${fmt(correlations.imagenetVsAuroc.spearman.pValue)}), Kendall tau ${fmt(correlations.imagenetVsAuroc.kendall.tau)}; parameters vs mean AUROC: Spearman rho ${fmt(correlations.paramsVsAuroc.spearman.rho)}.`
    : 'Correlations need at least 3 architectures.',
  '',
  '| truncated model | parameter gain | AUROC difference | paired bootstrap p |',
  '|---|---:|---:|---:|',
  ...truncation.rows.map((r, i) => `| ${r.name} | ${r.gain.toFixed(2)}x | ${r.aurocDiff.toFixed(4)} | ${fmt(comparisons[i]!.pValue)} |`),
  '',
  `Mean parameter-efficiency gain over truncated models without a significant AUROC drop: ${fmt(truncation.meanGain)}x.`,
  '',
].join('\n');
// atomic writes: a killed run never leaves a half-written report
for (const [file, text] of [['results.json', JSON.stringify(results, null, 2)], ['report.md', md]] as const) {
  writeFileSync(join(out, `${file}.tmp`), text);
  renameSync(join(out, `${file}.tmp`), join(out, file));
}
console.log(md);
