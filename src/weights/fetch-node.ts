import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHash, httpError, MAX_DOWNLOAD_BYTES, WeightsDownloadError, WeightsHashError, type ExpectedHash, type ProgressCallback } from './fetch.js';
import { readModelArtifacts } from './fs-io.js';
import { writeFileAtomic } from '../utils/atomic.js';
import { getWeightsInfo } from './manifest.js';
import { browserWeightsResolver, setWeightsResolver, type WeightsResolver } from './resolver.js';
import { mirrorSource } from './mirror.js';

/** Cache directory: CHEXZOO_CACHE, else ~/.cache/chexzoo. */
export function getCacheDir(): string {
  return process.env.CHEXZOO_CACHE || join(homedir(), '.cache', 'chexzoo');
}

/** Offline mode (CHEXZOO_OFFLINE=1): only the cache and local files are used. */
export function isOffline(): boolean {
  const v = process.env.CHEXZOO_OFFLINE;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export interface DownloadOptions extends ExpectedHash {
  /** Name in the cache (default: the URL's last path segment). */
  fileName?: string;
  cacheDir?: string;
  /** Overrides CHEXZOO_OFFLINE. */
  offline?: boolean;
  onProgress?: ProgressCallback;
  /** Abort when no data arrives for this long (default 60 s, or CHEXZOO_DOWNLOAD_TIMEOUT_MS). */
  idleTimeoutMs?: number;
}

/** Hex sha256 of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function cacheName(url: string, fileName?: string): string {
  const name = fileName ?? decodeURIComponent(basename(new URL(url).pathname));
  if (!name || name === '.' || name === '..' || /[/\\\0]/.test(name)) throw new Error(`Cannot derive a cache file name from ${url}; pass fileName.`);
  return name;
}

/** Trust on first use: when only a prefix (or nothing) is registered, the first download's full hash is kept next to the file. */
async function recordedHash(dest: string): Promise<string | undefined> {
  try {
    const text = await fs.readFile(`${dest}.sha256`, 'utf8');
    const m = /^([0-9a-f]{64})\b/.exec(text);
    return m ? m[1] : undefined;
  } catch {
    return undefined;
  }
}


async function verifyCached(dest: string, name: string, opts: DownloadOptions): Promise<void> {
  const actual = await hashFile(dest);
  checkHash(actual, opts, `cached ${dest}`);
  if (!opts.sha256) {
    const rec = await recordedHash(dest);
    if (rec && rec !== actual) {
      throw new WeightsHashError(
        `Hash mismatch for cached ${dest}: it was ${rec} when downloaded, now ${actual}. The file changed on disk; delete it (and ${name}.sha256) to download again.`,
      );
    }
  }
}

async function streamToFile(url: string, tmp: string, onProgress: ProgressCallback | undefined, idleMs: number): Promise<string> {
  // a stalled server must not hang the caller forever: abort after idleMs without any data
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
  };
  arm();
  try {
    return await streamBody(url, tmp, onProgress, abort.signal, arm);
  } finally {
    clearTimeout(timer);
  }
}

async function streamBody(url: string, tmp: string, onProgress: ProgressCallback | undefined, signal: AbortSignal, onData: () => void): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (e) {
    if (signal.aborted) throw new WeightsDownloadError(`Download of ${url} stalled: ${(signal.reason as Error).message}. Try again.`);
    throw new WeightsDownloadError(
      `Could not reach ${url}: ${(e as Error).message}. Check the network, or set CHEXZOO_OFFLINE=1 and use a local file.`,
    );
  }
  if (!res.ok) throw httpError(url, res.status, res.statusText);
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader !== null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;
  if (total !== undefined && total > MAX_DOWNLOAD_BYTES) throw new WeightsDownloadError(`${url} is ${total} bytes, larger than any supported checkpoint.`);
  if (!res.body) throw new WeightsDownloadError(`Empty response body from ${url}.`);
  const hash = createHash('sha256');
  const fh = await fs.open(tmp, 'wx');
  let received = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        const why = signal.aborted ? `stalled (${(signal.reason as Error).message})` : (e as Error).message;
        throw new WeightsDownloadError(`Download of ${url} was interrupted after ${received} bytes: ${why}. Try again.`);
      }
      if (chunk.done) break;
      onData();
      received += chunk.value.length;
      if (received > (total ?? MAX_DOWNLOAD_BYTES)) throw new WeightsDownloadError(`${url} sent more bytes than announced.`);
      hash.update(chunk.value);
      await fh.write(chunk.value);
      onProgress?.(received, total);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (total !== undefined && received !== total) {
    throw new WeightsDownloadError(`Truncated download of ${url}: got ${received} of ${total} bytes. Try again.`);
  }
  return hash.digest('hex');
}

/**
 * Downloads a weights file into the cache (or finds it there) and returns its path. Every call
 * verifies the hash, cache hits included; a download is written to a temporary file and renamed
 * only once complete and verified, so an interrupted download is never mistaken for a good one.
 * @example const path = await downloadWeights(url, { sha256Prefix: 'f37072fd', onProgress });
 */
export async function downloadWeights(url: string, opts: DownloadOptions = {}): Promise<string> {
  const dir = opts.cacheDir ?? getCacheDir();
  const name = cacheName(url, opts.fileName);
  const dest = join(dir, name);
  const offline = opts.offline ?? isOffline();
  try {
    await fs.access(dest);
    try {
      await verifyCached(dest, name, opts);
      return dest;
    } catch (e) {
      if (offline || !(e instanceof WeightsHashError)) throw e;
      // a corrupt cache entry is replaced by a fresh download when online
      await fs.rm(dest, { force: true });
      await fs.rm(`${dest}.sha256`, { force: true });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (offline) {
    throw new WeightsDownloadError(
      `Offline mode (CHEXZOO_OFFLINE=1): '${name}' is not in the cache ${dir}. ` +
        `On a machine with internet, download ${url} and copy it to ${dest} (or set CHEXZOO_CACHE to its folder), ` +
        'pass a local file path as weights, or unset CHEXZOO_OFFLINE.',
    );
  }
  await fs.mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
  try {
    const idle = opts.idleTimeoutMs ?? (Number(process.env.CHEXZOO_DOWNLOAD_TIMEOUT_MS) || 60_000);
    const actual = await streamToFile(url, tmp, opts.onProgress, idle);
    checkHash(actual, opts, `the download of ${url}`);
    if (!opts.sha256) await writeFileAtomic(`${dest}.sha256`, `${actual}  ${name}\n`);
    await fs.rename(tmp, dest);
    return dest;
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Downloads (or finds in the cache) the registered ImageNet weights of an architecture.
 * @example const path = await downloadPretrained('resnet18', { onProgress: createProgressBar('resnet18') });
 */
export async function downloadPretrained(arch: string, opts: Omit<DownloadOptions, 'sha256' | 'sha256Prefix' | 'fileName'> = {}): Promise<string> {
  const info = getWeightsInfo(arch);
  const expected = { sha256: info.sha256, sha256Prefix: info.sha256Prefix };
  // CHEXZOO_WEIGHTS_MIRROR (src/weights/mirror.ts): a local folder is read in place, an HTTP mirror downloads into the cache
  const m = mirrorSource(info.url, info.fileName);
  if (m && 'path' in m) {
    await readLocal(m.path, expected);
    return m.path;
  }
  return downloadWeights(m?.url ?? info.url, { ...opts, fileName: info.fileName, ...expected });
}

async function readLocal(path: string, expected: ExpectedHash): Promise<Uint8Array | Awaited<ReturnType<typeof readModelArtifacts>>> {
  let stat;
  try {
    stat = await fs.stat(path);
  } catch {
    throw new Error(`Weights file not found: '${path}'. Check the path (relative paths are resolved from ${process.cwd()}).`);
  }
  if (stat.isDirectory() || path.endsWith('model.json')) return readModelArtifacts(path);
  const bytes = new Uint8Array(await fs.readFile(path));
  if (expected.sha256 || expected.sha256Prefix) checkHash(createHash('sha256').update(bytes).digest('hex'), expected, path);
  return bytes;
}

/** Node resolver: local paths and file:// URLs, TF.js model directories, and a verified download cache for http(s). */
export const nodeWeightsResolver: WeightsResolver = async (req) => {
  const expected = { sha256: req.sha256 ?? null, sha256Prefix: req.sha256Prefix ?? null };
  if (req.path !== undefined) return readLocal(req.path, expected);
  const url = req.url!;
  if (url.startsWith('file:')) return readLocal(fileURLToPath(url), expected);
  if (/^https?:/i.test(url)) {
    if (/model\.json(?:[?#].*)?$/.test(url)) return browserWeightsResolver(req);
    const m = req.arch !== undefined ? mirrorSource(url, req.fileName) : undefined; // registered weights only
    if (m && 'path' in m) return readLocal(m.path, expected);
    const path = await downloadWeights(m?.url ?? url, { ...expected, ...(req.fileName ? { fileName: req.fileName } : {}), ...(req.onProgress ? { onProgress: req.onProgress } : {}) });
    return new Uint8Array(await fs.readFile(path));
  }
  return browserWeightsResolver(req);
};

/** Makes loadWeights/createModel accept file paths and use the download cache (done on import of '@chexzoo/models/node'). */
export function installNodeWeightsResolver(): void {
  setWeightsResolver(nodeWeightsResolver);
}
