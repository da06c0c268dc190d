// Browser-safe data API. Node-only parts (sharp decoding, datasets on disk, synth writer) are re-exported from src/node.ts.
export * from './chexpert.js';
export * from './augment.js';
export * from './synth.js';
