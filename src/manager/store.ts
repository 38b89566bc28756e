/**
 * Durable manager state: policy, roles, shun reasons, errors and the task history, written after
 * every change with an atomic replace (temporary file, fsync, rename, fsync of the directory), so a
 * kill -9 leaves either the old or the new state, never half of one. No directory: memory only.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ToolkitError } from '../errors.js';
import type { PolicyMode, ResourceState, Role, TaskStatus } from './model.js';

export interface DataSourceRecord {
  name: string;
  role: Role;
  /** ONLINE, OFFLINE, SHUNNED or FAILED: the manager's verdict, not an observation. */
  state: ResourceState;
  lastShunReason: string | null;
  lastError: string | null;
  /** FAILED or OFFLINE by a rule (comes back by itself), rather than by an operator. */
  fencedByMonitor: boolean;
  /** Put OFFLINE by an operator: no rule brings it back. */
  heldOffline: boolean;
}

export interface ServiceRecord {
  name: string;
  policy: PolicyMode;
  datasources: DataSourceRecord[];
  /** Set while an operation holds the policy at MAINTENANCE: what to restore if it is interrupted. */
  policyToRestore: { taskId: string; policy: PolicyMode } | null;
}

export interface PersistedState {
  version: 1;
  service: ServiceRecord;
  /** Oldest first. */
  tasks: TaskStatus[];
}

export const STATE_FILE = 'manager-state.json';

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

export function fileStore(dir: string): StateStore {
  const file = join(dir, STATE_FILE);
  return {
    location: file,
    load() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new ToolkitError('usage', `cannot read manager state ${file}: ${(e as Error).message}`);
      }
      try {
        const state = JSON.parse(text) as PersistedState;
        if (state.version !== 1 || !state.service) throw new Error('unknown layout');
        return state;
      } catch (e) {
        throw new ToolkitError('usage', `manager state ${file} is not readable: ${(e as Error).message}`, 'Move the file away to start from the configuration.');
      }
    },
    save(state) {
      mkdirSync(dir, { recursive: true });
      writeFileAtomic(file, JSON.stringify(state, null, 1) + '\n');
    },
  };
}

export function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(join(file, '..'), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
