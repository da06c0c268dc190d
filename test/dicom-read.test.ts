// DICOM everywhere an image is read: decodeGray (paths, bytes, no extension), preprocess(decodeDicom(...)), and a
// CheXpert-style CSV pointing at .dcm files, with a broken one skipped and reported like a broken JPEG.
import * as tf from '@tensorflow/tfjs';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHEXPERT_OBSERVATIONS, decodeDicom, preprocess } from '../src/index.js';
import { decodeGray, loadChexpert } from '../src/node.js';
import { expectNoLeak, fixtureUrl, readFixture } from './helpers/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-dicom-read-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** pydicom's expected pixels (tools/make_dicom_fixtures.py) as 8-bit grey. */
function expected8(name: string): Uint8Array {
  const b = readFixture(`dicom/${name}.expected.u16`);
  const u = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return Uint8Array.from(u, (v) => Math.round((v / 65535) * 255));
}

describe('DICOM in the image path', () => {
  it('decodeGray reads .dcm paths, bytes and extension-less files as pydicom computes them (within 1 level)', async () => {
    const name = 's12_mono1_bigendian_sigmoid';
    const path = fixtureUrl(`dicom/${name}.dcm`).pathname;
    const bare = join(tmp, 'no-extension');
    copyFileSync(path, bare);
    const want = expected8(name);
    for (const source of [path, readFixture(`dicom/${name}.dcm`), bare]) {
      const g = await decodeGray(source, { size: [48, 64] });
      expect([g.height, g.width]).toEqual([48, 64]);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(g.data[i]! - want[i]!));
      expect(worst).toBeLessThanOrEqual(1);
    }
  });

  it('decodeGray passes the DICOM policy through (minmax differs from the window)', async () => {
    const path = fixtureUrl('dicom/s16_mono2_implicit_linear_exact.dcm').pathname;
    const mm = await decodeGray(path, { size: [48, 64], dicom: { policy: 'minmax' } });
    const want = expected8('s16_mono2_implicit_minmax');
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(mm.data[i]! - want[i]!));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('preprocess takes a decoded DICOM as a [0, 1] image, 3 channels by default, without leaking tensors', async () => {
    const img = await decodeDicom(readFixture('dicom/u12_mono2_explicit_linear.dcm'));
    const spec = { resizeSize: 40, cropSize: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear' as const };
    const [shape, a, b] = await expectNoLeak(async () => {
      const t = tf.tensor3d(img.pixels, [img.height, img.width, 1]);
      const ref = preprocess(t, spec, { channels: 3 });
      const got = preprocess(img, spec);
      const out = [got.shape, Array.from(await got.data()), Array.from(await ref.data())] as const;
      tf.dispose([t, ref, got]);
      return out;
    });
    expect(shape).toEqual([1, 32, 32, 3]);
    expect(a).toEqual(b);
    expect(() => preprocess({ width: 1 } as never, spec)).toThrow(/decoded DICOM/);
  });

  it('a CheXpert CSV may point at .dcm files; a broken one is skipped and reported', async () => {
    const root = join(tmp, 'CheXpert-v1.0-small');
    mkdirSync(join(root, 'train', 'patient1', 'study1'), { recursive: true });
    const rows = [['Path', 'Sex', 'Age', 'Frontal/Lateral', 'AP/PA', ...CHEXPERT_OBSERVATIONS].join(',')];
    const labels = (i: number) => CHEXPERT_OBSERVATIONS.map((_, k) => (k === 2 ? '1' : k === 5 ? String(i % 2) : '')).join(',');
    const files = ['u12_rle', 'u8_jpeg_baseline', 'u12_jpegls_lossless'];
    files.forEach((f, i) => {
      copyFileSync(fixtureUrl(`dicom/${f}.dcm`).pathname, join(root, 'train', 'patient1', 'study1', `view${i}_frontal.dcm`));
      rows.push(`CheXpert-v1.0-small/train/patient1/study1/view${i}_frontal.dcm,Male,50,Frontal,PA,${labels(i)}`);
    });
    writeFileSync(join(root, 'train', 'patient1', 'study1', 'broken.dcm'), readFixture('dicom/u12_rle.dcm').subarray(0, 400));
    rows.push(`CheXpert-v1.0-small/train/patient1/study1/broken.dcm,Male,50,Frontal,PA,${labels(1)}`);
    writeFileSync(join(root, 'train.csv'), rows.join('\n') + '\n');
    const skipped: string[] = [];
    const ds = await loadChexpert(tmp, { imageSize: 32, batchSize: 8, shuffle: false, onSkip: (p, why) => skipped.push(`${p}: ${why}`) });
    let n = 0;
    for await (const b of ds.batches(0)) {
      n += b.x.shape[0];
      tf.dispose([b.x, b.y, b.mask]);
    }
    expect(n).toBe(3);
    expect(ds.skipped.count).toBe(1);
    expect(skipped[0]).toMatch(/broken\.dcm: unreadable image: broken\.dcm: /);
  });
});
