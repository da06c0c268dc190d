// Manual browser check of the root entry (not part of `npm test`: CI machines have no browser).
// Needs Debian's chromium (`apt-get install -y chromium`). Usage: node tools/browser-smoke/run.mjs [webgl|wasm|cpu]
// Bundles app.ts for browsers, serves it on 127.0.0.1 with the wasm binaries, runs headless Chromium, prints
// what the page reports and exits non-zero on an error or a time-out.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const backend = process.argv[2] ?? '';
const bundle = await build({ entryPoints: [join(here, 'app.ts')], bundle: true, platform: 'browser', format: 'esm', write: false });
const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
const page = '<!doctype html><html><body><script type="module" src="/app.js"></script></body></html>';

let done;
const result = new Promise((r) => (done = r));
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/result') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => { res.end('ok'); done(JSON.parse(body)); });
    return;
  }
  const path = req.url.split('?')[0];
  if (path === '/') return res.end(page);
  if (path === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle.outputFiles[0].contents);
  if (path.endsWith('.wasm')) {
    try {
      return res.writeHead(200, { 'content-type': 'application/wasm' }).end(readFileSync(join(wasmDir, path.slice(1))));
    } catch {}
  }
  res.writeHead(404).end();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/${backend ? `?backend=${backend}` : ''}`;
const profile = mkdtempSync(join(tmpdir(), 'chexzoo-chromium-'));
const chrome = spawn('/usr/bin/chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`,
  '--remote-debugging-port=0', url], { stdio: 'ignore' });
const timeout = new Promise((r) => setTimeout(() => r({ error: 'no result within 90 s' }), 90_000));
const out = await Promise.race([result, timeout]);
chrome.kill();
server.close();
rmSync(profile, { recursive: true, force: true });
console.log(JSON.stringify(out, null, 2));
process.exitCode = out.error ? 1 : 0;
