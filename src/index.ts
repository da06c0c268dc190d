// Browser-safe public API: nothing reachable from here may import fs, path, sharp or process-only code.
// Node-only features (file IO, downloads, image decoding, CLI) are in `@chexzoo/models/node` (src/node.ts).

// backend
export { ensureBackend } from './backend/index.js';
export type { BackendName } from './backend/index.js';

// metrics
export * from './metrics/index.js';
