// CHEXZOO_WEIGHTS_MIRROR: where registered weights come from instead of their upstream URL, for air-gapped sites.
// A base URL (http(s)://host/path/ holding the manifest's file names) or a local folder (or file:// URL) holding them.
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The mirror from CHEXZOO_WEIGHTS_MIRROR, or undefined. */
export function weightsMirror(env: Record<string, string | undefined> = process.env): string | undefined {
  const m = env.CHEXZOO_WEIGHTS_MIRROR?.trim();
  return m ? m : undefined;
}

/**
 * Where a registered weights file comes from under a mirror: `{ url }` (an HTTP mirror: base + file name) or
 * `{ path }` (a local folder); undefined without a mirror. The file's registered hash is checked either way.
 * @example mirrorSource('https://download.pytorch.org/models/resnet18-f37072fd.pth', 'resnet18-f37072fd.pth', 'http://10.0.0.5/weights');
 * // { url: 'http://10.0.0.5/weights/resnet18-f37072fd.pth' }
 */
export function mirrorSource(url: string, fileName: string | undefined, mirror = weightsMirror()): { url: string } | { path: string } | undefined {
  if (!mirror) return undefined;
  const name = fileName ?? decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (!name || /[/\\\0]/.test(name) || name === '.' || name === '..') throw new Error(`Cannot mirror ${url}: no file name.`);
  if (/^https?:\/\//i.test(mirror)) return { url: `${mirror.replace(/\/+$/, '')}/${encodeURIComponent(name)}` };
  const dir = mirror.startsWith('file:') ? fileURLToPath(mirror) : isAbsolute(mirror) ? mirror : resolve(mirror);
  return { path: join(dir, name) };
}
