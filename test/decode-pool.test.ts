// Decoding on worker threads (decodeWorkers / --decode-workers): the same bytes as decodeGray in this thread
// (itself proven against PIL and pydicom elsewhere), errors that keep their code (a missing file is still
// "missing"), the same batches from a dataset, and a process that exits with an idle pool.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeThreadError, createDecodePool, sharedDecodePool } from '../src/node/data/decode-pool.js';
import sharp from 'sharp';
import { decodeGray, encodeGrayJpeg } from '../src/node/data/images.js';
import { loadDataset, writeSynthDataset } from '../src/node.js';
import { fixtureUrl, runCommand } from './helpers/index.js';

const dir = mkdtempSync(join(tmpdir(), 'chexzoo-decode-pool-'));
let data = '';
const pool = createDecodePool(2);

beforeAll(async () => {
  data = (await writeSynthDataset(join(dir, 'synth'), { train: 12, valid: 4, size: 40, seed: 3, format: 'dicom' })).root;
  // one broken image, to be skipped and reported the same way by both
  const dcm = (readdirSync(data, { recursive: true }) as string[]).filter((f) => f.includes('train') && f.endsWith('.dcm')).sort();
  writeFileSync(join(data, dcm[3]!), new Uint8Array(300));
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('decode pool', () => {
  it('decodes JPEG, PNG and DICOM (12-bit lossy JPEG, JPEG-LS, RLE, deflate) to the bytes decodeGray gives here', async () => {
    const files = ['u12_jpeg_extended.dcm', 'u12_jpegls_lossless.dcm', 'u12_rle.dcm', 'u12_deflate.dcm', 's12_mono1_bigendian_sigmoid.dcm'].map((f) => fixtureUrl(`dicom/${f}`).pathname);
    const grey = new Uint8Array(64 * 48).map((_, i) => (i * 7) % 251);
    writeFileSync(join(dir, 'a.jpg'), await encodeGrayJpeg(grey, 64, 48, 90));
    await sharp(grey, { raw: { width: 64, height: 48, channels: 1 } }).png().toFile(join(dir, 'a.png'));
    copyFileSync(fixtureUrl('dicom/u8_jpeg_baseline.dcm').pathname, join(dir, 'b')); // DICOM by its DICM magic
    files.push(join(dir, 'a.jpg'), join(dir, 'a.png'), join(dir, 'b'));
    for (const options of [{ size: 32 }, { size: [24, 40] as const, resize: 'squash' as const, kernel: 'cubic' as const, dicom: { policy: 'minmax' as const } }]) {
      const [here, there] = await Promise.all([Promise.all(files.map((f) => decodeGray(f, options))), Promise.all(files.map((f) => pool.decode(f, options)))]);
      for (const [i, g] of there.entries()) {
        expect([g.width, g.height], files[i]).toEqual([here[i]!.width, here[i]!.height]);
        expect(Buffer.compare(Buffer.from(g.data), Buffer.from(here[i]!.data)), files[i]).toBe(0);
      }
    }
  });

  it('passes errors on with their code and message', async () => {
    const missing = await pool.decode(join(dir, 'nope.jpg'), { size: 32 }).catch((e: NodeJS.ErrnoException) => e);
    expect((missing as NodeJS.ErrnoException).code === 'ENOENT' || /Input file is missing/.test((missing as Error).message)).toBe(true);
    const bad = join(dir, 'bad.dcm');
    writeFileSync(bad, new Uint8Array(200));
    await expect(pool.decode(bad, { size: 32 })).rejects.toThrow(/bad\.dcm: not a DICOM Part 10 file/);
    expect((await pool.decode(fixtureUrl('dicom/u12_rle.dcm').pathname, { size: 16 })).data.length).toBe(256);
  });

  it('gives a dataset the same batches as decoding in this thread, and reports the same skipped images', async () => {
    const read = async (decodeWorkers: number) => {
      const ds = await loadDataset(data, { split: 'train', imageSize: 32, batchSize: 5, decodeWorkers, augment: true, seed: 2 });
      const out: number[][] = [];
      for await (const b of ds.batches(1)) {
        out.push(Array.from(b.x.dataSync()));
        b.x.dispose();
        b.y.dispose();
        b.mask.dispose();
      }
      return { out, skipped: ds.skipped };
    };
    const [inline, threaded] = [await read(0), await read(2)];
    expect(sharedDecodePool(1).threads).toBe(2); // the dataset made the shared pool
    expect(threaded.out).toEqual(inline.out);
    expect(inline.skipped.count).toBe(1);
    expect(threaded.skipped).toEqual(inline.skipped);
    await expect(loadDataset(data, { split: 'train', decodeWorkers: -1 })).rejects.toThrow(/decodeWorkers must be a non-negative integer/);
  });

  it('lets the process exit while its threads are idle', async () => {
    const script = `
      import { createDecodePool } from './src/node/data/decode-pool.ts';
      const pool = createDecodePool(2);
      const g = await pool.decode(${JSON.stringify(fixtureUrl('dicom/u12_rle.dcm').pathname)}, { size: 16 });
      console.log(g.data.length);`;
    const t0 = performance.now();
    const { out, err, code } = await runCommand(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname });
    expect(code, err).toBe(0);
    expect(out.trim()).toBe('256');
    expect(performance.now() - t0).toBeLessThan(30_000);
  }, 40_000);

  it('rejects what is pending when closed, and refuses bad thread counts', async () => {
    const p = createDecodePool(1);
    const pending = p.decode(fixtureUrl('dicom/u12_rle.dcm').pathname, { size: 16 }).catch((e: Error) => e);
    await p.close();
    const err = await pending;
    expect(err).toBeInstanceOf(DecodeThreadError); // a dataset stops on this instead of skipping the image
    expect(String(err)).toMatch(/closed|exited/);
    expect(() => createDecodePool(0)).toThrow(/positive integer/);
  });
});
