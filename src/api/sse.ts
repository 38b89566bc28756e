/** Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html). */

export interface SseMessage {
  event: string;
  data: string;
  /**
   * The last event ID as the spec keeps it: set by an `id:` field and kept for the events after it
   * until another `id:` changes it; null until the stream gives one. A client that reconnects sends
   * it as `Last-Event-ID`.
   */
  id: string | null;
}

/** Feeds on text chunks; calls onMessage for each complete event. Comment lines (`:`) are skipped. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private lastId: string | null = null;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) return;
      if (nl === this.buffer.length - 1 && this.buffer.endsWith('\r')) return; // maybe half of \r\n
      const line = this.buffer.slice(0, nl);
      const width = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + width);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onMessage({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }

  /** Characters held for the event not yet complete (its data lines and the line not yet ended). */
  get pendingChars(): number {
    return this.buffer.length + this.data.reduce((n, d) => n + d.length, 0);
  }

  /** The last event ID seen so far (see SseMessage.id). */
  get lastEventId(): string | null {
    return this.lastId;
  }
}

/** One event as the server writes it. */
export function formatSse(event: string, data: unknown, id?: string | number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
