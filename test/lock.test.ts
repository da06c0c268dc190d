import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, utimesSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireRunLock, RunLockedError } from '../src/node.js';

const tmp = mkdtempSync(join(tmpdir(), 'chexzoo-lock-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const mod = resolve('src/node/train/lock.ts');
/** A script that takes the lock on argv[2], prints "locked", then runs `then`. */
function holderScript(name: string, then: string): string {
  const script = join(tmp, `${name}.mts`);
  writeFileSync(script, `import { acquireRunLock } from ${JSON.stringify(mod)};\n` +
    'const lock = await acquireRunLock(process.argv[2]);\nconsole.log("locked");\n' + then + '\n');
  return script;
}

/** Starts a holder process and resolves once it holds the lock. */
function startHolder(script: string, dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { cwd: resolve('.'), stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res, rej) => {
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      if (String(d).includes('locked')) res(child);
    });
    child.on('exit', (code) => rej(new Error(`holder exited ${code}: ${err}`)));
  });
}
const exited = (c: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.on('exit', (code, signal) => r({ code, signal })));

describe('acquireRunLock', () => {
  it('refuses a folder held by another live process, naming its pid; frees it when that process is stopped', async () => {
    const dir = join(tmp, 'busy');
    const child = await startHolder(holderScript('hold', 'setInterval(() => {}, 1000);'), dir);
    try {
      const err = await acquireRunLock(dir).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RunLockedError);
      expect((err as RunLockedError).holderPid).toBe(child.pid);
      expect((err as RunLockedError).lockPath).toBe(join(dir, '.lock'));
      expect((err as Error).message).toContain(`pid ${child.pid}`);
      const info = JSON.parse(readFileSync(join(dir, '.lock'), 'utf8'));
      expect(info).toMatchObject({ pid: child.pid, hostname: hostname() });
      expect(Date.parse(info.startedAt)).toBeGreaterThan(0);
    } finally {
      const done = exited(child);
      child.kill('SIGTERM');
      // SIGTERM releases the lock and still kills the process (default action re-raised)
      expect(await done).toEqual({ code: null, signal: 'SIGTERM' });
    }
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    const lock = await acquireRunLock(dir);
    await lock.release();
  });

  it('SIGINT releases it too, and a normal exit without release() does', async () => {
    const dir = join(tmp, 'sigint');
    const child = await startHolder(holderScript('hold2', 'setInterval(() => {}, 1000);'), dir);
    const done = exited(child);
    child.kill('SIGINT');
    expect(await done).toEqual({ code: null, signal: 'SIGINT' });
    expect(existsSync(join(dir, '.lock'))).toBe(false);

    const r = spawnSync(process.execPath, ['--import', 'tsx', holderScript('exit', 'process.exitCode = 3;'), dir], { cwd: resolve('.'), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(3);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });

  it('takes over a lock whose holder died (killed without clean-up)', async () => {
    const dir = join(tmp, 'dead');
    const r = spawnSync(process.execPath, ['--import', 'tsx', holderScript('die', "process.kill(process.pid, 'SIGKILL');"), dir], { cwd: resolve('.'), encoding: 'utf8' });
    expect(r.signal).toBe('SIGKILL');
    const stale = JSON.parse(readFileSync(join(dir, '.lock'), 'utf8'));
    expect(stale.pid).toBe(r.pid);
    const lock = await acquireRunLock(dir);
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid);
    // held by this process now: a second acquire (even from this process) is refused
    await expect(acquireRunLock(dir)).rejects.toBeInstanceOf(RunLockedError);
    await lock.release();
    expect(existsSync(lock.path)).toBe(false);
    await lock.release(); // idempotent
  });

  it('takes over a lock whose pid was reused by a later process, and an empty lock', async () => {
    const dir = join(tmp, 'reused');
    mkdirSync(dir, { recursive: true });
    // our own (live) pid, but a different process start time: the holder is gone and the pid is reused
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: '2020-01-01T00:00:00Z', procStart: '1', token: 'x' }));
    let lock = await acquireRunLock(dir);
    await lock.release();
    // an empty lock: fresh ones are waited for (their holder is writing), old ones are taken over
    writeFileSync(join(dir, '.lock'), '');
    const old = new Date(Date.now() - 10_000);
    utimesSync(join(dir, '.lock'), old, old);
    lock = await acquireRunLock(dir);
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('lets exactly one of several racing takers take over a stale lock', async () => {
    const dir = join(tmp, 'race');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: '2020-01-01T00:00:00Z', procStart: '1', token: 'z' }));
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => acquireRunLock(dir)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RunLockedError);
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireRunLock>>>).value.release();
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });

  it('does not take over a lock held on another host', async () => {
    const dir = join(tmp, 'remote');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: 999999, hostname: 'other-host', startedAt: '2026-01-01T00:00:00Z', procStart: null, token: 'y' }));
    const err = await acquireRunLock(dir).then(() => undefined, (e: unknown) => e as RunLockedError);
    expect(err).toBeInstanceOf(RunLockedError);
    expect(err!.holderPid).toBe(999999);
    expect(err!.message).toMatch(/other-host.*delete .*\.lock/);
  });
});
