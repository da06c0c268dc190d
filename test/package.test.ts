// The published shape of the package: ESM + CJS bundles that load, a browser-safe root entry, the CLI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'tsup';
import { build as esbuild } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
// inside the project so that the bundles resolve @tensorflow/tfjs from its node_modules
const out = mkdtempSync(join(root, 'node_modules', '.chexzoo-build-'));

beforeAll(async () => {
  await build({
    entry: { index: 'src/index.ts', node: 'src/node.ts', cli: 'src/cli/main.ts' },
    format: ['esm', 'cjs'],
    outDir: out,
    dts: false,
    silent: true,
    target: 'node20',
    splitting: false,
    clean: true,
  });
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

const NODE_ONLY = /(?:from\s*|require\()\s*["'](?:node:)?(fs|fs\/promises|path|os|http|https|child_process|url|crypto|util|sharp)["']/;

describe('package', () => {
  it('keeps the root entry browser-safe (no Node built-ins, no sharp)', () => {
    for (const f of ['index.js', 'index.cjs']) {
      const code = readFileSync(join(out, f), 'utf8');
      expect(code.match(NODE_ONLY)?.[0], f).toBeUndefined();
    }
  });

  it('bundles the root entry for browsers (no Node built-ins to resolve)', async () => {
    const r = await esbuild({
      entryPoints: [join(root, 'src/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(r.metafile.inputs);
    // TF.js itself maps its optional Node imports (crypto) to nothing in browsers; ours must need none
    expect(inputs.filter((i) => /(^|\/)(sharp|node:)/.test(i) || /^src\/.*(fs-io|fetch-node|dataset|images|synth-node|cli)/.test(i))).toEqual([]);
    expect(inputs.some((i) => i.startsWith('src/zoo/registry'))).toBe(true);
  });

  it('loads as ESM and as CJS with the same API', async () => {
    const esm = (await import(pathToFileURL(join(out, 'index.js')).href)) as Record<string, unknown>;
    const cjs = createRequire(import.meta.url)(join(out, 'index.cjs')) as Record<string, unknown>;
    for (const name of ['createModel', 'listModels', 'auroc', 'truncate', 'blocks', 'loadWeights']) {
      expect(typeof esm[name], `esm ${name}`).toBe('function');
      expect(typeof cjs[name], `cjs ${name}`).toBe('function');
    }
    expect((esm.listModels as () => string[])()).toHaveLength(17);
    const node = (await import(pathToFileURL(join(out, 'node.js')).href)) as Record<string, unknown>;
    for (const name of ['saveModel', 'loadModel', 'loadChexpert', 'writeSynthDataset', 'createModel']) {
      expect(typeof node[name], `node ${name}`).toBe('function');
    }
  });

  it('runs the chexzoo CLI', () => {
    const text = execFileSync(process.execPath, [join(out, 'cli.js'), 'list'], { encoding: 'utf8' });
    expect(text).toMatch(/resnet18\s+resnet\s+11,689,512\s+224\s+69\.758/);
    expect(text.trim().split('\n')).toHaveLength(18);
  });
});

