/**
 * The audit log: one JSON line per control call (who, when, what, outcome, how long), one when it
 * is accepted (before anything is carried out, so a crash mid-call leaves it), and one for each
 * refused login. The file is created 0600 (an existing one is narrowed to 0600) and each line is
 * written and flushed to disk before the call goes on.
 */
import { closeSync, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ControlRequest } from './model.js';

export interface AuditRecord {
  /** ISO-8601 UTC, when the call was made. */
  time: string;
  user: string;
  service: string;
  operation: string;
  /** What was asked; null for what the manager did on its own (the write guard's fences), and for logins. */
  request: ControlRequest | null;
  /**
   * accepted (the call is about to be carried out), complete, failed, or the kind of the error
   * that refused the call (conflict, refused, ...); for logins: unauthorized or throttled.
   */
  outcome: string;
  error: string | null;
  taskId: string | null;
  durationMs: number;
  /** The member of the group that took the call, when it passed it to the coordinator. */
  via?: string;
  /** The client's address (refused logins). */
  client?: string;
  /** Refusals folded into this line (throttled logins of one address, at most one line a second). */
  count?: number;
}

export interface AuditLog {
  record(entry: AuditRecord): void;
}

export const noAudit: AuditLog = { record: () => {} };

export const AUDIT_FILE_MODE = 0o600;

export function fileAudit(file: string, onError: (message: string) => void = () => {}): AuditLog {
  let dirReady = false;
  return {
    record(entry) {
      let fd: number | null = null;
      try {
        if (!dirReady) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        dirReady = true;
        // Opened per line: lines are few (control calls, refused logins), and no descriptor is held.
        fd = openSync(file, 'a', AUDIT_FILE_MODE);
        // A file left by an older version, or created under another umask, is narrowed.
        if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, AUDIT_FILE_MODE);
        writeSync(fd, JSON.stringify(entry) + '\n');
        fsyncSync(fd);
      } catch (e) {
        onError(`cannot write audit log ${file}: ${(e as Error).message}`);
      } finally {
        if (fd !== null) {
          try {
            closeSync(fd);
          } catch {
            // reported above if it matters
          }
        }
      }
    },
  };
}
