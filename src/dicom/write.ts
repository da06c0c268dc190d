// A minimal DICOM writer for greyscale images (browser-safe): what `chexzoo synth --format dicom` needs to
// write phantoms in the syntaxes JavaScript can produce without a codec of ours: implicit / explicit little
// endian, explicit big endian, deflated (fflate) and RLE (PackBits, PS3.5 Annex G, rows encoded separately).
// JPEG-family syntaxes are not written (no maintained JS encoders for them all); decodeDicom reads them.
import { loadModule } from './modules.js';
import { concatBytes } from '../utils/bytes.js';

/** The transfer syntaxes `encodeDicom` writes. */
export type WritableSyntax = 'implicit' | 'explicit' | 'big-endian' | 'deflate' | 'rle';

const SYNTAX_UID: Record<WritableSyntax, string> = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  'big-endian': '1.2.840.10008.1.2.2',
  deflate: '1.2.840.10008.1.2.1.99',
  rle: '1.2.840.10008.1.2.5',
};
const DX_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.1.1';

export interface EncodeDicomOptions {
  /** Stored values, row-major; 8-bit images in a Uint8Array, up to 16 bits in a Uint16Array. */
  pixels: Uint8Array | Uint16Array;
  width: number;
  height: number;
  bitsStored: number;
  syntax: WritableSyntax;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  window?: { center: number; width: number };
  viewPosition?: string;
  /** A UID for SOP Instance (default derived from `instance`) */
  instance?: number;
}

type Value = { vr: string; bytes: Uint8Array };

const text = (s: string, pad = ' '): Uint8Array => new TextEncoder().encode(s.length % 2 ? s + pad : s);

function uint16(v: number, le: boolean): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, le);
  return b;
}

/** One element: explicit VR (long form for OB / OW) or implicit, in the given byte order. */
function element(group: number, elem: number, v: Value, explicit: boolean, le: boolean): Uint8Array {
  const long = v.vr === 'OB' || v.vr === 'OW';
  const headLen = explicit ? (long ? 12 : 8) : 8;
  const out = new Uint8Array(headLen + v.bytes.length);
  const d = new DataView(out.buffer);
  d.setUint16(0, group, le);
  d.setUint16(2, elem, le);
  if (!explicit) d.setUint32(4, v.bytes.length, le);
  else {
    out[4] = v.vr.charCodeAt(0);
    out[5] = v.vr.charCodeAt(1);
    if (long) d.setUint32(8, v.bytes.length, le);
    else d.setUint16(6, v.bytes.length, le);
  }
  out.set(v.bytes, headLen);
  return out;
}

/** PackBits of one row: literal runs of up to 128 bytes, replicate runs of 2 to 128. */
function packBits(row: Uint8Array, out: number[]): void {
  let i = 0;
  while (i < row.length) {
    let run = 1;
    while (i + run < row.length && run < 128 && row[i + run] === row[i]) run++;
    if (run >= 2) {
      out.push(257 - run, row[i]!);
      i += run;
      continue;
    }
    let lit = 1;
    while (i + lit < row.length && lit < 128 && !(i + lit + 1 < row.length && row[i + lit] === row[i + lit + 1])) lit++;
    out.push(lit - 1, ...row.subarray(i, i + lit));
    i += lit;
  }
}

/** An RLE frame: 64-byte header, then one segment per byte plane (most significant first), rows separately. */
function rleFrame(o: EncodeDicomOptions): Uint8Array {
  const bytes = o.pixels instanceof Uint16Array ? 2 : 1;
  const segments: Uint8Array[] = [];
  for (let b = bytes - 1; b >= 0; b--) {
    const seg: number[] = [];
    const row = new Uint8Array(o.width);
    for (let y = 0; y < o.height; y++) {
      for (let x = 0; x < o.width; x++) row[x] = (o.pixels[y * o.width + x]! >> (8 * b)) & 0xff;
      packBits(row, seg);
    }
    if (seg.length % 2) seg.push(0x80); // pad to even with a no-op
    segments.push(Uint8Array.from(seg));
  }
  const header = new Uint8Array(64);
  const d = new DataView(header.buffer);
  d.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((s, i) => {
    d.setUint32(4 + 4 * i, offset, true);
    offset += s.length;
  });
  return concatBytes([header, ...segments]);
}

/** Encapsulated pixel data: undefined length, an empty offset table, one fragment, the sequence delimiter. */
function encapsulated(frame: Uint8Array): Uint8Array {
  const item = (len: number) => {
    const b = new Uint8Array(8);
    const d = new DataView(b.buffer);
    d.setUint16(0, 0xfffe, true);
    d.setUint16(2, 0xe000, true);
    d.setUint32(4, len, true);
    return b;
  };
  const head = new Uint8Array([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  const end = new Uint8Array([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  return concatBytes([head, item(0), item(frame.length), frame, end]);
}

/** Native pixel data bytes in the byte order of the syntax. */
function nativePixels(o: EncodeDicomOptions, le: boolean): Value {
  if (o.pixels instanceof Uint8Array) return { vr: 'OB', bytes: o.pixels.length % 2 ? concatBytes([o.pixels, new Uint8Array(1)]) : o.pixels };
  const b = new Uint8Array(o.pixels.length * 2);
  const d = new DataView(b.buffer);
  for (let i = 0; i < o.pixels.length; i++) d.setUint16(2 * i, o.pixels[i]!, le);
  return { vr: 'OW', bytes: b };
}

/** The data set's elements in tag order (no patient module: synthetic images identify no one). */
function dataSetElements(o: EncodeDicomOptions, uid: string, le: boolean): [number, number, Value][] {
  const bits = o.pixels instanceof Uint16Array ? 16 : 8;
  const els: [number, number, Value][] = [
    [0x0008, 0x0016, { vr: 'UI', bytes: text(DX_SOP_CLASS, '\0') }],
    [0x0008, 0x0018, { vr: 'UI', bytes: text(uid, '\0') }],
    [0x0008, 0x0060, { vr: 'CS', bytes: text('DX') }],
    [0x0018, 0x5101, { vr: 'CS', bytes: text(o.viewPosition ?? '') }],
    [0x0028, 0x0002, { vr: 'US', bytes: uint16(1, le) }],
    [0x0028, 0x0004, { vr: 'CS', bytes: text(o.photometric ?? 'MONOCHROME2') }],
    [0x0028, 0x0010, { vr: 'US', bytes: uint16(o.height, le) }],
    [0x0028, 0x0011, { vr: 'US', bytes: uint16(o.width, le) }],
    [0x0028, 0x0100, { vr: 'US', bytes: uint16(bits, le) }],
    [0x0028, 0x0101, { vr: 'US', bytes: uint16(o.bitsStored, le) }],
    [0x0028, 0x0102, { vr: 'US', bytes: uint16(o.bitsStored - 1, le) }],
    [0x0028, 0x0103, { vr: 'US', bytes: uint16(0, le) }],
  ];
  if (o.window) {
    els.push([0x0028, 0x1050, { vr: 'DS', bytes: text(String(o.window.center)) }], [0x0028, 0x1051, { vr: 'DS', bytes: text(String(o.window.width)) }]);
  }
  return els;
}

/**
 * Encodes a greyscale image as a DICOM Part 10 file (DX, no patient module) in one of the syntaxes JavaScript
 * writes without a codec: implicit / explicit little endian, explicit big endian, deflated, RLE.
 * @example const bytes = await encodeDicom({ pixels, width: 128, height: 128, bitsStored: 12, syntax: 'rle' });
 */
export async function encodeDicom(o: EncodeDicomOptions): Promise<Uint8Array> {
  const max = o.pixels instanceof Uint16Array ? 16 : 8;
  if (!Number.isInteger(o.bitsStored) || o.bitsStored < 1 || o.bitsStored > max) throw new Error(`bitsStored must be in [1, ${max}] for ${max}-bit pixels, got ${o.bitsStored}.`);
  if (o.pixels.length !== o.width * o.height) throw new Error(`pixels has ${o.pixels.length} values, ${o.width} x ${o.height} needs ${o.width * o.height}.`);
  const ts = SYNTAX_UID[o.syntax];
  if (!ts) throw new Error(`Unknown syntax '${String(o.syntax)}': use ${Object.keys(SYNTAX_UID).join(', ')}.`);
  const uid = `2.25.${(o.instance ?? 0) + 1}${o.width}${o.height}`;
  const le = o.syntax !== 'big-endian';
  const explicit = o.syntax !== 'implicit';
  const meta = [
    element(0x0002, 0x0001, { vr: 'OB', bytes: new Uint8Array([0, 1]) }, true, true),
    element(0x0002, 0x0002, { vr: 'UI', bytes: text(DX_SOP_CLASS, '\0') }, true, true),
    element(0x0002, 0x0003, { vr: 'UI', bytes: text(uid, '\0') }, true, true),
    element(0x0002, 0x0010, { vr: 'UI', bytes: text(ts, '\0') }, true, true),
    element(0x0002, 0x0012, { vr: 'UI', bytes: text('2.25.24', '\0') }, true, true),
  ];
  const metaLen = meta.reduce((n, m) => n + m.length, 0);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, metaLen, true);
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  const body = dataSetElements(o, uid, le).map(([g, e, v]) => element(g, e, v, explicit, le));
  body.push(o.syntax === 'rle' ? encapsulated(rleFrame(o)) : element(0x7fe0, 0x0010, nativePixels(o, le), explicit, le));
  let data = concatBytes(body);
  if (o.syntax === 'deflate') {
    const { deflateSync } = await loadModule('fflate');
    data = deflateSync(data, { level: 6 });
  }
  return concatBytes([preamble, element(0x0002, 0x0000, { vr: 'UL', bytes: groupLength }, true, true), ...meta, data]);
}
