// Encodes a raw 16-bit little-endian greyscale image as an HTJ2K codestream with OpenJPH
// (@cornerstonejs/codec-openjph), for tools/make_dicom_fixtures.py: no Debian tool writes HTJ2K.
// Usage: npx tsx tools/htj2k_encode.ts IN.raw OUT.j2c WIDTH HEIGHT BITS SIGNED(0|1) [--rpcl] [--irreversible QSTEP]
//   (default)             reversible 5/3, OpenJPH's defaults (LRCP, 5 decompositions): HTJ2K Lossless (.201)
//   --rpcl                what PS3.5 sect. 10.18 requires of HTJ2K with RPCL Options (.202): RPCL
//                         progression, TLM marker segment, enough decompositions for a base resolution <= 64
//                         pixels wide or high; the tile is split into one tile-part per resolution, so the TLM
//                         entries are the resolution breakpoints the standard means them to find
//   --irreversible QSTEP  irreversible 9/7 with OpenJPH's base quantization step QSTEP (lossy; .203)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** OpenJPH's progression-order enumeration (ojph::OJPH_PO_*): LRCP 0, RLCP 1, RPCL 2, PCRL 3, CPRL 4. */
const RPCL = 2;
/** OpenJPH's default number of decompositions. */
const DEFAULT_DECOMPOSITIONS = 5;

const args = process.argv.slice(2);
const rpcl = args.includes('--rpcl');
const qIndex = args.indexOf('--irreversible');
const qstep = qIndex >= 0 ? Number(args[qIndex + 1]) : undefined;
const [input, output, w, h, bits, signed] = args.filter((a, i) => !a.startsWith('--') && (qIndex < 0 || i !== qIndex + 1));
if (!input || !output || !w || !h || !bits || signed === undefined) throw new Error('usage: htj2k_encode.ts IN.raw OUT.j2c WIDTH HEIGHT BITS SIGNED [--rpcl] [--irreversible QSTEP]');
if (qstep !== undefined && !(qstep > 0)) throw new Error(`--irreversible needs a positive quantization step, got ${args[qIndex + 1]}`);
if (rpcl && qstep !== undefined) throw new Error('--rpcl is the lossless-only .202 syntax: do not combine it with --irreversible');

const require = createRequire(import.meta.url);
const factory = require('@cornerstonejs/codec-openjph') as () => Promise<any>;
const mod = await factory();
const enc = new mod.HTJ2KEncoder();
const width = Number(w);
const height = Number(h);
const frameInfo = { width, height, bitsPerSample: Number(bits), componentCount: 1, isSigned: signed === '1', isUsingColorTransform: false };
const raw = readFileSync(input);
const target = enc.getDecodedBuffer(frameInfo) as Uint8Array;
if (target.length !== raw.length) throw new Error(`buffer ${target.length} bytes, raw ${raw.length}`);
target.set(raw);
enc.setQuality(qstep === undefined, qstep ?? 0);
if (rpcl) {
  // the base resolution is the image divided by 2^levels (rounded up); DICOM wants it <= 64 on one side
  let levels = DEFAULT_DECOMPOSITIONS;
  while (Math.min(Math.ceil(width / 2 ** levels), Math.ceil(height / 2 ** levels)) > 64) levels++;
  enc.setDecompositions(levels);
  enc.setProgressionOrder(RPCL);
  enc.setTLMMarker(true);
  enc.setTilePartDivisionsAtResolutions(true);
}
enc.encode();
writeFileSync(output, enc.getEncodedBuffer());
enc.delete();
