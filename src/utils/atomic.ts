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

/** Writes a file through a temporary sibling and a rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tmpSibling(path, 'tmp');
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Builds a folder in a temporary sibling with `fill`, then swaps it into place: an existing folder is moved
 * aside (`.<name>.old-*`) and removed only after the new one is in. A failure before the swap leaves the
 * previous folder untouched; a kill between the two renames leaves it as `.<name>.old-*` (see callers'
 * recovery).
 */
export async function replaceDirAtomic(target: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  await fs.mkdir(dirname(target), { recursive: true });
  const tmp = tmpSibling(target, 'tmp');
  await fs.mkdir(tmp);
  try {
    await fill(tmp);
    if (await pathExists(target)) {
      const old = tmpSibling(target, 'old');
      await fs.rename(target, old);
      try {
        await fs.rename(tmp, target);
      } catch (e) {
        await fs.rename(old, target);
        throw e;
      }
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(tmp, target);
    }
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
