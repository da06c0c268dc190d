import { ensureBackend } from '../src/backend/index.js';

await ensureBackend();
