// Each example runs with `npx tsx` on tiny settings.
import { existsSync, mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '../src/zoo/registry.js';
import { modelToStateDict } from '../src/weights/remap.js';
import { encodeSafetensors } from '../src/weights/safetensors.js';
import { writeSynthDataset } from '../src/node/data/synth-node.js';
import { FULL_TESTS, runCommand } from './helpers/index.js';

const root = resolve(__dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-examples-'));
const data = join(tmp, 'data');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await writeSynthDataset(data, { train: 32, valid: 32, size: 32, seed: 4 });
});

const example = (name: string, args: string[]) =>
  runCommand(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'examples', name), ...args], {
    cwd: tmp,
    env: { ...process.env, CHEXZOO_OFFLINE: '1', CHEXZOO_CACHE: join(tmp, 'cache') },
  });

describe('examples', () => {
  it('truncate.ts lists stages and the study truncation points with their parameter gain', async () => {
    const r = await example('truncate.ts', ['--arch', 'resnet18', '--image-size', '32']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/resnet18: 11,179,077 parameters/);
    expect(r.out).toMatch(/cut after layer3 +2,784,069 parameters, 4\.02x fewer; output \[1,5\]/);
    expect(r.out).toMatch(/features of layer2, layer3, layer4/);
  }, 120_000);

  it('finetune.ts fine-tunes a checkpoint file on a CheXpert folder and saves the model', async () => {
    const m = await createModel('resnet18', { inputShape: [32, 32, 3] });
    const ckpt = join(tmp, 'r18.safetensors');
    await fs.writeFile(ckpt, encodeSafetensors(modelToStateDict(m)));
    m.dispose();
    const r = await example('finetune.ts', ['--data', data, '--weights', ckpt, '--image-size', '32', '--max-steps', '2', '--batch-size', '8', '--out', 'ft']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/resnet18 fine-tuned from .*r18\.safetensors for 2 steps: mean AUROC 0\.\d+ \(95% CI/);
    expect(existsSync(join(tmp, 'ft', 'final', 'model.json'))).toBe(true);
  }, 180_000);

  // npm run test:full only: the same study path runs in npm test through runStudy (test/study-mirror.test.ts) and
  // the CLI (test/study.test.ts); this checks the example script itself
  it.skipIf(!FULL_TESTS)('reproduce-chextransfer.ts runs the study through the API (test:full)', async () => {
    const r = await example('reproduce-chextransfer.ts', ['--data', data, '--archs', 'resnet18', '--init', 'random', '--max-steps', '2', '--image-size', '32', '--out', 'study']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/2 runs, 0 skipped/);
    expect(r.out).toMatch(/4\. truncation mean gain: \d+\.\d+x \(paper 3\.25x\)/);
    expect(existsSync(join(tmp, 'study', 'report.md'))).toBe(true);
  }, 300_000);
});
