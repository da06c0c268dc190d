// Dataset layouts: the synthetic phantoms written as MIMIC-CXR-JPG (JPEG) and as MIMIC-CXR's DICOM tree, read
// back by loadMimicCxr / loadDataset with the labels joined through the gzipped tables; a labelled CSV; and our
// DICOM writer checked by pydicom (an independent reader) on every syntax it writes.
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPETITION_TASKS, labelTargets, renderSynthImage, synthRecords } from '../src/index.js';
import { decodeGray, detectDataLayout, evaluateRun, loadDataset, loadLabelledCsv, loadMimicCxr, resolveRunConfig, trainRun, writeSynthDataset } from '../src/node.js';
import { FULL_TESTS, runCommand } from './helpers/index.js';
import { runSynth } from '../src/cli/synth.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-mimic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const N = { train: 14, valid: 8, size: 32, seed: 3 };
let jpgRoot = '';
let dcmRoot = '';

beforeAll(async () => {
  jpgRoot = (await writeSynthDataset(join(tmp, 'jpg'), { ...N, layout: 'mimic' })).root;
  dcmRoot = (await writeSynthDataset(join(tmp, 'dcm'), { ...N, layout: 'mimic', format: 'dicom' })).root;
});

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('MIMIC-CXR layouts', () => {
  it('detects MIMIC-CXR-JPG and the DICOM tree', () => {
    expect(detectDataLayout(jpgRoot)).toMatchObject({ layout: 'mimic-cxr-jpg' });
    expect(detectDataLayout(dcmRoot)).toMatchObject({ layout: 'mimic-cxr', description: expect.stringMatching(/DICOM images, tables gzipped/) });
    expect(allFiles(join(dcmRoot, 'files')).every((f) => /\/files\/p1\d\/p1\d{7}\/s5\d{7}\/[0-9a-f-]+\.dcm$/.test(f))).toBe(true);
  });

  it('joins the split, metadata and label tables: every image of the split with its study labels', async () => {
    const records = synthRecords('valid', N.valid, N.seed);
    for (const root of [jpgRoot, dcmRoot]) {
      for (const split of ['validate', 'valid']) {
        const ds = await loadMimicCxr(root, { split, uncertainty: 'ones', batchSize: 4 });
        expect(ds.size).toBe(records.length);
        expect(ds.split).toBe('validate');
        // the synthetic writer keeps the record order, so row i is record i
        records.forEach((r, i) => {
          const t = labelTargets(r, COMPETITION_TASKS, { uncertainty: 'ones' });
          expect(Array.from(ds.targets.y.subarray(i * 5, i * 5 + 5))).toEqual(Array.from(t.y));
        });
      }
    }
    const frontal = await loadMimicCxr(jpgRoot, { split: 'train', views: 'frontal' });
    const want = synthRecords('train', N.train, N.seed).filter((r) => r.frontalLateral === 'Frontal').length;
    expect(frontal.size).toBe(want);
    expect((await loadMimicCxr(jpgRoot, { split: 'train', labels: 'negbio' })).size).toBe(N.train);
    await expect(loadMimicCxr(jpgRoot, { split: 'dev' })).rejects.toThrow(/Unknown MIMIC-CXR split "dev"/);
  });

  it('the DICOM tree decodes to the rendered phantoms (8-bit exactly, 12-bit within a level) and batches like JPEG', async () => {
    const records = [...synthRecords('train', N.train, N.seed), ...synthRecords('valid', N.valid, N.seed)];
    const ds = await loadDataset(dcmRoot, { split: 'train', imageSize: 32, batchSize: 32 });
    let worst = 0;
    for (const [i, r] of ds.records.entries()) {
      const g = await decodeGray(join(dcmRoot, r.path), { size: 32 });
      const want = renderSynthImage(records[i]!, 32).data;
      for (let p = 0; p < want.length; p++) worst = Math.max(worst, Math.abs(g.data[p]! - want[p]!));
    }
    expect(worst).toBeLessThanOrEqual(1);
    let n = 0;
    for await (const b of ds.batches(0)) {
      n += b.x.shape[0];
      tf.dispose([b.x, b.y, b.mask]);
    }
    expect([n, ds.skipped.count]).toEqual([N.train, 0]);
  });

  it('pydicom reads every DICOM we wrote (5 syntaxes, MONOCHROME1) to the stored values', async (ctx) => {
    const files = allFiles(join(dcmRoot, 'files')).slice(0, 10);
    const py = `
import sys, json, numpy as np, pydicom
out = {}
for f in sys.argv[1:]:
    ds = pydicom.dcmread(f)
    a = ds.pixel_array.astype(np.int64)
    out[f] = [str(ds.file_meta.TransferSyntaxUID), ds.PhotometricInterpretation, int(ds.BitsStored), int(a.sum()), list(map(int, a.ravel()[:50]))]
print(json.dumps(out))`;
    const r = await runCommand('/usr/bin/python3', ['-c', py, ...files]);
    if (r.code !== 0 && /No module named 'pydicom'|ENOENT/.test(r.err)) {
      // CI sets CHEXZOO_REQUIRE_PYTHON=1: there the missing reference is a failure, not a skip
      if (process.env.CHEXZOO_REQUIRE_PYTHON === '1') throw new Error('CHEXZOO_REQUIRE_PYTHON=1: install python3-pydicom (Debian) to check the DICOM writer.');
      console.warn('SKIPPED (not passed): /usr/bin/python3 with pydicom is missing; install python3-pydicom to check the DICOM writer.');
      ctx.skip();
    }
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as Record<string, [string, string, number, number, number[]]>;
    const syntaxes = new Set(Object.values(got).map((v) => v[0]));
    expect(syntaxes.size).toBe(5);
    expect(Object.values(got).some((v) => v[1] === 'MONOCHROME1')).toBe(true);
    const all = [...synthRecords('train', N.train, N.seed), ...synthRecords('valid', N.valid, N.seed)];
    const ds = await loadMimicCxr(dcmRoot, { split: 'train' });
    const valid = await loadMimicCxr(dcmRoot, { split: 'validate' });
    const paths = [...ds.records, ...valid.records].map((x) => x.path);
    for (const [f, [, photometric, bits, , head]] of Object.entries(got)) {
      const i = paths.indexOf(relative(dcmRoot, f));
      const img = renderSynthImage(all[i]!, N.size).data;
      const top = bits === 12 ? 4095 : 255;
      const stored = Array.from(img.subarray(0, 50), (v) => (bits === 12 ? Math.round((v * 4095) / 255) : v)).map((v) => (photometric === 'MONOCHROME1' ? top - v : v));
      expect(head, f).toEqual(stored);
    }
  });
});

describe('a labelled CSV', () => {
  it('reads image paths relative to the CSV, a split column and CheXpert-named label columns', async () => {
    const ds0 = await loadMimicCxr(jpgRoot, { split: 'train' });
    const lines = ['path,split,Edema,Cardiomegaly,ViewPosition'];
    ds0.records.forEach((r, i) => lines.push(`${r.path},${i < 10 ? 'train' : 'val'},${i % 2},${i % 3 === 0 ? '-1' : ''},${r.frontalLateral === 'Lateral' ? 'LATERAL' : 'PA'}`));
    const csv = join(jpgRoot, 'labels.csv');
    writeFileSync(csv, lines.join('\n') + '\n');
    expect(detectDataLayout(csv).layout).toBe('csv');
    const train = await loadLabelledCsv(csv, { split: 'train', tasks: ['Edema', 'Cardiomegaly'], uncertainty: 'zeros' });
    expect(train.size).toBe(10);
    expect(Array.from(train.targets.y.subarray(0, 4))).toEqual([0, 0, 1, 0]);
    const valid = await loadDataset(csv, { split: 'valid', tasks: ['Edema'], imageSize: 32, batchSize: 8 });
    expect(valid.size).toBe(ds0.size - 10);
    await expect(loadLabelledCsv(csv, { tasks: ['Pneumonia'] })).rejects.toThrow(/no label column "Pneumonia"; its label columns are: Edema, Cardiomegaly/);
  });
});

describe('chexzoo synth --layout --format', () => {
  it('writes a CheXpert layout with DICOM files that loadDataset reads', async () => {
    const out = join(tmp, 'cli');
    const printed: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => printed.push(String(s)) > 0) as typeof process.stdout.write;
    let code: number;
    try {
      code = await runSynth(['--out', out, '--train', '6', '--valid', '4', '--size', '24', '--format', 'dicom', '--quiet']);
      expect(await runSynth(['--out', join(tmp, 'x'), '--format', 'gif', '--quiet'])).not.toBe(0);
      expect(await runSynth(['--out', join(tmp, 'm'), '--train', '4', '--valid', '2', '--size', '16', '--layout', 'mimic'])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    expect(printed.join('')).toMatch(/synthetic MIMIC-CXR dataset .*mimic-cxr-synth[\s\S]*grayscale JPEG[\s\S]*chexzoo train --data .*mimic-cxr-synth/);
    expect(existsSync(join(out, 'CheXpert-v1.0-small', 'train', 'patient00001'))).toBe(true);
    const ds = await loadDataset(out, { split: 'valid', imageSize: 24 });
    expect(ds.layout).toBe('chexpert');
    for await (const b of ds.batches(0)) tf.dispose([b.x, b.y, b.mask]);
    expect(ds.skipped.count).toBe(0);
  });
});

describe.runIf(FULL_TESTS)('train and evaluate from DICOM (FULL_TESTS)', () => {
  it('trainRun and evaluateRun on the synthetic MIMIC-CXR DICOM tree, saying which layout they read', async () => {
    const lines: string[] = [];
    const out = join(tmp, 'run');
    const config = resolveRunConfig({ arch: 'resnet18', block: 'layer2', data: dcmRoot, imageSize: 32, batchSize: 4, maxSteps: 2, validEvery: 2 });
    const r = await trainRun(config, out, { log: (t) => lines.push(t) });
    expect([r.interrupted, r.metrics !== undefined]).toEqual([false, true]);
    expect(lines.join('')).toMatch(/data: MIMIC-CXR layout at .*DICOM images/);
    const e = await evaluateRun(out, dcmRoot, { bootstrap: 0 });
    expect([e.layout, e.split, e.result.n]).toEqual(['mimic-cxr', 'validate', N.valid]);
  }, 300_000);
});
