/** Element decoding shared by the checkpoint parsers: every dtype becomes float32. */

export type SourceDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Highest tensor rank a checkpoint may declare (safetensors' own limit; no zoo weight has more than 4). */
export const MAX_TENSOR_RANK = 8;

export const ELEMENT_SIZE: Record<SourceDType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

const f16Exp = new Float32Array(32);
for (let e = 0; e < 32; e++) f16Exp[e] = 2 ** (e - 15);

/** IEEE half -> float32 (subnormals, inf and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * f16Exp[exp]! * (1 + frac / 1024);
}

/**
 * Decodes `count` elements of `dtype` from `bytes` (any alignment) into a new Float32Array.
 * The caller has checked that `bytes` holds at least `count` elements.
 */
export function decodeElements(bytes: Uint8Array, dtype: SourceDType, count: number, littleEndian = true): Float32Array {
  const size = Object.hasOwn(ELEMENT_SIZE, dtype) ? ELEMENT_SIZE[dtype] : undefined;
  if (size === undefined) throw new Error(`Unsupported tensor dtype ${JSON.stringify(String(dtype))}.`);
  if (!Number.isSafeInteger(count) || count < 0) throw new Error(`Invalid tensor element count ${count}.`);
  if (bytes.length < count * size) throw new Error(`Tensor data is truncated: ${bytes.length} bytes for ${count} ${dtype} values.`);
  const out = new Float32Array(count);
  if (dtype === 'float32' && littleEndian) {
    // copy into an aligned buffer; the source may sit at any byte offset
    new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
    return out;
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, count * size);
  const le = littleEndian;
  switch (dtype) {
    case 'float32':
      for (let i = 0; i < count; i++) out[i] = v.getFloat32(i * 4, le);
      break;
    case 'float16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(v.getUint16(i * 2, le));
      break;
    case 'bfloat16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        tmp.setUint32(0, v.getUint16(i * 2, le) << 16);
        out[i] = tmp.getFloat32(0);
      }
      break;
    }
    case 'float64':
      for (let i = 0; i < count; i++) out[i] = v.getFloat64(i * 8, le);
      break;
    case 'int64':
      for (let i = 0; i < count; i++) out[i] = Number(v.getBigInt64(i * 8, le));
      break;
    case 'int32':
      for (let i = 0; i < count; i++) out[i] = v.getInt32(i * 4, le);
      break;
    case 'int16':
      for (let i = 0; i < count; i++) out[i] = v.getInt16(i * 2, le);
      break;
    case 'int8':
      for (let i = 0; i < count; i++) out[i] = v.getInt8(i);
      break;
    case 'uint8':
    case 'bool':
      for (let i = 0; i < count; i++) out[i] = v.getUint8(i);
      break;
  }
  return out;
}
