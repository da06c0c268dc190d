// The HTJ2K fixtures are what their transfer syntaxes say (test/dicom.test.ts proves decodeDicom equal to
// OpenJPEG + pydicom on them): read from the codestream's main header here, not through OpenJPH, which made them.
import { describe, expect, it } from 'vitest';
import { readFixture } from './helpers/index.js';

interface MainHeader {
  /** Rsiz bit 14: the codestream uses HT block coding (ISO/IEC 15444-15). */
  ht: boolean;
  progression: 'LRCP' | 'RLCP' | 'RPCL' | 'PCRL' | 'CPRL';
  decompositions: number;
  reversible: boolean;
  /** Tile-parts listed in the TLM marker segment; undefined without one. */
  tlmTileParts?: number;
  width: number;
  height: number;
}

/** The main header of the single codestream in a fixture's encapsulated Pixel Data (SOC then SIZ). */
function mainHeader(name: string): MainHeader {
  const b = readFixture(`dicom/${name}.dcm`);
  let i = b.findIndex((v, k) => v === 0xff && b[k + 1] === 0x4f && b[k + 2] === 0xff && b[k + 3] === 0x51);
  if (i < 0) throw new Error(`${name}: no JPEG 2000 codestream`);
  const u16 = (k: number): number => (b[k]! << 8) | b[k + 1]!;
  const u32 = (k: number): number => u16(k) * 65536 + u16(k + 2);
  const segments = new Map<number, number>(); // marker -> offset of its parameters (after the length)
  for (i += 2; b[i] === 0xff && b[i + 1] !== 0x90; i += 2 + u16(i + 2)) segments.set(b[i + 1]!, i + 4);
  const [siz, cod, tlm] = [segments.get(0x51)!, segments.get(0x52)!, segments.get(0x55)];
  let tlmTileParts: number | undefined;
  if (tlm !== undefined) {
    const stlm = b[tlm + 1]!; // ST (bits 4-5: 0, 1 or 2 bytes of tile index), SP (bit 6: 2 or 4 bytes of length)
    tlmTileParts = (u16(tlm - 2) - 4) / (((stlm >> 4) & 3) + ((stlm >> 6) & 1 ? 4 : 2));
  }
  return {
    ht: (u16(siz) & 0x4000) !== 0,
    width: u32(siz + 2) - u32(siz + 10),
    height: u32(siz + 6) - u32(siz + 14),
    progression: (['LRCP', 'RLCP', 'RPCL', 'PCRL', 'CPRL'] as const)[b[cod + 1]!]!,
    decompositions: b[cod + 5]!,
    reversible: b[cod + 9] === 1,
    ...(tlmTileParts !== undefined ? { tlmTileParts } : {}),
  };
}

function expected255(name: string): Float64Array {
  const b = readFixture(`dicom/${name}.expected.u16`);
  return Float64Array.from(new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), (v) => (v / 65535) * 255);
}

describe('HTJ2K fixtures', () => {
  it('.201 and .203 are HT codestreams, reversible and irreversible', () => {
    for (const name of ['u12_htj2k_lossless', 's12_mono1_htj2k_sigmoid']) expect(mainHeader(name)).toMatchObject({ ht: true, reversible: true });
    expect(mainHeader('u12_htj2k_lossy')).toMatchObject({ ht: true, reversible: false });
  });

  it('.202 has what PS3.5 requires of HTJ2K with RPCL Options: RPCL, TLM, a lowest resolution <= 64 pixels', () => {
    const h = mainHeader('u12_htj2k_rpcl');
    expect(h).toMatchObject({ ht: true, reversible: true, progression: 'RPCL' });
    const lowest = Math.min(Math.ceil(h.width / 2 ** h.decompositions), Math.ceil(h.height / 2 ** h.decompositions));
    expect(lowest).toBeLessThanOrEqual(64);
    // one tile-part per resolution: the TLM entries are the resolution breakpoints
    expect(h.tlmTileParts).toBe(h.decompositions + 1);
  });

  it('.203 is visibly lossy, so its equality test could not pass on the original pixels', () => {
    // same image and window as the lossless fixture: they must differ well beyond one grey level
    const [lossy, lossless] = [expected255('u12_htj2k_lossy'), expected255('u12_htj2k_lossless')];
    let [worst, sum] = [0, 0];
    for (let i = 0; i < lossy.length; i++) {
      const d = Math.abs(lossy[i]! - lossless[i]!);
      worst = Math.max(worst, d);
      sum += d;
    }
    expect(worst).toBeGreaterThan(8);
    expect(sum / lossy.length).toBeGreaterThan(2);
  });
});
