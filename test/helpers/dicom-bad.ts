// Hostile and broken DICOM files for test/dicom-bad.test.ts and its child process (peak memory): each built from
// a committed fixture by patching a few bytes, so every case is small and deterministic.
import { readFileSync } from 'node:fs';

const FIX = new URL('../fixtures/dicom/', import.meta.url);
export const fixtureBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIX)));

/** Offset of an explicit-VR-LE element header (group, element) after the preamble, or -1. */
export function findElement(b: Uint8Array, group: number, element: number, from = 132): number {
  for (let i = from; i + 4 <= b.length; i++) {
    if (b[i] === (group & 0xff) && b[i + 1] === group >> 8 && b[i + 2] === (element & 0xff) && b[i + 3] === element >> 8) return i;
  }
  return -1;
}

/** Copy of `b` with the US value of (group, element) set to `value` (explicit VR LE: value at offset + 8). */
export function patchUS(b: Uint8Array, group: number, element: number, value: number): Uint8Array {
  const out = b.slice();
  const at = findElement(out, group, element);
  if (at < 0) throw new Error(`no (${group.toString(16)},${element.toString(16)})`);
  new DataView(out.buffer).setUint16(at + 8, value, true);
  return out;
}

/** An explicit VR LE file whose data set is `depth` sequences nested inside each other (undefined lengths). */
export function deeplyNested(depth: number): Uint8Array {
  const head = fixtureBytes('u8_mono2_nowindow.dcm');
  const metaEnd = findElement(head, 0x0008, 0x0000) > 0 ? findElement(head, 0x0008, 0x0000) : findElement(head, 0x0008, 0x0016);
  const seq = [0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]; // (0008,1115) SQ, undefined length
  const item = [0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff];
  const itemEnd = [0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0];
  const seqEnd = [0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0];
  const open = new Uint8Array((seq.length + item.length) * depth);
  for (let d = 0; d < depth; d++) open.set([...seq, ...item], d * (seq.length + item.length));
  const close = new Uint8Array((itemEnd.length + seqEnd.length) * depth);
  for (let d = 0; d < depth; d++) close.set([...itemEnd, ...seqEnd], d * 16);
  const out = new Uint8Array(metaEnd + open.length + close.length);
  out.set(head.subarray(0, metaEnd));
  out.set(open, metaEnd);
  out.set(close, metaEnd + open.length);
  return out;
}

/** Copy of `b` with the transfer syntax UID's characters replaced (same length, so the meta header stays valid). */
export function unknownSyntax(b: Uint8Array): Uint8Array {
  const out = b.slice();
  const at = findElement(out, 0x0002, 0x0010);
  const len = new DataView(out.buffer).getUint16(at + 6, true);
  const uid = '1.2.3.4.5.6.7.8.9.10.11.12.13.14.15'.slice(0, len - 1).padEnd(len, '\0');
  for (let i = 0; i < len; i++) out[at + 8 + i] = uid.charCodeAt(i);
  return out;
}

/** Every bad case: name -> [bytes, the message it must raise]. */
export function badCases(): [string, Uint8Array, RegExp][] {
  const u8 = fixtureBytes('u8_mono2_nowindow.dcm');
  const pixelTag = findElement(u8, 0x7fe0, 0x0010);
  const noPixels = u8.slice();
  noPixels[pixelTag] = 0xe1; // (7FE1,0010): a private element instead of Pixel Data
  const longLength = u8.slice();
  const name = findElement(longLength, 0x0010, 0x0010);
  new DataView(longLength.buffer).setUint16(name + 6, 0xfff0, true); // Patient's Name runs past the end
  const jls = fixtureBytes('u12_jpegls_lossless.dcm');
  return [
    ['truncated meta header', u8.slice(0, 150), /file meta header is corrupt|not a DICOM|corrupt/],
    ['a length past the end of the file', longLength, /corrupt|past|shorter/i],
    ['sequences nested 20,000 deep', deeplyNested(20000), /nested too deeply|corrupt|no Pixel Data/],
    ['65535 x 65535 declared', patchUS(patchUS(u8, 0x0028, 0x0010, 65535), 0x0028, 0x0011, 65535), /65535 x 65535 = 4294836225 pixels, more than the limit/],
    ['pixel data shorter than declared', patchUS(u8, 0x0028, 0x0010, 96), /pixel data is shorter than declared/],
    ['a truncated file', u8.slice(0, u8.length - 500), /shorter than declared|corrupt/],
    ['a compressed frame larger than declared', patchUS(jls, 0x0028, 0x0010, 24), /decodes larger than declared: its header says 64 x 48, Columns x Rows say 64 x 24/],
    ['an unknown transfer syntax', unknownSyntax(u8), /unknown or unsupported transfer syntax 1\.2\.3\.4/],
    ['no pixel data', noPixels, /no Pixel Data/],
    ['not DICOM at all', new TextEncoder().encode('P5 64 48 255 '.repeat(20)), /not a DICOM Part 10 file/],
  ];
}
