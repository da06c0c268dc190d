// Imports nothing: test/setup.ts loads it before every test file, and a setup file's imports are evaluated before
// the test file's vi.mock() calls take effect, so a setup import of src/ modules would defeat those mocks
// (test/study-mirror.test.ts mocks src/weights/manifest.ts).

/** Gives the event loop a turn between long synchronous steps (vitest's worker RPC needs it). */
export const tick = (): Promise<void> => new Promise<void>((r) => setImmediate(r));
