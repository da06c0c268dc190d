// The published shape of the package: ESM + CJS bundles that load, a browser-safe root entry, the CLI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'tsup';
import { build as esbuild } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
// inside the project so that the bundles resolve @tensorflow/tfjs from its node_modules
const out = mkdtempSync(join(root, 'node_modules', '.chexzoo-build-'));

beforeAll(async () => {
  await build({
    entry: { index: 'src/index.ts', node: 'src/node.ts', cli: 'src/cli/main.ts', 'decode-worker': 'src/node/data/decode-worker.ts' },
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

/** Source files under src/, relative to the project (posix separators). */
function sourceFiles(dir = join(root, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(root, join(dir, e.name)).split('\\').join('/')] : [],
  );
}
/** Node-only code: src/node.ts, src/node/ and the CLI; everything else must load in a browser. */
const NODE_SIDE = /^src\/(node\.ts$|node\/|cli\/)/;
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

describe('package', () => {
  it('imports no Node built-in, no sharp and no Node-only module outside src/node/ and src/cli/ (static check)', () => {
    const files = sourceFiles();
    expect(files.filter((f) => NODE_SIDE.test(f)).length).toBeGreaterThan(10);
    const bad: string[] = [];
    for (const f of files.filter((x) => !NODE_SIDE.test(x))) {
      // the TypeScript scanner sees import declarations, `export ... from`, import() and require(), not strings
      const { importedFiles } = ts.preProcessFile(readFileSync(join(root, f), 'utf8'), true, true);
      for (const { fileName: spec } of importedFiles) {
        const target = spec.startsWith('.') ? relative(root, resolve(dirname(join(root, f)), spec)).split('\\').join('/').replace(/\.js$/, '.ts') : '';
        if (BUILTINS.has(spec) || spec === 'sharp' || spec.startsWith('sharp/') || NODE_SIDE.test(target)) bad.push(`${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

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
    expect(inputs.filter((i) => /(^|\/)(sharp|node:)/.test(i) || NODE_SIDE.test(i))).toEqual([]);
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

  it('decodes on worker threads from the built ESM and CJS bundles (decode-worker.js / .cjs beside them)', async () => {
    const file = join(root, 'test/fixtures/dicom/u12_rle.dcm');
    const esm = (await import(pathToFileURL(join(out, 'node.js')).href)) as { decodeGray: (f: string, o: object) => Promise<{ data: Uint8Array }> };
    const want = Array.from((await esm.decodeGray(file, { size: 16 })).data);
    for (const f of ['node.js', 'node.cjs']) {
      const script = `const m = ${f.endsWith('.cjs') ? `require(${JSON.stringify(join(out, f))})` : `await import(${JSON.stringify(pathToFileURL(join(out, f)).href)})`};
        const dir = require('node:fs').mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'pool-'));
        const info = await m.writeSynthDataset(dir, { train: 3, valid: 2, size: 24, format: 'dicom' });
        const ds = await m.loadDataset(info.root, { split: 'valid', imageSize: 16, batchSize: 2, decodeWorkers: 1 });
        let n = 0; for await (const b of ds.batches()) { n += b.indices.length; b.x.dispose(); b.y.dispose(); b.mask.dispose(); }
        require('node:fs').rmSync(dir, { recursive: true, force: true });
        console.log(JSON.stringify({ n, skipped: ds.skipped.count }));`;
      const code = `const { createRequire } = await import('node:module'); const require = createRequire(${JSON.stringify(join(out, 'x.js'))}); ${script}`;
      const r = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: out });
      expect(JSON.parse(r.trim().split('\n').pop()!), f).toEqual({ n: 2, skipped: 0 });
    }
    expect(want).toHaveLength(256);
  }, 60_000);

  it('runs the chexzoo CLI', () => {
    const text = execFileSync(process.execPath, [join(out, 'cli.js'), 'list'], { encoding: 'utf8' });
    expect(text).toMatch(/resnet18\s+resnet\s+11,689,512\s+224\s+69\.758/);
    expect(text.trim().split('\n')).toHaveLength(18);
  });
});

