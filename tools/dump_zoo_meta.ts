// Writes test/fixtures/zoo/meta.json (the architectures and their default input sizes) for tools/zoo_fixtures.py.
// Stage names are deliberately not written: the Python side reads them from the reference modules, so the
// parity test compares our registry's stages with the reference's instead of with themselves.
// Run: npx tsx tools/dump_zoo_meta.ts
import { writeFileSync } from 'node:fs';
import { getModelInfo, listModels } from '../src/zoo/registry.js';

const meta: Record<string, { imageSize: number; family: string }> = {};
for (const name of listModels()) {
  const info = getModelInfo(name);
  meta[name] = { imageSize: info.imageSize, family: info.family };
}
writeFileSync(new URL('../test/fixtures/zoo/meta.json', import.meta.url), JSON.stringify(meta, null, 1) + '\n');
console.log(`wrote meta for ${Object.keys(meta).length} architectures`);
