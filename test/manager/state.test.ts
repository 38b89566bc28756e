/**
 * State that cannot rot: every write checked completely (a short write or a full disk never replaces
 * the good file), a failed save alerts once and is retried, one manager per state directory, and a
 * corrupt state file is refused with one line naming it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ToolkitError } from '../../src/errors.js';
import { VirtualClock } from '../../src/manager/clock.js';
import type { ManagerCore, ManagerLogger } from '../../src/manager/core.js';
import { createManager } from '../../src/manager/index.js';
import { demoProperties } from '../../src/manager/properties.js';
import { fileStore, LOCK_FILE, STATE_FILE, writeFileAtomic, type AtomicWriteIo } from '../../src/manager/store.js';

const open: ManagerCore[] = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'manager-state-test-'));
}

function recordingLogger(): ManagerLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
}

async function managerOn(dir: string, opts: { clock?: VirtualClock; logger?: ManagerLogger; io?: Partial<AtomicWriteIo> } = {}): Promise<ManagerCore> {
  const props = demoProperties(['simulation.stepDelayMs=0', `manager.state.dir=${dir}`]);
  const m = await createManager({
    properties: props,
    clock: opts.clock ?? new VirtualClock(),
    logger: opts.logger,
    // The file store as createManager builds it, with the write seam.
    ...(opts.io ? { store: fileStore(dir, { datasources: props.datasources.map((d) => d.name), io: opts.io }) } : {}),
  });
  open.push(m);
  return m;
}

async function rejection(p: Promise<unknown>): Promise<ToolkitError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ToolkitError) return e;
    throw e;
  }
  throw new Error('expected a ToolkitError');
}

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

/** A disk with `room` bytes left: writes what fits (a short write), then ENOSPC, as the kernel does. */
function diskWithRoom(room: { bytes: number }): Partial<AtomicWriteIo> {
  return {
    writeSync(fd, buffer, offset, length) {
      if (room.bytes <= 0) throw enospc();
      const n = Math.min(length, room.bytes);
      room.bytes -= n;
      return writeSync(fd, buffer, offset, n);
    },
  };
}

const tmpFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('writeFileAtomic', () => {
  it('keeps writing after a short write until every byte is on disk', () => {
    const dir = tempDir();
    const file = join(dir, 'f.json');
    const content = 'x'.repeat(10_000);
    let calls = 0;
    writeFileAtomic(file, content, {
      writeSync: (fd, buffer, offset, length) => {
        calls++;
        return writeSync(fd, buffer, offset, Math.min(length, 999));
      },
    });
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(calls).toBe(11);
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('on a full disk (short write, then ENOSPC) leaves the old file whole and removes the temporary', () => {
    const dir = tempDir();
    const file = join(dir, 'f.json');
    writeFileAtomic(file, 'old content\n');
    expect(() => writeFileAtomic(file, 'y'.repeat(22_000), diskWithRoom({ bytes: 12_000 }))).toThrow(/ENOSPC: no space left on device/);
    expect(readFileSync(file, 'utf8')).toBe('old content\n');
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('refuses a write that reports success but leaves fewer bytes (size checked after fsync)', () => {
    const dir = tempDir();
    const file = join(dir, 'f.json');
    writeFileAtomic(file, 'old\n');
    const lying: Partial<AtomicWriteIo> = { writeSync: (fd, buffer, offset, length) => (writeSync(fd, buffer, offset, Math.ceil(length / 2)), length) };
    expect(() => writeFileAtomic(file, 'z'.repeat(5000), lying)).toThrow(/holds 2500 of 5000 bytes/);
    expect(readFileSync(file, 'utf8')).toBe('old\n');
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('a write that makes no progress, or a failed fsync, never renames', () => {
    const dir = tempDir();
    const file = join(dir, 'f.json');
    writeFileAtomic(file, 'old\n');
    expect(() => writeFileAtomic(file, 'new\n', { writeSync: () => 0 })).toThrow(/short write: 0 of 4 bytes/);
    const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    expect(() => writeFileAtomic(file, 'new\n', { fsyncSync: () => { throw eio; } })).toThrow(/EIO/);
    expect(readFileSync(file, 'utf8')).toBe('old\n');
    expect(tmpFiles(dir)).toEqual([]);
  });
});

describe('a failed save', () => {
  it('keeps the manager running and the old state whole, alerts once naming the file and reason, retries on the clock, and says when it works again', async () => {
    const dir = tempDir();
    const clock = new VirtualClock();
    const logger = recordingLogger();
    const room = { bytes: Infinity };
    const m = await managerOn(dir, { clock, logger, io: diskWithRoom(room) });
    const file = join(dir, STATE_FILE);
    const good = readFileSync(file, 'utf8');

    room.bytes = 100; // the disk fills up
    m.control('alpha', { op: 'policy', mode: 'MANUAL' }, 'tester');
    await clock.advance(1_000);
    m.control('alpha', { op: 'datasource', host: 'db3', action: 'shun' }, 'tester');
    await clock.advance(1_000);
    expect(m.serviceStatus('alpha').policy).toBe('MANUAL'); // runs on its state in memory
    expect(m.datasourceStatus('alpha', 'db3').state).toBe('SHUNNED');
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(tmpFiles(dir)).toEqual([]);
    const errors = logger.lines.filter((l) => l.startsWith('ERROR'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`cannot save manager state to ${file}: ENOSPC: no space left on device`);
    expect(errors[0]).toContain('retrying every 5 s');

    // Still full: the timer retries, silently.
    await clock.advance(10_000);
    expect(logger.lines.filter((l) => l.startsWith('ERROR'))).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(good);

    room.bytes = Infinity; // space freed; no change happens, the timer saves within 5 s
    const before = logger.lines.length;
    await clock.advance(5_000);
    expect(logger.lines.slice(before)).toEqual([`INFO manager state saved to ${file} again: what is on disk is current`]);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.service.policy).toBe('MANUAL');
    expect(saved.service.datasources.find((d: { name: string }) => d.name === 'db3').state).toBe('SHUNNED');
  });

  it('is retried on the next change too, before the timer', async () => {
    const dir = tempDir();
    const clock = new VirtualClock();
    const logger = recordingLogger();
    const room = { bytes: Infinity };
    const m = await managerOn(dir, { clock, logger, io: diskWithRoom(room) });
    room.bytes = 0;
    m.control('alpha', { op: 'policy', mode: 'MANUAL' }, 'tester');
    await clock.advance(100);
    room.bytes = Infinity;
    m.control('alpha', { op: 'policy', mode: 'AUTOMATIC' }, 'tester');
    await clock.advance(100);
    expect(logger.lines.filter((l) => /ERROR|saved to .* again/.test(l))).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')).service.policy).toBe('AUTOMATIC');
  });
});

// ---- a real full disk: a small tmpfs (needs root; CI runs as root and must run it) ------------------

const isRoot = process.getuid?.() === 0;
function mountTmpfs(sizeKb: number): { dir: string; unmount(): void } | null {
  if (!isRoot) return null;
  const dir = tempDir();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return { dir, unmount: () => void spawnSync('umount', [dir]) };
}

/** Fills the file system of `dir` so that only `leaveBytes` (rounded to pages) stay free. */
function fillDisk(dir: string, leaveBytes: number): string {
  const filler = join(dir, 'filler');
  const chunk = Buffer.alloc(4096, 1);
  const fd = fs.openSync(filler, 'w');
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  const size = fs.statSync(filler).size;
  fs.truncateSync(filler, Math.max(0, size - leaveBytes));
  return filler;
}

describe('on a real full disk (tmpfs)', () => {
  it('a short write never replaces the good state file, and saving resumes once space is freed', async (ctx) => {
    const mount = mountTmpfs(256);
    if (!mount) {
      if (process.env.CI === 'true') throw new Error('this test must run in CI: it needs root to mount a tmpfs (mount -t tmpfs)');
      ctx.skip('needs root to mount a tmpfs (mount -t tmpfs)');
      return;
    }
    try {
      const dir = join(mount.dir, 'state');
      const clock = new VirtualClock();
      const logger = recordingLogger();
      const m = await createManager({ properties: demoProperties(['simulation.stepDelayMs=0', `manager.state.dir=${dir}`, `manager.audit.log=${join(tempDir(), 'audit.log')}`]), clock, logger });
      open.push(m);
      // Grow the state past a few pages (22 KB or so, as in the report).
      for (let i = 0; i < 30; i++) {
        m.control('alpha', { op: 'policy', mode: i % 2 ? 'AUTOMATIC' : 'MANUAL' }, `operator-with-a-long-name-${'x'.repeat(200)}`);
        await clock.advance(100);
      }
      const file = join(dir, STATE_FILE);
      const good = readFileSync(file, 'utf8');
      expect(good.length).toBeGreaterThan(16_384);

      const filler = fillDisk(mount.dir, 12_288); // 12 KB free: the next save is a short write
      m.control('alpha', { op: 'datasource', host: 'db2', action: 'shun' }, 'tester');
      await clock.advance(100);
      expect(readFileSync(file, 'utf8')).toBe(good);
      expect(() => JSON.parse(readFileSync(file, 'utf8'))).not.toThrow();
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(logger.lines.filter((l) => l.startsWith('ERROR'))).toEqual([expect.stringContaining(`cannot save manager state to ${file}: ENOSPC: no space left on device`)]);
      expect(m.datasourceStatus('alpha', 'db2').state).toBe('SHUNNED');

      fs.unlinkSync(filler);
      await clock.advance(5_000);
      expect(logger.lines.at(-1)).toBe(`INFO manager state saved to ${file} again: what is on disk is current`);
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      expect(saved.service.datasources.find((d: { name: string }) => d.name === 'db2').state).toBe('SHUNNED');
      await m.close();

      // And the manager restarts from it.
      const again = await createManager({ properties: demoProperties(['simulation.stepDelayMs=0', `manager.state.dir=${dir}`, `manager.audit.log=${join(tempDir(), 'audit.log')}`]), clock: new VirtualClock() });
      open.push(again);
      expect(again.datasourceStatus('alpha', 'db2').state).toBe('SHUNNED');
      await again.close();
    } finally {
      for (const m of open.splice(0)) await m.close();
      mount.unmount();
    }
  });
});

// ---- one manager per state directory -----------------------------------------------------------------

describe('the state directory lock', () => {
  it('refuses a second manager on the same directory, naming the pid that holds it; free again after close', async () => {
    const dir = tempDir();
    const first = await managerOn(dir);
    const lock = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(lock).toMatchObject({ pid: process.pid, host: hostname() });

    const refused = await rejection(managerOn(dir));
    expect(refused.kind).toBe('refused');
    expect(refused.exitCode).toBe(1);
    expect(refused.message).toMatch(new RegExp(`^state directory ${dir} is in use by the manager with pid ${process.pid}\\b`));
    expect(refused.message).not.toContain('\n');
    // The refused one changed nothing.
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toEqual(lock);

    await first.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const second = await managerOn(dir);
    expect(second.serviceStatus('alpha').policy).toBe('AUTOMATIC');
  });

  it('knows the directory however it is spelt (through a symlink)', async () => {
    const dir = tempDir();
    await managerOn(dir);
    const link = join(tempDir(), 'link');
    fs.symlinkSync(dir, link);
    expect(await rejection(managerOn(link))).toMatchObject({ kind: 'refused', message: expect.stringContaining(`pid ${process.pid}`) });
  });

  it('takes over a stale lock (its pid is dead) with a warning', async () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    expect(deadPid).toBeGreaterThan(0);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: hostname(), since: '2026-01-01T00:00:00.000Z', token: 'old' }));
    writeFileSync(join(dir, `${STATE_FILE}.${deadPid}.tmp`), '{"half": ');
    const logger = recordingLogger();
    await managerOn(dir, { logger });
    expect(logger.lines).toContain(`WARN taking over the lock on ${dir} left by pid ${deadPid} (since 2026-01-01T00:00:00.000Z), which is no longer running`);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    expect(tmpFiles(dir)).toEqual([]); // what the dead manager left half-written is cleared
  });

  it('refuses a lock held from another host (its pid cannot be checked)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'elsewhere', since: '2026-01-01T00:00:00.000Z', token: 't' }));
    const refused = await rejection(managerOn(dir));
    expect(refused.message).toContain('in use by the manager with pid 4242 on host elsewhere');
    expect(refused.message).toContain(`remove ${join(dir, LOCK_FILE)} only if that manager is gone`);
  });

  it('a halted (kill -9) manager does not block its successor in the same process; closing the old one later leaves the new lock alone', async () => {
    const dir = tempDir();
    const clock = new VirtualClock();
    const first = await managerOn(dir, { clock });
    first.halt();
    const logger = recordingLogger();
    const second = await managerOn(dir, { clock, logger });
    expect(logger.lines.some((l) => l.startsWith(`WARN taking over the lock on ${dir} left by pid ${process.pid}`))).toBe(true);
    await first.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    expect(await rejection(managerOn(dir))).toMatchObject({ kind: 'refused' });
    await second.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('is released when a manager fails to start (corrupt state)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, STATE_FILE), '{');
    await rejection(managerOn(dir));
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});

// ---- a corrupt state file -------------------------------------------------------------------------------

function validState(): any {
  const ds = (name: string, role: string, state = 'ONLINE') => ({ name, role, state, lastShunReason: null, lastError: null, fencedByMonitor: false });
  return {
    version: 1,
    service: { name: 'alpha', policy: 'MANUAL', datasources: [ds('db1', 'slave'), ds('db2', 'master'), ds('db3', 'slave')], policyToRestore: null },
    tasks: [],
  };
}

describe('a corrupt state file', () => {
  const cases: Array<[string, (s: any) => string, RegExp]> = [
    ['truncated JSON', (s) => JSON.stringify(s).slice(0, 120), /is corrupt: not valid JSON \(/],
    ['an empty file', () => '', /is corrupt: the file is empty/],
    ['not an object', () => '[1, 2]', /is corrupt: the top level: /],
    ['an unknown version', (s) => JSON.stringify({ ...s, version: 2 }), /is corrupt: version: /],
    ['an unknown policy', (s) => ((s.service.policy = 'BANANA'), JSON.stringify(s)), /is corrupt: service\.policy: .*AUTOMATIC/],
    ['a wrong type', (s) => ((s.service.datasources[1].fencedByMonitor = 'yes'), JSON.stringify(s)), /is corrupt: service\.datasources\[1\]\.fencedByMonitor: .*boolean/],
    ['an unknown role', (s) => ((s.service.datasources[0].role = 'boss'), JSON.stringify(s)), /is corrupt: service\.datasources\[0\]\.role: /],
    ['a missing field', (s) => (delete s.service.datasources, JSON.stringify(s)), /is corrupt: service\.datasources: /],
    ['a task of the wrong shape', (s) => ((s.tasks = [{ taskId: 7 }]), JSON.stringify(s)), /is corrupt: tasks\[0\]\.taskId: /],
    ['three masters', (s) => (s.service.datasources.forEach((d: any) => (d.role = 'master')), JSON.stringify(s)), /is corrupt: it records 3 masters that are not shunned \(db1, db2, db3\); a manager never starts with more than one/],
    ['two masters', (s) => ((s.service.datasources[0].role = 'master'), JSON.stringify(s)), /it records 2 masters that are not shunned \(db1, db2\)/],
    ['a datasource recorded twice', (s) => (s.service.datasources.push({ ...s.service.datasources[0] }), JSON.stringify(s)), /datasource 'db1' is recorded twice/],
  ];
  for (const [what, write, expected] of cases) {
    it(`refuses ${what} with one line naming the file and what to do`, async () => {
      const dir = tempDir();
      const file = join(dir, STATE_FILE);
      writeFileSync(file, write(validState()));
      const e = await rejection(managerOn(dir));
      expect(e.kind).toBe('usage');
      expect(e.message).toMatch(expected);
      expect(e.message.startsWith(`manager state ${file} is corrupt: `)).toBe(true);
      expect(e.message).toMatch(/Move it away to start from the configuration .*, or put back a good copy$/);
      expect(e.message).not.toContain('\n');
      expect(e.hint).toBeUndefined();
    });
  }

  it('accepts a shunned old master beside the master', async () => {
    const dir = tempDir();
    const s = validState();
    s.service.datasources[0] = { ...s.service.datasources[0], role: 'master', state: 'SHUNNED', lastShunReason: 'FAILED-OVER-TO-db2' };
    writeFileSync(join(dir, STATE_FILE), JSON.stringify(s));
    const m = await managerOn(dir);
    expect(m.datasourceStatus('alpha', 'db2').role).toBe('master');
  });

  it('drops, with a warning, a record of a datasource that is not configured', async () => {
    const dir = tempDir();
    const s = validState();
    s.service.datasources.push({ ...s.service.datasources[0], name: 'db9', role: 'master' });
    writeFileSync(join(dir, STATE_FILE), JSON.stringify(s));
    const logger = recordingLogger();
    const m = await managerOn(dir, { logger });
    expect(logger.lines.filter((l) => l.includes('db9'))).toEqual([`WARN manager state ${join(dir, STATE_FILE)}: ignoring datasource 'db9', not in the configuration`]);
    expect(m.serviceStatus('alpha').policy).toBe('MANUAL');
    expect(m.serviceStatus('alpha').datasources.map((d) => d.name)).toEqual(['db1', 'db2', 'db3']);
  });
});
