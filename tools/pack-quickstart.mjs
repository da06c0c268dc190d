#!/usr/bin/env node
// Runs the README's quick start against the packed package, as a new user would: `npm pack`, install the tarball
// into a fresh project (npm's cache first; the registry only for what is missing), then run the quick-start
// snippets extracted from README.md. SLOW-ish (about 1-3 minutes on 2 shared cores); not part of `npm test`.
//
//   node tools/pack-quickstart.mjs [--no-build] [--keep] [--shell-only]
//
// --shell-only skips the two TypeScript snippets (the Node one trains resnet18 at 224 px: ~2 min idle, 15 under load).
//
// What differs from a user's machine, and nothing else:
// - the data path '/data/CheXpert-v1.0-small' becomes a small synthetic dataset made by the installed `chexzoo synth`;
// - there is no internet here, so `weights: 'imagenet'` for resnet18 is served from a resnet18 saved by the package
//   (a weights resolver installed before the snippet runs; the snippet's code itself is unchanged);
// - the shell lines get flags that keep them short (printed below; `synth` smaller, `train` a few steps).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const t0 = Date.now();
const log = (s) => process.stderr.write(`[pack-quickstart ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
const sh = (cmd, argv, cwd, extra = {}) => execFileSync(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...extra });

const work = mkdtempSync(join(tmpdir(), 'chexzoo-quickstart-'));
let failed = false;
try {
  if (!args.has('--no-build')) {
    log('npm run build');
    sh('npm', ['run', 'build'], root);
  }
  log('npm pack');
  const packed = JSON.parse(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root));
  const tarball = join(work, packed[0].filename);
  log(`${packed[0].filename}: ${(packed[0].size / 1e6).toFixed(2)} MB, ${packed[0].entryCount} files`);

  const app = join(work, 'app');
  sh('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'quickstart-app', private: true, type: 'module' }, null, 2));
  log('npm install <tarball> (prefer offline)');
  sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], app);

  // the snippets, from README.md's "Quick start" section
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 5));
  const blocks = [...section.matchAll(/```(ts|sh)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], code: m[2] }));
  const ts = blocks.filter((b) => b.lang === 'ts');
  const shell = blocks.find((b) => b.lang === 'sh');
  if (ts.length !== 2 || !shell) throw new Error(`Expected 2 ts blocks and 1 sh block in the quick start, found ${blocks.map((b) => b.lang)}`);

  const env = { ...process.env, CHEXZOO_CACHE: join(work, 'cache'), CHEXZOO_OFFLINE: '' };
  const runJs = (name, code) => {
    const js = transformSync(code, { loader: 'ts', format: 'esm' }).code;
    writeFileSync(join(app, name), js);
    log(`node ${name}`);
    return sh(process.execPath, [name], app, { env });
  };

  // 1. the browser-safe snippet, as written
  if (!args.has('--shell-only')) runJs('quickstart-1.mjs', `${ts[0].code}\nconsole.log('logits', logits.shape);\n`);

  // 2. the Node snippet: a synthetic dataset instead of /data, imagenet weights from a local resnet18
  log('npx chexzoo synth (small)');
  sh('npx', ['chexzoo', 'synth', '--out', 'data/synth', '--train', '16', '--valid', '16', '--size', '64', '--quiet'], app, { env });
  if (!args.has('--shell-only')) {
  runJs('make-fake-imagenet.mjs', `import { createModel, saveModel } from '@chexzoo/models/node';\nawait saveModel(await createModel('resnet18'), 'fake-imagenet/resnet18');\n`);
  const code2 = ts[1].code.replace("'/data/CheXpert-v1.0-small'", "'data/synth'");
  if (code2 === ts[1].code) throw new Error("The Node snippet no longer names '/data/CheXpert-v1.0-small': update tools/pack-quickstart.mjs.");
  const preamble = `import * as __chexzoo from '@chexzoo/models/node';
{ const base = __chexzoo.getWeightsResolver();
  __chexzoo.setWeightsResolver(async (req) => (req.arch === 'resnet18' && /resnet18-/.test(req.url ?? '') ? __chexzoo.readModelArtifacts('fake-imagenet/resnet18') : base(req))); }
`;
  const lines = code2.split('\n');
  const lastImport = lines.findLastIndex((l) => l.startsWith('import '));
  lines.splice(lastImport + 1, 0, preamble);
  runJs('quickstart-2.mjs', `${lines.join('\n')}\nconsole.log('mean AUROC', meanAuroc, 'steps', run.steps, Object.keys(perTask).length, ci ? 'ci' : 'no ci');\n`);
  const saved = readdirSync(join(app, 'work/r18/final'));
  if (!saved.includes('model.json')) throw new Error('saveModel wrote no model.json');
  }

  // 3. the shell lines (synth already ran; flags that keep them short are printed)
  const extra = {
    'chexzoo synth': null,
    'chexzoo train': ['--max-steps', '2', '--image-size', '32', '--batch-size', '8', '--quiet'],
    // one architecture, two steps, random init (the quick grid itself takes minutes: npm run reproduce)
    'chexzoo study': ['--archs', 'resnet18', '--init', 'random', '--max-steps', '2', '--data', 'data/synth', '--out', 'runs/study'],
  };
  // needs the internet (download.pytorch.org), which this machine does not reach; `weights list` runs instead
  const offlineOnly = { 'chexzoo weights': ['chexzoo', 'weights', 'list'] };
  for (const line of shell.code.split('\n').filter((l) => l.startsWith('npx '))) {
    const argv = line.split('#')[0].trim().split(/\s+/).slice(1);
    const key = argv.slice(0, 2).join(' ');
    if (extra[key] === null) continue;
    if (offlineOnly[key]) {
      log(`skipped (no internet here): npx ${argv.join(' ')}; instead: npx ${offlineOnly[key].join(' ')}`);
      sh('npx', offlineOnly[key], app, { env });
      continue;
    }
    const full = [...argv, ...(extra[key] ?? [])];
    log(`npx ${full.join(' ')}`);
    sh('npx', full, app, { env });
  }
  log('OK: the quick start runs against the packed package');
} catch (e) {
  failed = true;
  process.stderr.write(`pack-quickstart FAILED: ${e.message}\n${e.stdout ?? ''}\n`);
} finally {
  if (args.has('--keep')) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
