// Writes test/fixtures/zoo/meta.json (stages and default sizes per architecture) for tools/zoo_fixtures.py,
// so the Python reference hooks exactly the stages the registry declares.
// Run: npx tsx tools/dump_zoo_meta.ts
import { writeFileSync } from 'node:fs';
import { getModelInfo, listModels } from '../src/zoo/registry.js';

const meta: Record<string, { stages: string[]; defaultInputSize: number; family: string }> = {};
for (const name of listModels()) {
  const info = getModelInfo(name);
  meta[name] = { stages: info.stages, defaultInputSize: info.defaultInputSize, family: info.family };
}
writeFileSync(new URL('../test/fixtures/zoo/meta.json', import.meta.url), JSON.stringify(meta, null, 1) + '\n');
console.log(`wrote meta for ${Object.keys(meta).length} architectures`);
