/**
 * The manager's side of the connector protocol over real HTTP: routes with an epoch that only
 * grows, connectors reporting themselves and listed under ROUTERS, the event stream carrying
 * `routes` with the epoch as its id, and a switch that tells the connectors to hold, waits for each
 * to say it does, and resumes them to the new master.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { launchManager, type RunningManager } from '../../../src/manager/server/launch.js';
import type { RoutesPayload } from '../../../src/connector/routes.js';
import { ManagerClient, type EventSubscription } from '../../../src/api/client.js';

let running: RunningManager | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

function caller(m: RunningManager) {
  const authorization = `Basic ${Buffer.from(`${m.user}:${m.password}`).toString('base64')}`;
  return async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`${m.url}${path}`, { method, headers: { authorization, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as { payloadType: string; payload: any } };
  };
}

const report = (over: Record<string, unknown> = {}) => ({
  name: 'connector@app1', host: 'app1', pid: 4242, state: 'ONLINE', created: 7, active: 3, listen: '127.0.0.1:3306', readListen: null, epoch: 0, holding: false, waiting: 0, ...over,
});

describe('routes and connectors', () => {
  it('serves the routes with the master and healthy slaves, lists a reporting connector under ROUTERS, and refuses a malformed report', async () => {
    running = await launchManager({ demo: true, port: 0, properties: ['simulation.stepDelayMs=0'] });
    const call = caller(running);
    const routes = await call('GET', '/api/v2/manager/service/alpha/routes');
    expect(routes.json.payloadType).toBe('RoutesPayload');
    expect(routes.json.payload).toMatchObject({ service: 'alpha', master: { name: 'db1', host: '127.0.0.11', port: 3306 }, hold: null });
    expect(routes.json.payload.slaves.map((s: { name: string }) => s.name)).toEqual(['db2', 'db3']);

    expect((await call('POST', '/api/v2/manager/service/alpha/connectors', report({ manager: 'http://mgr1:8090' }))).status).toBe(200);
    const status = await call('GET', '/api/v2/manager/status/service/alpha');
    expect(status.json.payload.routers).toContainEqual({
      name: 'app1',
      connectorName: 'connector@app1',
      host: 'app1',
      pid: 4242,
      state: 'ONLINE',
      connections: { active: 3, created: 7 },
      // What ls -l shows of it: its ports, whom it follows, its epoch, when it last reported and to which member.
      connector: {
        listen: '127.0.0.1:3306',
        readListen: null,
        manager: 'http://mgr1:8090',
        epoch: 0,
        holding: false,
        waiting: 0,
        lastReportAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        reportedTo: running.manager.memberName!(),
      },
    });

    const bad = await call('POST', '/api/v2/manager/service/alpha/connectors', report({ active: -1 }));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/bad connector report: 'active'/);
  });

  it('a switch holds the connectors, waits for each to say it holds, then resumes them to the new master under a higher epoch; the event stream carries each with its epoch as id', async () => {
    running = await launchManager({ demo: true, port: 0, properties: ['simulation.stepDelayMs=0'] });
    const call = caller(running);
    const before = (await call('GET', '/api/v2/manager/service/alpha/routes')).json.payload as RoutesPayload;

    const abort = new AbortController();
    const events: Array<{ id: string | null; routes: RoutesPayload }> = [];
    const stream = fetch(`${running.url}/api/v2/manager/events?service=alpha`, {
      headers: { authorization: `Basic ${Buffer.from(`${running.user}:${running.password}`).toString('base64')}` },
      signal: abort.signal,
    }).then(async (res) => {
      let buffer = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += Buffer.from(chunk).toString('utf8');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!/^event: routes$/m.test(block)) continue;
          const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { routes: RoutesPayload };
          events.push({ id: /^id: (.*)$/m.exec(block)?.[1] ?? null, routes: data.routes });
        }
      }
    }).catch(() => undefined);

    // A connector that acknowledges every hold it sees.
    let lastSeen = before;
    const connector = setInterval(() => {
      const latest = events.at(-1)?.routes ?? lastSeen;
      lastSeen = latest;
      void call('POST', '/api/v2/manager/service/alpha/connectors', report({ epoch: latest.epoch, holding: latest.hold !== null }));
    }, 50);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const started = await call('POST', '/api/v2/manager/control/service/alpha/switch', {});
      const taskId = started.json.payload.taskId as string;
      let task: any;
      for (let i = 0; i < 200; i++) {
        task = (await call('GET', `/api/v2/manager/task/${taskId}`)).json.payload;
        if (task.state !== 'in_progress') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(task.state).toBe('complete');
      const lines: string[] = task.steps.map((s: { line: string }) => s.line);
      const told = lines.findIndex((l) => l.startsWith('CONNECTORS TOLD TO HOLD'));
      const holds = lines.indexOf(`CONNECTOR 'connector@app1' IS HOLDING`);
      const purge = lines.findIndex((l) => l.startsWith('PURGE REMAINING ACTIVE SESSIONS'));
      const resume = lines.findIndex((l) => l.startsWith('CONNECTORS RESUME TO'));
      expect(told).toBeGreaterThanOrEqual(0);
      expect(holds).toBeGreaterThan(told);
      expect(purge).toBeGreaterThan(holds);
      expect(resume).toBeGreaterThan(purge);
      const after = (await call('GET', '/api/v2/manager/service/alpha/routes')).json.payload as RoutesPayload;
      expect(after.epoch).toBeGreaterThan(before.epoch + 1);
      expect(after.hold).toBeNull();
      expect(after.master?.name).toBe(task.taskResult.newPrimary);
      const held = events.find((e) => e.routes.hold !== null)!;
      expect(held.id).toBe(String(held.routes.epoch));
      expect(events.map((e) => e.routes.epoch)).toEqual([...events.map((e) => e.routes.epoch)].sort((a, b) => a - b));
    } finally {
      clearInterval(connector);
      abort.abort();
      await stream;
    }
  });

  it('the routes epoch survives a restart with --state-dir: it never goes back', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'routes-epoch-'));
    try {
      running = await launchManager({ demo: true, port: 0, stateDir: dir, properties: ['simulation.stepDelayMs=0'] });
      let call = caller(running);
      const started = await call('POST', '/api/v2/manager/control/service/alpha/switch', {});
      for (let i = 0; i < 100; i++) {
        if ((await call('GET', `/api/v2/manager/task/${started.json.payload.taskId}`)).json.payload.state !== 'in_progress') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const epoch = (await call('GET', '/api/v2/manager/service/alpha/routes')).json.payload.epoch as number;
      expect(epoch).toBeGreaterThan(0);
      await running.close();
      running = await launchManager({ demo: true, port: 0, stateDir: dir, properties: ['simulation.stepDelayMs=0'] });
      call = caller(running);
      expect((await call('GET', '/api/v2/manager/service/alpha/routes')).json.payload.epoch).toBeGreaterThanOrEqual(epoch);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the event stream resumed with Last-Event-ID', () => {
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

  it('a subscriber back with the epoch it holds gets only newer routes; one behind gets the current routes at once; one ahead gets nothing until the manager passes it; none ever goes back', async () => {
    running = await launchManager({ demo: true, port: 0, properties: ['simulation.stepDelayMs=0'], logger: quiet as never });
    const client = new ManagerClient({ url: running.url, user: running.user, password: running.password, timeoutMs: 5000 });
    const subscriptions: EventSubscription[] = [];
    try {
      const switchOnce = async () => {
        const task = await client.switch('alpha');
        expect((await client.waitForTask(task.taskId, { timeoutMs: 10_000 })).state).toBe('complete');
        return (await client.routes('alpha')).epoch;
      };
      const current = await switchOnce(); // a hold and a resume: epoch 2
      expect(current).toBeGreaterThanOrEqual(2);
      const subscribe = async (lastEventId?: number) => {
        const seen: Array<{ epoch: number; id: string | null }> = [];
        const sub = await client.events(
          'alpha',
          (e, sse) => {
            if (e.type === 'routes') seen.push({ epoch: e.routes.epoch, id: sse.id });
          },
          { lastEventId },
        );
        subscriptions.push(sub);
        return { seen, sub };
      };
      const upToDate = await subscribe(current);
      const behind = await subscribe(current - 1);
      const fresh = await subscribe();
      const ahead = await subscribe(current + 2);
      await until(() => behind.seen.length === 1 && fresh.seen.length === 1, 'the current routes on the streams behind');
      expect(behind.seen).toEqual([{ epoch: current, id: String(current) }]);
      expect(fresh.seen).toEqual([{ epoch: current, id: String(current) }]);
      expect(upToDate.seen).toEqual([]);
      // Its snapshot's state event carries the id of the newest event: the place to resume from.
      expect(upToDate.sub.lastEventId()).toMatch(/^[0-9a-f]{8}-\d+$/);

      const next = await switchOnce(); // current + 1 (hold), current + 2 (resume)
      expect(next).toBe(current + 2);
      await until(() => upToDate.seen.length === 2, 'both new epochs on the up-to-date stream');
      expect(upToDate.seen.map((s) => s.epoch)).toEqual([current + 1, current + 2]);
      expect(upToDate.seen.map((s) => s.id)).toEqual([String(current + 1), String(current + 2)]);
      expect(ahead.seen).toEqual([]);

      const last = await switchOnce();
      await until(() => ahead.seen.length === 2, 'the stream that was ahead, once the manager passed it');
      expect(ahead.seen.map((s) => s.epoch)).toEqual([last - 1, last]);
      for (const { seen } of [upToDate, behind, fresh, ahead]) {
        const epochs = seen.map((s) => s.epoch);
        expect(epochs).toEqual([...new Set(epochs)].sort((a, b) => a - b));
      }
    } finally {
      for (const s of subscriptions) s.close();
      client.close();
    }
  });
});

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
