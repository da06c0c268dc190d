// Node-only: one process per run folder. `<dir>/.lock` names its holder (pid, host, start time); a second
// trainer (or study shard) on the same folder is refused at once instead of deleting the first one's files.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, unlinkSync, writeSync, fsyncSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

const LOCK_FILE = '.lock';
/** How long a lock file may stay empty or garbled before it counts as left by a dead process. */
const UNREADABLE_GRACE_MS = 2000;
/** A takeover lock older than this was left by a process that died while taking a stale lock over. */
const TAKEOVER_STALE_MS = 10_000;

/** The run folder is locked by another live process. */
export class RunLockedError extends Error {
  readonly holderPid: number;
  readonly lockPath: string;
  constructor(message: string, holderPid: number, lockPath: string) {
    super(message);
    this.name = 'RunLockedError';
    this.holderPid = holderPid;
    this.lockPath = lockPath;
  }
}

/** A held run-folder lock. */
export interface RunLock {
  /** The lock file, `<dir>/.lock`. */
  readonly path: string;
  /** Removes the lock file (only if it is still this holder's); idempotent. */
  release(): Promise<void>;
}

/** What a lock file holds. `procStart` (Linux: /proc/PID/stat start time) tells a reused pid from the holder. */
interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  procStart: string | null;
  token: string;
}

/** The kernel's start time of process `pid` (clock ticks since boot), or null where /proc is not available. */
function procStartOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22, starttime
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && Number.isSafeInteger(v.pid) && v.pid > 0 && typeof v.hostname === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, hostname: v.hostname, startedAt: String(v.startedAt ?? '?'), procStart: v.procStart ?? null, token: v.token };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** Whether the holder of `info` is gone: same host and its pid is dead, or reused by a process started later. */
function holderIsDead(info: LockInfo): boolean {
  if (info.hostname !== hostname()) return false; // cannot tell: assume alive
  if (!isAlive(info.pid)) return true;
  if (info.procStart !== null) {
    const now = procStartOf(info.pid);
    if (now !== null && now !== info.procStart) return true;
  }
  return false;
}

// Locks held by this process, released synchronously at exit and on a fatal SIGINT/SIGTERM.
const held = new Map<string, string>(); // lock path -> token
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function releaseSync(path: string, token: string): void {
  held.delete(path);
  try {
    if (parseLock(readFileSync(path, 'utf8'))?.token === token) unlinkSync(path);
  } catch {
    // already gone
  }
  if (held.size === 0) uninstall();
}

function releaseAllSync(): void {
  for (const [path, token] of [...held]) releaseSync(path, token);
}

function onSignal(signal: NodeJS.Signals): void {
  // Another handler (e.g. `chexzoo train` saving a checkpoint on Ctrl-C) owns this signal: the process keeps
  // running and the lock stays until release() or exit. Otherwise the signal is fatal: release, then re-raise
  // it with the default action so the exit status still says "killed by SIGINT/SIGTERM".
  if (process.listenerCount(signal) > 1) return;
  releaseAllSync();
  process.kill(process.pid, signal);
}

let installed = false;
function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', releaseAllSync);
  // prepended: runs before `once` handlers remove themselves, so the count above sees them
  for (const s of SIGNALS) process.prependListener(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', releaseAllSync);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

function describe(info: LockInfo): string {
  return `pid ${info.pid} on ${info.hostname}, started ${info.startedAt}`;
}

/** Tries to create the lock file exclusively; false if it exists. */
function tryCreate(path: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Takes `<dir>/.lock` (pid, hostname, start time; created with O_EXCL), creating `dir` if needed. A lock whose
 * holder is dead (same host, pid not alive or reused) is taken over; a live holder -> {@link RunLockedError}
 * naming the holder. Released on release(), and on process exit / SIGINT / SIGTERM.
 * @example const lock = await acquireRunLock('runs/r18'); try { ... } finally { await lock.release(); }
 */
export async function acquireRunLock(dir: string): Promise<RunLock> {
  const abs = resolve(dir);
  await fs.mkdir(abs, { recursive: true });
  const path = join(abs, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    procStart: procStartOf(process.pid),
    token: randomBytes(8).toString('hex'),
  };
  let takeovers = 0;
  for (;;) {
    if (tryCreate(path, info)) break;
    let text: string;
    let mtimeMs: number;
    try {
      text = await fs.readFile(path, 'utf8');
      mtimeMs = (await fs.stat(path)).mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      throw e;
    }
    const other = parseLock(text);
    if (!other) {
      // A holder writes its details right after creating the file: give a fresh lock a moment, and treat one
      // that stays empty or garbled as left by a process that died in between.
      if (Date.now() - mtimeMs < UNREADABLE_GRACE_MS) {
        await sleep(50);
        continue;
      }
    } else if (!holderIsDead(other)) {
      const fix = other.hostname === hostname()
        ? 'wait for it to finish or stop it'
        : `if no process on ${other.hostname} still uses this folder, delete ${path}`;
      throw new RunLockedError(`${abs} is in use by another process (${describe(other)}): ${fix}, or use another folder.`, other.pid, path);
    }
    // Take the stale lock over without racing another process doing the same: only the holder of a short-lived
    // takeover lock (`.lock.takeover`, O_EXCL) may remove `.lock`, and only after checking it still holds the
    // stale text judged above. Removing is then never destructive, and a fresh `.lock` is only ever created
    // with O_EXCL, so at most one process holds it.
    const takeover = `${path}.takeover`;
    if (!tryCreate(takeover, info)) {
      const age = await fs.stat(takeover).then((st) => Date.now() - st.mtimeMs, () => 0);
      if (age > TAKEOVER_STALE_MS) await fs.rm(takeover, { force: true }); // its taker died mid-takeover
      else await sleep(20);
      continue;
    }
    if (++takeovers > 20) {
      await fs.rm(takeover, { force: true });
      throw new Error(`Could not take the lock ${path} (it keeps changing); try again.`);
    }
    try {
      const now = await fs.readFile(path, 'utf8').catch(() => undefined);
      if (now === text) await fs.rm(path, { force: true });
    } finally {
      await fs.rm(takeover, { force: true });
    }
  }
  held.set(path, info.token);
  install();
  return {
    path,
    release: async () => {
      if (held.get(path) === info.token) releaseSync(path, info.token);
    },
  };
}
