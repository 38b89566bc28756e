/**
 * Scripted cctrl's statements from stdin, one per line, each at most `maxBytes`: a longer line is a
 * usage error (exit 2) as soon as it passes the cap, with nothing more of it kept in memory.
 */
import type { Readable } from 'node:stream';
import { ToolkitError } from '../errors.js';

/** No cctrl statement comes near this. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * The lines of `input`. Ending the iteration early (Ctrl-C while waiting for a line) stops reading
 * the input at once: a generator's return() would wait for the next line first.
 */
export function boundedLines(input: Readable, maxBytes = MAX_LINE_BYTES): AsyncIterableIterator<string> {
  const lines = readLines(input, maxBytes);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => lines.next(),
    async return() {
      input.destroy();
      return { done: true, value: undefined };
    },
  };
}

async function* readLines(input: Readable, maxBytes: number): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let size = 0;
  let lineNumber = 0;
  const tooLong = () =>
    new ToolkitError(
      'usage',
      `line ${lineNumber + 1} of the input is longer than ${maxBytes} bytes; nothing of it was run`,
      'give cctrl one command per line (commands are short), e.g. echo ls | cctrl',
    );
  const take = (): string => {
    const text = Buffer.concat(pending).toString('utf8');
    pending = [];
    size = 0;
    lineNumber++;
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      if (size + (nl - start) > maxBytes) throw tooLong();
      pending.push(buf.subarray(start, nl));
      start = nl + 1;
      yield take();
    }
    if (start < buf.length) {
      size += buf.length - start;
      if (size > maxBytes) throw tooLong();
      pending.push(Buffer.from(buf.subarray(start)));
    }
  }
  if (pending.length > 0) yield take();
}
