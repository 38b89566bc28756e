/**
 * Command history, kept in ~/.cctrl_history (one entry a line, oldest first, at most MAX entries,
 * no consecutive duplicates). Failing to read or write it never stops the shell.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const MAX_HISTORY = 1000;

export function defaultHistoryPath(home = homedir()): string {
  return join(home, '.cctrl_history');
}

export class History {
  private entries: string[];
  /** -1: the draft being typed; 0: the newest entry. */
  private index = -1;
  private draft = '';

  constructor(private readonly file: string | null, entries?: string[]) {
    this.entries = entries ?? (file ? readEntries(file) : []);
  }

  list(): readonly string[] {
    return this.entries;
  }

  add(line: string): void {
    const entry = line.replace(/[\r\n]+/g, ' ').trim();
    this.index = -1;
    this.draft = '';
    if (!entry || this.entries.at(-1) === entry) return;
    this.entries.push(entry);
    if (!this.file) return;
    try {
      if (this.entries.length > MAX_HISTORY) {
        this.entries = this.entries.slice(-MAX_HISTORY);
        writeFileSync(this.file, `${this.entries.join('\n')}\n`, { mode: 0o600 });
      } else {
        appendFileSync(this.file, `${entry}\n`, { mode: 0o600 });
      }
    } catch {
      // History is a convenience; a read-only home must not break the shell.
    }
  }

  /** Up: the previous (older) entry; returns the line to show. */
  previous(current: string): string {
    if (this.index === -1) this.draft = current;
    if (this.index + 1 < this.entries.length) this.index++;
    return this.entries[this.entries.length - 1 - this.index] ?? current;
  }

  /** Down: the next (newer) entry, then the draft. */
  next(): string {
    if (this.index <= 0) {
      this.index = -1;
      return this.draft;
    }
    this.index--;
    return this.entries[this.entries.length - 1 - this.index]!;
  }
}

function readEntries(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .slice(-MAX_HISTORY);
  } catch {
    return [];
  }
}
