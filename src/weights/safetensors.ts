import { decodeElements, ELEMENT_SIZE, MAX_TENSOR_RANK, type SourceDType } from './dtype.js';
import type { ParsedCheckpoint } from './pth.js';
import type { StateDict } from './remap.js';

/** Same cap as the reference implementation: a header larger than this is refused before parsing. */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

const DTYPES: Record<string, SourceDType> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`Invalid .safetensors file: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** True when the bytes plausibly start with a safetensors header (8-byte length, then '{'). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

/**
 * Parses a .safetensors file after validating its header: size limits, known dtypes,
 * shapes matching byte ranges, offsets inside the data, and no overlaps or holes.
 * @example const { dict } = parseSafetensors(bytes);
 */
export function parseSafetensors(bytes: Uint8Array): ParsedCheckpoint & { metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError('shorter than its 8-byte header length.');
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_SAFETENSORS_HEADER)) throw new SafetensorsError(`header length ${n64} exceeds ${MAX_SAFETENSORS_HEADER} bytes.`);
  const n = Number(n64);
  if (8 + n > bytes.length) throw new SafetensorsError(`header length ${n} runs past the end of the file (${bytes.length} bytes): truncated?`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`header is not valid UTF-8 JSON (${(e as Error).message}).`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError('header is not a JSON object.');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SourceDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError('__metadata__ must be an object.');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} must be a string.`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) throw new SafetensorsError(`entry '${name}' is not an object.`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) throw new SafetensorsError(`entry '${name}' has unsupported dtype ${JSON.stringify(dtype)}.`);
    if (!Array.isArray(shape) || shape.length > MAX_TENSOR_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`entry '${name}' has an invalid shape.`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`entry '${name}' has invalid data_offsets.`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      throw new SafetensorsError(`entry '${name}' spans bytes ${begin}..${end}, outside the ${dataLen}-byte data section (truncated file?).`);
    }
    const dt = DTYPES[dtype]!;
    let count = 1;
    for (const d of shape as number[]) count *= d;
    if (count * ELEMENT_SIZE[dt] !== end - begin) {
      throw new SafetensorsError(`entry '${name}' has shape [${shape}] of ${dtype} but ${end - begin} bytes.`);
    }
    entries.push({ name, dtype: dt, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin < cursor) throw new SafetensorsError(`entry '${e.name}' overlaps the previous tensor.`);
    if (e.begin > cursor) throw new SafetensorsError(`there is a hole of ${e.begin - cursor} bytes before '${e.name}'.`);
    cursor = e.end;
  }
  if (cursor !== dataLen) throw new SafetensorsError(`${dataLen - cursor} trailing bytes are not covered by any tensor.`);
  const dict: StateDict = new Map();
  for (const e of entries) {
    const count = (e.end - e.begin) / ELEMENT_SIZE[e.dtype];
    dict.set(e.name, { shape: [...e.shape], data: decodeElements(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype, count) });
  }
  return { dict, format: 'safetensors', notes: [], metadata };
}

/**
 * Writes a state dict as a float32 .safetensors file (reference layout, e.g. from modelToStateDict).
 * @example await writeFile('model.safetensors', encodeSafetensors(modelToStateDict(model)));
 */
export function encodeSafetensors(dict: StateDict, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of dict) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  // pad so the data section starts 8-byte aligned, as the reference writer does
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const t of dict.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4), p);
    p += t.data.length * 4;
  }
  return out;
}
