// Writes the round-trip cases of test/helpers/export-cases.ts as .safetensors files for
// tools/make_export_fixtures.py:  npx tsx tools/export_fixture_models.ts OUT_DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBackend } from '../src/backend/index.js';
import { toSafetensors } from '../src/weights/export.js';
import { EXPORT_CASES } from '../test/helpers/export-cases.js';

const out = process.argv[2];
if (!out) {
  console.error('Usage: npx tsx tools/export_fixture_models.ts OUT_DIR');
  process.exit(2);
}
await ensureBackend();
mkdirSync(out, { recursive: true });
for (const c of EXPORT_CASES) {
  const model = await c.build();
  writeFileSync(join(out, `${c.name}.safetensors`), toSafetensors(model));
  model.dispose();
  console.log(`${c.name}.safetensors`);
}
