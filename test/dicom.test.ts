// decodeDicom against pydicom 2.3.1: every fixture of tools/make_dicom_fixtures.py (written by pydicom, dcmtk and
// gdcm; the expected pixels decoded by dcmtk / gdcm and put through pydicom's apply_modality_lut + apply_voi_lut)
// must agree within one grey level of 255. The fixtures carry patient tags that must never reach the result.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { DicomError, TRANSFER_SYNTAXES, decodeDicom, isDicom } from '../src/index.js';
import { patchUS } from './helpers/dicom-bad.js';
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

  for (const f of manifest.fixtures) {
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

});

/** Offset of the first JPEG marker FF `code` after the meta header. */
function marker(b: Uint8Array, code: number): number {
  for (let i = 132; i < b.length - 1; i++) if (b[i] === 0xff && b[i + 1] === code) return i;
  throw new Error(`no marker FF${code.toString(16)}`);
}

describe('12-bit lossy JPEG through dcmjs-codecs (DCMTK)', () => {
  it('a corrupt 12-bit frame is a DicomError with the decoder\'s reason, and the next file still decodes', async () => {
    const good = readFixture('dicom/u12_jpeg_extended.dcm');
    const badSos = good.slice();
    badSos[marker(good, 0xda) + 5] = 9; // SOS names a component the frame does not have
    await expect(decodeDicom(badSos, { name: 'bad.dcm' })).rejects.toThrow(/^bad\.dcm: the JPEG Extended .* frame could not be decoded \(.*Invalid component ID 9 in SOS\)/);
    const badDht = good.slice();
    badDht[marker(good, 0xc4) + 4] = 0x17; // a Huffman table index past 3
    await expect(decodeDicom(badDht, { name: 'bad.dcm' })).rejects.toThrow(DicomError);
    const img = await decodeDicom(good, { name: 'good.dcm' });
    const want = expected('u12_jpeg_extended');
    expect(Math.max(...img.pixels.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThanOrEqual(1 / 255 + 1e-6);
  });

  it('a 12-bit frame in a data set of 8 bits allocated is refused before decoding', async () => {
    const src = readFixture('dicom/u12_jpeg_extended.dcm');
    const b = patchUS(patchUS(patchUS(src, 0x0028, 0x0100, 8), 0x0028, 0x0101, 8), 0x0028, 0x0102, 7); // bits allocated / stored, high bit
    await expect(decodeDicom(b, { name: 'x.dcm' })).rejects.toThrow(/^x\.dcm: the frame holds 12-bit samples, but the data set declares 1 sample\(s\) of 8 bits/);
  });

  it('the install hint names the version pinned in package.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { peerDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional: boolean }> };
    expect(pkg.peerDependenciesMeta['dcmjs-codecs']?.optional).toBe(true);
    vi.resetModules();
    vi.doMock('dcmjs-codecs', () => {
      throw new Error("Cannot find package 'dcmjs-codecs'");
    });
    try {
      const fresh = await import('../src/dicom/index.js');
      const err = await fresh.decodeDicom(readFixture('dicom/u12_jpeg_extended.dcm'), { name: 'a.dcm' }).then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/^a\.dcm: 12-bit lossy JPEG needs the optional package 'dcmjs-codecs'/);
      expect(err?.message).toContain(`npm install dcmjs-codecs@${pkg.peerDependencies['dcmjs-codecs']}`);
      expect(err?.message).toMatch(/dcmdjpeg or gdcmconv --raw/);
    } finally {
      vi.doUnmock('dcmjs-codecs');
      vi.resetModules();
    }
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
