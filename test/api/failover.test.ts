/**
 * FailoverClient over real sockets: two or three manager servers serving one manager (as the
 * members of a group serve one shared state), some behind a front that makes them misbehave.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailoverClient, NoManagerAnswers, type MemberChange } from '../../src/api/index.js';
import { ToolkitError } from '../../src/errors.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server/index.js';
import { toolkitErrorOf } from '../helpers/toolkit-error.js';
import { FakeManager } from '../manager/server/fake-manager.js';
import { answer503, closedPort, cutAfterArrival, startFront } from './member-front.js';

const auth = { user: 'tungsten', password: 'pw-123' };
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `size` servers on one manager. */
async function group(size: number, stepDelayMs = 30): Promise<{ manager: FakeManager; servers: ManagerServer[]; urls: string[] }> {
  const manager = new FakeManager(stepDelayMs);
  const servers: ManagerServer[] = [];
  for (let i = 0; i < size; i++) {
    const server = await startManagerServer({ manager, credentials: auth, port: 0 });
    cleanups.push(() => server.close());
    servers.push(server);
  }
  return { manager, servers, urls: servers.map((s) => s.url) };
}

function client(urls: string[], options: { timeoutMs?: number; password?: string } = {}): { managers: FailoverClient; changes: MemberChange[] } {
  const managers = new FailoverClient(urls, { ...auth, timeoutMs: 2000, ...options });
  cleanups.push(() => managers.close());
  const changes: MemberChange[] = [];
  managers.onChange((c) => changes.push(c));
  return { managers, changes };
}

async function rejection(p: Promise<unknown>): Promise<ToolkitError> {
  const e = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ToolkitError);
  return e as ToolkitError;
}

let dead: string;
beforeEach(async () => {
  dead = `http://127.0.0.1:${await closedPort()}`;
});

describe('reads', () => {
  it('go to the next member when the first is down, which is said once', async () => {
    const { urls } = await group(1);
    const { managers, changes } = client([dead, urls[0]!]);
    expect(await managers.read((c) => c.status())).toMatchObject({ dataServiceName: 'alpha' });
    expect(await managers.read((c) => c.members('alpha'))).toMatchObject({ service: 'alpha' });
    expect(managers.url).toBe(urls[0]);
    expect(changes).toEqual([{ from: dead, to: urls[0], reason: 'connection refused' }]);
  });

  it('move on from a member that answers 503, wrapping around; none answering names each with its reason', async () => {
    const { servers, urls } = await group(2);
    const unavailable = await startFront(urls[0]!, (_req, res) => (answer503(res), true));
    cleanups.push(() => unavailable.close());
    const { managers, changes } = client([urls[1]!, unavailable.url, urls[0]!]);
    expect(await managers.read((c) => c.status())).toMatchObject({ dataServiceName: 'alpha' });
    // A member just gone refuses a new connection, or resets the kept-alive one.
    const gone = expect.stringMatching(/^connection (refused|reset)$/);
    await servers[1]!.close();
    // urls[1] is gone, the front answers 503, urls[0] answers.
    expect(await managers.read((c) => c.status())).toMatchObject({ dataServiceName: 'alpha' });
    expect(changes).toEqual([{ from: urls[1], to: urls[0], reason: gone }]);
    await servers[0]!.close();
    // urls[0] is gone, then around to urls[1] (gone) and the front (503).
    const e = await rejection(managers.read((c) => c.status()));
    expect(e).toBeInstanceOf(NoManagerAnswers);
    expect(e.exitCode).toBe(3);
    expect((e as NoManagerAnswers).attempts).toEqual([
      { url: urls[0], reason: gone },
      { url: urls[1], reason: 'connection refused' },
      { url: unavailable.url, reason: 'HTTP 503: no coordinator' },
    ]);
  });

  it('do not move on for an answer: refused credentials, an unknown service', async () => {
    const { urls } = await group(2);
    const wrong = client(urls, { password: 'wrong' });
    const e = await rejection(wrong.managers.read((c) => c.status()));
    expect(e).toMatchObject({ kind: 'unauthorized', message: `the manager at ${urls[0]} refused the credentials of user 'tungsten'` });
    expect(wrong.managers.url).toBe(urls[0]);
    const { managers, changes } = client(urls);
    expect(await rejection(managers.read((c) => c.serviceStatus('omega')))).toMatchObject({ kind: 'not_found' });
    expect(managers.url).toBe(urls[0]);
    expect([...wrong.changes, ...changes]).toEqual([]);
  });

  it('a single manager fails as it always did', async () => {
    const { managers } = client([dead]);
    expect(await rejection(managers.read((c) => c.status()))).toMatchObject({
      kind: 'unreachable',
      message: `the manager at ${dead} is unreachable: connection refused`,
    });
  });
});

describe('control calls', () => {
  it('one that never reached a member (connection refused) goes to the next, once', async () => {
    const { manager, urls } = await group(1);
    const { managers, changes } = client([dead, urls[0]!]);
    const task = await managers.control('switch', (c) => c.switch('alpha'));
    expect(task.state).toBe('in_progress');
    expect(manager.controlCalls).toHaveLength(1);
    expect(changes).toEqual([{ from: dead, to: urls[0], reason: 'connection refused' }]);
  });

  it('one whose connection is cut after it arrived is not resent: outcome unknown, naming the member', async () => {
    const { manager, urls } = await group(1);
    const cutter = await startFront(urls[0]!, (req) => req.method === 'POST' && (cutAfterArrival(req), true));
    cleanups.push(() => cutter.close());
    const { managers, changes } = client([cutter.url, urls[0]!]);
    await managers.read((c) => c.status()); // through the cutter
    const e = await rejection(managers.control('switch', (c) => c.switch('alpha')));
    expect(e.kind).toBe('unreachable');
    expect(e.message).toMatch(
      new RegExp(`^the manager at ${cutter.url} took 'switch' but gave no answer \\((connection reset|socket hang up)\\): its outcome is unknown, and it was not sent to another manager$`),
    );
    expect(e.hint).toBe('check with ls or history before retrying');
    expect(cutter.taken).toEqual(['POST /api/v2/manager/control/service/alpha/switch']);
    expect(manager.controlCalls).toEqual([]);
    // The next call goes to the next member.
    expect(await managers.read((c) => c.history('alpha'))).toEqual({ service: 'alpha', tasks: [] });
    expect(changes.map((c) => c.to)).toEqual([urls[0]]);
  });

  it('one that timed out is not resent either; one answered 503 is not resent, the answer is the error', async () => {
    const { manager, urls } = await group(1);
    const held = await startFront(urls[0]!, (req) => req.method === 'POST');
    cleanups.push(() => held.close());
    const timedOut = await rejection(client([held.url, urls[0]!], { timeoutMs: 300 }).managers.control('recover', (c) => c.recover('alpha')));
    expect(timedOut.kind).toBe('timeout');
    expect(timedOut.exitCode).toBe(4);
    expect(timedOut.message).toBe(`the manager at ${held.url} took 'recover' but gave no answer (timed out after 300 ms): its outcome is unknown, and it was not sent to another manager`);
    const unavailable = await startFront(urls[0]!, (req, res) => req.method === 'POST' && (answer503(res), true));
    cleanups.push(() => unavailable.close());
    const refused = await rejection(client([unavailable.url, urls[0]!]).managers.control('recover', (c) => c.recover('alpha')));
    expect(refused).toMatchObject({ kind: 'unreachable', message: 'no coordinator' });
    expect(unavailable.taken).toEqual(['POST /api/v2/manager/control/service/alpha/recover']);
    expect(manager.controlCalls).toEqual([]);
  });
});

describe('waitForTask', () => {
  it('follows a task to its end on the next member when the one followed dies mid-task, each step once', async () => {
    const { servers, urls } = await group(2, 250);
    const { managers, changes } = client(urls);
    const task = await managers.control('switch', (c) => c.switch('alpha', { target: 'db3' }));
    const lines: string[] = [];
    const final = await managers.waitForTask(task.taskId, {
      timeoutMs: 10_000,
      onStep: (s) => {
        lines.push(s.line);
        if (lines.length === 1) void servers[0]!.close();
      },
    });
    expect(final).toMatchObject({ taskId: task.taskId, state: 'complete', taskResult: { newPrimary: 'db3' } });
    expect(lines).toEqual(['SELECTED SLAVE: db3@alpha', 'PURGE REMAINING ACTIVE SESSIONS', 'SWITCH TO db3 COMPLETE']);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ from: urls[0], to: urls[1] });
  });

  it('gives up when every member has stopped answering, naming each', async () => {
    const { servers, urls } = await group(2, 2000);
    const { managers } = client(urls);
    const task = await managers.control('switch', (c) => c.switch('alpha'));
    const waiting = managers.waitForTask(task.taskId, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all(servers.map((s) => s.close()));
    const e = await rejection(waiting);
    expect(e).toBeInstanceOf(NoManagerAnswers);
    expect((e as NoManagerAnswers).attempts.map((a) => a.url).sort()).toEqual([...urls].sort());
  });
});

describe('the list of managers', () => {
  it('refuses a malformed URL and one given twice', () => {
    expect(toolkitErrorOf(() => new FailoverClient(['http://127.0.0.1:1', 'not a url']))).toMatchObject({ kind: 'usage', message: 'not a URL: not a url' });
    expect(toolkitErrorOf(() => new FailoverClient(['http://127.0.0.1:1', 'http://127.0.0.1:1/']))).toMatchObject({
      kind: 'usage',
      message: 'the manager http://127.0.0.1:1 is given twice',
    });
  });
});
