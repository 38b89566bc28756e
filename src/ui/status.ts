/** The status line's data: polled from the manager (and pushed by its event stream); stale when the last answer is too old. */
import { neutraliseControls } from '../controlChars.js';
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
  /** The manager's last alert (a fenced server, a failed automatic repair) as announced, and when it came (epoch ms). */
  alert?: { line: string; at: number } | null;
}

/** Data older than this (or a failed poll) is flagged on the status line. */
export const STALE_AFTER_MS = 6_000;
/** The manager's last alert stays on the status line this long. */
export const ALERT_SHOWN_MS = 5 * 60_000;

export interface StatusLines {
  /** The status line, fitted to the width. */
  text: string;
  warning: string | null;
  coming: string[];
  /** The manager's last alert with its age (`ALERT (12 s ago): SPLIT-BRAIN GUARD: ...`), fitted to the width; null when none is recent. */
  alert: string | null;
}

/**
 * What the status line shows. `width`: the terminal's columns; the line is fitted to them, giving
 * up the least important part first (the manager it talks to, then the service), never wrapping.
 */
export function statusText(s: StatusSnapshot, now: number, width = Infinity): StatusLines {
  const parts: StatusPart[] = [
    { text: `master ${s.master ?? (s.answeredAt === null ? '?' : 'NONE')}`, rank: 0 },
    { text: `policy ${s.policy ?? '?'}`, rank: 1 },
  ];
  if (s.service) parts.push({ text: `service ${s.service}`, rank: 3 });
  parts.push({ text: `coordinating manager ${s.coordinator ?? '?'}`, rank: 2 });
  parts.push({ text: `manager ${s.address}${s.previous ? ` (${s.previous} stopped answering)` : ''}`, rank: 4, shorter: managerPart(s) });
  let warning: string | null = null;
  if (s.error) {
    warning = `manager not answering; data shown may be stale (${s.error})`;
  } else if (s.answeredAt !== null && now - s.answeredAt > STALE_AFTER_MS) {
    warning = `no answer for ${Math.round((now - s.answeredAt) / 1000)} s; data shown may be stale`;
  }
  const elapsed = s.answeredAt === null ? 0 : Math.max(0, Math.floor((now - s.answeredAt) / 1000));
  const coming = (s.pending ?? []).map((p) => (p.inSeconds === null ? p.message : p.message.replace(/\bin \d+ s\b/, `in ${Math.max(0, p.inSeconds - elapsed)} s`)));
  const age = s.alert ? now - s.alert.at : Infinity;
  const alert = s.alert && age <= ALERT_SHOWN_MS ? truncateEnd(`ALERT (${ago(age)}): ${neutraliseControls(s.alert.line).replace(/^MANAGER: /, '')}`, width) : null;
  return { text: fitParts(parts, width), warning, coming, alert };
}

interface StatusPart {
  text: string;
  /** 0 the most important: the highest rank gives way first. */
  rank: number;
  /** Shorter forms, longest first, tried before the part is dropped. */
  shorter?: (room: number) => string | null;
}

const SEPARATOR = ' | ';

/** The parts joined, within `width`: the lowest-ranked part is shortened, then dropped, until they fit. */
export function fitParts(parts: readonly StatusPart[], width: number): string {
  // What the manager sent is shown without its control characters (as \x1b): measured as shown.
  const kept = parts.map((p) => ({ ...p, text: neutraliseControls(p.text) }));
  const joined = () => kept.map((p) => p.text).join(SEPARATOR);
  while (joined().length > width && kept.length > 1) {
    const least = kept.reduce((a, b) => (b.rank > a.rank ? b : a));
    const i = kept.indexOf(least);
    const others = kept.filter((p) => p !== least).map((p) => p.text).join(SEPARATOR).length;
    const shorter = least.shorter?.(width - others - SEPARATOR.length) ?? null;
    if (shorter !== null) kept[i] = { text: neutraliseControls(shorter), rank: least.rank };
    else kept.splice(i, 1);
  }
  return truncateEnd(joined(), width);
}

/** The manager part within `room`: without whom it replaced, then with the address cut in the middle. */
function managerPart(s: StatusSnapshot): (room: number) => string | null {
  return (room) => {
    if (s.previous && `manager ${s.address} (manager changed)`.length <= room) return `manager ${s.address} (manager changed)`;
    const prefix = 'manager ';
    if (room - prefix.length < 16) return null;
    return prefix + truncateMiddle(s.address, room - prefix.length);
  };
}

function truncateMiddle(text: string, width: number): string {
  if (text.length <= width) return text;
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

function truncateEnd(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 1 ? '…'.slice(0, Math.max(0, width)) : `${text.slice(0, width - 1)}…`;
}

function ago(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.floor(seconds / 60)} min ago`;
}
