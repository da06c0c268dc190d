// Node-only entry: `import { ... } from '@chexzoo/models/node'`. Re-exports the whole browser-safe API too.
export * from './index.js';
