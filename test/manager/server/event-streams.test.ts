/**
 * Event streams against hostile or stalled clients (issue 12): a subscriber that never reads is
 * dropped once its unread bytes pass the bound, the server's memory stays bounded, the others keep
 * receiving, and a reconnect with Last-Event-ID resumes where the dropped one stopped.
 */
import http from 'node:http';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/index.js';
import type { ManagerEvent } from '../../../src/manager/model.js';
import { FakeManager } from './fake-manager.js';

const auth = { user: 'tungsten', password: 's3cret-pw' };
const basic = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** What the process holds after a full collection: heap plus buffers outside it. */
function heldBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

let server: ManagerServer | undefined;
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await server?.close();
  server = undefined;
});

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Received {
  id: string | null;
  event: string;
  data: any;
}

/** An event-stream reader that parses ids too; `lastEventId` is sent when given. */
function reader(url: string, lastEventId?: string, keepData = true): { events: Received[]; comments: string[]; closed: Promise<void> } {
  const events: Received[] = [];
  const comments: string[] = [];
  const headers: Record<string, string> = { authorization: basic, accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const req = http.request(`${url}/api/v2/manager/events?service=alpha`, { agent: false, headers });
  cleanups.push(() => req.destroy());
  const closed = new Promise<void>((resolve) => {
    req.on('error', () => resolve());
    req.on('response', (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      let previous = '';
      res.on('data', (chunk: string) => {
        if (!keepData) {
          // Counts events without keeping their text: each has one line `event: ...` after a line end.
          const text = previous + chunk;
          for (let at = text.indexOf('\nevent: '); at >= 0; at = text.indexOf('\nevent: ', at + 1)) events.push({ id: null, event: 'event', data: null });
          previous = text.slice(-7);
          return;
        }
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          comments.push(...block.filter((l) => l.startsWith(':')));
          const fields = block.filter((l) => !l.startsWith(':'));
          if (fields.length === 0) continue;
          const field = (name: string) => fields.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
          events.push({ id: field('id'), event: field('event') ?? 'message', data: keepData ? JSON.parse(field('data')!) : null });
        }
      });
      res.on('close', () => resolve());
    });
  });
  req.end();
  return { events, comments, closed };
}

/** A subscriber on a raw socket that sends its request and then never reads a byte. */
async function stalledSubscriber(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.pause();
  socket.write(`GET /api/v2/manager/events?service=alpha HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\nAccept: text/event-stream\r\n\r\n`);
  return socket;
}

/** A state event of about `bytes` bytes (a long alert message). */
function bigState(manager: FakeManager, n: number, bytes: number): ManagerEvent {
  const status = manager.serviceStatus('alpha');
  return { type: 'state', service: 'alpha', status: { ...status, datasources: status.datasources.map((d) => ({ ...d, alertMessage: `${n}:${'x'.repeat(bytes)}` })) } };
}

describe('event streams', () => {
  it('drops a subscriber that never reads once its buffer passes the bound; memory stays bounded and the others keep receiving', async () => {
    const manager = new FakeManager(20);
    const warnings: string[] = [];
    server = await startManagerServer({ manager, credentials: auth, port: 0, heartbeatMs: 60_000, streamBufferLimitBytes: 256 * 1024, warn: (l) => warnings.push(l) });
    await stalledSubscriber(server.port);
    const healthy = reader(server.url, undefined, false);
    await waitUntil(() => server!.connections().streams === 2, 'both streams open');

    const before = heldBytes();
    // 500 events of about 60 KB (30 MB): the old server kept all of it for the stalled one.
    const total = 500;
    for (let i = 0; i < total; i++) {
      manager.publish(bigState(manager, i, 20 * 1024));
      // The healthy reader takes each before the next comes, as at a real event rate.
      await waitUntil(() => healthy.events.length >= i + 2, `the healthy reader at event ${i}`);
    }
    await waitUntil(() => server!.connections().streamsDropped === 1, 'the stalled subscriber dropped');
    expect(server.connections()).toMatchObject({ streams: 1, streamsDropped: 1 });
    expect(warnings.some((w) => /event stream of 127\.0\.0\.1:\d+ dropped: \d+ bytes unread \(limit 262144\)/.test(w))).toBe(true);
    await waitUntil(() => healthy.events.length === total + 1, 'every event at the healthy reader');
    // The replay ring (at most 4 MiB) and some slack; not the 30 MB sent.
    expect(heldBytes() - before).toBeLessThan(12 * 1024 * 1024);
  }, 60_000);

  it('resumes a stream reopened with Last-Event-ID: the events missed come first, in order', async () => {
    const manager = new FakeManager(20);
    server = await startManagerServer({ manager, credentials: auth, port: 0, heartbeatMs: 60_000 });
    const first = reader(server.url);
    await waitUntil(() => first.events.length === 1, 'the snapshot');
    const step = (line: string): ManagerEvent => ({ type: 'task-step', service: 'alpha', taskId: 't9', step: { time: new Date().toISOString(), line } });
    manager.publish(step('one'));
    await waitUntil(() => first.events.length === 2, 'step one');
    const lastSeen = first.events[1]!.id!;
    expect(lastSeen).toMatch(/^[0-9a-f]{8}-\d+$/);
    cleanups.shift()!(); // the client goes away
    await waitUntil(() => server!.connections().streams === 0, 'the stream closed');
    manager.publish(step('two'));
    manager.publish(step('three'));

    const resumed = reader(server.url, lastSeen);
    await waitUntil(() => resumed.events.length === 3, 'the missed steps and the snapshot');
    expect(resumed.events.map((e) => (e.event === 'task-step' ? e.data.step.line : e.event))).toEqual(['two', 'three', 'state']);
    manager.publish(step('four'));
    await waitUntil(() => resumed.events.length === 4, 'a live step');
    expect(resumed.events[3]!.data.step.line).toBe('four');
    // Ids increase along the stream; the snapshot's state carries the newest one.
    const seqs = resumed.events.map((e) => Number(e.id!.split('-')[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    // An id this server cannot place (an earlier start, garbage) gets the snapshot, and a comment says so.
    const stranger = reader(server.url, 'deadbeef-3 <garbage>');
    await waitUntil(() => stranger.events.length === 1, 'the snapshot');
    expect(stranger.events[0]!.event).toBe('state');
    expect(stranger.comments.some((c) => c.startsWith(': cannot resume after id deadbeef-3 <garbage>'))).toBe(true);
  });
});
