/** The status line's data: polled from the manager; stale when the last answer is too old. */
import type { PolicyMode } from '../manager/model.js';

export interface StatusSnapshot {
  address: string;
  /** The manager answering before this one, which stopped answering; null when none did. */
  previous?: string | null;
  service: string | null;
  policy: PolicyMode | null;
  coordinator: string | null;
  /** Epoch ms of the last good answer; null before the first. */
  answeredAt: number | null;
  /** The last poll's error, null when it answered. */
  error: string | null;
}

/** Data older than this (or a failed poll) is flagged on the status line. */
export const STALE_AFTER_MS = 6_000;

export function statusText(s: StatusSnapshot, now: number): { text: string; warning: string | null } {
  const parts = [`policy ${s.policy ?? '?'}`, `coordinator ${s.coordinator ?? '?'}`];
  if (s.service) parts.push(`service ${s.service}`);
  parts.push(`manager ${s.address}${s.previous ? ` (${s.previous} stopped answering)` : ''}`);
  let warning: string | null = null;
  if (s.error) {
    warning = `manager not answering; data shown may be stale (${s.error})`;
  } else if (s.answeredAt !== null && now - s.answeredAt > STALE_AFTER_MS) {
    warning = `no answer for ${Math.round((now - s.answeredAt) / 1000)} s; data shown may be stale`;
  }
  return { text: parts.join(' | '), warning };
}
