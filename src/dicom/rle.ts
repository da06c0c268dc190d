// DICOM RLE Lossless (PS3.5 Annex G). Written here because no maintained standalone package decodes it (the
// cornerstone loader's RLE decoder is not published on its own; the npm package dicom-rle is a 0.0.x release
// of one author, not in wide use); the format is a fully specified PackBits variant of a few lines, and every
// length is checked against the declared frame so bad input cannot overrun.
import { DicomError } from './errors.js';

/**
 * Decodes one RLE frame into `segments` byte planes of `planeSize` bytes each (segment order: for each sample,
 * most significant byte first), refusing frames whose segments decode larger or shorter than declared.
 * @example const planes = decodeRle(frame, 2, rows * cols, 'a.dcm'); // 16-bit grey: [high bytes, low bytes]
 */
export function decodeRle(frame: Uint8Array, segments: number, planeSize: number, file: string): Uint8Array[] {
  if (frame.length < 64) throw new DicomError('the RLE frame is shorter than its 64-byte header.', file);
  const view = new DataView(frame.buffer, frame.byteOffset, 64);
  const count = view.getUint32(0, true);
  if (count !== segments) throw new DicomError(`the RLE header lists ${count} segments, the image needs ${segments} (Samples per Pixel x Bits Allocated / 8).`, file);
  const offsets = Array.from({ length: count }, (_, i) => view.getUint32(4 + 4 * i, true));
  return offsets.map((start, s) => {
    const end = s + 1 < count ? offsets[s + 1]! : frame.length;
    if (start < 64 || end > frame.length || end < start) throw new DicomError(`RLE segment ${s} lies outside the frame (offset ${start}).`, file);
    return decodeSegment(frame.subarray(start, end), planeSize, s, file);
  });
}

/** PackBits: n in [0, 127] copies n + 1 literal bytes, n in [-127, -1] repeats the next byte 1 - n times, -128 is a no-op. */
function decodeSegment(src: Uint8Array, size: number, index: number, file: string): Uint8Array {
  const out = new Uint8Array(size);
  let i = 0;
  let o = 0;
  while (i < src.length && o < size) {
    const n = (src[i++]! << 24) >> 24;
    if (n >= 0) {
      const len = n + 1;
      if (i + len > src.length) throw new DicomError(`RLE segment ${index} ends inside a literal run (truncated frame).`, file);
      if (o + len > size) throw new DicomError(`RLE segment ${index} decodes larger than declared (more than ${size} bytes).`, file);
      out.set(src.subarray(i, i + len), o);
      i += len;
      o += len;
    } else if (n !== -128) {
      const len = 1 - n;
      if (i >= src.length) throw new DicomError(`RLE segment ${index} ends inside a replicate run (truncated frame).`, file);
      if (o + len > size) throw new DicomError(`RLE segment ${index} decodes larger than declared (more than ${size} bytes).`, file);
      out.fill(src[i++]!, o, o + len);
      o += len;
    }
  }
  if (o < size) throw new DicomError(`RLE segment ${index} decodes to ${o} bytes, the image needs ${size} (truncated frame).`, file);
  return out;
}
