/**
 * The shell's line grammar: statements separated by `;`, words separated by blanks, '…' and "…"
 * quote, a backslash escapes the next character outside single quotes, and `#` at the start of a
 * word comments out the rest of the line (as in sh, so scripts fed to stdin can carry comments). Everything a user can type
 * either parses or yields a usage error; nothing throws anything else (fuzz-tested).
 */
import { ToolkitError } from '../errors.js';

export interface Statement {
  /** The statement as typed, trimmed: what history and --json's `command` show. */
  text: string;
  words: string[];
}

/** At most this many characters are read from one line; longer input is refused, not parsed. */
export const MAX_LINE_LENGTH = 64 * 1024;

export function parseLine(line: string): Statement[] {
  if (line.length > MAX_LINE_LENGTH) {
    throw new ToolkitError('usage', `line too long (${line.length} characters, at most ${MAX_LINE_LENGTH})`);
  }
  const statements: Statement[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  let start = 0;
  let end = line.length;

  const endWord = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endStatement = (end: number): void => {
    endWord();
    const text = line.slice(start, end).trim();
    if (words.length > 0) statements.push({ text, words });
    words = [];
    start = end + 1;
  };

  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
    } else if (c === '#' && !inWord) {
      end = i;
      break;
    } else if (c === ';') {
      endStatement(i);
    } else if (/\s/.test(c)) {
      endWord();
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new ToolkitError('usage', `unterminated ${quote === '"' ? 'double' : 'single'} quote`, 'close the quote and try again');
  endStatement(end);
  return statements;
}

/** Splits what the user is typing into the complete words and the word being typed (for completion). */
export function splitForCompletion(line: string): { words: string[]; partial: string } {
  const lastStatement = line.slice(line.lastIndexOf(';') + 1);
  const endsWithBlank = /\s$/.test(lastStatement);
  const words = lastStatement.split(/\s+/).filter((w) => w.length > 0);
  const partial = endsWithBlank ? '' : (words.pop() ?? '');
  return { words, partial };
}
