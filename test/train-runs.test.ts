// Run folders and resumption (issue 10 points 5-8, 10; issue 16 point 4).
import { mkdirSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryCheckpointStore, train, type BatchSource } from '../src/index.js';
import { imagePathInDataset } from '../src/data/chexpert.js';
import { FileCheckpointStore, loadChexpert, writeSynthDataset, type ChexpertDataset } from '../src/node.js';
import { encodeOptimizer, modelArtifacts } from '../src/train/state.js';
import { writeFileAtomic } from '../src/node/utils/atomic.js';

const __filename = fileURLToPath(import.meta.url);

/**
 * Records, relative to `dir`, every fsync made through fs.promises file handles (`sync <path>`), plus whatever
 * the spies made by `more` log; restore with `spies.forEach((s) => s.mockRestore())`.
 */
async function recordFsOps(dir: string, more: (log: string[]) => { mockRestore(): void }[]) {
  const log: string[] = [];
  const paths = new Map<number, string>();
  const realOpen = fsp.open.bind(fsp);
  const probe = await realOpen(__filename, 'r');
  const handleProto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const spies = [
    vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      const fh = await realOpen(...args);
      paths.set(fh.fd, String(args[0]));
      return fh;
    }),
    vi.spyOn(handleProto, 'sync').mockImplementation(async function (this: { fd: number }) {
      log.push(`sync ${relative(dir, paths.get(this.fd)!) || '.'}`);
    }),
    ...more(log),
  ];
  return { log, spies };
}

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-runs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A small conv net (fast on 2 cores). */
function tinyModel(tasks: number, size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: tasks, name: 'fc' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

let data: string;
beforeAll(async () => {
  data = join(tmp, 'synth');
  await writeSynthDataset(data, { train: 16, valid: 8, size: 16, seed: 2 });
});

describe('resuming over a batch whose images are all unreadable', () => {
  /** A source that records the rows of every batch it hands to the loop. */
  function recording(ds: ChexpertDataset, log: number[][]): BatchSource {
    return {
      numBatches: ds.numBatches,
      seekable: true,
      tasks: ds.tasks,
      async *batches(epoch, options) {
        for await (const b of ds.batches(epoch, options)) {
          log.push(b.indices);
          yield b;
        }
      },
    };
  }

  it('trains every readable batch once, as an uninterrupted run does', async () => {
    const load = async () => {
      const ds = await loadChexpert(data, { split: 'train', imageSize: 8, batchSize: 4, shuffle: false, onSkip: () => {} });
      // batch 1 (rows 4-7) unreadable
      for (const i of [4, 5, 6, 7]) writeFileSync(join(ds.root, imagePathInDataset(ds.records[i]!.path)), 'not a jpeg');
      return ds;
    };
    const ds = await load();
    const tasks = ds.tasks.length;

    const store = new MemoryCheckpointStore();
    const first: number[][] = [];
    let m = tinyModel(tasks, 8);
    const r1 = await train(m, { train: recording(ds, first) }, { maxSteps: 2, store, checkpointEvery: 1 });
    m.dispose();
    expect(r1.steps).toBe(2);
    expect(first).toEqual([[0, 1, 2, 3], [8, 9, 10, 11]]);

    const second: number[][] = [];
    m = tinyModel(tasks, 8);
    const r2 = await train(m, { train: recording(ds, second) }, { maxSteps: 4, store, checkpointEvery: 1 });
    m.dispose();
    // the rest of epoch 0 (batch 3) then epoch 1's first readable batch; batch 2 is not trained twice
    expect(second).toEqual([[12, 13, 14, 15], [0, 1, 2, 3]]);
    expect(r2.steps).toBe(4);
    expect(r2.epochs).toBeCloseTo(1.25, 6);
  });
});

describe('checkpoint durability', () => {
  it('fsyncs the new checkpoint (files, folder, parent) before the previous one is removed', async () => {
    const dir = join(tmp, 'ckpt-sync');
    const store = new FileCheckpointStore(dir);
    const m = tinyModel(2, 8);
    const opt = tf.train.adam(1e-3);
    const save = async (step: number) =>
      store.saveLast({
        state: { version: 1, step, epoch: 0, batchInEpoch: step, seed: 0, tasks: ['a', 'b'], topK: [], validations: [], bestScore: 0, sinceBest: 0, lossHistory: [], lossSum: 0, lossCount: 0, seconds: 0 },
        model: await modelArtifacts(m),
        optimizer: await encodeOptimizer(opt),
      });
    await save(1);
    // record the order of fsyncs, renames and removals during the replacement of last/
    const { log, spies } = await recordFsOps(dir, (log) => [
      vi.spyOn(fsp, 'rm').mockImplementation(async (p, o) => {
        log.push(`rm ${relative(dir, String(p))}`);
        return rmSync(p, o);
      }),
    ]);
    try {
      await save(2);
    } finally {
      spies.forEach((s) => s.mockRestore());
      m.dispose();
      opt.dispose();
    }
    const rmOld = log.findIndex((l) => /^rm \.last\.old-/.test(l));
    expect(rmOld, log.join('\n')).toBeGreaterThan(0);
    const before = log.slice(0, rmOld);
    const written = readdirSync(join(dir, 'last'));
    expect(written).toEqual(expect.arrayContaining(['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'state.json']));
    // every file of the new checkpoint, its folder (under its temporary name) and the checkpoints folder
    for (const f of written) expect(before.some((l) => l.startsWith('sync .last.tmp-') && l.endsWith(`/${f}`)), `${f}\n${log.join('\n')}`).toBe(true);
    expect(before.some((l) => /^sync \.last\.tmp-[^/]+$/.test(l)), log.join('\n')).toBe(true);
    expect(before).toContain('sync .');
    expect(JSON.parse(readFileSync(join(dir, 'last', 'state.json'), 'utf8')).step).toBe(2);
  });

  it('writeFileAtomic fsyncs the file before the rename and the folder after it', async () => {
    const dir = join(tmp, 'atomic-sync');
    mkdirSync(dir, { recursive: true });
    const realRename = fsp.rename.bind(fsp);
    const { log, spies } = await recordFsOps(dir, (log) => [
      vi.spyOn(fsp, 'rename').mockImplementation(async (a, b) => {
        log.push(`rename ${relative(dir, String(b))}`);
        return realRename(a, b);
      }),
    ]);
    try {
      await writeFileAtomic(join(dir, 'metrics.json'), '{}');
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
    expect(log.map((l) => l.replace(/\.metrics\.json\.tmp-\S+/, 'TMP'))).toEqual(['sync TMP', 'rename metrics.json', 'sync .']);
  });
});
