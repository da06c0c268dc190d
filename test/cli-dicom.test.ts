// The DICOM reading flags of train / eval / study (--dicom-policy, --decode-workers): recorded where they change
// results, refused when bad, and a resume with another policy is refused (issue 24).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { loadDataset, writeSynthDataset } from '../src/node.js';
import { runTrain } from '../src/cli/train.js';
import { runEval } from '../src/cli/eval.js';
import { runStudyCli } from '../src/cli/study.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-cli-dicom-'));
let data = '';
beforeAll(async () => {
  data = (await writeSynthDataset(join(tmp, 'synth'), { train: 8, valid: 8, size: 24, seed: 5, format: 'dicom' })).root;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let out: MockInstance;
let err: MockInstance;
beforeEach(() => {
  out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  out.mockRestore();
  err.mockRestore();
});
const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
const tiny = (run: string) => ['--arch', 'resnet18', '--truncate', 'layer1', '--data', data, '--out', run, '--image-size', '32', '--batch-size', '4', '--max-steps', '2', '--quiet'];

describe('--dicom-policy and --decode-workers', () => {
  it('the two policies give different pixels on the synthetic DICOM set (so recording the policy matters)', async () => {
    const first = async (policy: 'voi' | 'minmax') => {
      const ds = await loadDataset(data, { split: 'valid', imageSize: 16, batchSize: 8, dicom: { policy } });
      const it = ds.batches()[Symbol.asyncIterator]();
      const b = (await it.next()).value!;
      const x = Array.from(b.x.dataSync());
      b.x.dispose();
      b.y.dispose();
      b.mask.dispose();
      await it.return?.(undefined);
      return x;
    };
    const [voi, minmax] = [await first('voi'), await first('minmax')];
    expect(Math.max(...voi.map((v, i) => Math.abs(v - minmax[i]!)))).toBeGreaterThan(0.05);
  });

  it('train records minmax in RUN/config.json, decodes on threads, and refuses a resume with another policy', async () => {
    const run = join(tmp, 'run');
    expect(await runTrain([...tiny(run), '--dicom-policy', 'minmax', '--decode-workers', '2'])).toBe(0);
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { dicomPolicy?: string };
    expect(config.dicomPolicy).toBe('minmax');
    // the same command again is a finished run (decode workers are not part of the check)
    expect(await runTrain([...tiny(run), '--dicom-policy', 'minmax'])).toBe(0);
    const logs: string[] = [];
    expect(await runTrain([...tiny(run), '--dicom-policy', 'voi'], { log: (t) => logs.push(t) })).not.toBe(0);
    expect(logs.join('')).toMatch(/dicomPolicy/);
    // a voi run records nothing, so the configs of earlier runs still match
    const voiRun = join(tmp, 'voi');
    expect(await runTrain(tiny(voiRun))).toBe(0);
    expect(JSON.parse(readFileSync(join(voiRun, 'config.json'), 'utf8'))).not.toHaveProperty('dicomPolicy');
  }, 120_000);

  it('eval gives the same result on decode threads, and takes the run\'s policy unless told', async () => {
    const run = join(tmp, 'run');
    const evalJson = async (...extra: string[]) => {
      out.mockClear();
      expect(await runEval(['--run', run, '--data', data, '--json', '--bootstrap', '0', ...extra])).toBe(0);
      return JSON.parse(text(out)) as { perTask: Record<string, number | null> };
    };
    const plain = await evalJson();
    expect(await evalJson('--decode-workers', '2')).toEqual(plain);
    expect(await evalJson('--dicom-policy', 'minmax')).toEqual(plain);
  }, 60_000);

  it('refuses bad values with a usage error (exit 2) before reading anything', async () => {
    expect(await runTrain([...tiny(join(tmp, 'bad1')), '--dicom-policy', 'window'])).toBe(2);
    expect(text(err)).toMatch(/--dicom-policy must be voi or minmax, got 'window'/);
    expect(await runTrain([...tiny(join(tmp, 'bad2')), '--decode-workers', '-1'])).toBe(2);
    expect(await runEval(['--run', join(tmp, 'run'), '--data', data, '--dicom-policy', 'x'])).toBe(2);
    expect(await runStudyCli(['--data', data, '--out', join(tmp, 'study'), '--dicom-policy', 'lut'])).toBe(2);
    expect(existsSync(join(tmp, 'bad1'))).toBe(false);
  });

  it('study passes the policy to every run (recorded in its config.json)', async () => {
    const study = join(tmp, 'study-minmax');
    const code = await runStudyCli(['--data', data, '--out', study, '--archs', 'resnet18', '--init', 'random', '--truncate', 'none', '--max-steps', '1', '--image-size', '32', '--batch-size', '4', '--dicom-policy', 'minmax', '--decode-workers', '1']);
    expect(code).toBe(0);
    const runs = join(study, 'runs');
    const [id] = (await import('node:fs')).readdirSync(runs);
    expect(JSON.parse(readFileSync(join(runs, id!, 'config.json'), 'utf8')).dicomPolicy).toBe('minmax');
  }, 120_000);
});
