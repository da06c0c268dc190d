// decodeDicom against pydicom 2.3.1: every fixture of tools/make_dicom_fixtures.py (written by pydicom, dcmtk and
// gdcm; the expected pixels decoded by dcmtk / gdcm and put through pydicom's apply_modality_lut + apply_voi_lut)
// must agree within one grey level of 255. The fixtures carry patient tags that must never reach the result.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DicomError, TRANSFER_SYNTAXES, decodeDicom, isDicom } from '../src/index.js';
import { readFixture, readJsonFixture } from './helpers/index.js';

interface Fixture {
  name: string;
  file: string;
  transferSyntax: string;
  width: number;
  height: number;
  policy: 'voi' | 'minmax';
  frame: number;
  voiIndex: number;
  lossy: boolean;
  photometric: string;
}
const manifest = readJsonFixture<{ fixtures: Fixture[] }>('dicom/manifest.json');
/** 12-bit lossy JPEG: no maintained JS decoder (docs/dicom.md); refused with a clear error instead. */
const REFUSED = new Set(['u12_jpeg_extended']);

function expected(name: string): Float32Array {
  const b = readFixture(`dicom/${name}.expected.u16`);
  const u = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return Float32Array.from(u, (v) => v / 65535);
}

describe('decodeDicom equals pydicom', () => {
  it('the fixtures cover every transfer syntax decodeDicom reads', () => {
    const covered = new Set(manifest.fixtures.map((f) => f.transferSyntax));
    const missing = TRANSFER_SYNTAXES.filter((t) => !covered.has(t.uid)).map((t) => t.uid);
    expect(missing).toEqual([]);
    expect(manifest.fixtures.length).toBeGreaterThanOrEqual(30);
  });

  for (const f of manifest.fixtures.filter((x) => !REFUSED.has(x.name))) {
    it(`${f.name} (${f.photometric}, ${f.policy}${f.frame ? `, frame ${f.frame}` : ''}${f.voiIndex ? `, window ${f.voiIndex}` : ''})`, async () => {
      const bytes = readFixture(`dicom/${f.file}`);
      expect(isDicom(bytes)).toBe(true);
      const img = await decodeDicom(bytes, { policy: f.policy, frame: f.frame, voiIndex: f.voiIndex, name: f.file });
      expect([img.width, img.height]).toEqual([f.width, f.height]);
      expect(img.tags.transferSyntaxUID).toBe(f.transferSyntax);
      const want = expected(f.name);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(img.pixels[i]! - want[i]!));
      expect(worst).toBeLessThanOrEqual(1 / 255 + 1e-6);
    });
  }

  it('12-bit lossy JPEG is refused with a clear error naming the file', async () => {
    await expect(decodeDicom(readFixture('dicom/u12_jpeg_extended.dcm'), { name: 'u12_jpeg_extended.dcm' })).rejects.toThrow(/u12_jpeg_extended\.dcm: 12-bit lossy JPEG .* not read.*dcmdjpeg/);
  });
});

describe('decodeDicom results', () => {
  it('returns the technical tags and no patient-identifying value', async () => {
    const img = await decodeDicom(readFixture('dicom/s16_mono2_implicit_linear_exact_voi1.dcm'), { voiIndex: 1 });
    expect(img.tags).toMatchObject({
      photometricInterpretation: 'MONOCHROME2', bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1,
      rescaleSlope: 0.5, rescaleIntercept: -1024, modality: 'DX', viewPosition: 'PA', pixelSpacing: [0.139, 0.139],
      windowCenter: [3000, 1500], windowWidth: [12000, 4000], windowExplanation: ['WIDE', 'NARROW'],
      voiLutFunction: 'LINEAR_EXACT', transferSyntaxName: 'Implicit VR Little Endian', numberOfFrames: 1,
    });
    expect(img.intensity).toMatchObject({ policy: 'voi', voi: 'window', window: { center: 1500, width: 4000, function: 'LINEAR_EXACT', explanation: 'NARROW' }, inverted: false });
    const text = JSON.stringify(img.tags);
    for (const secret of ['Fixture', 'FIXTURE-0001', '19700101', '1.2.826.0.1.3680043.10.543.']) expect(text).not.toContain(secret);
  });

  it('reports MONOCHROME1 and Presentation LUT Shape INVERSE as inverted', async () => {
    expect((await decodeDicom(readFixture('dicom/s8_mono1_linear.dcm'))).intensity.inverted).toBe(true);
    expect((await decodeDicom(readFixture('dicom/u10_voilut_sequence_inverse.dcm'))).intensity).toMatchObject({ voi: 'lut', inverted: true });
  });

  it('refuses bad options clearly', async () => {
    const b = readFixture('dicom/u12_multiframe.dcm');
    await expect(decodeDicom(b, { frame: 3, name: 'mf.dcm' })).rejects.toThrow(/mf\.dcm: frame 3 does not exist: the file has 3 frame/);
    await expect(decodeDicom(b, { policy: 'auto' as 'voi' })).rejects.toThrow(/unknown intensity policy 'auto'/);
    await expect(decodeDicom(readFixture('dicom/s16_mono2_implicit_minmax.dcm'), { voiIndex: 5 })).rejects.toThrow(/voiIndex 5 is out of range: the file has 2 windows/);
    await expect(decodeDicom(new Uint8Array(10), { name: 'x.png' })).rejects.toBeInstanceOf(DicomError);
  });

  it('is pure: the same bytes decode to the same pixels twice (codec instances are reused)', async () => {
    const b = new Uint8Array(readFileSync(new URL('./fixtures/dicom/u12_jpegls_lossless.dcm', import.meta.url)));
    const [a, c] = [await decodeDicom(b), await decodeDicom(b)];
    expect(c.pixels).toEqual(a.pixels);
  });
});
