import { afterEach, beforeEach } from 'vitest';
import { ensureBackend } from '../src/backend/index.js';
import { tick } from './helpers/tick.js'; // not helpers/index.js: see tick.ts

await ensureBackend();

// Model building and wasm kernels run synchronously and the awaits between tests resolve as microtasks, so
// the worker's event loop can go a long time without reading vitest's RPC replies (it then reports
// "Timeout calling onTaskUpdate"). A macrotask turn around each test lets those replies in.
beforeEach(tick);
afterEach(tick);
