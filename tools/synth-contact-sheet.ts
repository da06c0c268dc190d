// Renders synthetic CheXpert phantoms into one PNG contact sheet, to look at them.
// Usage: npx tsx tools/synth-contact-sheet.ts [out.png] [size=128] [count=32] [split=valid] [seed=0]
import sharp from 'sharp';
import { COMPETITION_TASKS, renderSynthImage, synthRecords, type SynthSplit } from '../src/index.js';

const [out = '/tmp/synth-sheet.png', sizeArg = '128', countArg = '32', split = 'valid', seedArg = '0'] = process.argv.slice(2);
const size = Number(sizeArg);
const count = Number(countArg);
const records = synthRecords(split as SynthSplit, count, Number(seedArg));
const cols = 8;
const rows = Math.ceil(count / cols);
const sheet = new Uint8Array(cols * size * rows * size);
records.forEach((r, k) => {
  const img = renderSynthImage(r, size);
  const x0 = (k % cols) * size;
  const y0 = Math.floor(k / cols) * size;
  for (let y = 0; y < size; y++) sheet.set(img.data.subarray(y * size, (y + 1) * size), (y0 + y) * cols * size + x0);
  const labels = COMPETITION_TASKS.map((t) => `${t.slice(0, 4)}=${r.labels[t] ?? ''}`).join(' ');
  console.log(`${k} (row ${Math.floor(k / cols)}, col ${k % cols}) ${r.view} ${r.apPa} ${labels}`);
});
await sharp(Buffer.from(sheet), { raw: { width: cols * size, height: rows * size, channels: 1 } }).png().toFile(out);
console.log(`wrote ${out}`);
