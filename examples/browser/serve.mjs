// `npm run demo`: bundles the demo page (app.ts + the library's root entry, from source) with esbuild and
// serves it on 127.0.0.1 with the tfjs-backend-wasm binaries, so the page needs nothing else once loaded.
// Usage: node examples/browser/serve.mjs [--port N]   (default 8787, or the next free port)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const WASM_DIR = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
// onnxruntime-web's loader and binary (its WebGPU build, which runs wasm too), for the ONNX panel (onnx.ts)
const ORT_DIR = join(root, 'node_modules/onnxruntime-web/dist');
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];
// DICOM (examples/browser/dicom.ts): the codecs' .wasm files are served beside app.js; dicom-parser's UMD wrapper
// and the emscripten loaders `require` Node modules only on Node, so those resolve to an empty module in the page
const CODEC_WASM = ['codec-libjpeg-turbo-8bit/dist/libjpegturbowasm_decode.wasm', 'codec-charls/dist/charlswasm_decode.wasm', 'codec-openjpeg/dist/openjpegwasm_decode.wasm', 'codec-openjph/dist/openjphjs.wasm'];
const nodeStubs = {
  name: 'node-stubs',
  setup(b) {
    b.onResolve({ filter: /^(zlib|fs|path|crypto|module|url|worker_threads)$/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};' }));
  },
};

/** The page's files in memory: path -> { type, body }. */
export async function buildDemo() {
  const out = await build({
    entryPoints: [join(here, 'app.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    write: false,
    logLevel: 'warning',
    plugins: [nodeStubs],
  });
  const files = new Map();
  files.set('/', { type: 'text/html; charset=utf-8', body: readFileSync(join(here, 'index.html')) });
  files.set('/app.js', { type: 'text/javascript; charset=utf-8', body: out.outputFiles[0].contents });
  for (const f of WASM_FILES) files.set(`/${f}`, { type: 'application/wasm', body: readFileSync(join(WASM_DIR, f)) });
  for (const f of ORT_FILES) {
    const type = f.endsWith('.mjs') ? 'text/javascript; charset=utf-8' : 'application/wasm';
    files.set(`/${f}`, { type, body: readFileSync(join(ORT_DIR, f)) });
  }
  files.set('/dcmjs-native-codecs.wasm', { type: 'application/wasm', body: readFileSync(join(root, 'node_modules/dcmjs-codecs/build/dcmjs-native-codecs.wasm')) });
  for (const f of CODEC_WASM) files.set(`/${f.split('/').pop()}`, { type: 'application/wasm', body: readFileSync(join(root, 'node_modules/@cornerstonejs', f)) });
  return files;
}

/** Serves the built page on 127.0.0.1; resolves to { server, url }. Port 0 picks a free port. */
export async function serveDemo(files, port = 0) {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const f = files.get(path === '/index.html' ? '/' : path);
    if (!f || (req.method !== 'GET' && req.method !== 'HEAD')) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, {
      'content-type': f.type,
      'content-length': f.body.length,
      // cross-origin isolation lets the wasm backend use its multi-threaded binary
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : f.body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--port');
  const wanted = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8787);
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) {
    console.error(`--port must be a whole number in [0, 65535]; got ${process.argv[i + 1] ?? process.env.PORT}.`);
    process.exit(2);
  }
  const t0 = Date.now();
  const files = await buildDemo();
  let served;
  try {
    served = await serveDemo(files, wanted);
  } catch (e) {
    if (e.code !== 'EADDRINUSE') throw e;
    served = await serveDemo(files, 0);
    console.log(`Port ${wanted} is in use; using a free one.`);
  }
  const kb = Math.round(files.get('/app.js').body.length / 1024);
  console.log(`Built the demo (app.js ${kb} KiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
  console.log(`Demo: ${served.url}  (Ctrl-C to stop)`);
}
