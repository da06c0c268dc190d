// One thread of the decode pool (decode-pool.ts): decodeGray on each request, the pixels moved (not copied) back.
// Built as its own entry (dist/decode-worker.js / .cjs); from the sources it runs under tsx.
import { parentPort } from 'node:worker_threads';
import { decodeGray, type DecodeOptions } from './images.js';

/** A request from the pool. */
export interface DecodeRequest {
  id: number;
  file: string;
  options: DecodeOptions;
}

/** The answer: the image, or the error's message and code (an Error does not survive postMessage with its code). */
export type DecodeReply =
  | { id: number; image: { data: Uint8Array; height: number; width: number } }
  | { id: number; error: { message: string; code?: string } };

async function answer(req: DecodeRequest): Promise<void> {
  let reply: DecodeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const g = await decodeGray(req.file, req.options);
    // a view into a larger buffer (sharp's output) is copied so that the transfer moves only these pixels
    const whole = g.data.byteOffset === 0 && g.data.byteLength === g.data.buffer.byteLength && g.data.buffer instanceof ArrayBuffer;
    const data = whole ? g.data : g.data.slice();
    reply = { id: req.id, image: { data, height: g.height, width: g.width } };
    transfer = [data.buffer as ArrayBuffer];
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    reply = { id: req.id, error: { message: err instanceof Error ? err.message : String(e), ...(err?.code ? { code: err.code } : {}) } };
  }
  parentPort!.postMessage(reply, transfer);
}

parentPort?.on('message', (req: DecodeRequest) => void answer(req));
