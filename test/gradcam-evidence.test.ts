// Grad-CAM on a hand-built model whose evidence is known: class 0 reads a bright square, class 1 a dark square.
// The maps must land on the right square, and the upsampled map must sit exactly where half-pixel upsampling of
// the pooled grid puts it (a shifted or corner-aligned upsampling changes the numbers checked here).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { gradCam } from '../src/gradcam.js';
import { leakCheck } from './helpers/index.js';

const N = 16;
function handBuilt(): tf.LayersModel {
  const input = tf.input({ shape: [N, N, 1] });
  // channel 0 = relu(x - 0.5) (bright), channel 1 = relu(0.5 - x) (dark)
  const feat = tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'feat', weights: [tf.tensor4d([1, -1], [1, 1, 1, 2]), tf.tensor1d([-0.5, 0.5])] });
  const pool = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: 'pool' }); // 8 x 8 cells of 2 x 2 pixels
  const gap = tf.layers.globalAveragePooling2d({});
  const head = tf.layers.dense({ units: 2, name: 'head', weights: [tf.tensor2d([[1, 0], [0, 1]]), tf.tensor1d([0, 0])] });
  return tf.model({ inputs: input, outputs: head.apply(gap.apply(pool.apply(feat.apply(input)))) as tf.SymbolicTensor });
}

// grey image with a bright square (rows 2-5, cols 8-11) and a dark one (rows 10-13, cols 2-5), both on 2 x 2 cells
const image = new Float32Array(N * N).fill(0.5);
const bright = new Uint8Array(N * N);
const dark = new Uint8Array(N * N);
for (let r = 0; r < 4; r++) {
  for (let c = 0; c < 4; c++) {
    image[(2 + r) * N + 8 + c] = 1;
    bright[(2 + r) * N + 8 + c] = 1;
    image[(10 + r) * N + 2 + c] = 0;
    dark[(10 + r) * N + 2 + c] = 1;
  }
}
const shareIn = (h: Float32Array, m: Uint8Array) => h.reduce((s, v, i) => s + v * m[i]!, 0) / h.reduce((s, v) => s + v, 0);
const centre = (h: Float32Array) => {
  const m = h.reduce((s, v) => s + v, 0);
  return [h.reduce((s, v, i) => s + v * Math.floor(i / N), 0) / m, h.reduce((s, v, i) => s + v * (i % N), 0) / m];
};

describe('gradCam on a model with known evidence', () => {
  it('puts each class on its own square, centred, with the mass half-pixel upsampling gives', async () => {
    const model = handBuilt();
    const x = tf.tensor4d(image, [1, N, N, 1]);
    const leaks = leakCheck();
    const b = await gradCam(model, x, { block: 'pool', classIndex: 0 });
    const d = await gradCam(model, x, { block: 'pool', classIndex: 1 });
    const full = await gradCam(model, x, { block: 'feat', classIndex: 0 });
    leaks.check();
    expect(b.camHeight).toBe(8);
    // the 8 x 8 map is exactly the 2 x 2 cells under the bright square
    expect(Array.from(b.cam).map((v, i) => (v > 0 ? i : -1)).filter((i) => i >= 0)).toEqual([12, 13, 20, 21]);
    expect(centre(b.heatmap)[0]).toBeCloseTo(3.5, 6);
    expect(centre(b.heatmap)[1]).toBeCloseTo(9.5, 6);
    expect(centre(d.heatmap)[0]).toBeCloseTo(11.5, 6);
    expect(centre(d.heatmap)[1]).toBeCloseTo(3.5, 6);
    // per axis, the upsampled 2-cell plateau is 0.25 0.75 1 1 0.75 0.25: 3.5 of its 4 inside, (3.5 / 4)^2 in 2-D
    expect(shareIn(b.heatmap, bright)).toBeCloseTo((3.5 / 4) ** 2, 6);
    expect(shareIn(d.heatmap, dark)).toBeCloseTo((3.5 / 4) ** 2, 6);
    expect(shareIn(b.heatmap, dark)).toBe(0);
    expect(shareIn(d.heatmap, bright)).toBe(0);
    // at full resolution nothing is upsampled: all the mass is on the square
    expect(shareIn(full.heatmap, bright)).toBeCloseTo(1, 6);
    tf.dispose([x]);
    model.dispose();
  });
});
