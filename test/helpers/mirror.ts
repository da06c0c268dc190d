// A weights mirror on 127.0.0.1 for tests (CHEXZOO_WEIGHTS_MIRROR): serves one file at /mirror/<fileName>, 404
// for anything else, and records every request path.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestMirror {
  /** `http://127.0.0.1:PORT/mirror` (no trailing slash) */
  base: string;
  /** request paths, in order */
  requests: string[];
  close(): Promise<void>;
}

/** Starts the mirror; resolves once it listens. */
export async function serveMirrorFile(fileName: string, body: Uint8Array): Promise<TestMirror> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === `/mirror/${fileName}`) {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror`;
  return { base, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}
