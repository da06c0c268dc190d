// decodeDicom: a DICOM Part 10 file to grey pixels in [0, 1] (browser and Node). Parsing is dicom-parser's,
// decoding the cornerstone codecs' (loaded on demand, modules.ts); intensities follow pydicom (intensity.ts).
import { decodeFrame } from './codecs.js';
import { DicomError } from './errors.js';
import { encapsulatedFrame, nativeFrame } from './frames.js';
import { readImageInfo, readTags, type DicomTags, type ImageInfo } from './info.js';
import { toUnitIntensity, type IntensityApplied, type IntensityPolicy } from './intensity.js';
import { messageOf, parseDicomFile, type ParsedDicom } from './parse.js';
import { maskBits, nativeSamples, rgbToUnitGray, ybrToRgb } from './pixels.js';

export { DicomError } from './errors.js';
export type { DicomTags } from './info.js';
export type { IntensityApplied, IntensityPolicy } from './intensity.js';
export { MAX_DICOM_PIXELS } from './info.js';
export { provideDicomModules, type DicomModules } from './modules.js';
export { TRANSFER_SYNTAXES, type TransferSyntax } from './syntaxes.js';

export interface DecodeDicomOptions {
  /** `'voi'` (default): modality LUT then the VOI LUT Sequence or window; `'minmax'`: raw values min-max scaled. */
  policy?: IntensityPolicy;
  /** Frame of a multi-frame file (0-based, default 0). */
  frame?: number;
  /** Which window / VOI LUT item when the file has several (default 0). */
  voiIndex?: number;
  /** The file's name, for error messages (default `'<bytes>'`). */
  name?: string;
  /** Refuse frames of more pixels (default {@link MAX_DICOM_PIXELS}). */
  maxPixels?: number;
}

/** A decoded DICOM image: grey, row-major, in [0, 1]. */
export interface DicomImage {
  width: number;
  height: number;
  pixels: Float32Array;
  /** technical tags only: nothing that identifies the patient */
  tags: DicomTags;
  /** what the intensity policy did (window used, inversion) */
  intensity: IntensityApplied;
}

/** True for bytes that start like a DICOM Part 10 file (a 128-byte preamble, then "DICM"). */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

function checkOptions(o: DecodeDicomOptions, file: string): Required<Pick<DecodeDicomOptions, 'policy' | 'frame' | 'voiIndex'>> {
  const policy = o.policy ?? 'voi';
  if (policy !== 'voi' && policy !== 'minmax') throw new DicomError(`unknown intensity policy '${String(policy)}': use 'voi' or 'minmax'.`, file);
  const frame = o.frame ?? 0;
  const voiIndex = o.voiIndex ?? 0;
  for (const [k, v] of [['frame', frame], ['voiIndex', voiIndex]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new DicomError(`${k} must be a non-negative integer, got ${String(v)}.`, file);
  }
  return { policy, frame, voiIndex };
}

/** One frame's samples, interleaved, masked and sign-extended (monochrome) or RGB (colour). */
async function frameSamples(p: ParsedDicom, info: ImageInfo, frame: number, file: string): Promise<Int32Array> {
  const element = p.dataSet.elements.x7fe00010;
  const { encoding, littleEndian, name } = p.syntax;
  let samples: Int32Array;
  let rgb = false;
  let raw = true; // stored bit patterns (native, RLE), or values a codec already decoded
  if (encoding === 'native' || encoding === 'deflate') {
    samples = nativeSamples(nativeFrame(p.dataSet, element, info, frame, file), info, littleEndian);
  } else {
    let signed: boolean;
    ({ samples, rgb, signed } = await decodeFrame(encapsulatedFrame(p.parser, p.dataSet, element, info, frame, file), encoding, info, file, name));
    // a lossy codec may overshoot Bits Stored (4206 in a 12-bit J2K): keep its values, as pydicom does;
    // only an unsigned decode of a signed image needs its sign bits restored
    raw = encoding === 'rle' || (info.pixelRepresentation === 1 && !signed);
  }
  if (info.samplesPerPixel === 1) return raw ? maskBits(samples, info.bitsStored, info.pixelRepresentation === 1) : samples;
  return !rgb && info.photometric.startsWith('YBR_FULL') ? ybrToRgb(samples) : samples;
}

/**
 * Decodes a DICOM Part 10 file to grey pixels in [0, 1], as pydicom's `apply_modality_lut` + `apply_voi_lut`
 * compute them (policy `'voi'`) or min-max scaled (`'minmax'`, as MIMIC-CXR-JPG), MONOCHROME1 inverted.
 * Every refused file throws a {@link DicomError} naming the file and the problem. docs/dicom.md has the details.
 * @example const img = await decodeDicom(new Uint8Array(await file.arrayBuffer()), { name: file.name });
 */
export async function decodeDicom(bytes: Uint8Array, options: DecodeDicomOptions = {}): Promise<DicomImage> {
  const file = options.name ?? '<bytes>';
  if (!(bytes instanceof Uint8Array)) throw new DicomError('decodeDicom takes the file as a Uint8Array (or Buffer).', file);
  const { policy, frame, voiIndex } = checkOptions(options, file);
  try {
    return await decodeParsed(await parseDicomFile(bytes, file), options, { policy, frame, voiIndex }, file);
  } catch (e) {
    // dicom-parser reads values lazily and throws strings for elements running past the end
    if (e instanceof DicomError) throw e;
    throw new DicomError(`the data set is corrupt: ${messageOf(e)}.`, file);
  }
}

async function decodeParsed(parsed: ParsedDicom, options: DecodeDicomOptions, { policy, frame, voiIndex }: ReturnType<typeof checkOptions>, file: string): Promise<DicomImage> {
  const info = readImageInfo(parsed.dataSet, file, options.maxPixels);
  if (frame >= info.frames) throw new DicomError(`frame ${frame} does not exist: the file has ${info.frames} frame(s).`, file);
  const tags = readTags(parsed.dataSet, info, parsed.syntax);
  const samples = await frameSamples(parsed, info, frame, file);
  const pixelsCount = info.rows * info.columns;
  if (info.samplesPerPixel === 3) {
    const intensity: IntensityApplied = { policy, voi: 'none', modality: 'none', inverted: false };
    return { width: info.columns, height: info.rows, pixels: rgbToUnitGray(samples, pixelsCount), tags, intensity };
  }
  const { pixels, applied } = toUnitIntensity(samples, parsed.dataSet, info, policy, voiIndex, file);
  return { width: info.columns, height: info.rows, pixels, tags, intensity: applied };
}
