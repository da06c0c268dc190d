// Any labelled CSV (issue 24): label columns of any name (NIH ChestX-ray14's Nodule, Mass, ...) through the loader,
// a training run, evaluation, export and the study. Expected targets are written out by hand from the CSV below,
// not computed by our code.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { arrayBatchSource, checkTaskNames, csvLabelColumns, getOutputInfo, gradCam, labelTargets, predict, resolveCsvTasks, studyReport, taskUncertainty } from '../src/index.js';
import { checkDataFolder, loadDataset, loadLabelledCsv, loadModel, resolveDataTasks, resolveRunConfig, runStudy, writeSynthDataset } from '../src/node.js';
import { runTrain } from '../src/cli/train.js';
import { runEval } from '../src/cli/eval.js';
import { runExport } from '../src/cli/export.js';
import { runStudyCli } from '../src/cli/study.js';
import { analyze, checkModel, outputNames } from '../examples/browser/pipeline.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-labelled-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 12 images: rows 0-7 train, 8-11 valid. Label cells in every spelling CheXpert's parser takes.
const NODULE = ['1', '0', '-1', '', '1.0', '0.0', '-1.0', '1', '1', '0', '-1', '0'];
const MASS = ['0', '1', '', '1', '-1', '0', '1.0', '0', '0', '1', '1', ''];
const INFIL = ['', '', '1', '0', '', '', '', '', '1', '0', '0', '1'];
let csv = '';
let csvNoLabels = '';

beforeAll(async () => {
  const synth = await writeSynthDataset(join(tmp, 'img'), { train: 12, valid: 1, size: 16, seed: 5 });
  const paths = readFileSync(join(synth.root, 'train.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!.replace(/^[^/]+\//, ''));
  const rel = (p: string) => relative(tmp, join(synth.root, p));
  // header: a quoted path column name, mixed case, meta columns (Age, sex, view) that hold 0/1 values, free text
  const lines = ['"Image_Path",Split,Nodule,Mass,Infiltration,Age,Sex,Finding Notes'];
  paths.forEach((p, i) => lines.push(`${rel(p)},${i < 8 ? 'train' : 'val'},${NODULE[i]},${MASS[i]},${INFIL[i]},${i % 2},${i % 2 ? 'M' : 'F'},"note ${i}, text"`));
  csv = join(tmp, 'nih.csv');
  writeFileSync(csv, lines.join('\r\n') + '\r\n');
  csvNoLabels = join(tmp, 'none.csv');
  writeFileSync(csvNoLabels, `path,Age,Notes\n${rel(paths[0]!)},61,x\n`);
});

describe('task names of a labelled CSV', () => {
  const header = ['path', 'split', 'Nodule', 'mass', 'Edema', 'Age', 'ViewPosition', 'Notes', 'Empty'];
  const rows = [['a.png', 'train', '1', '-1.0', '', '1', 'PA', 'x', ''], ['b.png', 'val', '0', '0.0', '1', '0', 'AP', 'y', '']];

  it('label columns: not path/split/view/sex/age, every non-blank value a label, at least one value', () => {
    expect(csvLabelColumns(header, rows)).toEqual(['Nodule', 'mass', 'Edema']);
    // no tasks: every label column (the competition tasks are not all there); CheXpert names keep CheXpert's spelling
    expect(resolveCsvTasks(header, rows, undefined)).toEqual(['Nodule', 'mass', 'Edema']);
    expect(resolveCsvTasks(header, rows, ['MASS', ' nodule', 'edema'])).toEqual(['mass', 'Nodule', 'Edema']);
    const five = ['path', 'Atelectasis', 'Cardiomegaly', 'Consolidation', 'edema', 'Pleural Effusion', 'Nodule'];
    expect(resolveCsvTasks(five, [['a', '1', '1', '1', '1', '1', '1']], undefined)).toEqual(['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion']);
  });

  it('unknown names and a CSV without labels: errors that list what the CSV has', () => {
    expect(() => resolveCsvTasks(header, rows, ['Nodule', 'Pneumonia'], 'x.csv')).toThrow(/x\.csv has no label column "Pneumonia"; its label columns are: Nodule, mass, Edema/);
    expect(() => resolveCsvTasks(header, rows, ['Age'], 'x.csv')).toThrow(/no label column "Age"/);
    expect(() => resolveCsvTasks(['path', 'Age', 'Notes'], [['a', '61', 'x']], undefined, 'x.csv')).toThrow(/x\.csv has no label column: found path, Age, Notes/);
    expect(() => resolveCsvTasks(header, rows, [], 'x.csv')).toThrow(/No tasks chosen.*Nodule, mass, Edema/);
  });

  it('names that would break CSV, JSON or file names are refused, naming the column', () => {
    expect(() => checkTaskNames(['Nodule', 'nodule'], 'x.csv')).toThrow(/"Nodule" and "nodule" differ only in case/);
    expect(() => checkTaskNames(['a,b'])).toThrow(/"a,b" contains ","/);
    expect(() => checkTaskNames(['Mass/Nodule'])).toThrow(/"Mass\/Nodule" contains "\/"/);
    expect(() => checkTaskNames(['say "x"'])).toThrow(/contains """/);
    expect(() => checkTaskNames(['tab\there'])).toThrow(/control character U\+0009/);
    expect(() => checkTaskNames(['..'])).toThrow(/only dots/);
    expect(() => checkTaskNames([''])).toThrow(/empty name/);
    expect(() => checkTaskNames(['Pleural Effusion', 'Nodule (small)', 'Mass-2', 'x_y.z'])).not.toThrow();
    // through the CSV: an auto-detected label column with a bad name, and two that clash
    expect(() => resolveCsvTasks(['path', 'a/b'], [['x', '1']], undefined, 'x.csv')).toThrow(/x\.csv: the label column "a\/b" contains "\/"/);
    expect(() => resolveCsvTasks(['path', 'Mass', 'MASS'], [['x', '1', '0']], undefined, 'x.csv')).toThrow(/"Mass" and "MASS" differ only in case/);
  });

  it('uncertainty: CheXpert names U-Ones, other names U-Zeros unless given; per-task overrides', () => {
    expect(taskUncertainty(['Edema', 'Nodule'])).toEqual({ Edema: 'ones', Nodule: 'zeros' });
    expect(taskUncertainty(['Edema', 'Nodule'], { uncertainty: 'U-Ignore' })).toEqual({ Edema: 'ignore', Nodule: 'ignore' });
    const r = { labels: { Edema: -1 as const, Nodule: -1 as const } };
    expect(labelTargets(r, ['Edema', 'Nodule'])).toEqual({ y: Float32Array.from([1, 0]), mask: Float32Array.from([1, 1]) });
    expect(labelTargets(r, ['Edema', 'Nodule'], { taskUncertainty: { Nodule: 'ignore' } }).mask).toEqual(Float32Array.from([1, 0]));
    expect(() => labelTargets(r, ['Mass'])).toThrow(/No label "Mass" in this record/);
  });
});

describe('loadLabelledCsv with any label names', () => {
  it('reads Nodule / Mass (case-insensitive), every cell spelling, the split column; defaults to every label column', async () => {
    const train = await loadLabelledCsv(csv, { tasks: ['nodule', 'MASS'], imageSize: 16 });
    expect([train.tasks, train.size, train.layout]).toEqual([['Nodule', 'Mass'], 8, 'csv']);
    // U-Zeros for names that are not CheXpert's; blanks are negatives
    expect(Array.from(train.targets.y)).toEqual([1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0]);
    expect(Array.from(train.targets.mask)).toEqual(Array(16).fill(1));
    const ignore = await loadLabelledCsv(csv, { tasks: ['Nodule'], uncertainty: 'ignore', imageSize: 16 });
    expect(Array.from(ignore.targets.mask)).toEqual([1, 1, 0, 1, 1, 1, 0, 1]);
    const valid = await loadDataset(csv, { split: 'valid', imageSize: 16, batchSize: 8 });
    expect(valid.tasks).toEqual(['Nodule', 'Mass', 'Infiltration']);
    expect(Array.from(valid.targets.y)).toEqual([1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1]);
    const leaks = tf.memory().numTensors;
    for await (const b of valid.batches(0)) {
      expect(b.y.shape).toEqual([4, 3]);
      tf.dispose([b.x, b.y, b.mask]);
    }
    expect(tf.memory().numTensors).toBe(leaks);
    await expect(loadLabelledCsv(csv, { tasks: ['Pneumonia'] })).rejects.toThrow(/nih\.csv has no label column "Pneumonia"; its label columns are: Nodule, Mass, Infiltration/);
    await expect(loadLabelledCsv(csvNoLabels)).rejects.toThrow(/none\.csv has no label column: found path, Age, Notes/);
  });

  it('a column whose name would break files is refused by name unless other tasks are chosen', async () => {
    const odd = join(tmp, 'odd.csv');
    writeFileSync(odd, readFileSync(csv, 'utf8').replace('Infiltration', 'Size/mm'));
    await expect(checkDataFolder(odd)).rejects.toThrow(/the label column "Size\/mm" contains "\/", which breaks CSV, JSON or file names/);
    expect(await checkDataFolder(odd, { tasks: ['Nodule'] })).toMatchObject({ layout: 'csv', train: 8, valid: 4 });
    expect(resolveDataTasks(odd, ['mass'])).toEqual(['Mass']);
  });

  it("NIH ChestX-ray14's column names: Image Index, View Position (the view filter), Patient Age / Gender are not labels", async () => {
    const nih = join(tmp, 'nih-style.csv');
    const rows = readFileSync(csv, 'utf8').trim().split('\r\n').slice(1).map((l) => l.split(',')[0]!);
    const views = ['PA', 'AP', 'LL', 'PA', 'AP', 'PA', 'PA', 'AP', 'PA', 'AP', 'PA', 'PA'];
    writeFileSync(nih, ['Image Index,Effusion,Patient Age,Patient Gender,View Position', ...rows.map((p, i) => `${p},${i % 2},${i % 2},${i % 2 ? 'M' : 'F'},${views[i]}`)].join('\n'));
    const all = await loadLabelledCsv(nih, { imageSize: 16 });
    expect([all.tasks, all.size]).toEqual([['Effusion'], 12]);
    expect((await loadLabelledCsv(nih, { views: 'PA', imageSize: 16 })).size).toBe(7);
    expect((await loadLabelledCsv(nih, { views: 'frontal', imageSize: 16 })).size).toBe(11);
  });

  it('a bad label cell names the file, line and column', async () => {
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'path,Nodule,Mass\nx.png,1,0\ny.png,2,0\n');
    await expect(loadLabelledCsv(bad, { tasks: ['Nodule'] })).rejects.toThrow(/bad\.csv, line 3, column 2 \("Nodule"\): Invalid CheXpert label "2"/);
    expect(() => resolveRunConfig({ arch: 'resnet18', data: bad, tasks: ['Nodule/x'] })).toThrow(/no label column "Nodule\/x"/);
  });
});

describe('train, eval, export and the study on a CSV of other findings', () => {
  let stderr: MockInstance;
  let stdout: MockInstance;
  beforeEach(() => {
    stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => [stderr, stdout].forEach((m) => m.mockRestore()));
  const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
  const json = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>;

  it('chexzoo train --tasks nodule,mass: head, metrics, predictions, config, model names, resume, eval, export, Grad-CAM', async () => {
    const out = join(tmp, 'run');
    const tiny = ['--arch', 'resnet18', '--truncate', 'layer1', '--data', csv, '--out', out, '--image-size', '32', '--batch-size', '4', '--max-steps', '2', '--valid-every', '2', '--quiet'];
    expect(await runTrain([...tiny, '--tasks', 'nodule,mass'])).toBe(0);
    const config = json(join(out, 'config.json'));
    expect([config.tasks, config.taskUncertainty]).toEqual([['Nodule', 'Mass'], { Nodule: 'zeros', Mass: 'zeros' }]);
    const metrics = json(join(out, 'metrics.json'));
    expect(Object.keys(metrics.valid.perTask)).toEqual(['Nodule', 'Mass']);
    expect(json(join(out, 'predictions.json')).tasks).toEqual(['Nodule', 'Mass']);
    expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toMatch(/Nodule[\s\S]*Mass/);
    const model = await loadModel(join(out, 'model'));
    expect(model.outputs[0]!.shape).toEqual([null, 2]);
    expect(getOutputInfo(model)).toEqual({ labels: ['Nodule', 'Mass'], source: 'run' });
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    const cam = await gradCam(model, x, { classIndex: 1 });
    x.dispose();
    expect([cam.classIndex, cam.className]).toEqual([1, 'Mass']);
    model.dispose();
    // a resume with other tasks is refused, naming them
    expect(await runTrain([...tiny, '--max-steps', '3', '--tasks', 'Nodule'])).toBe(1);
    expect(text(stderr)).toMatch(/tasks: \["Nodule","Mass"\] -> \["Nodule"\]/);

    stdout.mockClear();
    expect(await runEval(['--run', out, '--data', csv, '--json', '--bootstrap', '0'])).toBe(0);
    const ev = JSON.parse(text(stdout)) as { layout: string; n: number; perTask: Record<string, number> };
    expect([ev.layout, ev.n, Object.keys(ev.perTask)]).toEqual(['csv', 4, ['Nodule', 'Mass']]);

    const served = join(tmp, 'served');
    expect(await runExport(['--run', out, '--format', 'transformers', '--out', served])).toBe(0);
    expect(json(join(served, 'config.json')).id2label).toEqual({ 0: 'Nodule', 1: 'Mass' });
    // a bare model folder carries its names too
    expect(await runExport(['--model', join(out, 'model'), '--format', 'transformers', '--out', join(tmp, 'served2')])).toBe(0);
    expect(json(join(tmp, 'served2', 'config.json')).label2id).toEqual({ Nodule: 0, Mass: 1 });
    expect(await runExport(['--run', out, '--format', 'onnx', '--out', join(tmp, 'm.onnx')])).toBe(0);
    expect(readFileSync(join(tmp, 'm.onnx')).toString('latin1')).toContain('["Nodule","Mass"]');
  }, 120_000);

  it('chexzoo study on the CSV: every label column, and the report says the paper is on other tasks', async () => {
    const out = join(tmp, 'study');
    // the CLI's --tasks reaches the data check before any training
    expect(await runStudyCli(['--data', csv, '--tasks', 'Pneumonia', '--out', join(tmp, 'study-bad')])).toBe(1);
    expect(text(stderr)).toMatch(/nih\.csv has no label column "Pneumonia"; its label columns are: Nodule, Mass, Infiltration/);
    const { results } = await runStudy({ data: csv, out, archs: ['resnet18'], inits: ['random'], truncate: 'none', maxSteps: 1, imageSize: 32, batchSize: 4, bootstrap: 20, log: () => {}, barStream: null });
    expect(results!.data.tasks).toEqual(['Nodule', 'Mass', 'Infiltration']);
    expect(results!.data.kind).toBe('csv');
    expect(Object.keys(results!.runs[0]!.perTask)).toEqual(['Nodule', 'Mass', 'Infiltration']);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/These runs are on other tasks than the paper's \(Nodule, Mass, Infiltration/);
    expect(report).toContain("not compared: the paper's numbers are for CheXpert's 5 competition tasks");
    expect(report).not.toContain('-0.72'); // the paper's rho of finding 3
    // the same results on the competition tasks quote the paper again
    const back = studyReport({ ...results!, data: { ...results!.data, tasks: ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion'] } }).markdown;
    expect(back).not.toContain('not compared');
    expect(back).toContain('-0.72');
  }, 120_000);
});
