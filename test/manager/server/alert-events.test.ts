/**
 * The manager's alerts over a real socket: a server the split-brain guard fences and an automatic
 * repair that fails come on the event stream as `alert` events (never as tasks of the history), and
 * a subscriber that reconnects with its Last-Event-ID is sent the alert it missed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManagerClient, type EventSubscription } from '../../../src/api/client.js';
import { createDemoManager, demoProperties, SimulatedDriver, type ManagerCore } from '../../../src/manager/index.js';
import type { ManagerAlert, ManagerEvent } from '../../../src/manager/model.js';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/server.js';
import { systemClock } from '../../../src/manager/clock.js';
import { rawRequest } from '../../helpers/http.js';

const credentials = { user: 'ops', password: 'alert-secret-1' };
const overrides = ['simulation.stepDelayMs=0', 'policy.liveness.samplePeriod=1'];

let manager: ManagerCore | undefined;
let server: ManagerServer | undefined;
let client: ManagerClient | undefined;
const subscriptions: EventSubscription[] = [];

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.close();
  client?.close();
  await server?.close();
  await manager?.close();
  manager = server = client = undefined;
});

async function start(): Promise<{ driver: SimulatedDriver; url: string }> {
  const props = demoProperties(overrides);
  const driver = new SimulatedDriver({ clock: systemClock, datasources: props.datasources, connectors: props.connectors, stepDelayMs: 0, writesPerSecond: props.simulation.writesPerSecond, seed: props.simulation.seed });
  manager = await createDemoManager({ overrides, driver });
  server = await startManagerServer({ manager, credentials, host: '127.0.0.1', port: 0 });
  client = new ManagerClient({ url: server.url, ...credentials });
  return { driver, url: server.url };
}

interface Received {
  name: string;
  id: string | null;
  event: ManagerEvent;
}

async function subscribe(lastEventId?: string): Promise<Received[]> {
  const received: Received[] = [];
  subscriptions.push(await client!.events('alpha', (event, sse) => received.push({ name: sse.name, id: sse.id, event }), { lastEventId: lastEventId ?? null }));
  return received;
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alerts = (received: Received[]): ManagerAlert[] => received.flatMap((r) => (r.event.type === 'alert' ? [r.event.alert] : []));

describe('alert events on the API', () => {
  it('a slave made writable behind the manager: fenced, and an `alert` event says so; the history holds no task for it', async () => {
    const { driver, url } = await start();
    const received = await subscribe();
    await driver.allowWrites(manager!.configOf('db2'), { timeoutMs: 1000 });
    await waitUntil(() => alerts(received).length > 0, 'the alert');
    const alert = received.find((r) => r.event.type === 'alert')!;
    expect(alert.name).toBe('alert');
    expect(alert.id).toMatch(/^[0-9a-f]{8}-\d+$/);
    expect(alert.event).toEqual({
      type: 'alert',
      service: 'alpha',
      alert: { time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), kind: 'fenced', datasource: 'db2', message: expect.stringMatching(/^SPLIT-BRAIN GUARD: made db2@alpha read-only \(slave, ONLINE\): ended \d+ client sessions$/) },
    });
    expect(driver.node('db2').readOnly).toBe(true);
    const history = await rawRequest(`${url}/api/v2/manager/service/alpha/history`, credentials);
    expect(history.json.payload.tasks).toEqual([]);
  });

  it('an automatic repair that fails: an `alert` event with the reason in words', async () => {
    const { driver } = await start();
    const received = await subscribe();
    driver.failNext('allowWrites', 'db1', 'Access denied; you need (at least one of) the SUPER privilege(s) for this operation');
    await driver.fenceWrites(manager!.configOf('db1'), { timeoutMs: 1000 }); // read_only=1 set on the master by hand
    await waitUntil(() => alerts(received).length > 0, 'the alert');
    expect(alerts(received)[0]).toEqual({
      time: expect.any(String),
      kind: 'repair-failed',
      datasource: 'db1',
      message: 'could not allow writes on db1@alpha: Access denied; you need (at least one of) the SUPER privilege(s) for this operation',
    });
    // The rules try again at the next sample, and that one succeeds.
    await waitUntil(() => !driver.node('db1').readOnly, 'the writes given back');
  });

  it('a subscriber that was away when the alert came is sent it on reconnecting with its Last-Event-ID', async () => {
    const { driver } = await start();
    const first = await subscribe();
    await waitUntil(() => first.some((r) => r.event.type === 'state'), 'the opening state');
    const lastId = first.at(-1)!.id!;
    subscriptions.pop()!.close();
    await driver.allowWrites(manager!.configOf('db3'), { timeoutMs: 1000 });
    await waitUntil(() => !driver.node('db3').acceptsWrites, 'the fence');
    const again = await subscribe(lastId);
    await waitUntil(() => alerts(again).length > 0, 'the missed alert');
    expect(alerts(again)[0]).toMatchObject({ kind: 'fenced', datasource: 'db3' });
  });
});
