/** The status line's data: polled from the manager (and pushed by its event stream); stale when the last answer is too old. */
import type { PendingAction, PolicyMode } from '../manager/model.js';

export interface StatusSnapshot {
  address: string;
  /** The manager answering before this one, which stopped answering; null when none did. */
  previous?: string | null;
  service: string | null;
  policy: PolicyMode | null;
  /** The datasource that takes writes; null when none or not known yet. */
  master?: string | null;
  /** The manager that coordinates the service (not the master). */
  coordinator: string | null;
  /** What the rules are about to do, as of answeredAt. */
  pending?: PendingAction[];
  /** Epoch ms of the last good answer; null before the first. */
  answeredAt: number | null;
  /** The last poll's error, null when it answered. */
  error: string | null;
}

/** Data older than this (or a failed poll) is flagged on the status line. */
export const STALE_AFTER_MS = 6_000;

export function statusText(s: StatusSnapshot, now: number): { text: string; warning: string | null; coming: string[] } {
  const parts = [`master ${s.master ?? (s.answeredAt === null ? '?' : 'NONE')}`, `policy ${s.policy ?? '?'}`];
  if (s.service) parts.push(`service ${s.service}`);
  parts.push(`coordinating manager ${s.coordinator ?? '?'}`);
  parts.push(`manager ${s.address}${s.previous ? ` (${s.previous} stopped answering)` : ''}`);
  let warning: string | null = null;
  if (s.error) {
    warning = `manager not answering; data shown may be stale (${s.error})`;
  } else if (s.answeredAt !== null && now - s.answeredAt > STALE_AFTER_MS) {
    warning = `no answer for ${Math.round((now - s.answeredAt) / 1000)} s; data shown may be stale`;
  }
  const elapsed = s.answeredAt === null ? 0 : Math.max(0, Math.floor((now - s.answeredAt) / 1000));
  const coming = (s.pending ?? []).map((p) => (p.inSeconds === null ? p.message : p.message.replace(/\bin \d+ s\b/, `in ${Math.max(0, p.inSeconds - elapsed)} s`)));
  return { text: parts.join(' | '), warning, coming };
}
