// Transformers.js loads the folder `chexzoo export --format transformers` writes, offline, as an image classifier
// (AutoModelForImageClassification + AutoProcessor) and gives our logits: exactly (rel. err <= 1e-4) on its own
// pixel_values, and within the difference of the two resizers (its sharp resize vs our PIL-equal one) end to end.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { runExport } from '../src/cli/export.js';
import { saveModel } from '../src/node/weights/fs-io.js';
import { preprocess } from '../src/weights/preprocess.js';
import { createModel } from '../src/zoo/registry.js';
import { truncate } from '../src/truncate.js';
import { fillFromFormula } from './helpers/formula.js';
import { relErr } from './helpers/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-transformers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const TASKS = ['Atelectasis', 'Cardiomegaly', 'Edema'];
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** A smooth 96 x 96 RGB test image (square, so squash and crop resizes agree), as PNG and as pixels. */
async function testImage(): Promise<{ png: string; pixels: tf.Tensor3D }> {
  const [n, c] = [96, 3];
  const data = new Uint8Array(n * n * c);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) for (let k = 0; k < c; k++) {
    data[(y * n + x) * c + k] = Math.round(127.5 + 120 * Math.sin((x * (k + 1)) / 9 + y / (7 + k)));
  }
  const png = join(tmp, 'image.png');
  writeFileSync(png, await sharp(data, { raw: { width: n, height: n, channels: 3 } }).png().toBuffer());
  return { png, pixels: tf.tensor3d(data, [n, n, c], 'int32') };
}

describe('Transformers.js', () => {
  it('loads the exported folder offline and gives our logits', async () => {
    // resnet18 cut after layer2 with a 3-task head: small, and (unlike mobilenet_v3 with formula weights) not so
    // sensitive to its input that the resizers' difference swamps the logits
    const full = await createModel('resnet18', { seed: 1, imageSize: 64 });
    const model = truncate(full, 'layer2', { numClasses: TASKS.length, seed: 1 });
    full.dispose();
    fillFromFormula(model);
    // a run folder as `chexzoo train` leaves it: RUN/model and RUN/config.json (tasks, preprocessing)
    const run = join(tmp, 'run');
    await mkdir(run, { recursive: true });
    await saveModel(model, join(run, 'model'));
    writeFileSync(join(run, 'config.json'), JSON.stringify({ arch: 'resnet18', imgSize: 64, tasks: TASKS, preprocess: { mean: MEAN, std: STD, kernel: 'linear' } }));
    const out = join(tmp, 'served');
    expect(await runExport(['--run', run, '--format', 'transformers', '--out', out])).toBe(0);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.problem_type).toBe('multi_label_classification');
    expect(config.id2label).toEqual({ 0: 'Atelectasis', 1: 'Cardiomegaly', 2: 'Edema' });

    const { env, AutoModelForImageClassification, AutoProcessor, RawImage } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = tmp;
    const hf = await AutoModelForImageClassification.from_pretrained('served', { dtype: 'fp32' });
    const processor = await AutoProcessor.from_pretrained('served');
    const { png, pixels } = await testImage();
    const inputs = await processor(await RawImage.read(png));
    const theirLogits = (await hf(inputs)).logits.data as Float32Array;
    const pv = inputs.pixel_values;
    expect(pv.dims).toEqual([1, 3, 64, 64]);

    // 1. the same pixels: Transformers.js's session = our model
    const theirX = tf.tidy(() => tf.transpose(tf.tensor4d(pv.data as Float32Array, pv.dims as [number, number, number, number]), [0, 2, 3, 1]));
    const onTheirs = tf.tidy(() => (model.predict(theirX) as tf.Tensor).dataSync() as Float32Array);
    expect(relErr(theirLogits, onTheirs)).toBeLessThanOrEqual(1e-4);

    // 2. end to end: our preprocessing (PIL-equal bilinear) vs theirs (sharp); the resizers differ a little
    const ourX = preprocess(pixels, { resizeSize: 64, cropSize: 64, interpolation: 'bilinear', mean: MEAN, std: STD });
    const pixelDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(ourX, theirX))).dataSync()[0]!);
    const ours = tf.tidy(() => (model.predict(ourX) as tf.Tensor).dataSync() as Float32Array);
    const logitErr = relErr(theirLogits, ours);
    console.log(`transformers.js vs ours: max |pixel diff| ${pixelDiff.toFixed(4)} (normalised units), logits rel. err ${logitErr.toExponential(2)}`);
    // measured here: max pixel diff 0.35 (about 20 of 255 levels on the image's steepest edge), logits rel. err 8e-3
    expect(pixelDiff).toBeLessThan(0.5);
    expect(logitErr).toBeLessThan(0.03);
    tf.dispose([theirX, ourX, pixels]);
    await hf.dispose();
    model.dispose();
  });
});
