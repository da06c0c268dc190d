// Prints, per architecture at a size (default 320 px), the activation profile, the plain and checkpointed step
// estimates for batch 16 and the plan train() picks within 4 GiB. Cheap: builds each model, runs nothing.
// Usage: npx tsx tools/memory-plan.ts all 320   |   npx tsx tools/memory-plan.ts resnet50 224
import { ensureBackend } from '../src/backend/index.js';
import { createModel, listModels } from '../src/zoo/registry.js';
import { activationProfile, estimateStepBytes, planStep } from '../src/train/memory.js';
await ensureBackend({ backend: 'wasm' });
const [arch, size] = [process.argv[2]!, Number(process.argv[3])];
for (const a of arch === 'all' ? listModels() : [arch]) {
const m = await createModel(a, { numClasses: 5, inputShape: [size, size, 3] });
const p = activationProfile(m);
let plan: unknown; try { plan = planStep(m, 16, { memoryLimit: 4 * 1024 ** 3 }); } catch (e) { plan = (e as Error).message; }
console.log(a, JSON.stringify(p), 'plain16', (estimateStepBytes(m, 16, false) / 2 ** 20).toFixed(0), 'ck16', (estimateStepBytes(m, 16, true) / 2 ** 20).toFixed(0), JSON.stringify(plan));
m.dispose();
}
