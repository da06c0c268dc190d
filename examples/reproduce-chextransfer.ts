// The CheXtransfer study through the API: the same code path as `chexzoo study` and `npm run reproduce`.
//
//   npx tsx examples/reproduce-chextransfer.ts [--preset quick|paper] [--data DIR] [--out DIR] [--archs a,b]
//        [--init imagenet,random] [--max-steps N] [--image-size S] [--seeds N]
//
// Without --data (quick preset) it makes a small synthetic CheXpert-format dataset in OUT/data. Writes
// OUT/results.json, OUT/report.md and OUT/figures/*.svg; run it again after an interruption to resume.
// In your own project import from '@chexzoo/models/node' instead of '../src/node.js'.
import { parseArgs } from 'node:util';
import { runStudy, type StudyInit, type StudyOptions } from '../src/node.js';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'quick' },
    data: { type: 'string' },
    out: { type: 'string', default: 'runs/chextransfer' },
    archs: { type: 'string' },
    init: { type: 'string' },
    'max-steps': { type: 'string' },
    'image-size': { type: 'string' },
    seeds: { type: 'string' },
  },
});
const options: StudyOptions = {
  preset: values.preset as 'quick' | 'paper',
  out: values.out!,
  ...(values.data ? { data: values.data } : {}),
  ...(values.archs ? { archs: values.archs.split(',') } : {}),
  ...(values.init ? { inits: values.init.split(',') as StudyInit[] } : {}),
  ...(values['max-steps'] ? { maxSteps: Number(values['max-steps']) } : {}),
  ...(values['image-size'] ? { imageSize: Number(values['image-size']) } : {}),
  ...(values.seeds ? { seeds: Number(values.seeds) } : {}),
};

const { results, seconds } = await runStudy(options);
if (!results) throw new Error('no results (a shard, or interrupted)');
const f = results.findings;
const show = (name: string, x: object, text: (v: never) => string) => console.log(`${name}: ${'reason' in x ? `not computed (${(x as { reason: string }).reason})` : text(x as never)}`);
console.log(`\n${results.runs.length} runs, ${results.skipped.length} skipped, ${seconds.toFixed(0)} s`);
for (const r of results.runs) console.log(`  ${r.id.padEnd(40)} mean AUROC ${r.meanAuroc.toFixed(3)}`);
show('1. ImageNet top-1 vs AUROC, random init', f.imagenetVsAuroc.random, (v: { rho: number; ci: number[] }) => `rho ${v.rho.toFixed(2)} [${v.ci.map((c) => c.toFixed(2)).join(', ')}] (paper 0.06)`);
show('2. family vs size (random init)', f.familyVsSize, (v: { withinFamilySpread: number; betweenFamilySpread: number }) => `within ${v.withinFamilySpread.toFixed(3)}, between ${v.betweenFamilySpread.toFixed(3)}`);
show('3. pretraining boost vs params', f.pretrainingBoost, (v: { rows: unknown[] }) => `${v.rows.length} architectures (paper rho -0.72)`);
show('4. truncation mean gain', f.truncation, (v: { meanGain: number | null }) => `${v.meanGain?.toFixed(2) ?? 'n/a'}x (paper 3.25x)`);
console.log(`Report: ${options.out}/report.md`);
