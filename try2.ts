import { readFileSync } from 'node:fs';
import { decodeDicom } from './src/dicom/index.ts';
const dir = 'test/fixtures/dicom/';
const n = 'u12_j2k_lossy';
const img = await decodeDicom(readFileSync(dir + n + '.dcm'), {});
const exp = new Uint16Array(readFileSync(dir + n + '.expected.u16').buffer.slice(0));
let c = 0;
for (let i = 0; i < exp.length; i++) if (Math.abs(img.pixels[i]! - exp[i]! / 65535) > 1/255) { if (c++ < 5) console.log(n, i, img.pixels[i], exp[i]! / 65535); }
console.log(n, c);
