import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkHash,
  checkRedirect,
  httpError,
  MAX_DOWNLOAD_BYTES,
  WeightsDownloadError,
  WeightsHashError,
  type ExpectedHash,
  type ProgressCallback,
} from '../../weights/fetch.js';
import { readModelArtifacts } from './fs-io.js';
import { writeFileAtomic } from '../utils/atomic.js';
import { getWeightsInfo, hasWeights, listWeights } from '../../weights/manifest.js';
import { browserWeightsResolver, setWeightsResolver, type WeightsResolver } from '../../weights/resolver.js';
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
  /** File name in the cache (default: the URL's last path segment); the folder still comes from the whole URL. */
  fileName?: string;
  cacheDir?: string;
  /** Overrides CHEXZOO_OFFLINE. */
  offline?: boolean;
  onProgress?: ProgressCallback;
  /** With a registered architecture as the source: which of its weights (default 'imagenet'; e.g. 'xrv-all'). */
  tag?: string;
  /** Abort when no data arrives for this long (default 60 s, or CHEXZOO_DOWNLOAD_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /** Abort when the whole download takes longer than this (default 1 hour, or CHEXZOO_DOWNLOAD_DEADLINE_MS). */
  timeoutMs?: number;
}

/** Redirects followed before giving up (browsers and curl use 20 and 50; GitHub releases need 1). */
const MAX_REDIRECTS = 10;
/** A `.part` file is a leftover when its process is gone and it has not grown for this long, or after a day. */
const STALE_PART_MS = 60_000;
const ABANDONED_PART_MS = 24 * 3600_000;

/** Hex sha256 of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A path segment safe on every file system (Windows' reserved characters become '_'). */
function safeSegment(raw: string, url: string): string {
  let seg: string;
  try {
    seg = decodeURIComponent(raw);
  } catch {
    seg = raw;
  }
  seg = seg.replace(/[<>:"|?*\x00-\x1f]/g, '_');
  if (seg === '' || seg === '.' || seg === '..' || /[/\\]/.test(seg)) throw new Error(`Cannot derive a cache path from ${url}; pass fileName.`);
  return seg;
}

/**
 * Where a URL is kept in the cache: the whole URL is the key, spelled as a readable path,
 * `<cacheDir>/<scheme>/<host>/<path>`, e.g. `~/.cache/chexzoo/https/download.pytorch.org/models/resnet18-f37072fd.pth`.
 * A query string or credentials add a folder named by their hash; a `fileName` that differs from the last
 * segment names the file and that segment stays as a folder, so two URLs do not share an entry.
 * @example cachePath('https://download.pytorch.org/models/resnet18-f37072fd.pth');
 */
export function cachePath(url: string, opts: { fileName?: string; cacheDir?: string } = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`Not a URL: '${url}'.`);
  }
  const segments = u.pathname.split('/').filter((x) => x !== '');
  const parts = [u.protocol.replace(/:$/, ''), safeSegment(u.host.replace(/:/g, '_'), url)];
  const last = segments.pop();
  for (const seg of segments) parts.push(safeSegment(seg, url));
  if (u.search || u.username || u.password) parts.push(`q-${sha256(`${u.username}:${u.password}@${u.search}`).slice(0, 16)}`);
  const name = opts.fileName ?? last;
  if (name === undefined) throw new Error(`Cannot derive a cache file name from ${url}; pass fileName.`);
  if (opts.fileName !== undefined && last !== undefined && safeSegment(last, url) !== opts.fileName) parts.push(safeSegment(last, url));
  if (opts.fileName !== undefined && (opts.fileName !== basename(opts.fileName) || /[/\\\0]/.test(opts.fileName) || /^\.\.?$/.test(opts.fileName))) {
    throw new Error(`fileName '${opts.fileName}' must be a plain file name.`);
  }
  return join(opts.cacheDir ?? getCacheDir(), ...parts, opts.fileName ?? safeSegment(name, url));
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


async function verifyCached(dest: string, name: string, actual: string, opts: DownloadOptions): Promise<void> {
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

/** Removes `.part` files of earlier downloads of `name` that were killed (their process is gone) or abandoned. */
async function removeStaleParts(dir: string, name: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return;
  }
  const prefix = `.${name}.`;
  const now = Date.now();
  for (const e of entries) {
    if (!e.startsWith(prefix) || !e.endsWith('.part')) continue;
    const pid = Number(e.slice(prefix.length).split('.')[0]);
    const path = join(dir, e);
    try {
      const age = now - (await fs.stat(path)).mtimeMs;
      if (age > ABANDONED_PART_MS || (age > STALE_PART_MS && !processAlive(pid))) await fs.rm(path, { force: true });
    } catch {
      // another process removed or renamed it meanwhile
    }
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Streamed {
  hash: string;
  bytes?: Uint8Array;
}

async function streamToFile(
  url: string,
  tmp: string,
  onProgress: ProgressCallback | undefined,
  idleMs: number,
  deadlineMs: number,
  keepBytes: boolean,
): Promise<Streamed> {
  // a stalled server must not hang the caller forever: abort after idleMs without any data, and after
  // deadlineMs in all (a server trickling a byte a minute is never idle but never finishes either)
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(new Error(`stalled: no data for ${idleMs / 1000} s`)), idleMs);
  };
  arm();
  const deadline = setTimeout(
    () => abort.abort(new Error(`it did not finish within ${deadlineMs / 1000} s (the deadline; raise it with CHEXZOO_DOWNLOAD_DEADLINE_MS)`)),
    deadlineMs,
  );
  try {
    return await streamBody(url, tmp, onProgress, abort.signal, arm, keepBytes);
  } finally {
    clearTimeout(timer);
    clearTimeout(deadline);
  }
}

/** Fetches with redirects followed by hand, so that an https URL never continues over plain http. */
async function fetchFollowing(url: string, signal: AbortSignal): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const res = await fetch(current, { signal, redirect: 'manual' });
    const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
    if (location === null) return res;
    await res.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new WeightsDownloadError(`Too many redirects (more than ${MAX_REDIRECTS}) from ${url}.`);
    const next = new URL(location, current).href;
    checkRedirect(current, next);
    current = next;
  }
}

async function streamBody(
  url: string,
  tmp: string,
  onProgress: ProgressCallback | undefined,
  signal: AbortSignal,
  onData: () => void,
  keepBytes: boolean,
): Promise<Streamed> {
  let res: Response;
  try {
    res = await fetchFollowing(url, signal);
  } catch (e) {
    if (e instanceof WeightsDownloadError) throw e;
    if (signal.aborted) throw new WeightsDownloadError(`Download of ${url} was abandoned: ${(signal.reason as Error).message}. Try again.`);
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
  const chunks: Uint8Array[] = [];
  const fh = await fs.open(tmp, 'wx');
  let received = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        const why = signal.aborted ? (signal.reason as Error).message : (e as Error).message;
        throw new WeightsDownloadError(`Download of ${url} was interrupted after ${received} bytes: ${why}. Try again.`);
      }
      if (chunk.done) break;
      onData();
      received += chunk.value.length;
      if (received > (total ?? MAX_DOWNLOAD_BYTES)) throw new WeightsDownloadError(`${url} sent more bytes than announced.`);
      hash.update(chunk.value);
      if (keepBytes) chunks.push(chunk.value);
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
  return { hash: hash.digest('hex'), ...(keepBytes ? { bytes: Buffer.concat(chunks) } : {}) };
}

/**
 * Downloads weights into the cache (or finds them there) and returns the file's path. `source` is a registered
 * architecture (`'resnet18'`: its ImageNet weights from weights/manifest.json, hash-checked, through
 * CHEXZOO_WEIGHTS_MIRROR when set) or an http(s) URL (checked against `sha256` / `sha256Prefix` when given).
 * Every call verifies the hash, cache hits included; a download is written to a temporary file and renamed
 * only once complete and verified, so an interrupted download is never mistaken for a good one.
 * @example const path = await downloadWeights('resnet18', { onProgress: createProgressBar('resnet18') });
 * @example const path = await downloadWeights(url, { sha256Prefix: 'f37072fd', onProgress });
 */
export async function downloadWeights(source: string, opts: DownloadOptions = {}): Promise<string> {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(source)) return downloadRegistered(source, opts);
  return (await obtain(source, opts, false)).path;
}

/**
 * Like {@link downloadWeights}, but also returns the file's bytes: the very bytes whose hash was checked
 * (read or downloaded once), so nothing can change between the check and their use.
 * @example const { bytes } = await downloadWeightsBytes(url, { sha256Prefix: 'f37072fd' });
 */
export async function downloadWeightsBytes(url: string, opts: DownloadOptions = {}): Promise<{ path: string; bytes: Uint8Array }> {
  const r = await obtain(url, opts, true);
  return { path: r.path, bytes: r.bytes! };
}

async function obtain(url: string, opts: DownloadOptions, keepBytes: boolean): Promise<{ path: string; bytes?: Uint8Array }> {
  const dest = cachePath(url, opts);
  const dir = dirname(dest);
  const name = basename(dest);
  const offline = opts.offline ?? isOffline();
  try {
    // one read: the bytes that are hashed are the bytes returned
    const bytes = keepBytes ? new Uint8Array(await fs.readFile(dest)) : undefined;
    const actual = bytes ? createHash('sha256').update(bytes).digest('hex') : await hashFile(dest);
    try {
      await verifyCached(dest, name, actual, opts);
      return { path: dest, ...(bytes ? { bytes } : {}) };
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
      `Offline mode (CHEXZOO_OFFLINE=1): '${name}' is not in the cache. ` +
        `On a machine with internet, download ${url} and copy it to ${dest} (or set CHEXZOO_CACHE to the cache folder), ` +
        'pass a local file path as weights, or unset CHEXZOO_OFFLINE.',
    );
  }
  await fs.mkdir(dir, { recursive: true });
  await removeStaleParts(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
  try {
    const idle = opts.idleTimeoutMs ?? (Number(process.env.CHEXZOO_DOWNLOAD_TIMEOUT_MS) || 60_000);
    const deadline = opts.timeoutMs ?? (Number(process.env.CHEXZOO_DOWNLOAD_DEADLINE_MS) || 3600_000);
    const got = await streamToFile(url, tmp, opts.onProgress, idle, deadline, keepBytes);
    checkHash(got.hash, opts, `the download of ${url}`);
    if (!opts.sha256) await writeFileAtomic(`${dest}.sha256`, `${got.hash}  ${name}\n`);
    await fs.rename(tmp, dest);
    return { path: dest, ...(got.bytes ? { bytes: got.bytes } : {}) };
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** The registered ImageNet weights of `arch` (its manifest entry fixes URL, file name and hashes). */
async function downloadRegistered(arch: string, opts: DownloadOptions): Promise<string> {
  const tag = opts.tag ?? 'imagenet';
  if (tag !== 'imagenet' && hasWeights(arch) && !hasWeights(arch, tag)) throw new Error(`downloadWeights('${arch}'): no '${tag}' weights are registered for it.`);
  if (!hasWeights(arch, tag)) {
    throw new Error(
      `downloadWeights('${arch}'): not a URL, and no architecture of that name has registered weights ` +
        `(${listWeights().join(', ')}). Pass an http(s) URL or one of these names.`,
    );
  }
  const info = getWeightsInfo(arch, tag);
  const expected = { sha256: info.sha256, sha256Prefix: info.sha256Prefix };
  // CHEXZOO_WEIGHTS_MIRROR (src/weights/mirror.ts): a local folder is read in place, an HTTP mirror downloads into the cache
  const m = mirrorSource(info.url, info.fileName);
  if (m && 'path' in m) {
    await readLocal(m.path, expected);
    return m.path;
  }
  return (await obtain(m?.url ?? info.url, { ...opts, fileName: info.fileName, ...expected }, false)).path;
}

/** @deprecated Use `downloadWeights(arch)`: it takes a registered architecture name as well as a URL. */
export async function downloadPretrained(arch: string, opts: Omit<DownloadOptions, 'sha256' | 'sha256Prefix' | 'fileName'> = {}): Promise<string> {
  return downloadRegistered(arch, opts);
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
    const m = req.arch !== undefined ? mirrorSource(url, req.fileName) : undefined; // registered weights only (src/weights/mirror.ts)
    if (m && 'path' in m) return readLocal(m.path, expected);
    const { bytes } = await downloadWeightsBytes(m?.url ?? url, {
      ...expected,
      ...(req.fileName ? { fileName: req.fileName } : {}),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
    });
    return bytes;
  }
  return browserWeightsResolver(req);
};

/** Makes loadWeights/createModel accept file paths and use the download cache (done on import of '@chexzoo/models/node'). */
export function installNodeWeightsResolver(): void {
  setWeightsResolver(nodeWeightsResolver);
}
