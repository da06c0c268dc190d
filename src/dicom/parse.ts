// Part 10 parsing with dicom-parser, behind the checks that make a hostile file fail fast and clearly:
// the preamble and DICM magic, a known transfer syntax, deflate inflated with a size cap.
import { DicomError } from './errors.js';
import { loadModule } from './modules.js';
import { concatBytes } from '../utils/bytes.js';
import { transferSyntax, type TransferSyntax } from './syntaxes.js';

/** Largest inflated data set of a deflated file (bytes): 512 MiB, past any real radiograph. */
export const MAX_INFLATED_BYTES = 512 * 1024 * 1024;

export interface ParsedDicom {
  /** dicom-parser's DataSet */
  dataSet: any;
  syntax: TransferSyntax;
  /** the dicom-parser module, for its encapsulated-frame helpers */
  parser: any;
}

/** Inflates raw deflate `data` with fflate's streaming inflater, stopping past `cap` bytes (a deflate bomb). */
async function inflateCapped(data: Uint8Array, cap: number, file: string): Promise<Uint8Array> {
  const { Inflate } = await loadModule('fflate');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const inflater = new Inflate((chunk: Uint8Array) => {
    total += chunk.length;
    if (total > cap) throw new DicomError(`the deflated data set inflates to more than ${cap} bytes; refusing it (a decompression bomb or a corrupt file).`, file);
    chunks.push(chunk);
  });
  const step = 1 << 16;
  try {
    for (let i = 0; i < data.length; i += step) inflater.push(data.subarray(i, Math.min(i + step, data.length)), i + step >= data.length);
  } catch (e) {
    if (e instanceof DicomError) throw e;
    throw new DicomError(`the deflated data set is corrupt (${(e as Error).message}).`, file);
  }
  return concatBytes(chunks);
}

/** The file's transfer syntax from its meta header (group 2, always explicit little endian). */
function readSyntax(parser: any, bytes: Uint8Array, file: string): TransferSyntax {
  if (bytes.length < 132 || String.fromCharCode(bytes[128]!, bytes[129]!, bytes[130]!, bytes[131]!) !== 'DICM') {
    throw new DicomError('not a DICOM Part 10 file (no "DICM" after the 128-byte preamble). Raw data sets without the file meta header are not read; rewrite the file with dcmconv or pydicom.', file);
  }
  let meta: any;
  try {
    meta = parser.readPart10Header(bytes);
  } catch (e) {
    throw new DicomError(`the file meta header is corrupt (${messageOf(e)}).`, file);
  }
  const uid = (meta.string('x00020010') ?? '').replace(/\0/g, '').trim();
  if (!uid) throw new DicomError('the file meta header has no Transfer Syntax UID (0002,0010).', file);
  const syntax = transferSyntax(uid);
  if (!syntax) throw new DicomError(`unknown or unsupported transfer syntax ${uid}; docs/dicom.md lists the ones read. Convert the file (e.g. gdcmconv --raw) first.`, file);
  return syntax;
}

/** dicom-parser throws strings as well as Errors. */
export function messageOf(e: unknown): string {
  if (e && typeof e === 'object' && 'exception' in e) return messageOf((e as { exception: unknown }).exception);
  return e instanceof Error ? e.message : String(e);
}

/**
 * Parses a Part 10 file. Deflated data sets are inflated first (capped at `maxInflated`); every parse error,
 * including a stack overflow from sequences nested thousands deep, becomes a DicomError naming the file.
 */
export async function parseDicomFile(bytes: Uint8Array, file: string, maxInflated = MAX_INFLATED_BYTES): Promise<ParsedDicom> {
  const mod = await loadModule('dicomParser');
  const parser = typeof mod.parseDicom === 'function' ? mod : mod.default;
  const syntax = readSyntax(parser, bytes, file);
  let inflated: Uint8Array | undefined;
  if (syntax.encoding === 'deflate') {
    const meta = parser.readPart10Header(bytes);
    const start: number = meta.position;
    const body = await inflateCapped(bytes.subarray(start), maxInflated, file);
    inflated = new Uint8Array(start + body.length);
    inflated.set(bytes.subarray(0, start));
    inflated.set(body, start);
  }
  try {
    const options = inflated ? { inflater: () => inflated } : {};
    const dataSet = parser.parseDicom(bytes, options);
    return { dataSet, syntax, parser };
  } catch (e) {
    const inner = e && typeof e === 'object' && 'exception' in e ? (e as { exception: unknown }).exception : e;
    if (inner instanceof RangeError) throw new DicomError('sequences are nested too deeply to parse (the file is corrupt or hostile).', file);
    throw new DicomError(`the data set is corrupt: ${messageOf(e)}.`, file);
  }
}
