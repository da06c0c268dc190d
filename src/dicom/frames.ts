// Locating one frame's bytes in a parsed file, and reading a compressed frame's declared size from its
// codestream header before any decoder allocates memory for it.
import { DicomError } from './errors.js';
import type { ImageInfo } from './info.js';
import { messageOf } from './parse.js';

/** Bytes of one native (uncompressed) frame; YBR_FULL_422 stores two samples per pixel. */
export function nativeFrameBytes(info: ImageInfo): number {
  const samples = info.photometric === 'YBR_FULL_422' ? 2 : info.samplesPerPixel;
  return info.rows * info.columns * samples * (info.bitsAllocated / 8);
}

/** The bytes of native frame `frame`; refuses pixel data shorter than the header declares. */
export function nativeFrame(dataSet: any, element: any, info: ImageInfo, frame: number, file: string): Uint8Array {
  const size = nativeFrameBytes(info);
  const bytes: Uint8Array = dataSet.byteArray;
  const start = element.dataOffset + frame * size;
  const available = Math.min(element.length, bytes.length - element.dataOffset);
  if ((frame + 1) * size > available) {
    throw new DicomError(`pixel data is shorter than declared: ${info.rows} x ${info.columns} x ${info.samplesPerPixel} samples of ${info.bitsAllocated} bits x ${info.frames} frame(s) need ${size * info.frames} bytes, the file has ${Math.max(0, available)} (truncated file?).`, file);
  }
  return bytes.subarray(start, start + size);
}

/** The bytes of encapsulated frame `frame`: by the Basic Offset Table, or one fragment per frame, or all for one frame. */
export function encapsulatedFrame(parser: any, dataSet: any, element: any, info: ImageInfo, frame: number, file: string): Uint8Array {
  const fragments: unknown[] = element.fragments ?? [];
  if (!element.encapsulatedPixelData || fragments.length === 0) throw new DicomError('the transfer syntax is compressed but the pixel data is not encapsulated (no fragments).', file);
  try {
    if (element.basicOffsetTable?.length) {
      if (element.basicOffsetTable.length !== info.frames) throw new DicomError(`the Basic Offset Table lists ${element.basicOffsetTable.length} frames, Number of Frames says ${info.frames}.`, file);
      return parser.readEncapsulatedImageFrame(dataSet, element, frame);
    }
    if (info.frames === 1) return parser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, fragments.length);
    if (fragments.length === info.frames) return parser.readEncapsulatedPixelDataFromFragments(dataSet, element, frame, 1);
  } catch (e) {
    if (e instanceof DicomError) throw e;
    throw new DicomError(`cannot read frame ${frame} of the encapsulated pixel data (${messageOf(e)}).`, file);
  }
  throw new DicomError(`cannot tell where frame ${frame} starts: ${fragments.length} fragments for ${info.frames} frames and no Basic Offset Table.`, file);
}

export interface CodestreamSize {
  width: number;
  height: number;
  components: number;
  /** bits per sample (JPEG family) */
  precision?: number;
}

/** JPEG / JPEG-LS frame header (SOFn or SOF55): walks the marker segments up to the first frame header. */
function jpegSize(b: Uint8Array): CodestreamSize | undefined {
  if (b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const m = b[i + 1]!;
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    const isSof = (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) || m === 0xf7;
    if (isSof) return { precision: b[i + 4]!, height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]!, components: b[i + 9]! };
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + ((b[i + 2]! << 8) | b[i + 3]!);
  }
  return undefined;
}

/** JPEG 2000 / HTJ2K image size from the SIZ marker (after SOC, in a raw codestream or inside a JP2 box). */
function j2kSize(b: Uint8Array): CodestreamSize | undefined {
  const limit = Math.min(b.length - 42, 1 << 20);
  for (let i = 0; i < limit; i++) {
    if (b[i] === 0xff && b[i + 1] === 0x4f && b[i + 2] === 0xff && b[i + 3] === 0x51) {
      const v = new DataView(b.buffer, b.byteOffset + i + 4);
      const x = v.getUint32(4) - v.getUint32(12);
      const y = v.getUint32(8) - v.getUint32(16);
      return { width: x, height: y, components: v.getUint16(36) };
    }
  }
  return undefined;
}

/**
 * Checks a compressed frame's own header against the data set before decoding, so that a frame declaring
 * more pixels than the file (a decompression bomb) is refused before a decoder allocates for it. Returns the
 * header's size (its sample precision picks the JPEG decoder).
 */
export function checkCodestream(frameBytes: Uint8Array, family: 'jpeg' | 'j2k', info: ImageInfo, file: string): CodestreamSize {
  const size = family === 'jpeg' ? jpegSize(frameBytes) : j2kSize(frameBytes);
  if (!size) throw new DicomError(`the compressed frame has no readable ${family === 'jpeg' ? 'JPEG frame header (SOF)' : 'JPEG 2000 SIZ marker'}; the frame is corrupt.`, file);
  if (size.width !== info.columns || size.height !== info.rows) {
    const what = size.width * size.height > info.columns * info.rows ? 'larger' : 'smaller';
    throw new DicomError(`the compressed frame decodes ${what} than declared: its header says ${size.width} x ${size.height}, Columns x Rows say ${info.columns} x ${info.rows}.`, file);
  }
  if (size.components !== info.samplesPerPixel) {
    throw new DicomError(`the compressed frame has ${size.components} components, Samples per Pixel says ${info.samplesPerPixel}.`, file);
  }
  return size;
}
