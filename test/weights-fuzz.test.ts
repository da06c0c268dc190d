import { describe, expect, it } from 'vitest';
import { parseTorchCheckpoint } from '../src/weights/pth.js';
import { unpickle } from '../src/weights/pickle.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { ZipReader } from '../src/weights/zip.js';
import { fixture } from './weights-helpers.js';

/** Small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
    fuzz('zip', pth, (b) => parseTorchCheckpoint(b), 1500);
  });

  it('torch.save zip with the CRC check off, mutating the pickle and the storages', () => {
    fuzz('zip-nocrc', pth, (b) => parseTorchCheckpoint(b, { verifyCrc: false }), 1500, [pkl.dataOffset, pth.length - 200]);
  });

  it('legacy torch.save (no CRC: every flip reaches the pickle reader)', () => {
    fuzz('legacy', fixture('tiny_legacy.pth'), (b) => parseTorchCheckpoint(b), 1500);
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
