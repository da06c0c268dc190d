/** Browser-safe download and hashing helpers (global fetch + WebCrypto; both exist in Node 20). */
import { concatBytes } from '../utils/bytes.js';

/** Called while bytes arrive; `total` is undefined when the server sends no Content-Length. */
export type ProgressCallback = (received: number, total: number | undefined) => void;

export class WeightsDownloadError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'WeightsDownloadError';
  }
}

export class WeightsHashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsHashError';
  }
}

/** Hex sha256 of bytes via WebCrypto. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto (crypto.subtle) is not available, so downloaded weights cannot be verified.');
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface ExpectedHash {
  sha256?: string | null;
  sha256Prefix?: string | null;
}

/** Throws a WeightsHashError when `actual` contradicts the full hash or the prefix. */
export function checkHash(actual: string, expected: ExpectedHash, label: string): void {
  const full = expected.sha256?.toLowerCase();
  if (full && actual !== full) {
    throw new WeightsHashError(
      `Hash mismatch for ${label}: expected sha256 ${full}, got ${actual}. The file is corrupt or not the registered weights; delete it and download again.`,
    );
  }
  const prefix = expected.sha256Prefix?.toLowerCase();
  if (prefix && !actual.startsWith(prefix)) {
    throw new WeightsHashError(
      `Hash mismatch for ${label}: expected a sha256 starting with ${prefix}, got ${actual}. The file is corrupt or not the registered weights; delete it and download again.`,
    );
  }
}

/** Throws a clear error for a failed HTTP response. */
export function httpError(url: string, status: number, statusText: string): WeightsDownloadError {
  if (status === 404) {
    return new WeightsDownloadError(`Weights not found (HTTP 404) at ${url}. Check the URL, or pass a local file path instead.`, 404);
  }
  return new WeightsDownloadError(`Downloading ${url} failed: HTTP ${status} ${statusText}.`, status);
}

/**
 * Throws when a redirect would downgrade a download from https to http (or leave http(s) altogether):
 * the bytes would then come over a connection anyone on the path can rewrite.
 */
export function checkRedirect(from: string, to: string): void {
  const a = new URL(from);
  const b = new URL(to);
  if (b.protocol !== 'https:' && b.protocol !== 'http:') {
    throw new WeightsDownloadError(`Refusing the redirect from ${from} to ${to}: only http(s) URLs are followed.`);
  }
  if (a.protocol === 'https:' && b.protocol === 'http:') {
    throw new WeightsDownloadError(
      `Refusing the redirect from ${from} to ${to}: it downgrades https to plain http. Download the file over https yourself and pass its path.`,
    );
  }
}

/** Largest body accepted without a Content-Length (well above inception_v4's ~170 MB). */
export const MAX_DOWNLOAD_BYTES = 2 * 1024 ** 3;

/**
 * Downloads a URL into memory with progress, rejecting truncated bodies (fewer bytes than Content-Length).
 * @example const bytes = await fetchBytes(url, (got, total) => console.log(got, total));
 */
export async function fetchBytes(url: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new WeightsDownloadError(`Could not reach ${url}: ${(e as Error).message}. Check the network or use a local file.`);
  }
  // browsers follow redirects opaquely, so the final URL is checked before any byte is used
  if (res.redirected && res.url) {
    try {
      checkRedirect(url, res.url);
    } catch (e) {
      await res.body?.cancel();
      throw e;
    }
  }
  if (!res.ok) throw httpError(url, res.status, res.statusText);
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader !== null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;
  if (total !== undefined && total > MAX_DOWNLOAD_BYTES) throw new WeightsDownloadError(`${url} is ${total} bytes, larger than any supported checkpoint.`);
  const chunks: Uint8Array[] = [];
  let received = 0;
  if (!res.body) throw new WeightsDownloadError(`Empty response body from ${url}.`);
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      if (received > (total ?? MAX_DOWNLOAD_BYTES)) throw new WeightsDownloadError(`${url} sent more bytes than announced.`);
      chunks.push(value);
      onProgress?.(received, total);
    }
  } catch (e) {
    if (e instanceof WeightsDownloadError) throw e;
    throw new WeightsDownloadError(`Download of ${url} was interrupted after ${received} bytes: ${(e as Error).message}.`);
  }
  if (total !== undefined && received !== total) {
    throw new WeightsDownloadError(`Truncated download of ${url}: got ${received} of ${total} bytes. Try again.`);
  }
  return concatBytes(chunks);
}
