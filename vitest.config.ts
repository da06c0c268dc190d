import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One process per test file (module mocks and process.env changes stay in their file). Two at a time on a
    // 2-core machine: vitest's default there is one, yet most of a file's time is single-threaded JS (building
    // and filling models, importing TF.js and starting wasm), so a second process uses the other core.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 300_000,
    hookTimeout: 300_000,
    setupFiles: ['test/setup.ts'],
  },
});
