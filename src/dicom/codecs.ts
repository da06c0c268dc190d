// Compressed frames to samples with the cornerstone codecs and jpeg-lossless-decoder-js, and 12-bit lossy JPEG
// with dcmjs-codecs (DCMTK's IJG decoder; cornerstone's libjpeg-turbo build is 8-bit). No codec of our own
// except RLE (rle.ts). Each decoder is loaded on first use; its header is checked first (frames.ts).
import { DicomError } from './errors.js';
import { checkCodestream } from './frames.js';
import type { ImageInfo } from './info.js';
import { loadCodec, loadDcmtk, loadModule, resetCodec, resetDcmtk } from './modules.js';
import { messageOf } from './parse.js';
import { decodeRle } from './rle.js';
import type { PixelEncoding } from './syntaxes.js';

/** Decoded samples of one frame, interleaved, as integers (not yet masked to Bits Stored). */
export interface FrameSamples {
  samples: Int32Array;
  /** true when the decoder already turned YCbCr into RGB (JPEG, JPEG 2000 with a colour transform) */
  rgb: boolean;
  /** true when the decoder returned signed values */
  signed: boolean;
}

/** Little-endian decoder output (bytes) as integers of `bits` (8 or 16) bits, signed or not. */
function toSamples(out: Uint8Array, bits: number, signed: boolean): Int32Array {
  if (bits <= 8) return signed ? Int32Array.from(new Int8Array(out.buffer, out.byteOffset, out.length)) : Int32Array.from(out);
  const n = out.length >> 1;
  const v = new DataView(out.buffer, out.byteOffset, n * 2);
  const s = new Int32Array(n);
  for (let i = 0; i < n; i++) s[i] = signed ? v.getInt16(2 * i, true) : v.getUint16(2 * i, true);
  return s;
}

/** Runs one emscripten decoder object: copy in, decode, copy out, free. */
function runWasmDecoder(decoder: any, frame: Uint8Array): { info: any; out: Uint8Array; extra?: any } {
  try {
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const out = new Uint8Array(decoder.getDecodedBuffer()); // copy out of the wasm heap
    const extra = typeof decoder.getInterleaveMode === 'function' ? decoder.getInterleaveMode() : undefined;
    return { info, out, extra };
  } finally {
    decoder.delete();
  }
}

/** Planar (R..., G..., B...) to interleaved. */
export function interleave(planar: Int32Array, pixels: number): Int32Array {
  const out = new Int32Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    out[3 * i] = planar[i]!;
    out[3 * i + 1] = planar[pixels + i]!;
    out[3 * i + 2] = planar[2 * pixels + i]!;
  }
  return out;
}

async function wasmFrame(encoding: 'jpeg' | 'jpeg-ls' | 'j2k' | 'htj2k', frame: Uint8Array, info: ImageInfo): Promise<FrameSamples> {
  const [codec, cls] = ({ jpeg: ['libjpegTurbo', 'JPEGDecoder'], 'jpeg-ls': ['charls', 'JpegLSDecoder'], j2k: ['openjpeg', 'J2KDecoder'], htj2k: ['openjph', 'HTJ2KDecoder'] } as const)[encoding];
  const mod = await loadCodec(codec);
  let run: ReturnType<typeof runWasmDecoder>;
  try {
    run = runWasmDecoder(new mod[cls](), frame);
  } catch (e) {
    resetCodec(codec); // an aborted emscripten module refuses every later call
    throw e;
  }
  const { info: fi, out, extra } = run;
  if (fi.width !== info.columns || fi.height !== info.rows || fi.componentCount !== info.samplesPerPixel) {
    throw new Error(`the decoder returned ${fi.width} x ${fi.height} x ${fi.componentCount}, the header declares ${info.columns} x ${info.rows} x ${info.samplesPerPixel}`);
  }
  let samples = toSamples(out, fi.bitsPerSample, !!fi.isSigned);
  const expected = info.rows * info.columns * info.samplesPerPixel;
  if (samples.length < expected) throw new Error(`the decoder returned ${samples.length} samples, ${expected} are declared`);
  if (samples.length > expected) samples = samples.subarray(0, expected);
  // CharLS keeps the codestream's interleave mode: 0 (none) is planar
  if (encoding === 'jpeg-ls' && info.samplesPerPixel === 3 && extra === 0) samples = interleave(samples, info.rows * info.columns);
  const rgb = encoding === 'jpeg' || ((encoding === 'j2k' || encoding === 'htj2k') && (info.photometric === 'YBR_ICT' || info.photometric === 'YBR_RCT'));
  return { samples, rgb, signed: !!fi.isSigned };
}

async function losslessJpegFrame(frame: Uint8Array, info: ImageInfo): Promise<FrameSamples> {
  const mod = await loadModule('jpegLossless');
  const Decoder = mod.Decoder ?? mod.default?.Decoder ?? mod.lossless?.Decoder;
  const d = new Decoder();
  const bytes = info.bitsAllocated <= 8 ? 1 : 2;
  const copy = new Uint8Array(frame); // a copy: the decoder reads its ArrayBuffer from offset 0
  const out = d.decode(copy.buffer, 0, copy.length, bytes);
  if (d.xDim !== info.columns || d.yDim !== info.rows || d.numComp !== info.samplesPerPixel) {
    throw new Error(`the decoder returned ${d.xDim} x ${d.yDim} x ${d.numComp}, the header declares ${info.columns} x ${info.rows} x ${info.samplesPerPixel}`);
  }
  return { samples: Int32Array.from(out as ArrayLike<number>), rgb: false, signed: false };
}

/** A lossy JPEG frame that is not 8-bit must be 12-bit grey in 16 bits allocated (colour 12-bit is refused). */
function checkTwelveBit(precision: number | undefined, info: ImageInfo, file: string): void {
  if (precision !== 12) throw new DicomError(`the lossy JPEG frame declares ${precision ?? 'no'}-bit samples; lossy JPEG holds 8 or 12. The frame is corrupt.`, file);
  if (info.bitsAllocated !== 16 || info.samplesPerPixel !== 1) {
    throw new DicomError(`the frame holds 12-bit samples, but the data set declares ${info.samplesPerPixel} sample(s) of ${info.bitsAllocated} bits; 12-bit lossy JPEG is read for grey images of 16 bits allocated.`, file);
  }
}

/**
 * 12-bit lossy JPEG (Process 4) through DCMTK's 12-bit IJG decoder (dcmjs-codecs). It returns unsigned samples
 * of the codestream's precision, little endian in 16 bits; a signed image gets its sign bits restored later.
 */
async function dcmtkJpegFrame(frame: Uint8Array, info: ImageInfo): Promise<FrameSamples> {
  const lib = await loadDcmtk();
  const context = new lib.Context({
    width: info.columns,
    height: info.rows,
    bitsAllocated: 16,
    bitsStored: info.bitsStored,
    samplesPerPixel: 1,
    pixelRepresentation: info.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: info.photometric,
    encodedBuffer: frame,
  });
  let out: Uint8Array;
  try {
    out = lib.NativeCodecs.decodeJpeg(context).getDecodedBuffer();
  } catch (e) {
    resetDcmtk(lib); // an exception leaves the decoder's allocations in the wasm heap
    throw e;
  }
  const expected = info.rows * info.columns;
  const samples = toSamples(out, 16, false);
  if (samples.length !== expected) throw new Error(`the decoder returned ${samples.length} samples, ${expected} are declared`);
  return { samples, rgb: false, signed: false };
}

/** RLE planes (most significant byte first for each sample) to interleaved samples. */
function rleFrame(frame: Uint8Array, info: ImageInfo, file: string): FrameSamples {
  const pixels = info.rows * info.columns;
  const bytes = info.bitsAllocated / 8;
  const planes = decodeRle(frame, info.samplesPerPixel * bytes, pixels, file);
  const samples = new Int32Array(pixels * info.samplesPerPixel);
  for (let c = 0; c < info.samplesPerPixel; c++) {
    const hi = planes[c * bytes]!;
    const lo = bytes === 2 ? planes[c * bytes + 1]! : undefined;
    for (let i = 0; i < pixels; i++) samples[i * info.samplesPerPixel + c] = lo ? (hi[i]! << 8) | lo[i]! : hi[i]!;
  }
  return { samples, rgb: false, signed: false };
}

/**
 * Decodes one compressed frame. Every decoder failure becomes a DicomError naming the file and the syntax.
 * @example const { samples } = await decodeFrame(bytes, 'jpeg-ls', info, 'a.dcm');
 */
export async function decodeFrame(frame: Uint8Array, encoding: PixelEncoding, info: ImageInfo, file: string, syntaxName: string): Promise<FrameSamples> {
  if (encoding === 'rle') return rleFrame(frame, info, file);
  if (encoding === 'native' || encoding === 'deflate') throw new Error('native frames are not decoded here');
  const { precision } = checkCodestream(frame, encoding === 'j2k' || encoding === 'htj2k' ? 'j2k' : 'jpeg', info, file);
  try {
    if (encoding === 'jpeg-lossless') return await losslessJpegFrame(frame, info);
    if (encoding === 'jpeg' && precision !== 8) {
      checkTwelveBit(precision, info, file);
      return await dcmtkJpegFrame(frame, info);
    }
    return await wasmFrame(encoding, frame, info);
  } catch (e) {
    if (e instanceof DicomError) throw e;
    const msg = messageOf(e);
    if (/needs the (optional )?package/.test(msg)) throw new DicomError(msg, file);
    throw new DicomError(`the ${syntaxName} frame could not be decoded (${msg}).`, file);
  }
}
