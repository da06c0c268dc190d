/**
 * Minimal, bounds-checked ZIP reader for torch.save archives. torch writes entries uncompressed
 * ("stored"), so deflate is refused rather than pulling in a decompressor.
 */

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_ENTRIES = 1_000_000;

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  size: number;
  dataOffset: number;
}

export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

function u64(view: DataView, off: number): number {
  const v = view.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('Corrupt ZIP: a 64-bit size or offset is out of range.');
  return Number(v);
}

/** True when the bytes start like a ZIP archive (local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

let crcTables: Uint32Array[] | undefined;
/** CRC-32 (IEEE) as used by ZIP; slice-by-8 since it runs over every byte of a checkpoint. */
export function crc32(data: Uint8Array): number {
  if (!crcTables) {
    const t0 = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t0[n] = c >>> 0;
    }
    crcTables = [t0];
    for (let k = 1; k < 8; k++) {
      const prev = crcTables[k - 1]!;
      const t = new Uint32Array(256);
      for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
      crcTables.push(t);
    }
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = 0xffffffff;
  let i = 0;
  const n8 = data.length - (data.length % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Reads the central directory of a ZIP archive held in memory. */
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readDirectory();
  }

  private need(off: number, len: number, what: string): void {
    if (off < 0 || len < 0 || off + len > this.bytes.length) {
      throw new ZipError(`Corrupt or truncated ZIP: ${what} lies outside the file (${this.bytes.length} bytes).`);
    }
  }

  private readDirectory(): void {
    const v = this.view;
    const len = this.bytes.length;
    if (len < 22) throw new ZipError('Corrupt or truncated ZIP: file is shorter than an end-of-directory record.');
    let eocd = -1;
    const stop = Math.max(0, len - 22 - 0xffff);
    for (let i = len - 22; i >= stop; i--) {
      if (v.getUint32(i, true) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new ZipError('Corrupt or truncated ZIP: no end-of-central-directory record (the file was probably cut off).');
    }
    let count = v.getUint16(eocd + 10, true);
    let cdSize = v.getUint32(eocd + 12, true);
    let cdOffset = v.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      this.need(loc, 20, 'ZIP64 locator');
      if (v.getUint32(loc, true) !== SIG_EOCD64_LOC) throw new ZipError('Corrupt ZIP: missing ZIP64 locator.');
      const e64 = u64(v, loc + 8);
      this.need(e64, 56, 'ZIP64 end record');
      if (v.getUint32(e64, true) !== SIG_EOCD64) throw new ZipError('Corrupt ZIP: bad ZIP64 end record.');
      count = u64(v, e64 + 32);
      cdSize = u64(v, e64 + 40);
      cdOffset = u64(v, e64 + 48);
    }
    if (count > MAX_ENTRIES) throw new ZipError(`Corrupt ZIP: ${count} entries is implausible.`);
    this.need(cdOffset, cdSize, 'central directory');
    let p = cdOffset;
    const end = cdOffset + cdSize;
    const decoder = new TextDecoder('utf-8', { fatal: false });
    for (let i = 0; i < count; i++) {
      if (p + 46 > end) throw new ZipError('Corrupt ZIP: central directory is shorter than its entry count.');
      if (v.getUint32(p, true) !== SIG_CENTRAL) throw new ZipError('Corrupt ZIP: bad central directory entry signature.');
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > end) throw new ZipError('Corrupt ZIP: entry runs past the central directory.');
      const name = decoder.decode(this.bytes.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extra field: only the fields whose 32-bit slot is saturated are present, in this order.
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      while (q + 4 <= extraEnd) {
        const id = v.getUint16(q, true);
        const sz = v.getUint16(q + 2, true);
        if (q + 4 + sz > extraEnd) break;
        if (id === 0x0001) {
          let r = q + 4;
          const take = (): number => {
            if (r + 8 > q + 4 + sz) throw new ZipError('Corrupt ZIP: short ZIP64 extra field.');
            const val = u64(v, r);
            r += 8;
            return val;
          };
          if (size === 0xffffffff) size = take();
          if (compSize === 0xffffffff) compSize = take();
          if (localOffset === 0xffffffff) localOffset = take();
        }
        q += 4 + sz;
      }
      this.need(localOffset, 30, `local header of '${name}'`);
      if (v.getUint32(localOffset, true) !== SIG_LOCAL) throw new ZipError(`Corrupt ZIP: bad local header for '${name}'.`);
      const lName = v.getUint16(localOffset + 26, true);
      const lExtra = v.getUint16(localOffset + 28, true);
      const dataOffset = localOffset + 30 + lName + lExtra;
      this.need(dataOffset, compSize, `data of '${name}'`);
      if (method === 0 && compSize !== size) throw new ZipError(`Corrupt ZIP: stored entry '${name}' has mismatched sizes.`);
      this.entries.set(name, { name, method, crc32: crc, size: compSize, dataOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** Returns an entry's bytes (a view, not a copy). Refuses compressed entries. */
  read(name: string, verifyCrc = true): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`ZIP entry '${name}' is missing.`);
    if (e.method !== 0) {
      throw new ZipError(
        `ZIP entry '${name}' is compressed (method ${e.method}); torch.save writes uncompressed archives. ` +
          'Re-save the checkpoint with torch.save instead of re-zipping it.',
      );
    }
    const data = this.bytes.subarray(e.dataOffset, e.dataOffset + e.size);
    if (verifyCrc && crc32(data) !== e.crc32) {
      throw new ZipError(`ZIP entry '${name}' fails its CRC-32 check: the file is corrupt.`);
    }
    return data;
  }
}
