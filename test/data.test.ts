import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CHEXPERT_OBSERVATIONS,
  COMPETITION_TASKS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  chexpertRootCandidates,
  formatChexpertCsv,
  grayToUnit,
  imagePathInDataset,
  labelPrevalence,
  labelTargets,
  matchesView,
  normalizeUncertainty,
  parseChexpertCsv,
  parseCsv,
  renderSynthImage,
  resolveTasks,
  sampleAugment,
  synthRecords,
  type ChexpertRecord,
  type SynthRecord,
} from '../src/index.js';
import { decodeGray, loadChexpert, loadImage, MAX_INPUT_PIXELS, writeSynthDataset } from '../src/node.js';
import { runSynth } from '../src/cli/synth.js';
import { rng } from '../src/utils/rng.js';
import { leakCheck } from './helpers/index.js';

const HEADER = 'Path,Sex,Age,Frontal/Lateral,AP/PA,' + CHEXPERT_OBSERVATIONS.join(',');
const row = (path: string, fl: string, ap: string, labels: string[]) => [path, 'Female', '70', fl, ap, ...labels].join(',');

describe('CSV parsing', () => {
  it('handles quotes, doubled quotes, commas and line breaks inside quotes, CRLF and a BOM', () => {
    const text = '\ufeffa,b,c\r\n"x, y","say ""hi""",\r\n"multi\nline",2,"3"\n\n';
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', ''],
      ['multi\nline', '2', '3'],
    ]);
    expect(parseCsv('a,b')).toEqual([['a', 'b']]);
    expect(() => parseCsv('a,"b\n')).toThrow(/closing double quote/);
  });

  it('reads CheXpert rows: 1.0 / 0.0 / -1.0 / blank, quoted paths, age', () => {
    const labels = CHEXPERT_OBSERVATIONS.map((_, i) => ['1.0', '0.0', '-1.0', ''][i % 4]);
    const text = [HEADER, row('"CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg"', 'Frontal', 'AP', labels), row('CheXpert-v1.0-small/train/patient00001/study1/view2_lateral.jpg', 'Lateral', '', labels)].join('\n');
    const recs = parseChexpertCsv(text);
    expect(recs).toHaveLength(2);
    expect(recs[0].path).toBe('CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg');
    expect(recs[0].age).toBe(70);
    expect(recs[0].apPa).toBe('AP');
    expect(recs[1].frontalLateral).toBe('Lateral');
    expect(CHEXPERT_OBSERVATIONS.map((o) => recs[0].labels[o])).toEqual(CHEXPERT_OBSERVATIONS.map((_, i) => [1, 0, -1, null][i % 4]));
  });

  it('names the line and column of a bad label, and missing columns', () => {
    const labels = CHEXPERT_OBSERVATIONS.map(() => '');
    labels[2] = 'maybe';
    expect(() => parseChexpertCsv([HEADER, row('p/train/a.jpg', 'Frontal', 'PA', labels)].join('\n'))).toThrow(/line 2, column 8 \("Cardiomegaly"\).*maybe/);
    expect(() => parseChexpertCsv('Path,Sex\nx,y\n')).toThrow(/lacks the column.*No Finding/);
    expect(() => parseChexpertCsv('')).toThrow(/empty/);
  });

  it('refuses text after a closing quote ("x"y), naming the line and column', () => {
    expect(() => parseCsv('a,b,c\n1,"x"y,3\n')).toThrow(/CSV line 2, column 2: text after the closing quote/);
    // lines are counted in the file, also after a quoted field spanning two lines
    expect(() => parseCsv('a,b\n"two\nlines",ok\n1,2\n"p" ,3\n')).toThrow(/CSV line 5, column 1/);
    const labels = CHEXPERT_OBSERVATIONS.map(() => '1.0');
    expect(() => parseChexpertCsv([HEADER, row('"CheXpert-v1.0-small/train/a.jpg"x', 'Frontal', 'PA', labels)].join('\n'))).toThrow(
      /line 2, column 1: text after the closing quote/,
    );
    // quoted fields that end properly, before a comma, a line break or the end, are fine
    expect(parseCsv('"a","b"\r\n"c",""')).toEqual([['a', 'b'], ['c', '']]);
  });

  it('refuses rows with fewer cells than the header (their labels would read as blank negatives)', () => {
    const labels = CHEXPERT_OBSERVATIONS.map(() => '1.0');
    const full = row('CheXpert-v1.0-small/train/a.jpg', 'Frontal', 'PA', labels);
    const short = row('CheXpert-v1.0-small/train/b.jpg', 'Frontal', 'PA', labels.slice(0, 12));
    expect(() => parseChexpertCsv([HEADER, full, short].join('\n'))).toThrow(
      /CheXpert CSV line 3, column 18 \("Fracture"\): the row has 17 cells but the header has 19/,
    );
    // a path with an unquoted comma shifts every cell: one cell too many
    const long = row('CheXpert-v1.0-small/train/c,d.jpg', 'Frontal', 'PA', labels);
    expect(() => parseChexpertCsv([HEADER, full, long].join('\n'))).toThrow(/line 3, column 20: the row has 20 cells but the header has 19/);
    // a trailing empty cell (a trailing comma) is harmless
    expect(parseChexpertCsv([HEADER, `${full},`].join('\n'))).toHaveLength(1);
  });

  it('round-trips through formatChexpertCsv', () => {
    const recs = synthRecords('train', 40, 5);
    const back = parseChexpertCsv(formatChexpertCsv(recs));
    expect(back.map((r) => [r.path, r.sex, r.age, r.frontalLateral, r.apPa, r.labels])).toEqual(recs.map((r) => [r.path, r.sex, r.age, r.frontalLateral, r.apPa, r.labels]));
  });
});

describe('labels, policies, views, paths', () => {
  const rec = {
    labels: { ...Object.fromEntries(CHEXPERT_OBSERVATIONS.map((o) => [o, null])), Atelectasis: -1, Cardiomegaly: 1, Consolidation: 0, Edema: null, 'Pleural Effusion': -1 },
  } as Pick<ChexpertRecord, 'labels'>;

  it('applies U-Ones, U-Zeros, U-Ignore and the blank policies', () => {
    const t = (u: string, b?: string) => {
      const { y, mask } = labelTargets(rec, COMPETITION_TASKS, { uncertainty: u, blanks: b });
      return [Array.from(y), Array.from(mask)];
    };
    // Order: Atelectasis(-1), Cardiomegaly(1), Consolidation(0), Edema(blank), Pleural Effusion(-1).
    expect(t('U-Ones')).toEqual([[1, 1, 0, 0, 1], [1, 1, 1, 1, 1]]);
    expect(t('zeros')).toEqual([[0, 1, 0, 0, 0], [1, 1, 1, 1, 1]]);
    expect(t('u-ignore')).toEqual([[0, 1, 0, 0, 0], [0, 1, 1, 1, 0]]);
    expect(t('ones', 'ignore')).toEqual([[1, 1, 0, 0, 1], [1, 1, 1, 0, 1]]);
    expect(t('ones', 'ones')).toEqual([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1]]);
    expect(() => normalizeUncertainty('U-Maybe')).toThrow(/U-Ones/);
  });

  it('resolves tasks by name, case-insensitively, and rejects unknown ones', () => {
    expect(resolveTasks()).toEqual([...COMPETITION_TASKS]);
    expect(resolveTasks(['edema', 'pleural_effusion', 'No Finding'])).toEqual(['Edema', 'Pleural Effusion', 'No Finding']);
    expect(() => resolveTasks(['Cardiomegally'])).toThrow(/Unknown CheXpert task "Cardiomegally"/);
    expect(() => resolveTasks([])).toThrow(/at least one/);
  });

  it('filters views', () => {
    const ap = { frontalLateral: 'Frontal', apPa: 'AP' };
    const pa = { frontalLateral: 'Frontal', apPa: 'PA' };
    const lat = { frontalLateral: 'Lateral', apPa: '' };
    const keep = (v: Parameters<typeof matchesView>[1]) => [ap, pa, lat].map((r) => matchesView(r, v));
    expect(keep('all')).toEqual([true, true, true]);
    expect(keep('frontal')).toEqual([true, true, false]);
    expect(keep('lateral')).toEqual([false, false, true]);
    expect(keep('AP')).toEqual([true, false, false]);
    expect(keep(['PA', 'lateral'])).toEqual([false, true, true]);
  });

  it('maps CSV paths into the dataset folder and lists root candidates', () => {
    expect(imagePathInDataset('CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg')).toBe('train/patient00001/study1/view1_frontal.jpg');
    expect(imagePathInDataset('MyRenamedCopy/valid/p/s/v.jpg')).toBe('valid/p/s/v.jpg');
    expect(imagePathInDataset('train/p/s/v.jpg')).toBe('train/p/s/v.jpg');
    expect(() => imagePathInDataset('CheXpert-v1.0-small/../../etc/passwd')).toThrow(/leaves the dataset/);
    expect(chexpertRootCandidates('/data/')).toEqual(['/data', '/data/CheXpert-v1.0-small', '/data/CheXpert-v1.0']);
  });
});

describe('synthetic phantoms', () => {
  it('is deterministic per seed, and a smaller count is a prefix', () => {
    const a = synthRecords('train', 200, 7);
    const b = synthRecords('train', 200, 7);
    const c = synthRecords('train', 200, 8);
    expect(a.map((r) => [r.path, r.labels])).toEqual(b.map((r) => [r.path, r.labels]));
    expect(a.map((r) => r.labels)).not.toEqual(c.map((r) => r.labels));
    expect(synthRecords('train', 50, 7).map((r) => r.path)).toEqual(a.slice(0, 50).map((r) => r.path));
    const ia = renderSynthImage(a[3], 64);
    expect(Buffer.from(renderSynthImage(b[3], 64).data).equals(Buffer.from(ia.data))).toBe(true);
    expect(Buffer.from(renderSynthImage(c[3], 64).data).equals(Buffer.from(ia.data))).toBe(false);
    expect(ia.data.length).toBe(64 * 64);
  });

  it('has release-like labels: -1 and blanks only in train, sane prevalence, frontal and lateral views', () => {
    const train = synthRecords('train', 2000, 1);
    const valid = synthRecords('valid', 400, 1);
    const pt = labelPrevalence(train);
    const pv = labelPrevalence(valid);
    for (const t of COMPETITION_TASKS) {
      expect(pt[t].positive).toBeGreaterThan(0.1);
      expect(pt[t].positive).toBeLessThan(0.4);
      expect(pt[t].uncertain).toBeGreaterThan(0.005);
      expect(pt[t].blank).toBeGreaterThan(0.2);
      expect(pv[t].positive).toBeGreaterThan(0.1);
      expect(pv[t].positive).toBeLessThan(0.45);
    }
    for (const o of CHEXPERT_OBSERVATIONS) {
      expect(pv[o].uncertain).toBe(0);
      expect(pv[o].blank).toBe(0);
    }
    expect(pt.Atelectasis.uncertain).toBeGreaterThan(pt.Cardiomegaly.uncertain);
    const lateral = train.filter((r) => r.frontalLateral === 'Lateral').length / train.length;
    expect(lateral).toBeGreaterThan(0.08);
    expect(lateral).toBeLessThan(0.3);
    expect(train.every((r) => (r.frontalLateral === 'Lateral' ? r.apPa === '' : r.apPa === 'AP' || r.apPa === 'PA'))).toBe(true);
    expect(train[0].path).toMatch(/^CheXpert-v1\.0-small\/train\/patient00001\/study1\/view1_frontal\.jpg$/);
    expect(valid[0].path).toMatch(/^CheXpert-v1\.0-small\/valid\/patient64541\/study1\/view1_frontal\.jpg$/);
    // No Finding is positive only when no pathology is positive or uncertain.
    for (const r of train) {
      if (r.labels['No Finding'] === 1) {
        expect(CHEXPERT_OBSERVATIONS.filter((o) => o !== 'No Finding' && o !== 'Support Devices').some((o) => r.labels[o] === 1 || r.labels[o] === -1)).toBe(false);
      }
    }
    // Valid labels are the drawn truth.
    for (const r of valid) {
      expect(r.labels.Cardiomegaly === 1).toBe(r.truth.cardiomegaly > 0);
      expect(r.labels['Pleural Effusion'] === 1).toBe(r.truth.effusion[0] + r.truth.effusion[1] > 0);
    }
  });

  it('draws each competition finding as added density in its region', () => {
    const base = synthRecords('valid', 1, 3)[0];
    const clean: SynthRecord = { ...base, view: 'frontal', apPa: 'PA', truth: { ...base.truth, cardiomegaly: 0, effusion: [0, 0], edema: 0, consolidation: 0, atelectasis: 0, supportDevices: false } };
    const size = 96;
    const mean = (r: SynthRecord, y0 = 0, y1 = 1) => {
      const { data } = renderSynthImage(r, size);
      let s = 0;
      for (let i = Math.floor(y0 * size) * size; i < Math.floor(y1 * size) * size; i++) s += data[i];
      return s / ((Math.floor(y1 * size) - Math.floor(y0 * size)) * size);
    };
    const m0 = mean(clean);
    const withFinding = (f: Partial<SynthRecord['truth']>) => ({ ...clean, truth: { ...clean.truth, ...f } });
    expect(mean(withFinding({ cardiomegaly: 0.6 }))).toBeGreaterThan(m0 + 2);
    expect(mean(withFinding({ edema: 0.6 }))).toBeGreaterThan(m0 + 5);
    expect(mean(withFinding({ consolidation: 0.6 }))).toBeGreaterThan(m0 + 1);
    expect(mean(withFinding({ atelectasis: 0.6 }))).toBeGreaterThan(m0 + 0.5);
    // Effusion brightens the lower half (the costophrenic angles), not the upper.
    expect(mean(withFinding({ effusion: [0.6, 0.6] }), 0.5, 1)).toBeGreaterThan(mean(clean, 0.5, 1) + 5);
    expect(Math.abs(mean(withFinding({ effusion: [0.6, 0.6] }), 0, 0.3) - mean(clean, 0, 0.3))).toBeLessThan(0.5);
  });
});

describe('images and datasets on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chexzoo-data-'));
    await writeSynthDataset(join(dir, 'a'), { train: 30, valid: 12, size: 48, seed: 4 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const hashes = (root: string) => {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else out[relative(root, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
      }
    };
    walk(root);
    return out;
  };

  it('writes the release layout deterministically per seed, atomically, and refuses to overwrite silently', async () => {
    const root = join(dir, 'a', 'CheXpert-v1.0-small');
    expect(readdirSync(join(dir, 'a'))).toEqual(['CheXpert-v1.0-small']); // no temp folder left
    expect(existsSync(join(root, 'train', 'patient00001', 'study1', 'view1_frontal.jpg'))).toBe(true);
    const meta = await sharp(join(root, 'train', 'patient00001', 'study1', 'view1_frontal.jpg')).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 48, 48, 1]);
    const h = hashes(root);
    expect(Object.keys(h).filter((k) => k.endsWith('.jpg'))).toHaveLength(42);
    await writeSynthDataset(join(dir, 'b'), { train: 30, valid: 12, size: 48, seed: 4 });
    expect(hashes(join(dir, 'b', 'CheXpert-v1.0-small'))).toEqual(h);
    await expect(writeSynthDataset(join(dir, 'b'), { train: 30, valid: 12, size: 48, seed: 5 })).rejects.toThrow(/already exists.*--force/);
    await writeSynthDataset(join(dir, 'b'), { train: 30, valid: 12, size: 48, seed: 5, overwrite: true });
    const h5 = hashes(join(dir, 'b', 'CheXpert-v1.0-small'));
    expect(h5['train.csv']).not.toBe(h['train.csv']);
    expect(readdirSync(join(dir, 'b'))).toEqual(['CheXpert-v1.0-small']);
  });

  it('accepts the dataset folder or its parent, and gives batches of the right shapes without leaking tensors', async () => {
    const leaks = leakCheck();
    const fromParent = await loadChexpert(join(dir, 'a'), { split: 'valid', imageSize: 32, batchSize: 5 });
    const fromFolder = await loadChexpert(join(dir, 'a', 'CheXpert-v1.0-small'), { split: 'valid', imageSize: 32, batchSize: 5 });
    expect(fromParent.size).toBe(12);
    expect(fromFolder.root).toBe(fromParent.root);
    expect(fromParent.numBatches).toBe(3);
    expect(fromParent.tasks).toEqual([...COMPETITION_TASKS]);
    const sizes: number[] = [];
    const seen: number[] = [];
    for await (const b of fromParent.batches(0)) {
      expect(b.x.shape).toEqual([b.indices.length, 32, 32, 3]);
      expect(b.x.dtype).toBe('float32');
      expect(b.y.shape).toEqual([b.indices.length, 5]);
      expect(b.mask.shape).toEqual([b.indices.length, 5]);
      const y = await b.y.data();
      b.indices.forEach((i, j) => {
        expect(Array.from(y.subarray(j * 5, j * 5 + 5))).toEqual(COMPETITION_TASKS.map((t) => (fromParent.records[i].labels[t] === 1 ? 1 : 0)));
      });
      sizes.push(b.indices.length);
      seen.push(...b.indices);
      tf.dispose([b.x, b.y, b.mask]);
    }
    expect(sizes).toEqual([5, 5, 2]);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i)); // valid is not shuffled
    // A resumed run starts mid-epoch: the same batches as a full pass, from the requested one on.
    expect(fromParent.seekable).toBe(true);
    const tail: number[][] = [];
    for await (const b of fromParent.batches(0, { startBatch: 1 })) {
      tail.push(b.indices);
      tf.dispose([b.x, b.y, b.mask]);
    }
    expect(tail).toEqual([[5, 6, 7, 8, 9], [10, 11]]);
    await expect(fromParent.batches(0, { startBatch: -1 }).next()).rejects.toThrow(/startBatch must be a whole number/);
    // Stopping early leaks nothing either.
    for await (const b of fromFolder.batches(0)) {
      tf.dispose([b.x, b.y, b.mask]);
      break;
    }
    leaks.check();
    await expect(loadChexpert(join(dir, 'nope'))).rejects.toThrow(/does not exist.*chexzoo synth/);
    await expect(loadChexpert(dir)).rejects.toThrow(/No train\.csv found/);
  });

  it('applies view filters, U-Ignore masks, seeded shuffling and augmentation', async () => {
    const opts = { imageSize: 32, batchSize: 8, channels: 1 as const, augment: true, seed: 3, uncertainty: 'ignore', views: 'frontal' as const };
    const ds = await loadChexpert(join(dir, 'a'), opts);
    expect(ds.records.every((r) => r.frontalLateral === 'Frontal')).toBe(true);
    ds.records.forEach((r, i) => {
      COMPETITION_TASKS.forEach((t, k) => expect(ds.targets.mask[i * 5 + k]).toBe(r.labels[t] === -1 ? 0 : 1));
    });
    expect(ds.targets.mask.some((m) => m === 0)).toBe(true);
    const first = async (d: typeof ds, epoch: number) => {
      for await (const b of d.batches(epoch)) {
        const out = { x: Array.from(await b.x.data()), idx: b.indices };
        tf.dispose([b.x, b.y, b.mask]);
        return out;
      }
      throw new Error('no batch');
    };
    const again = await loadChexpert(join(dir, 'a'), opts);
    const e0 = await first(ds, 0);
    expect(await first(again, 0)).toEqual(e0);
    const e1 = await first(ds, 1);
    expect(e1.idx).not.toEqual(e0.idx);
    const other = await first(await loadChexpert(join(dir, 'a'), { ...opts, seed: 4 }), 0);
    expect(other.idx).not.toEqual(e0.idx);
  });

  it('skips, counts and reports missing and corrupt images without stopping the epoch', async () => {
    await writeSynthDataset(join(dir, 'broken'), { train: 20, valid: 4, size: 32, seed: 1 });
    const root = join(dir, 'broken', 'CheXpert-v1.0-small');
    const recs = parseChexpertCsv(readFileSync(join(root, 'train.csv'), 'utf8'));
    unlinkSync(join(root, imagePathInDataset(recs[2].path)));
    writeFileSync(join(root, imagePathInDataset(recs[7].path)), Buffer.from('this is not a jpeg'));
    const cut = join(root, imagePathInDataset(recs[11].path));
    writeFileSync(cut, readFileSync(cut).subarray(0, 400)); // truncated JPEG
    const onSkip = vi.fn();
    const ds = await loadChexpert(join(dir, 'broken'), { imageSize: 32, batchSize: 6, onSkip });
    for (let epoch = 0; epoch < 2; epoch++) {
      let n = 0;
      const seen = new Set<number>();
      for await (const b of ds.batches(epoch)) {
        n += b.indices.length;
        b.indices.forEach((i) => seen.add(i));
        tf.dispose([b.x, b.y, b.mask]);
      }
      expect(n).toBe(17);
      expect(seen.has(2) || seen.has(7) || seen.has(11)).toBe(false);
    }
    expect(ds.skipped.count).toBe(3);
    expect(onSkip).toHaveBeenCalledTimes(3);
    const reasons = Object.fromEntries(ds.skipped.items.map((s) => [relative(root, s.path), s.reason]));
    expect(reasons[imagePathInDataset(recs[2].path)]).toBe('missing file');
    expect(reasons[imagePathInDataset(recs[7].path)]).toMatch(/^unreadable image/);
    expect(reasons[imagePathInDataset(recs[11].path)]).toMatch(/^unreadable image/);
  });

  it('skips (and counts) images whose symlink leaves the dataset folder; links inside it are fine', async () => {
    await writeSynthDataset(join(dir, 'links'), { train: 8, valid: 2, size: 32, seed: 2 });
    const root = join(dir, 'links', 'CheXpert-v1.0-small');
    const recs = parseChexpertCsv(readFileSync(join(root, 'train.csv'), 'utf8'));
    const outside = join(dir, 'outside.jpg');
    copyFileSync(join(root, imagePathInDataset(recs[0].path)), outside);
    const escaping = join(root, imagePathInDataset(recs[1].path));
    unlinkSync(escaping);
    symlinkSync(outside, escaping);
    const inside = join(root, imagePathInDataset(recs[3].path));
    unlinkSync(inside);
    symlinkSync(join(root, imagePathInDataset(recs[4].path)), inside);
    // the dataset folder itself may be reached through a symlink
    symlinkSync(join(dir, 'links'), join(dir, 'links-alias'));
    const onSkip = vi.fn();
    const ds = await loadChexpert(join(dir, 'links-alias'), { imageSize: 32, batchSize: 8, shuffle: false, onSkip });
    const seen: number[] = [];
    for await (const b of ds.batches(0)) {
      seen.push(...b.indices);
      tf.dispose([b.x, b.y, b.mask]);
    }
    expect(seen).toEqual([0, 2, 3, 4, 5, 6, 7]);
    expect(ds.skipped.count).toBe(1);
    expect(onSkip).toHaveBeenCalledTimes(1);
    expect(ds.skipped.items[0]!.reason).toBe(`outside the dataset folder: a symlink leads to ${realpathSync(outside)}`);
  });

  it('refuses images above MAX_INPUT_PIXELS from their header, and decodes a 3000 x 3000 radiograph', async () => {
    expect(MAX_INPUT_PIXELS).toBe(50_000_000);
    const png = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer();
    const big = await png(7200, 7000); // 50.4 MP, under sharp's own default limit (268 MP)
    const t0 = Date.now();
    await expect(decodeGray(big, { size: 32 })).rejects.toThrow(/more than 50000000 pixels \(maxInputPixels\)/);
    expect(Date.now() - t0).toBeLessThan(1000);
    const ok = await decodeGray(await png(3000, 3000), { size: 32 });
    expect(ok.data.length).toBe(32 * 32);
    await expect(decodeGray(await png(300, 300), { size: 32, maxInputPixels: 300 * 299 })).rejects.toThrow(/maxInputPixels/);
    await expect(decodeGray(await png(300, 300), { size: 32, maxInputPixels: 300 * 300 })).resolves.toBeDefined();
  });

  it('normalises with the given mean/std and resizes by crop or squash', async () => {
    // 40 wide x 20 high: white in columns 0-9, black elsewhere.
    const w = 40;
    const h = 20;
    const px = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < 10; x++) px[y * w + x] = 255;
    const png = await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
    const crop = await decodeGray(png, { size: 20, resize: 'crop', kernel: 'nearest' });
    const squash = await decodeGray(png, { size: 20, resize: 'squash', kernel: 'nearest' });
    expect(Math.max(...crop.data)).toBe(0); // the centre crop misses the white band
    expect(squash.data[0]).toBe(255);
    expect(squash.data[19]).toBe(0);

    const grey = await sharp(Buffer.alloc(8 * 8, 51), { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer();
    const x3 = await loadImage(grey, { size: 8 });
    expect(x3.length).toBe(8 * 8 * 3);
    for (let c = 0; c < 3; c++) expect(x3[c]).toBeCloseTo((0.2 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 5);
    const x1 = await loadImage(grey, { size: 8, channels: 1, mean: [0.5], std: [0.25] });
    expect(x1.length).toBe(64);
    expect(x1[10]).toBeCloseTo((0.2 - 0.5) / 0.25, 5);
    await expect(loadImage(grey, { size: 8, channels: 3, mean: [0.1, 0.2] })).rejects.toThrow(/mean has 2 values/);
  });

  it('augments reproducibly; no-op parameters leave pixels unchanged', () => {
    const g = renderSynthImage(synthRecords('valid', 1, 0)[0], 32).data;
    const id = { angle: 0, dx: 0, dy: 0, zoom: 1, brightness: 0, contrast: 1, flip: false };
    expect(grayToUnit(g, 32, 32, id)).toEqual(Float32Array.from(g, (v) => v / 255));
    const flipped = grayToUnit(g, 32, 32, { ...id, flip: true });
    expect(flipped[0]).toBeCloseTo(g[31] / 255, 6);
    const p = sampleAugment(rng(9));
    expect(sampleAugment(rng(9))).toEqual(p);
    expect(p.flip).toBe(false); // flips are off by default (laterality)
    expect(Math.abs(p.angle)).toBeLessThanOrEqual((7 * Math.PI) / 180);
    expect(grayToUnit(g, 32, 32, p)).not.toEqual(Float32Array.from(g, (v) => v / 255));
  });

  it('runs `chexzoo synth`', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runSynth(['--help'])).toBe(0);
      expect(await runSynth([])).toBe(2);
      expect(await runSynth(['--out', join(dir, 'cli'), '--train', 'x'])).toBe(2);
      expect(await runSynth(['--out', join(dir, 'cli'), '--train', '6', '--valid', '3', '--size', '32', '--seed', '2'])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toMatch(/train\.csv: 6 images, valid\.csv: 3 images/);
      expect(await runSynth(['--out', join(dir, 'cli'), '--train', '6'])).toBe(1);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(parseChexpertCsv(readFileSync(join(dir, 'cli', 'CheXpert-v1.0-small', 'valid.csv'), 'utf8'))).toHaveLength(3);
  });
});
