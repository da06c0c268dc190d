// Encodes a raw 16-bit little-endian greyscale image as a lossless HTJ2K codestream with OpenJPH
// (@cornerstonejs/codec-openjph), for tools/make_dicom_fixtures.py: no Debian tool writes HTJ2K.
// Usage: npx tsx tools/htj2k_encode.ts IN.raw OUT.j2c WIDTH HEIGHT BITS SIGNED(0|1)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [input, output, w, h, bits, signed] = process.argv.slice(2);
if (!input || !output || !w || !h || !bits || signed === undefined) throw new Error('usage: htj2k_encode.ts IN.raw OUT.j2c WIDTH HEIGHT BITS SIGNED');
const factory = require('@cornerstonejs/codec-openjph') as () => Promise<any>;
const mod = await factory();
const enc = new mod.HTJ2KEncoder();
const frameInfo = { width: Number(w), height: Number(h), bitsPerSample: Number(bits), componentCount: 1, isSigned: signed === '1', isUsingColorTransform: false };
const raw = readFileSync(input);
const target = enc.getDecodedBuffer(frameInfo) as Uint8Array;
if (target.length !== raw.length) throw new Error(`buffer ${target.length} bytes, raw ${raw.length}`);
target.set(raw);
enc.setQuality(true, 0);
enc.encode();
writeFileSync(output, enc.getEncodedBuffer());
enc.delete();
