import { defineConfig } from 'tsup';

export default defineConfig({
  // decode-worker: the thread script of the decode pool (src/node/data/decode-pool.ts finds it beside node.js / cli.js)
  entry: { index: 'src/index.ts', node: 'src/node.ts', cli: 'src/cli/main.ts', 'decode-worker': 'src/node/data/decode-worker.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', node: 'src/node.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
