// Broken and hostile DICOM files: each is refused with a DicomError naming the file and the problem, in bounded
// time and memory (peak RSS of a child process that decodes them all <= 2 GiB), and a seeded fuzz of mutated
// fixtures never escapes as anything but a DicomError (or a successful decode).
import { describe, expect, it } from 'vitest';
import { DicomError, decodeDicom } from '../src/index.js';
import { FULL_TESTS, rng, runCommand } from './helpers/index.js';
import { badCases, fixtureBytes } from './helpers/dicom-bad.js';

describe('bad DICOM files', () => {
  for (const [what, bytes, message] of badCases()) {
    it(`refuses ${what}`, async () => {
      const t0 = performance.now();
      const err = await decodeDicom(bytes, { name: 'bad.dcm' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(DicomError);
      expect((err as Error).message).toMatch(/^bad\.dcm: /);
      expect((err as Error).message).toMatch(message);
      expect(performance.now() - t0).toBeLessThan(5000);
    });
  }

  it('decodes every bad case in a child process with peak RSS <= 2 GiB', async () => {
    const script = `
      import { decodeDicom } from './src/index.ts';
      import { badCases } from './test/helpers/dicom-bad.ts';
      let refused = 0;
      for (const [, bytes] of badCases()) await decodeDicom(bytes).then(() => {}, () => { refused++; });
      console.log(JSON.stringify({ refused, maxRss: process.resourceUsage().maxRSS * 1024 }));`;
    const { out, err, code } = await runCommand(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname });
    expect(code, err).toBe(0);
    const r = JSON.parse(out.trim().split('\n').pop()!) as { refused: number; maxRss: number };
    expect(r.refused).toBe(badCases().length);
    expect(r.maxRss).toBeLessThanOrEqual(2 * 1024 ** 3);
  }, 60_000);
});

/** Flips, overwrites, truncates or duplicates a few bytes of `src` (seeded). */
function mutate(src: Uint8Array, next: () => number): Uint8Array {
  const kind = Math.floor(next() * 4);
  if (kind === 0) return src.slice(0, 132 + Math.floor(next() * (src.length - 132)));
  const out = src.slice();
  const n = 1 + Math.floor(next() * 8);
  for (let k = 0; k < n; k++) {
    // bias towards the header, where lengths and tags live
    const at = 128 + Math.floor((next() ** 2) * (out.length - 128));
    out[at] = kind === 1 ? out[at]! ^ (1 << Math.floor(next() * 8)) : kind === 2 ? Math.floor(next() * 256) : 0xff;
  }
  return out;
}

describe('fuzz', () => {
  const names = ['u12_jpeg_extended', 'u12_mono2_explicit_linear', 's16_mono2_implicit_linear_exact', 's12_mono1_bigendian_sigmoid', 'u10_voilut_sequence_inverse', 'u10_modality_lut_sequence', 'u12_multiframe', 'ybr_full_422', 'u12_deflate', 'u12_rle', 'rgb8_rle', 'u8_jpeg_baseline', 'u12_jpeg_lossless_sv1', 'u12_jpegls_lossless', 'u12_j2k_lossless', 'u12_htj2k_lossless'];
  const total = FULL_TESTS ? 5000 : 300;
  it(`${total} seeded mutations of ${names.length} fixtures decode or raise a DicomError`, async () => {
    const next = rng(24);
    const sources = names.map((n) => fixtureBytes(`${n}.dcm`));
    const escaped: string[] = [];
    let refused = 0;
    for (let i = 0; i < total; i++) {
      const s = Math.floor(next() * sources.length);
      const bytes = mutate(sources[s]!, next);
      try {
        const img = await decodeDicom(bytes, { name: `m${i}.dcm` });
        expect(img.pixels.length).toBe(img.width * img.height);
        for (const v of img.pixels) if (!(v >= 0 && v <= 1)) throw new Error(`pixel ${v} outside [0, 1]`);
      } catch (e) {
        if (e instanceof DicomError && e.message.startsWith(`m${i}.dcm: `)) refused++;
        else escaped.push(`${names[s]} #${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
    expect(escaped.slice(0, 10)).toEqual([]);
    expect(refused).toBeGreaterThan(total / 10);
  }, FULL_TESTS ? 600_000 : 60_000);
});

describe('fuzz of a 12-bit lossy JPEG frame (DCMTK through dcmjs-codecs)', () => {
  const total = FULL_TESTS ? 1500 : 80;
  it(`${total} seeded mutations inside the codestream decode or raise a DicomError, and the decoder recovers`, async () => {
    const next = rng(412);
    const src = fixtureBytes('u12_jpeg_extended.dcm');
    const soi = src.findIndex((v, i) => i > 132 && v === 0xff && src[i + 1] === 0xd8);
    const escaped: string[] = [];
    for (let i = 0; i < total; i++) {
      const bytes = src.slice();
      for (let k = 1 + Math.floor(next() * 6); k > 0; k--) bytes[soi + 2 + Math.floor(next() * (bytes.length - soi - 4))] = Math.floor(next() * 256);
      await decodeDicom(bytes, { name: `j${i}.dcm` }).catch((e: unknown) => {
        if (!(e instanceof DicomError && e.message.startsWith(`j${i}.dcm: `))) escaped.push(`#${i}: ${String(e)}`);
      });
    }
    expect(escaped.slice(0, 10)).toEqual([]);
    const img = await decodeDicom(src);
    expect(img.width * img.height).toBe(img.pixels.length);
  }, FULL_TESTS ? 600_000 : 60_000);
});
