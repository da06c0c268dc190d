// `node --import tsx test/browser/xrv.ts`: the demo page (examples/browser) on a full-size torchxrayvision DenseNet-121
// checkpoint in headless Chromium (Debian's /usr/bin/chromium via playwright-core, wasm backend). The .pt is made at
// run time by tools/make_xrv_fixtures.py --full with /usr/bin/python3's torch (torchxrayvision's own class when
// CHEXZOO_XRV_SRC names a checkout, else the torchvision stand-in) under the release file name of 'xrv-all'; the
// page must show the 18 pathologies with the calibrated probabilities and the Grad-CAM map the same code computes in
// Node (examples/browser/xrv.ts; test/xrv-full.test.ts ties those logits to torch's).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { ensureBackend, getWeightsInfo } from '../../src/index.js';
import { analyzeXrv, tryLoadXrv } from '../../examples/browser/xrv.js';
// @ts-expect-error plain ESM script without types
import { buildDemo, serveDemo } from '../../examples/browser/serve.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PY = '/usr/bin/python3';
let failed = 0;
const check = (name: string, ok: boolean, detail = ''): void => {
  if (!ok) failed++;
  console.log(`${ok ? '  ok  ' : '  FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
if (!existsSync(CHROMIUM) || !existsSync(PY)) {
  console.error(`SKIPPED: needs ${CHROMIUM} and ${PY} with torch.`);
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'chexzoo-xrv-browser-'));
const xrvSrc = process.env.CHEXZOO_XRV_SRC;
const made = spawnSync(PY, ['tools/make_xrv_fixtures.py', '--out', work, '--full', ...(xrvSrc ? ['--xrv-src', xrvSrc] : [])], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);
const ptPath = join(work, getWeightsInfo('densenet121', 'xrv-all').fileName);
copyFileSync(join(work, 'xrv_densenet121_zip.pt'), ptPath);
const png = new URL('../fixtures/xrv/xrv_radiograph.png', import.meta.url).pathname;
console.log(`checkpoint: ${xrvSrc ? "torchxrayvision's DenseNet class" : 'torchvision stand-in'}, ${ptPath}`);

// what the page computes, in Node
await ensureBackend('wasm');
const xrv = (await tryLoadXrv(new Uint8Array(readFileSync(ptPath)), ptPath.split('/').pop()!))!;
const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
const grey = tf.tensor3d(Int32Array.from(data), [info.height, info.width, 1], 'int32');
const rgb = tf.tile(grey, [1, 1, 3]) as tf.Tensor3D;
const expected = await analyzeXrv(xrv, rgb);
tf.dispose([grey, rgb]);
xrv.model.dispose();

const files = await buildDemo();
const { server, url } = await serveDemo(files, 0);
const profile = mkdtempSync(join(tmpdir(), 'chexzoo-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}?backend=wasm`);
  await page.waitForFunction(() => document.body.dataset.status === 'ready' || document.body.dataset.status === 'error', null, { timeout: 120_000 });
  await page.setInputFiles('#modelFiles', ptPath);
  await page.waitForFunction(() => /Model ready/.test(document.getElementById('message')!.textContent ?? '') || document.body.dataset.status === 'error', null, { timeout: 300_000 });
  const m1 = (await page.textContent('#message')) ?? '';
  check('the torchxrayvision .pt loads as a torchxrayvision densenet121', /Model ready: torchxrayvision densenet121 from/.test(m1), m1);
  await page.setInputFiles('#imageFile', png);
  await page.waitForFunction(() => (document.body.dataset.status === 'done' && /explained/.test(document.getElementById('message')!.textContent ?? '')) || document.body.dataset.status === 'error', null, { timeout: 600_000 });
  const r = await page.evaluate(() => {
    const s = (window as unknown as { chexzooDemo: { result: { probabilities: { task: string; probability: number }[]; cam: { heatmap: Float32Array; classIndex: number } } } }).chexzooDemo;
    return { tasks: s.result.probabilities.map((p) => p.task), probs: s.result.probabilities.map((p) => p.probability), heatmap: Array.from(s.result.cam.heatmap), classIndex: s.result.cam.classIndex, message: document.getElementById('message')!.textContent, rows: document.querySelectorAll('#probs tr').length };
  });
  check('the page lists the 18 pathologies', r.rows === 18 && r.tasks.join('|') === expected.probabilities.map((p) => p.task).join('|'), `${r.rows} rows`);
  const dp = maxAbsDiff(r.probs, expected.probabilities.map((p) => p.probability));
  check(`calibrated probabilities equal Node's (max |diff| ${dp.toExponential(2)} <= 1e-4)`, dp <= 1e-4, r.message ?? '');
  const dh = maxAbsDiff(r.heatmap, expected.cam.heatmap);
  check(`Grad-CAM heatmap equals Node's (max |diff| ${dh.toExponential(2)} <= 1e-4), class ${r.classIndex}`, dh <= 1e-4 && r.classIndex === expected.cam.classIndex);
  check('says the probabilities are calibrated', /calibrated/.test(r.message ?? ''), r.message ?? '');
  await page.screenshot({ path: join(new URL('.', import.meta.url).pathname, 'screenshots', 'demo-xrv.png') });
  check('no uncaught page errors', errors.length === 0, errors.join('; '));
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
console.log(failed ? `${failed} failed` : 'all passed');
process.exit(failed ? 1 : 0);
