// Run folders and resumption (issue 10 points 5-8, 10; issue 16 point 4).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointStore, train, type BatchSource } from '../src/index.js';
import { imagePathInDataset } from '../src/data/chexpert.js';
import { loadChexpert, writeSynthDataset, type ChexpertDataset } from '../src/node.js';

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
