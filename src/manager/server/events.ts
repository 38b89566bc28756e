/**
 * The event streams' side of the server: one subscription to the manager for the server's life,
 * each event framed once, a bounded replay ring, and every subscriber's unsent bytes bounded.
 *
 * - Every event but `routes` carries `id: <boot>-<seq>` (boot: random per server start, seq: its
 *   number); `routes` events keep `id: <epoch>` (the connectors' contract, docs/api.md).
 * - A stream opened with `Last-Event-ID: <boot>-<seq>` of this server, still in the ring, is first
 *   sent what it missed, in order; any other id (an id of an earlier start, one that fell out of
 *   the ring) gets the current snapshot only, and a comment says it could not resume.
 * - Routes never go back on a stream: a stream is sent routes only with an epoch above the last it
 *   was sent, and above the epoch given as Last-Event-ID (what a connector holds); the current
 *   routes supersede every epoch before them, so an epoch needs no replay.
 * - A subscriber that does not read (a stalled client, a suspended cctrl) is dropped once the
 *   bytes it has not taken pass `bufferLimitBytes`: its connection is closed, and it may reconnect
 *   with Last-Event-ID to resume. Other subscribers are not held up by it.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Manager } from '../api.js';
import type { ManagerEvent } from '../model.js';
import { formatSse } from '../../api/sse.js';

/** A subscriber with this many bytes not yet taken by its client is dropped. */
export const DEFAULT_STREAM_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** The replay ring keeps at most this many events, and at most REPLAY_BYTES of them. */
export const REPLAY_EVENTS = 2000;
export const REPLAY_BYTES = 4 * 1024 * 1024;

/** An event framed for the wire; `epoch` for a routes event. */
export interface SnapshotEvent {
  service: string;
  text: string;
  epoch: number | null;
}

interface Framed extends SnapshotEvent {
  seq: number;
}

interface Subscriber {
  res: ServerResponse;
  service: string | null;
  /** What to say when it is dropped (its address). */
  peer: string;
  /** By service, the routes epoch it holds: routes at or below it are not sent. */
  routesHeld: Map<string, number>;
  /** The epoch it came back with (Last-Event-ID), for services it was sent no routes of yet. */
  resumeEpoch: number | null;
}

export class EventHub {
  /** Distinguishes this server's ids from those of an earlier start. */
  private readonly boot = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly ring: Framed[] = [];
  private ringBytes = 0;
  private readonly subscribers = new Set<Subscriber>();
  private readonly unsubscribe: () => void;
  private dropped = 0;

  constructor(
    manager: Manager,
    private readonly bufferLimitBytes: number,
    private readonly warn: ((line: string) => void) | undefined,
  ) {
    this.unsubscribe = manager.subscribe((event) => this.publish(event));
  }

  /** The id of the newest event, as a stream would carry it. */
  lastId(): string {
    return `${this.boot}-${this.seq}`;
  }

  /** Streams open now. */
  get open(): number {
    return this.subscribers.size;
  }

  /** Subscribers dropped for not reading, since start. */
  get droppedCount(): number {
    return this.dropped;
  }

  /**
   * Adds a stream: first what it missed since `lastEventId` (when this server can tell), then the
   * `snapshot` (framed by the caller), then each event as it happens. Returns its removal.
   */
  attach(res: ServerResponse, service: string | null, lastEventId: string | undefined, snapshot: readonly SnapshotEvent[], peer: string): () => void {
    const id = lastEventId?.trim();
    // A plain number is a routes epoch (what a connector holds): newer routes and the snapshot are what it needs.
    const resumeEpoch = id !== undefined && /^\d{1,15}$/.test(id) ? Number(id) : null;
    const subscriber: Subscriber = { res, service, peer, routesHeld: new Map(), resumeEpoch };
    const missed = id === undefined || resumeEpoch !== null ? [] : this.since(id);
    if (missed === null) this.write(subscriber, `: cannot resume after id ${sanitizeId(id!)}; the current state follows\n\n`);
    for (const framed of missed ?? []) this.deliver(subscriber, framed);
    for (const framed of snapshot) this.deliver(subscriber, framed);
    this.subscribers.add(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
    };
  }

  /** A comment line to every stream (the heartbeat). */
  comment(text: string): void {
    for (const s of this.subscribers) this.write(s, `: ${text}\n\n`);
  }

  /** One event to one stream, if it is of the stream's service and not routes it holds already. */
  private deliver(s: Subscriber, framed: SnapshotEvent): void {
    if (s.service !== null && framed.service !== s.service) return;
    if (framed.epoch !== null) {
      const held = s.routesHeld.get(framed.service) ?? s.resumeEpoch;
      if (held !== null && framed.epoch <= held) return;
      s.routesHeld.set(framed.service, framed.epoch);
    }
    this.write(s, framed.text);
  }

  /** Writes to one stream; drops it once its client has left too much unread. */
  write(s: Subscriber | { res: ServerResponse; peer: string }, text: string): void {
    const { res } = s;
    if (res.writableEnded || res.destroyed) return;
    res.write(text);
    if (res.writableLength > this.bufferLimitBytes) {
      this.dropped++;
      this.subscribers.delete(s as Subscriber);
      this.warn?.(
        `event stream of ${s.peer} dropped: ${res.writableLength} bytes unread (limit ${this.bufferLimitBytes}); it may reconnect with Last-Event-ID`,
      );
      res.destroy();
    }
  }

  close(): void {
    this.unsubscribe();
    this.subscribers.clear();
  }

  private publish(event: ManagerEvent): void {
    const seq = ++this.seq;
    const framed: Framed =
      event.type === 'routes'
        ? { seq, service: event.service, epoch: event.routes.epoch, text: formatSse(event.type, event, event.routes.epoch) }
        : { seq, service: event.service, epoch: null, text: formatSse(event.type, event, `${this.boot}-${seq}`) };
    this.ring.push(framed);
    this.ringBytes += framed.text.length;
    while (this.ring.length > REPLAY_EVENTS || (this.ringBytes > REPLAY_BYTES && this.ring.length > 1)) {
      this.ringBytes -= this.ring.shift()!.text.length;
    }
    for (const s of [...this.subscribers]) this.deliver(s, framed);
  }

  /** The events after `lastEventId`, or null when this server cannot say which those are. */
  private since(lastEventId: string): Framed[] | null {
    const m = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastEventId.trim());
    if (!m || m[1] !== this.boot) return null;
    const after = Number(m[2]);
    if (after > this.seq) return null;
    if (after === this.seq) return [];
    const first = this.ring[0];
    // The ring must still hold the event right after the one the client saw.
    if (!first || first.seq > after + 1) return null;
    return this.ring.filter((f) => f.seq > after);
  }
}

/** An id as the client sent it, safe to put in a comment line. */
function sanitizeId(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}
