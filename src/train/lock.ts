// A lock on a run folder (Node-only): one process at a time trains a run. Released on exit; taken over when the
// process holding it is dead (same host). Interface shared with `chexzoo train`.
import { promises as fs, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const LOCK_FILE = '.lock';

/** A held lock; `release()` removes it (idempotent). */
export interface RunLock {
  readonly lockPath: string;
  release(): Promise<void>;
}

/** Thrown when a live process holds the lock. */
export class RunLockedError extends Error {
  constructor(
    readonly holderPid: number,
    readonly lockPath: string,
  ) {
    super(`${lockPath} is held by the running process ${holderPid}: another process is training this run. Wait for it, or stop it.`);
    this.name = 'RunLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const held = new Set<string>();
let exitHook = false;
function removeOnExit(path: string): void {
  held.add(path);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const p of held) {
      try {
        rmSync(p, { force: true });
      } catch {
        // best effort
      }
    }
  });
}

/**
 * Takes the lock of a run folder (creating the folder), exclusively: a lock file holding this process's pid and
 * host, created with O_EXCL. A lock left by a dead process (same host) is taken over.
 * @example const lock = await acquireRunLock('runs/r18'); try { ... } finally { await lock.release(); }
 */
export async function acquireRunLock(dir: string): Promise<RunLock> {
  await fs.mkdir(dir, { recursive: true });
  const lockPath = join(dir, LOCK_FILE);
  const me = JSON.stringify({ pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(lockPath, me, { flag: 'wx' });
      removeOnExit(lockPath);
      let released = false;
      return {
        lockPath,
        async release() {
          if (released) return;
          released = true;
          held.delete(lockPath);
          await fs.rm(lockPath, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder: { pid?: unknown; host?: unknown } = {};
    try {
      holder = JSON.parse(await fs.readFile(lockPath, 'utf8')) as typeof holder;
    } catch {
      // half-written or vanished: treat as stale after a short wait
      await new Promise((r) => setTimeout(r, 50));
    }
    const pid = typeof holder.pid === 'number' ? holder.pid : undefined;
    const sameHost = holder.host === undefined || holder.host === hostname();
    if (pid !== undefined && (!sameHost || alive(pid))) throw new RunLockedError(pid, lockPath);
    // dead holder: take over (a concurrent taker loses the next O_EXCL create)
    await fs.rm(lockPath, { force: true });
  }
  throw new Error(`Could not take the lock ${lockPath}: it keeps changing hands. Try again.`);
}
