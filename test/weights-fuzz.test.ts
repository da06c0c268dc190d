import { describe, expect, it } from 'vitest';
import { parseTorchSave } from '../src/weights/pth.js';
import { unpickle } from '../src/weights/pickle.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { ZipReader } from '../src/weights/zip.js';
import { fixture } from './weights-helpers.js';
import { rng } from './helpers/index.js';
import { concatBytes } from '../src/utils/bytes.js';

/** Small deterministic PRNG so failures reproduce. */
function mutate(src: Uint8Array, r: () => number, region?: [number, number]): Uint8Array {
  const [lo, hi] = region ?? [0, src.length];
  const kind = r();
  if (kind < 0.15) return src.slice(0, Math.floor(r() * src.length)); // truncation
  if (kind < 0.2) return Uint8Array.from({ length: Math.floor(r() * 600) }, () => Math.floor(r() * 256)); // noise
  const out = src.slice();
  const flips = 1 + Math.floor(r() * 8);
  for (let i = 0; i < flips; i++) {
    const p = lo + Math.floor(r() * (hi - lo));
    out[p] = kind < 0.6 ? out[p]! ^ (1 << Math.floor(r() * 8)) : [0, 0xff, 0x7f, 0x80, 0x58, 0x71, 0x28][Math.floor(r() * 7)]!;
  }
  return out;
}

/** Runs `parse` on many mutants; every outcome must be success or a deliberate Error (no TypeError/RangeError = bug). */
function fuzz(name: string, base: Uint8Array, parse: (b: Uint8Array) => unknown, n: number, region?: [number, number]): void {
  const r = rng(n * 7919 + base.length);
  let failures = 0;
  for (let i = 0; i < n; i++) {
    const input = mutate(base, r, region);
    try {
      parse(input);
    } catch (e) {
      failures++;
      if (!(e instanceof Error) || e instanceof TypeError || e instanceof RangeError) {
        throw new Error(`${name} #${i}: parser crashed instead of failing cleanly: ${String(e)}`);
      }
      expect((e as Error).message.length).toBeGreaterThan(10);
    }
  }
  expect(failures).toBeGreaterThan(n / 10);
}

describe('parsers fail cleanly on malformed input', () => {
  const pth = fixture('tiny.pth');
  const zip = new ZipReader(pth);
  const pkl = zip.entries.get('tiny/data.pkl')!;

  it('torch.save zip (whole file, CRC on)', () => {
    fuzz('zip', pth, (b) => parseTorchSave(b), 1500);
  });

  it('torch.save zip with the CRC check off, mutating the pickle and the storages', () => {
    fuzz('zip-nocrc', pth, (b) => parseTorchSave(b, { verifyCrc: false }), 1500, [pkl.dataOffset, pth.length - 200]);
  });

  it('legacy torch.save (no CRC: every flip reaches the pickle reader)', () => {
    fuzz('legacy', fixture('tiny_legacy.pth'), (b) => parseTorchSave(b), 1500);
  });

  it('raw pickle opcodes', () => {
    const bytes = zip.read('tiny/data.pkl');
    fuzz('pickle', bytes, (b) => unpickle(b, { persistentLoad: (pid) => pid }), 1500);
  });

  it('safetensors (header and data)', () => {
    const st = fixture('tiny.safetensors');
    fuzz('safetensors', st, (b) => parseSafetensors(b), 1500);
    const headerLen = Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
    fuzz('safetensors-header', st, (b) => parseSafetensors(b), 1500, [8, 8 + headerLen]);
  });

  it('hostile headers are refused before allocating', () => {
    const make = (header: unknown, dataLen = 0): Uint8Array => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + h.length + dataLen);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      return out;
    };
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(() => parseSafetensors(huge)).toThrow(/header length/);
    expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 4] } }, 4))).toThrow(/shape/);
    expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } }, 8))).toThrow(/overlaps/);
    expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4))).toThrow(/outside/);
    expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8))).toThrow(/hole/);
    expect(() => parseSafetensors(make({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8))).toThrow(/dtype/);
    expect(() => parseSafetensors(make([1, 2]))).toThrow(/not a JSON object/);
  });

  it('a pickle claiming a huge string or memo index fails without allocating', () => {
    const big = Uint8Array.from([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x41]);
    expect(() => unpickle(big)).toThrow(/Truncated pickle/);
    expect(() => unpickle(Uint8Array.from([0x80, 0x02, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x2e]))).toThrow(/memo key/);
    expect(() => unpickle(Uint8Array.from([0x80, 0x02, 0x28, 0x28, 0x28]))).toThrow(/Truncated/);
    expect(() => unpickle(Uint8Array.from([0x80, 0x02, 0x69]))).toThrow(/Unsupported pickle opcode INST/);
  });
});

/** A small pickle assembler for hand-made hostile files (protocol 2 opcodes, as torch writes them). */
class Pkl {
  private readonly out: number[] = [0x80, 0x02];
  private u32(n: number): number[] {
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  }
  op(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return b.length < 256 ? this.op(0x8c, b.length, ...b) : this.op(0x58, ...this.u32(b.length), ...b);
  }
  int(n: number): this {
    return n >= 0 && n < 256 ? this.op(0x4b, n) : this.op(0x4a, ...this.u32(n));
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  mark = (): this => this.op(0x28);
  tuple = (): this => this.op(0x74);
  reduce = (): this => this.op(0x52);
  put = (i: number): this => this.op(0x72, ...this.u32(i)); // LONG_BINPUT
  get = (i: number): this => this.op(0x6a, ...this.u32(i)); // LONG_BINGET
  stop(): Uint8Array {
    return Uint8Array.from([...this.out, 0x2e]);
  }
}

/** A legacy (pre-1.6) torch.save file: magic, protocol, sys info, the root pickle, storage keys, then raw storages. */
function legacyFile(root: (p: Pkl) => Pkl, storages: [string, bigint, Uint8Array][]): Uint8Array {
  const magic = new Pkl().op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop();
  const version = new Pkl().op(0x4d, 1001 & 0xff, 1001 >> 8).stop();
  const sysInfo = new Pkl().op(0x7d).stop();
  const keys = new Pkl().mark();
  for (const [k] of storages) keys.str(k);
  const parts = [magic, version, sysInfo, root(new Pkl()).stop(), keys.op(0x6c).stop()];
  for (const [, count, data] of storages) {
    const h = new Uint8Array(8);
    new DataView(h.buffer).setBigInt64(0, count, true);
    parts.push(h, data);
  }
  return concatBytes(parts);
}

/** `{'w': _rebuild_tensor_v2(storage, 0, size, stride)}` where the storage's persistent id uses `storageType`. */
const oneTensor = (storageType: string, numel: number, size: number[], stride: number[]) => (p: Pkl): Pkl => {
  p.global('collections', 'OrderedDict').op(0x29).reduce().str('w');
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', storageType).str('0').str('cpu').int(numel).tuple().op(0x51);
  p.int(0).mark();
  for (const s of size) p.int(s);
  p.tuple().mark();
  for (const s of stride) p.int(s);
  return p.tuple().tuple().reduce().op(0x73);
};

describe('hostile checkpoints are refused before allocating', () => {
  it('a well-formed hand-made legacy file parses (the assembler is right)', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const bytes = legacyFile(oneTensor('FloatStorage', 6, [2, 3], [3, 1]), [['0', 6n, data]]);
    const { dict, format } = parseTorchSave(bytes);
    expect(format).toBe('pth-legacy');
    expect(dict.get('w')!.shape).toEqual([2, 3]);
    expect(Array.from(dict.get('w')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('torch.%s is not a storage type', (name) => {
    // 2^30 elements declared by a ~170-byte file: before the fix the dtype became a function, the byte count NaN,
    // every bounds check passed and 4 GiB were allocated
    const bytes = legacyFile(oneTensor(name, 2 ** 30, [2 ** 30], [1]), [['0', 2n ** 30n, new Uint8Array(0)]]);
    expect(bytes.length).toBeLessThan(200);
    expect(() => parseTorchSave(bytes)).toThrow(new RegExp(`Refusing global 'torch\\.${name}'`));
    expect(() => unpickle(new Pkl().global('torch', name).stop())).toThrow(/Refusing global/);
  });

  it('a storage count larger than the bytes present is refused, whatever its dtype', () => {
    const bytes = legacyFile(oneTensor('FloatStorage', 2 ** 30, [2 ** 30], [1]), [['0', 2n ** 30n, new Uint8Array(16)]]);
    expect(() => parseTorchSave(bytes)).toThrow(/declares 1073741824 float32 elements .* but 16 bytes remain/);
    const huge = legacyFile(oneTensor('FloatStorage', 1, [1], [1]), [['0', 2n ** 62n, new Uint8Array(16)]]);
    expect(() => parseTorchSave(huge)).toThrow(/Truncated or corrupt legacy checkpoint/);
    const negative = legacyFile(oneTensor('FloatStorage', 1, [1], [1]), [['0', -1n, new Uint8Array(16)]]);
    expect(() => parseTorchSave(negative)).toThrow(/Truncated or corrupt legacy checkpoint/);
  });

  it('non-integer and unsafe counts from the pickle are refused', () => {
    // BINFLOAT 1e300 is an "integer" to Number.isInteger but not a safe one
    const f = (p: Pkl, v: number) => {
      const b = new Uint8Array(9);
      b[0] = 0x47;
      new DataView(b.buffer).setFloat64(1, v, false);
      return p.op(...b);
    };
    const big = (p: Pkl): Pkl => {
      p.global('collections', 'OrderedDict').op(0x29).reduce().str('w');
      p.global('torch._utils', '_rebuild_tensor_v2').mark();
      p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(1).tuple().op(0x51);
      f(p, 1e300).mark().int(1).tuple().mark().int(1).tuple().tuple().reduce().op(0x73);
      return p;
    };
    const bytes = legacyFile(big, [['0', 1n, new Uint8Array(4)]]);
    expect(() => parseTorchSave(bytes)).toThrow(/Expected an integer for storage offset/);
  });

  it('a rank above 8 is refused, like safetensors', () => {
    const bytes = legacyFile(oneTensor('FloatStorage', 1, new Array(9).fill(1), new Array(9).fill(1)), [['0', 1n, new Uint8Array(4)]]);
    expect(() => parseTorchSave(bytes)).toThrow(/rank 9; at most 8 dimensions/);
  });

  it('a ~1 MB legacy file of huge-rank tensors fails fast instead of running out of memory', () => {
    // one memoized size tuple of 250k ones, then 15k tensors that reuse it for a few bytes each: before the fix
    // every tensor copied the tuple twice (size and stride), 4 MB per key, and the process ran out of memory
    const rank = 250_000;
    const q = new Pkl();
    q.global('collections', 'OrderedDict').op(0x29).reduce();
    q.mark();
    for (let i = 0; i < rank; i++) q.int(1);
    q.tuple().put(0).op(0x30);
    q.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(1).tuple().op(0x51).put(1).op(0x30);
    q.global('torch._utils', '_rebuild_tensor_v2').put(2).op(0x30);
    q.mark();
    // key, then REDUCE(_rebuild_tensor_v2, (storage, 0, size, stride)); SETITEMS at the end
    for (let i = 0; i < 15_000; i++) q.str(String(i)).get(2).mark().get(1).int(0).get(0).get(0).tuple().reduce();
    const bytes = legacyFile(() => q.op(0x75), [['0', 1n, new Uint8Array(4)]]);
    expect(bytes.length).toBeGreaterThan(900_000);
    expect(bytes.length).toBeLessThan(1_100_000);
    const t0 = Date.now();
    expect(() => parseTorchSave(bytes)).toThrow(/rank 250000; at most 8 dimensions/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('reusing a memoized list does not multiply the work (OrderedDict of the same 20k pairs, 20k times)', () => {
    const q = new Pkl();
    q.mark();
    for (let i = 0; i < 20_000; i++) q.op(0x4b, i & 0xff, 0x4e, 0x86); // (i, None)
    q.op(0x6c).put(0).op(0x30);
    q.global('collections', 'OrderedDict').put(1).op(0x30);
    q.mark();
    for (let i = 0; i < 20_000; i++) q.get(1).get(0).op(0x85).reduce();
    const bytes = q.op(0x6c).stop();
    expect(bytes.length).toBeLessThan(400_000);
    const t0 = Date.now();
    expect(() => unpickle(bytes)).toThrow(/more work than its \d+ bytes justify/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('thousands of keys naming one big storage cannot allocate it thousands of times', () => {
    const n = 65_536;
    const q = new Pkl();
    q.global('collections', 'OrderedDict').op(0x29).reduce();
    q.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(n).tuple().op(0x51).put(1).op(0x30);
    q.global('torch._utils', '_rebuild_tensor_v2').put(2).op(0x30);
    q.int(n - 1).op(0x85).put(3).op(0x30); // size (n - 1,): offset 1 makes every key a copy
    q.int(1).op(0x85).put(4).op(0x30);
    q.mark();
    for (let i = 0; i < 2000; i++) q.str(String(i)).get(2).mark().get(1).int(1).get(3).get(4).tuple().reduce();
    const bytes = legacyFile(() => q.op(0x75), [['0', BigInt(n), new Uint8Array(4 * n)]]);
    // before the fix: 2000 copies of 256 KB (512 MB) from a 320 KB file
    expect(bytes.length).toBeLessThan(400_000);
    expect(() => parseTorchSave(bytes)).toThrow(/more than a \d+-byte file can store/);
    // the same storage named by two keys (tied weights) is fine
    const tied = new Pkl();
    tied.global('collections', 'OrderedDict').op(0x29).reduce();
    tied.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(n).tuple().op(0x51).put(1).op(0x30);
    tied.global('torch._utils', '_rebuild_tensor_v2').put(2).op(0x30);
    tied.int(n - 1).op(0x85).put(3).op(0x30);
    tied.int(1).op(0x85).put(4).op(0x30);
    tied.mark();
    for (let i = 0; i < 2; i++) tied.str(String(i)).get(2).mark().get(1).int(1).get(3).get(4).tuple().reduce();
    const ok = parseTorchSave(legacyFile(() => tied.op(0x75), [['0', BigInt(n), new Uint8Array(4 * n)]]));
    expect(ok.dict.get('1')!.shape).toEqual([n - 1]);
  });
});
