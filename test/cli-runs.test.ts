// The `chexzoo` CLI on run folders and flags (issue 10 points 5, 6, 8, 10; issue 16 point 4).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { createModel, saveSafetensors, writeSynthDataset } from '../src/node.js';
import { runTrain } from '../src/cli/train.js';
import { runEval } from '../src/cli/eval.js';
import { runSynth } from '../src/cli/synth.js';
import { runTruncate } from '../src/cli/truncate.js';
import { runReport } from '../src/cli/report.js';
import { main } from '../src/cli/main.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-cli-runs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let data: string;
/** A dataset folder whose train.csv cannot be read (a folder): anything that reads the data fails on it. */
let unreadable: string;
beforeAll(async () => {
  data = join(tmp, 'synth');
  await writeSynthDataset(data, { train: 16, valid: 8, size: 16, seed: 4 });
  unreadable = join(tmp, 'unreadable');
  mkdirSync(join(unreadable, 'train.csv'), { recursive: true });
  writeFileSync(join(unreadable, 'valid.csv'), 'Path\n');
});

let stderr: MockInstance;
let stdout: MockInstance;
let log: MockInstance;
let error: MockInstance;
beforeEach(() => {
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  log = vi.spyOn(console, 'log').mockImplementation(() => {});
  error = vi.spyOn(console, 'error').mockImplementation(() => {});
});
afterEach(() => {
  for (const m of [stderr, stdout, log, error]) m.mockRestore();
});
const errText = () => [...stderr.mock.calls, ...error.mock.calls].map((c) => String(c[0])).join('');
const outText = () => [...stdout.mock.calls, ...log.mock.calls].map((c) => String(c[0])).join('');

const tiny = (out: string, d = data) => ['--arch', 'resnet18', '--truncate', 'layer1', '--data', d, '--out', out, '--image-size', '32', '--batch-size', '8', '--quiet'];

describe('numeric flags (issue 10.10)', () => {
  it.each([
    '--batch-size 0',
    '--epochs -1',
    '--epochs=-1',
    '--lr -1',
    '--lr=-1',
    '--lr nan',
    '--lr 0',
    '--top-k 0',
    '--top-k=-1',
    '--max-steps 0',
    '--img-size=-5',
    '--image-size=-5',
    '--seed 1.5',
    '--seed=-1',
    '--patience 0',
    '--valid-every=-2',
    '--checkpoint-every 0',
    '--truncate nope',
    '--truncate=-9',
  ])('chexzoo train %s exits 2 with the usage, before reading data or touching --out', async (flags: string) => {
    const flag = flags.split(' ');
    const out = join(tmp, `flag${flag.join('')}`);
    // the old code read the data before some checks: the unreadable dataset made that a failure (exit 1)
    expect(await runTrain(['--arch', 'resnet18', '--data', unreadable, '--out', out, ...flag])).toBe(2);
    expect(errText()).toContain(flag[0]!.replace(/=.*/, ''));
    expect(errText()).toContain('Usage: chexzoo train');
    expect(existsSync(out)).toBe(false);
  });

  it('the installed command exits 2 (spawned through the CLI entry)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), 'train', '--arch', 'resnet18', '--data', unreadable, '--out', join(tmp, 'spawned'), '--batch-size', '0'], {
      encoding: 'utf8',
      cwd: resolve('.'),
    });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--batch-size must be an integer >= 1, got "0"/);
    expect(r.stderr).toContain('Usage: chexzoo train');
  });

  it('chexzoo truncate --block -1 works as documented (drops the last stage)', async () => {
    expect(await runTruncate(['--arch', 'resnet18', '--block', '-1', '--image-size', '32', '--json'])).toBe(0);
    const r = JSON.parse(outText());
    expect(r.block).toBe('layer3');
    expect(r.params).toBeLessThan(r.fullParams);
  });

  it('--image-size names the input side; --img-size is its deprecated alias; messages say block (issue 13)', async () => {
    expect(await runTruncate(['--arch', 'resnet18', '--block', '-1', '--image-size', '32', '--json'])).toBe(0);
    const now = JSON.parse(outText());
    expect(errText()).not.toContain('deprecated');
    stdout.mockClear();
    log.mockClear();
    expect(await runTruncate(['--arch', 'resnet18', '--block', '-1', '--img-size', '32', '--json'])).toBe(0);
    expect(JSON.parse(outText())).toEqual(now);
    expect(errText()).toContain('--img-size is deprecated; use --image-size');
    expect(await runTruncate(['--arch', 'resnet18', '--image-size', '32', '--img-size', '32'])).toBe(2);
    expect(errText()).toContain('Give --image-size only');
    stderr.mockClear();
    expect(await runTruncate(['--arch', 'resnet18', '--block', 'nope'])).toBe(2);
    expect(errText()).toMatch(/unknown block 'nope'\. resnet18's blocks: /);
    expect(errText()).not.toMatch(/stage/i);
  });

  it('every subcommand exits 2 on a usage error and 1 on a failure', async () => {
    const usage: [string, Promise<number>][] = [
      ['truncate --block', runTruncate(['--arch', 'resnet18', '--block', 'nope'])],
      ['truncate --block -9', runTruncate(['--arch', 'resnet18', '--block', '-9'])],
      ['truncate --arch', runTruncate(['--arch', 'resnet1000'])],
      ['truncate --num-classes', runTruncate(['--arch', 'resnet18', '--num-classes', 'x'])],
      ['truncate --bogus', runTruncate(['--arch', 'resnet18', '--bogus'])],
      ['synth --train', runSynth(['--out', join(tmp, 's1'), '--train', 'x'])],
      ['synth --quality', runSynth(['--out', join(tmp, 's2'), '--quality', '0'])],
      ['synth --size', runSynth(['--out', join(tmp, 's3'), '--size', '8'])],
      ['eval --bootstrap', runEval(['--run', join(tmp, 'nope'), '--data', data, '--bootstrap', 'x'])],
      ['eval --seed', runEval(['--run', join(tmp, 'nope'), '--data', data, '--seed', '-1'])],
      ['eval missing', runEval(['--data', data])],
      ['report missing', runReport([])],
      ['train --uncertainty', runTrain([...tiny(join(tmp, 'u')), '--uncertainty', 'maybe'])],
      ['train --tasks', runTrain([...tiny(join(tmp, 't')), '--tasks', 'Nope'])],
      ['info', main(['info', 'resnet1000'])],
      ['info none', main(['info'])],
      ['list extra', main(['list', '--json'])],
      ['unknown', main(['frobnicate'])],
      ['export', main(['export', '--out', join(tmp, 'x.safetensors')])],
    ];
    for (const [name, p] of usage) expect([name, await p]).toEqual([name, 2]);
    const failures: [string, Promise<number>][] = [
      ['eval no run', runEval(['--run', join(tmp, 'nope'), '--data', data])],
      ['report no run', runReport(['--runs', join(tmp, 'nope'), '--out', join(tmp, 'rep')])],
      ['train no data', runTrain(tiny(join(tmp, 'nodata'), join(tmp, 'no-such-data')))],
      ['train weights file', runTrain([...tiny(join(tmp, 'nowts')), '--weights', join(tmp, 'missing.pth')])],
      ['export no run', main(['export', '--run', join(tmp, 'nope'), '--out', join(tmp, 'x.safetensors')])],
    ];
    for (const [name, p] of failures) expect([name, await p]).toEqual([name, 1]);
    expect(errText()).toMatch(/Weights file not found: '.*missing\.pth'/);
  });
});

describe('run folders', () => {
  it('--restart leaves no result of the old run; a fresh run does not mix with old results (10.5)', async () => {
    const run = join(tmp, 'restart');
    stdout.mockClear();
    expect(await runTrain([...tiny(run), '--max-steps', '2'])).toBe(0);
    for (const f of ['metrics.json', 'curves.svg', 'model', 'checkpoints', 'config.json']) expect(existsSync(join(run, f)), f).toBe(true);
    expect(outText()).toContain(`Training curves: ${join(run, 'curves.svg')}`);

    // without checkpoints, old results are not silently kept next to a new run
    rmSync(join(run, 'checkpoints'), { recursive: true });
    expect(await runTrain([...tiny(run), '--max-steps', '2'])).toBe(1);
    expect(errText()).toMatch(/results of a previous run \(metrics\.json, model\).*--restart/);
    expect(existsSync(join(run, 'metrics.json'))).toBe(true);

    // a restart that fails later (here: the data) must not leave the old run's AUROC behind
    expect(await runTrain([...tiny(run, unreadable), '--max-steps', '2', '--restart'])).toBe(1);
    for (const f of ['metrics.json', 'curves.svg', 'model', 'checkpoints', 'config.json']) expect(existsSync(join(run, f)), f).toBe(false);
    expect(existsSync(join(run, '.lock'))).toBe(false);
  });

  it('resume refuses changed settings and lists them (10.8)', async () => {
    const run = join(tmp, 'resume');
    const copy = join(tmp, 'synth-copy');
    cpSync(data, copy, { recursive: true });
    expect(await runTrain([...tiny(run), '--max-steps', '2'])).toBe(0);
    const before = readFileSync(join(run, 'metrics.json'), 'utf8');
    const refused: [string[], RegExp][] = [
      [['--max-steps', '2', '--lr', '0.01'], /lr: 0\.001 -> 0\.01/],
      [['--max-steps', '3'], /maxSteps: 2 -> 3/],
      [['--epochs', '2'], /epochs: null -> 2; maxSteps: 2 -> null/],
      [['--max-steps', '2', '--lr-schedule', 'cosine'], /lrSchedule: "constant" -> "cosine"/],
      [['--max-steps', '2', '--top-k', '1'], /topK: 3 -> 1/],
      [['--max-steps', '2', '--weights', join(tmp, 'w.safetensors')], /weights: "none" -> ".*w\.safetensors"/],
    ];
    writeFileSync(join(tmp, 'w.safetensors'), '');
    for (const [extra, diff] of refused) {
      stderr.mockClear();
      expect([extra.join(' '), await runTrain([...tiny(run), ...extra])]).toEqual([extra.join(' '), 1]);
      expect(errText()).toMatch(diff);
      expect(errText()).toContain('--restart');
    }
    stderr.mockClear();
    expect(await runTrain([...tiny(run, copy), '--max-steps', '2'])).toBe(1);
    expect(errText()).toMatch(/data: ".*synth" -> ".*synth-copy"/);
    expect(readFileSync(join(run, 'metrics.json'), 'utf8')).toBe(before);
    // the same settings resume (a finished run: nothing left to train)
    expect(await runTrain([...tiny(run), '--max-steps', '2'])).toBe(0);
    expect(JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')).train.resumedFrom).toBe(2);
  });

  it('a second trainer on the same --out exits 1 at once, naming the holder pid (10.6)', async () => {
    const run = join(tmp, 'locked');
    const script = join(tmp, 'hold.mts');
    writeFileSync(script, `import { acquireRunLock } from ${JSON.stringify(resolve('src/node/train/lock.ts'))};\n` +
      'await acquireRunLock(process.argv[2]);\nconsole.log("locked");\nsetInterval(() => {}, 1000);\n');
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, run], { cwd: resolve('.'), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res, rej) => {
        child.stdout!.on('data', (d) => String(d).includes('locked') && res());
        child.on('exit', (c) => rej(new Error(`holder exited ${c}`)));
      });
      // the unreadable dataset shows the data is not read: the lock is checked first
      expect(await runTrain([...tiny(run, unreadable), '--max-steps', '2'])).toBe(1);
      expect(errText()).toContain(`pid ${child.pid}`);
      expect(errText()).not.toMatch(/train\.csv/);
      expect(existsSync(join(run, 'config.json'))).toBe(false);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
    expect(await runTrain([...tiny(run), '--max-steps', '1'])).toBe(0);
  });
});

describe('work in the right order (issue 16.4)', () => {
  it('--weights PATH is checked up front and then loaded', async () => {
    const path = join(tmp, 'mv3s.safetensors');
    const m = await createModel('mobilenet_v3_small', { numClasses: 5, inputShape: [16, 16, 3] });
    await saveSafetensors(m, path);
    m.dispose();
    const run = join(tmp, 'with-weights');
    const args = ['--arch', 'mobilenet_v3_small', '--data', data, '--out', run, '--img-size', '16', '--batch-size', '8', '--quiet'];
    expect(await runTrain([...args, '--weights', path, '--max-steps', '1'])).toBe(0);
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect(config.weights).toBe(path);
    expect(config.lr).toBe(1e-4);
  });

  it('--weights imagenet fails on unavailable weights (offline, empty cache) before reading the dataset', async () => {
    const env = { CHEXZOO_OFFLINE: process.env.CHEXZOO_OFFLINE, CHEXZOO_CACHE: process.env.CHEXZOO_CACHE };
    process.env.CHEXZOO_OFFLINE = '1';
    process.env.CHEXZOO_CACHE = join(tmp, 'empty-cache');
    const run = join(tmp, 'offline');
    try {
      expect(await runTrain([...tiny(run, unreadable), '--weights', 'imagenet'])).toBe(1);
    } finally {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(errText()).toMatch(/Offline mode/);
    expect(errText()).not.toMatch(/train\.csv/);
    expect(existsSync(join(run, 'config.json'))).toBe(false);
    expect(existsSync(join(run, '.lock'))).toBe(false);
  });
});
