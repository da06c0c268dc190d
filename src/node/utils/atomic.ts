// Node-only: the one place that makes file and folder writes atomic. Everything a user keeps (models,
// checkpoints, datasets, metrics, downloads) goes through here, so a kill leaves the old version or the
// new one, never a half-written one.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A unique hidden sibling of `path`: `<dir>/.<name>.<tag>-<pid>-<8 hex>` (recognizable for clean-up). */
export function tmpSibling(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Leftovers of {@link tmpSibling} names (temporary or moved-aside copies) in a folder listing. */
export const TMP_SIBLING = /^\..+\.(tmp|old)-\d+-[0-9a-f]{8}$/;

/** Whether a file or folder exists (any stat error counts as no). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

const NO_DIR_SYNC = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'EBADF', 'ENOTSUP']);

/**
 * fsync of a file or a folder by path, so its contents (a file) or its entries (a folder: renames, new files)
 * survive a power loss. Platforms that cannot fsync a folder (Windows) skip folders.
 */
export async function fsyncPath(path: string, isDir = false): Promise<void> {
  let fh: Awaited<ReturnType<typeof fs.open>>;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    if (isDir && NO_DIR_SYNC.has((e as NodeJS.ErrnoException).code ?? '')) return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (!(isDir && NO_DIR_SYNC.has((e as NodeJS.ErrnoException).code ?? ''))) throw e;
  } finally {
    await fh.close();
  }
}

/** fsync of every file and folder under `dir`, then of `dir` itself. */
async function fsyncTree(dir: string): Promise<void> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await fsyncTree(p);
    else if (e.isFile()) await fsyncPath(p);
  }
  await fsyncPath(dir, true);
}

/** Writes a file through a temporary sibling, fsync and a rename (then fsync of the folder). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tmpSibling(path, 'tmp');
  try {
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dirname(path), true);
}

/**
 * Builds a folder in a temporary sibling with `fill`, then swaps it into place: an existing folder is moved
 * aside (`.<name>.old-*`) and removed only after the new one is in and on disk (its files, itself and the
 * parent folder fsynced), so a power loss leaves the old or the new folder, never neither. A failure before
 * the swap leaves the previous folder untouched; a kill between the two renames leaves it as `.<name>.old-*`
 * (see callers' recovery).
 */
export async function replaceDirAtomic(target: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  await fs.mkdir(dirname(target), { recursive: true });
  const tmp = tmpSibling(target, 'tmp');
  await fs.mkdir(tmp);
  try {
    await fill(tmp);
    await fsyncTree(tmp);
    const parent = dirname(target);
    if (await pathExists(target)) {
      const old = tmpSibling(target, 'old');
      await fs.rename(target, old);
      try {
        await fs.rename(tmp, target);
      } catch (e) {
        await fs.rename(old, target);
        throw e;
      }
      await fsyncPath(parent, true);
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(tmp, target);
      await fsyncPath(parent, true);
    }
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
