// Image decoding throughput for `npm run bench`: images per second through decodeGray at 320 px (what the
// dataset reader runs per image) from JPEG (sharp) and from DICOM in the syntaxes our writer produces
// (explicit little endian, deflate, RLE; decodeDicom), on synthetic phantoms rendered at `source` px, in this
// thread and on a decode pool of one thread per core (decodeWorkers).
// Also runnable alone: npm run bench -- --decode-only [--decode-images 64] [--decode-source 1024]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderSynthImage, synthRecords } from '../src/data/synth.js';
import { encodeDicom, type WritableSyntax } from '../src/dicom/write.js';
import { availableParallelism } from 'node:os';
import { createDecodePool, type DecodePool } from '../src/node/data/decode-pool.js';
import { decodeGray, encodeGrayJpeg } from '../src/node/data/images.js';

export interface DecodeBenchResult {
  images: number;
  source: number;
  size: number;
  /** images per second, 8 decodes in flight (as the dataset reader's prefetch) */
  perSecond: Record<string, number>;
  /** threads of the decode pool for the `... N threads` rows (decodeWorkers: one per core) */
  threads: number;
}

async function writeSet(dir: string, n: number, source: number): Promise<Record<string, string[]>> {
  const sets: Record<string, string[]> = { jpeg: [], 'dicom explicit 12-bit': [], 'dicom deflate 12-bit': [], 'dicom rle 12-bit': [] };
  const syntaxes: [string, WritableSyntax][] = [['dicom explicit 12-bit', 'explicit'], ['dicom deflate 12-bit', 'deflate'], ['dicom rle 12-bit', 'rle']];
  for (const [i, r] of synthRecords('train', n, 1).entries()) {
    const img = renderSynthImage(r, source);
    const jpg = join(dir, `${i}.jpg`);
    writeFileSync(jpg, await encodeGrayJpeg(img.data, source, source, 90));
    sets.jpeg!.push(jpg);
    const twelve = Uint16Array.from(img.data, (v) => Math.round((v * 4095) / 255));
    for (const [name, syntax] of syntaxes) {
      const f = join(dir, `${i}.${syntax}.dcm`);
      writeFileSync(f, await encodeDicom({ pixels: twelve, width: source, height: source, bitsStored: 12, syntax, window: { center: 2048, width: 4096 } }));
      sets[name]!.push(f);
    }
  }
  return sets;
}

async function rate(files: string[], size: number, pool?: DecodePool): Promise<number> {
  const t0 = performance.now();
  const queue = [...files];
  const decode = pool ? (f: string) => pool.decode(f, { size }) : (f: string) => decodeGray(f, { size });
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) await decode(f);
  };
  await Promise.all(Array.from({ length: Math.max(8, 2 * (pool?.threads ?? 0)) }, worker));
  return files.length / ((performance.now() - t0) / 1000);
}

/** Decodes every set twice (the first pass warms the codecs and the file cache) and keeps the second. */
export async function decodeBench(images = 64, source = 1024, size = 320): Promise<DecodeBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'chexzoo-decode-bench-'));
  try {
    const sets = await writeSet(dir, images, source);
    const perSecond: Record<string, number> = {};
    const threads = availableParallelism();
    const pool = createDecodePool(threads);
    try {
      for (const [name, files] of Object.entries(sets)) {
        for (const [label, p] of [[name, undefined], [`${name}, ${threads} threads`, pool]] as const) {
          await rate(files.slice(0, 2 * threads + 8), size, p);
          perSecond[label] = await rate(files, size, p);
        }
      }
    } finally {
      await pool.close();
    }
    return { images, source, size, perSecond, threads };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One paragraph for bench/results/latest.md. */
export function decodeMarkdown(r: DecodeBenchResult): string {
  const cells = Object.entries(r.perSecond).map(([k, v]) => `${k} ${v.toFixed(0)}/s`).join(', ');
  return `Image decoding (decodeGray to ${r.size} px, ${r.images} phantoms of ${r.source} x ${r.source}, 8 in flight; "N threads": decodeWorkers N): ${cells}.`;
}
