/** The audit log: one JSON line per control call (who, when, what, outcome, how long). */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ControlRequest } from './model.js';

export interface AuditRecord {
  /** ISO-8601 UTC, when the call was made. */
  time: string;
  user: string;
  service: string;
  operation: string;
  /** What was asked; null for what the manager did on its own (the write guard's fences). */
  request: ControlRequest | null;
  /** complete, failed, or the kind of the error that refused the call (conflict, refused, ...). */
  outcome: string;
  error: string | null;
  taskId: string | null;
  durationMs: number;
  /** The member of the group that took the call, when it passed it to the coordinator. */
  via?: string;
}

export interface AuditLog {
  record(entry: AuditRecord): void;
}

export const noAudit: AuditLog = { record: () => {} };

export function fileAudit(file: string, onError: (message: string) => void = () => {}): AuditLog {
  let dirReady = false;
  return {
    record(entry) {
      try {
        if (!dirReady) mkdirSync(dirname(file), { recursive: true });
        dirReady = true;
        appendFileSync(file, JSON.stringify(entry) + '\n');
      } catch (e) {
        onError(`cannot write audit log ${file}: ${(e as Error).message}`);
      }
    },
  };
}
