/**
 * Durable manager state: policy, roles, shun reasons, errors and the task history, written after
 * every change with an atomic replace (temporary file written completely, fsync, size checked,
 * rename, fsync of the directory), so a kill -9 or a full disk leaves either the old or the new
 * state, never half of one. No directory: memory only.
 *
 * What is read back is checked against one schema (the types below are inferred from it): a file
 * that is not valid JSON, has a field of the wrong type, an unknown policy or role, or records two
 * masters is refused with a one-line error naming the file and what to do.
 *
 * A state directory belongs to one manager at a time: lockStateDir() takes `manager.lock` in it
 * (pid, host, since), refuses while that pid lives, and takes a stale lock over with a warning.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ToolkitError } from '../errors.js';
import { MANAGER_ALERT_KINDS, POLICY_MODES, RESOURCE_STATES, ROLES, type ManagerAlert, type TaskStatus } from './model.js';

// ---- the schema (the single source of the persisted types) ----------------------------------------

const taskStatusSchema = z.object({
  taskId: z.string(),
  service: z.string(),
  operation: z.string(),
  requestedBy: z.string(),
  state: z.enum(['in_progress', 'complete', 'failed']),
  startTime: z.string(),
  endTime: z.string().nullable(),
  steps: z.array(z.object({ time: z.string(), line: z.string() })),
  taskResult: z.record(z.string(), z.unknown()).nullable(),
});

const dataSourceRecordSchema = z.object({
  name: z.string().min(1),
  role: z.enum(ROLES),
  /** ONLINE, OFFLINE, SHUNNED or FAILED: the manager's verdict, not an observation. */
  state: z.enum(RESOURCE_STATES),
  lastShunReason: z.string().nullable(),
  lastError: z.string().nullable(),
  /** FAILED or OFFLINE by a rule (comes back by itself), rather than by an operator. */
  fencedByMonitor: z.boolean(),
});

const serviceRecordSchema = z.object({
  name: z.string().min(1),
  policy: z.enum(POLICY_MODES),
  datasources: z.array(dataSourceRecordSchema),
  /** Set while an operation holds the policy at MAINTENANCE: what to restore if it is interrupted. */
  policyToRestore: z.object({ taskId: z.string(), policy: z.enum(POLICY_MODES) }).nullable(),
  /**
   * The routes the connectors were last given: their epoch (it only grows, across restarts and
   * coordinators), a hold in force, and whether the last change was a failover.
   */
  routing: z
    .object({
      epoch: z.number().int().min(0),
      hold: z.object({ reason: z.string(), since: z.string() }).nullable(),
      endImmediately: z.boolean(),
    })
    .optional(),
});

const managerAlertSchema = z.object({
  time: z.string(),
  kind: z.enum(MANAGER_ALERT_KINDS),
  datasource: z.string(),
  message: z.string(),
});

export const persistedStateSchema = z.object({
  version: z.literal(1),
  service: serviceRecordSchema,
  /** Oldest first. */
  tasks: z.array(taskStatusSchema),
  /** The coordinator's last alerts, oldest first: the other members of a group publish them too. */
  alerts: z.array(managerAlertSchema).optional(),
});

export type DataSourceRecord = z.infer<typeof dataSourceRecordSchema>;
export type ServiceRecord = z.infer<typeof serviceRecordSchema>;
export type PersistedState = z.infer<typeof persistedStateSchema>;

// TaskStatus is the API's type (model.ts): the schema must describe exactly it, or this fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const taskSchemaMatchesModel: Same<z.infer<typeof taskStatusSchema>, TaskStatus> = true;
void taskSchemaMatchesModel;
const alertSchemaMatchesModel: Same<z.infer<typeof managerAlertSchema>, ManagerAlert> = true;
void alertSchemaMatchesModel;

export const STATE_FILE = 'manager-state.json';
export const LOCK_FILE = 'manager.lock';

export interface StateStore {
  /** Where the state lives, for messages; null in memory. */
  readonly location: string | null;
  load(): PersistedState | null;
  save(state: PersistedState): void;
}

export function memoryStore(): StateStore {
  let saved: string | null = null;
  return {
    location: null,
    load: () => (saved === null ? null : (JSON.parse(saved) as PersistedState)),
    save: (state) => {
      saved = JSON.stringify(state);
    },
  };
}

export interface FileStoreOptions {
  /** The configured datasources: records naming any other are dropped with a warning. */
  datasources?: readonly string[];
  warn?: (message: string) => void;
  /** The write seam (tests): defaults to node:fs. */
  io?: Partial<AtomicWriteIo>;
}

export function fileStore(dir: string, opts: FileStoreOptions = {}): StateStore {
  const file = join(dir, STATE_FILE);
  const warned = new Set<string>();
  const warn = (m: string) => {
    if (warned.has(m)) return;
    warned.add(m);
    opts.warn?.(m);
  };
  return {
    location: file,
    load() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new ToolkitError('usage', `cannot read manager state ${file}: ${oneLine((e as Error).message)}; check that the manager's user may read it`);
      }
      return parsePersistedState(text, file, { datasources: opts.datasources, warn });
    },
    save(state) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(file, JSON.stringify(state, null, 1) + '\n', opts.io);
    },
  };
}

/**
 * Checks a state file's text. Throws a ToolkitError ('usage') with one line naming the file, what is
 * wrong and what to do; drops (with a warning) records of datasources that are not configured.
 */
export function parsePersistedState(
  text: string,
  file: string,
  opts: { datasources?: readonly string[]; warn?: (message: string) => void } = {},
): PersistedState {
  const corrupt = (what: string) =>
    new ToolkitError(
      'usage',
      `manager state ${file} is corrupt: ${oneLine(what)}. Move it away to start from the configuration (the policy, roles and task history in it are then lost), or put back a good copy`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw corrupt(text.trim() === '' ? 'the file is empty' : `not valid JSON (${(e as Error).message})`);
  }
  const parsed = persistedStateSchema.safeParse(raw);
  if (!parsed.success) throw corrupt(describeIssues(parsed.error.issues));
  const state = parsed.data;
  const seen = new Set<string>();
  for (const d of state.service.datasources) {
    if (seen.has(d.name)) throw corrupt(`datasource '${d.name}' is recorded twice`);
    seen.add(d.name);
  }
  const configured = opts.datasources;
  if (configured) {
    const unknown = state.service.datasources.filter((d) => !configured.includes(d.name));
    if (unknown.length > 0) {
      opts.warn?.(`manager state ${file}: ignoring datasource${unknown.length > 1 ? 's' : ''} ${unknown.map((d) => `'${d.name}'`).join(', ')}, not in the configuration`);
      state.service.datasources = state.service.datasources.filter((d) => configured.includes(d.name));
    }
  }
  const masters = state.service.datasources.filter((d) => d.role === 'master' && d.state !== 'SHUNNED');
  if (masters.length > 1) {
    throw corrupt(`it records ${masters.length} masters that are not shunned (${masters.map((d) => d.name).join(', ')}); a manager never starts with more than one`);
  }
  return state;
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 3).map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return `${path || 'the top level'}: ${i.message}`;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return shown.join('; ') + more;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

// ---- writing a file completely, or not at all -------------------------------------------------------

/** The system calls writeFileAtomic makes that can fail part-way: a seam for tests. */
export interface AtomicWriteIo {
  /** As fs.writeSync(fd, buffer, offset, length): the number of bytes written, possibly fewer. */
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
}

const fsIo: AtomicWriteIo = {
  writeSync: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  fsyncSync: (fd) => fsyncSync(fd),
};

/**
 * Replaces `file` with `content`, all or nothing: writes a temporary file beside it until every byte
 * is written, fsyncs it, checks its size, renames it over `file` and fsyncs the directory. On any
 * failure (a short write, ENOSPC, EIO, ...) the temporary file is removed, `file` keeps its old
 * content, and the error is thrown.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array, io: Partial<AtomicWriteIo> = {}): void {
  const { writeSync: write, fsyncSync: fsync } = { ...fsIo, ...io };
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  let closed = false;
  try {
    let written = 0;
    while (written < bytes.length) {
      const n = write(fd, bytes, written, bytes.length - written);
      if (!(n > 0)) throw new Error(`short write: ${written} of ${bytes.length} bytes written to ${tmp}`);
      written += n;
    }
    fsync(fd);
    const size = fstatSync(fd).size;
    if (size !== bytes.length) throw new Error(`short write: ${tmp} holds ${size} of ${bytes.length} bytes`);
    closed = true;
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    if (!closed) {
      try {
        closeSync(fd);
      } catch {
        // already failing
      }
    }
    removeQuietly(tmp);
    throw e;
  }
  const dirFd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // gone already, or nothing more can be done
  }
}

// ---- one manager per state directory ---------------------------------------------------------------

export interface StateDirLock {
  readonly file: string;
  /** Removes the lock (if it is still ours). Safe to call twice. */
  release(): void;
  /** Forgets the lock without removing it, as a killed process would (in-process restart tests). */
  abandon(): void;
}

interface LockHolder {
  pid: number;
  host: string;
  since: string;
  token: string;
}

/** The locks this process holds: lock file -> token. */
const heldLocks = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [file, token] of heldLocks) removeIfOurs(file, token);
    heldLocks.clear();
  });
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (typeof h.pid !== 'number' || typeof h.token !== 'string') return null;
    return { pid: h.pid, host: typeof h.host === 'string' ? h.host : '', since: typeof h.since === 'string' ? h.since : '?', token: h.token };
  } catch {
    return null;
  }
}

function removeIfOurs(file: string, token: string): void {
  if (readHolder(file)?.token === token) removeQuietly(file);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Creates `file` holding `text` only if it does not exist; the content is whole from the first moment. */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  writeFileAtomic(tmp, text);
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    removeQuietly(tmp);
  }
}

/**
 * Takes the state directory for this process: `manager.lock` is created with link(2), which fails if
 * it exists, so two managers can never both succeed. A lock whose pid is alive (or on another host)
 * is refused with a one-line error naming it; one whose pid is dead is taken over with a warning.
 */
export function lockStateDir(dir: string, opts: { warn?: (message: string) => void; now?: () => number } = {}): StateDirLock {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    since: new Date((opts.now ?? Date.now)()).toISOString(),
    token: randomUUID(),
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ToolkitError('usage', `cannot create the state directory ${dir}: ${oneLine((e as Error).message)}`);
  }
  // One name per directory however it is spelt (relative, through a symlink): this process's own
  // locks are told apart by it.
  const file = join(realpathSync(dir), LOCK_FILE);
  for (let attempt = 0; attempt < 100; attempt++) {
    let created: boolean;
    try {
      created = createExclusive(file, JSON.stringify(me) + '\n');
    } catch (e) {
      throw new ToolkitError('usage', `cannot lock the state directory ${dir}: ${oneLine((e as Error).message)}`);
    }
    if (created) {
      heldLocks.set(file, me.token);
      installExitHook();
      removeStaleTemporaries(dir);
      return {
        file,
        release() {
          if (heldLocks.get(file) !== me.token) return;
          heldLocks.delete(file);
          removeIfOurs(file, me.token);
        },
        abandon() {
          if (heldLocks.get(file) === me.token) heldLocks.delete(file);
        },
      };
    }
    const holder = readHolder(file);
    if (holder && holderLives(holder, file)) {
      const where = holder.host && holder.host !== me.host ? ` on host ${holder.host}` : holder.pid === process.pid ? ' (this process)' : '';
      throw new ToolkitError(
        'refused',
        `state directory ${dir} is in use by the manager with pid ${holder.pid}${where}, running since ${holder.since}: stop it first or give another --state-dir (remove ${file} only if that manager is gone)`,
      );
    }
    if (takeOver(file, holder)) {
      opts.warn?.(
        holder
          ? `taking over the lock on ${dir} left by pid ${holder.pid} (since ${holder.since}), which is no longer running`
          : `taking over the unreadable lock file ${file}`,
      );
    } else {
      sleepSync(10);
    }
  }
  throw new ToolkitError('refused', `cannot lock the state directory ${dir}: ${file} keeps changing; is another manager starting on it?`);
}

function holderLives(holder: LockHolder, file: string): boolean {
  if (holder.host && holder.host !== hostname()) return true; // cannot tell: assume it runs
  if (holder.pid === process.pid) return heldLocks.get(file) === holder.token;
  return pidAlive(holder.pid);
}

/**
 * Removes a stale lock, under `manager.lock.takeover` so that two managers taking over the same stale
 * lock at once cannot remove each other's fresh one. False when another process is taking over.
 */
function takeOver(file: string, stale: LockHolder | null): boolean {
  const mutex = `${file}.takeover`;
  if (!createExclusive(mutex, JSON.stringify({ pid: process.pid, host: hostname(), token: randomUUID() }) + '\n')) {
    const other = readHolder(mutex);
    // Its taker died (or was an earlier process with our pid: this one is not taking over right now).
    if (!other || other.pid === process.pid || !pidAlive(other.pid)) removeQuietly(mutex);
    return false;
  }
  try {
    const now = readHolder(file);
    if (stale === null ? now === null : now?.token === stale.token) removeQuietly(file);
    return true;
  } finally {
    removeQuietly(mutex);
  }
}

/** Temporary state files a killed manager left behind (only this manager writes here now). */
function removeStaleTemporaries(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(`${STATE_FILE}.`) && name.endsWith('.tmp')) removeQuietly(join(dir, name));
    }
  } catch {
    // nothing to clean
  }
}
