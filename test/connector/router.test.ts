/**
 * The connector in this process, on real sockets: a fake manager over HTTP (routes, event stream,
 * heartbeats) and echo TCP servers standing in for database servers (they speak first, as MySQL
 * does, so a client sees which server it reached).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Connector, type ConnectorOptions } from '../../src/connector/connector.js';
import { EchoServer, FakeManager, TestClient, connectorOptions, sleep, until } from './fake-manager.js';

interface Running {
  connector: Connector;
  writePort: number;
  readPort: number;
  logs: string[];
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echo(name: string): Promise<EchoServer> {
  const s = await new EchoServer(name).start();
  cleanups.push(() => s.stop());
  return s;
}

async function manager(opts: ConstructorParameters<typeof FakeManager>[0] = {}): Promise<FakeManager> {
  const m = await new FakeManager(opts).start();
  cleanups.push(() => m.stop());
  return m;
}

async function connector(managers: FakeManager[] | string[], over: Partial<ConnectorOptions> = {}): Promise<Running> {
  const logs: string[] = [];
  const urls = managers.map((m) => (typeof m === 'string' ? m : m.url));
  const connector = new Connector(
    connectorOptions(urls, {
      readListen: { host: '127.0.0.1', port: 0 },
      log: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`) },
      ...over,
    }),
  );
  const report = await connector.start();
  cleanups.push(() => connector.stop(0, { farewell: false }));
  const port = (a: string | null) => Number(a?.split(':').at(-1));
  return { connector, writePort: port(report.listen), readPort: port(report.readListen), logs };
}

function client(port: number): TestClient {
  const c = new TestClient(port);
  cleanups.push(() => c.end());
  return c;
}

describe('connector: routing', () => {
  it('sends --listen connections to the master, bytes both ways, and new ones to the new master after a switch; old ones end after the grace', async () => {
    const [db1, db2, db3] = await Promise.all([echo('db1'), echo('db2'), echo('db3')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave(), db3.slave()] });
    const { writePort, connector: c } = await connector([m]);

    const a = client(writePort);
    await a.waitFor('hello from db1\n');
    a.socket.write('ping\n');
    await a.waitFor('hello from db1\nping\n');
    expect(c.status().stats).toMatchObject({ created: 1, active: 1, byServer: { db1: 1 } });

    m.set({ master: db2.backend, slaves: [db1.slave(), db3.slave()] });
    await until(() => c.status().epoch === m.routes.epoch, 'the new epoch applied');
    const b = client(writePort);
    await b.waitFor('hello from db2\n');
    // The old connection goes on during the grace, then ends.
    await sleep(150);
    expect(a.closed).toBe(false);
    a.socket.write('still\n');
    await a.waitFor('still\n');
    await a.waitClosed(1000);
    expect(b.closed).toBe(false);
    expect(db1.sockets.size).toBe(0);
  });

  it('a failover (the old master gone from the routes) ends its connections at once', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    const { writePort } = await connector([m], { switchGraceMs: 10_000 });
    const a = client(writePort);
    await a.waitFor('hello from db1');
    const t0 = Date.now();
    m.set({ master: db2.backend, slaves: [] });
    await a.waitClosed(1000);
    expect(Date.now() - t0).toBeLessThan(500);
    await client(writePort).waitFor('hello from db2');
  });

  it('endImmediately: true ends them at once even if the old master is still listed', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    const { writePort } = await connector([m], { switchGraceMs: 10_000 });
    const a = client(writePort);
    await a.waitFor('hello from db1');
    m.set({ master: db2.backend, slaves: [db1.slave(false, null)], endImmediately: true });
    await a.waitClosed(1000);
  });

  it('--read-listen: the healthy slave with the fewest connections, never an unhealthy one, the master when none is healthy', async () => {
    const [db1, db2, db3] = await Promise.all([echo('db1'), echo('db2'), echo('db3')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave(), db3.slave()] });
    const { readPort, connector: c } = await connector([m]);
    const first = await Promise.all([0, 1, 2, 3].map(async () => {
      const x = client(readPort);
      return (await x.waitFor(/hello from db\d/)).slice(11, 14);
    }));
    expect(first.sort()).toEqual(['db2', 'db2', 'db3', 'db3']);
    m.set({ slaves: [db2.slave(false, 300), db3.slave()] });
    await until(() => c.status().epoch === m.routes.epoch, 'epoch');
    for (let i = 0; i < 3; i++) expect(await client(readPort).waitFor(/hello from db\d/)).toContain('db3');
    m.set({ slaves: [db2.slave(false, 300), db3.slave(false, 300)] });
    await until(() => c.status().epoch === m.routes.epoch, 'epoch');
    expect(await client(readPort).waitFor(/hello from db\d/)).toContain('db1');
    // Unhealthy slaves keep their open read connections (checked at connect time, as bridge mode does).
    expect(db2.sockets.size).toBe(2);
  });

  it('a server that does not take the connection: the client gets an ERR packet saying which', async () => {
    const dead = await echo('db1');
    const backend = dead.backend;
    await dead.stop();
    const m = await manager();
    m.set({ master: backend, slaves: [] });
    const { writePort } = await connector([m]);
    const a = client(writePort);
    await a.waitClosed();
    expect(a.errPacket()).toMatchObject({ sequenceId: 0, code: 2003, sqlState: 'HY000' });
    expect(a.errPacket()!.message).toMatch(/cannot reach the master db1 \(127\.0\.0\.1:\d+\) of service alpha: connection refused/);
  });
});

describe('connector: holds', () => {
  it('holds new connections during a switch, reports holding with the epoch, and sends them to the new master on resume (bytes sent meanwhile included)', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    const { writePort, connector: c } = await connector([m]);
    const open = client(writePort);
    await open.waitFor('hello from db1');

    const held = m.set({ hold: { reason: 'switch to db2', since: new Date().toISOString() } });
    await until(() => m.heartbeats.some((h) => h.epoch === held.epoch && h.holding === true), 'a heartbeat saying it holds at the hold epoch', 1000);
    const waiting = client(writePort);
    waiting.socket.write('early\n');
    await sleep(200);
    expect(waiting.text).toBe('');
    expect(c.status().stats.waiting).toBe(1);
    expect(db1.accepted).toBe(1); // nothing new reached the old master
    // Connections already open go on during the hold.
    open.socket.write('during\n');
    await open.waitFor('during\n');

    m.set({ hold: null, master: db2.backend, slaves: [db1.slave()] });
    await waiting.waitFor('hello from db2\nearly\n');
    expect(m.lastHeartbeat()).toMatchObject({ holding: false });
    expect(db1.accepted).toBe(1);
  });

  it('a reverted switch resumes to the old master; reads wait during the hold too', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    const { writePort, readPort } = await connector([m]);
    m.set({ hold: { reason: 'switch', since: new Date().toISOString() } });
    await sleep(100);
    const waiting = client(writePort);
    const reader = client(readPort);
    await sleep(100);
    expect(reader.text).toBe('');
    m.set({ hold: null });
    await waiting.waitFor('hello from db1');
    await reader.waitFor('hello from db2');
  });

  it('a connection that a later epoch gives back its server (a switch reverted within the grace) is kept', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    const { writePort } = await connector([m], { switchGraceMs: 300 });
    const a = client(writePort);
    await a.waitFor('hello from db1');
    m.set({ master: db2.backend, slaves: [db1.slave()] });
    await sleep(100);
    m.set({ master: db1.backend, slaves: [db2.slave()] });
    await sleep(400);
    expect(a.closed).toBe(false);
    a.socket.write('kept\n');
    await a.waitFor('kept\n');
  });

  it('a client held past --hold-timeout is refused with an ERR packet saying why', async () => {
    const db1 = await echo('db1');
    const m = await manager();
    m.set({ master: db1.backend, hold: { reason: 'switch to db2', since: '2025-06-01T10:00:00Z' } });
    const { writePort, connector: c } = await connector([m], { holdTimeoutMs: 300 });
    const a = client(writePort);
    const t0 = Date.now();
    await a.waitClosed(2000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(a.errPacket()).toMatchObject({ code: 1040, sqlState: '08004' });
    expect(a.errPacket()!.message).toMatch(/waited 0\.\d s for a server and gave up: the managers hold new connections to service alpha \(switch to db2, since 2025-06-01T10:00:00Z\)/);
    expect(c.status().stats).toMatchObject({ refused: 1, waiting: 0 });
  });

  it('waiting clients are bounded', async () => {
    const db1 = await echo('db1');
    const m = await manager();
    m.set({ master: db1.backend, hold: { reason: 'switch', since: 'now' } });
    const { writePort } = await connector([m], { maxWaiting: 2 });
    client(writePort);
    client(writePort);
    await sleep(100);
    const third = client(writePort);
    await third.waitClosed();
    expect(third.errPacket()).toMatchObject({ code: 1040 });
    expect(third.errPacket()!.message).toMatch(/2 clients already wait/);
  });

  it('no master in the routes: writers wait, readers go to a slave', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: null, slaves: [db2.slave()] });
    const { writePort, readPort } = await connector([m]);
    const w = client(writePort);
    await client(readPort).waitFor('hello from db2');
    await sleep(100);
    expect(w.text).toBe('');
    m.set({ master: db1.backend });
    await w.waitFor('hello from db1');
  });
});

describe('connector: following the managers', () => {
  it('registers with the managers: the heartbeat body', async () => {
    const db1 = await echo('db1');
    const m = await manager();
    m.set({ master: db1.backend });
    const { writePort, readPort } = await connector([m]);
    await client(writePort).waitFor('hello');
    await until(() => m.lastHeartbeat()?.active === 1, 'a heartbeat counting the connection');
    expect(m.lastHeartbeat()).toEqual({
      name: 'connector@test',
      host: 'test',
      pid: 4242,
      state: 'ONLINE',
      created: 1,
      active: 1,
      listen: `127.0.0.1:${writePort}`,
      readListen: `127.0.0.1:${readPort}`,
      epoch: m.routes.epoch,
      holding: false,
      waiting: 0,
      manager: m.url,
    });
  });

  it('a manager that answers its heartbeats with something else is still a manager that answers: it stays ONLINE, and says once that it is not listed', async () => {
    const db1 = await echo('db1');
    const m = await manager({ heartbeatAnswer: { payloadType: 'ConnectorsPayload', payloadVersion: '1', payload: {} } });
    m.set({ master: db1.backend });
    const { connector: c, logs } = await connector([m]);
    await sleep(1200); // twice the contact timeout
    expect(c.status().state).toBe('ONLINE');
    expect(logs.filter((l) => /do not take this connector's heartbeat/.test(l))).toHaveLength(1);
  });

  it('ignores an epoch lower than or equal to the one it holds, on the stream', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend, epoch: 10 });
    const { writePort, connector: c } = await connector([m]);
    await until(() => m.openStreams === 1, 'stream open');
    m.push({ ...m.routes, epoch: 9, master: db2.backend });
    m.push({ ...m.routes, epoch: 10, master: db2.backend });
    await sleep(100);
    expect(c.status().epoch).toBe(10);
    expect(await client(writePort).waitFor(/hello from db\d/)).toContain('db1');
  });

  it('reads routes events of the typed event shape as well', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager({ eventShape: 'typed' });
    m.set({ master: db1.backend });
    const { connector: c } = await connector([m], { heartbeatMs: 60_000 });
    await until(() => m.openStreams === 1, 'stream open');
    m.set({ master: db2.backend });
    await until(() => c.status().routes?.master?.name === 'db2', 'routes from the stream');
  });

  it('a stale member of the group: moving to it never takes the connector back to its older epoch', async () => {
    const [db1, db2, db3] = await Promise.all([echo('db1'), echo('db2'), echo('db3')]);
    const a = await manager();
    const b = await manager();
    a.set({ master: db2.backend, slaves: [db1.slave()], epoch: 12 });
    b.set({ master: db1.backend, slaves: [db2.slave()], epoch: 11 });
    const { writePort, connector: c } = await connector([a, b]);
    expect(c.status().epoch).toBe(12);
    await a.stop();
    await until(() => b.heartbeats.length > 0 && c.status().manager === b.url, 'following the other member');
    expect(c.status().state).toBe('ONLINE');
    expect(c.status().epoch).toBe(12);
    expect(await client(writePort).waitFor(/hello from db\d/)).toContain('db2');
    b.set({ master: db3.backend, slaves: [], epoch: 13 });
    await until(() => c.status().epoch === 13, 'the newer epoch from the other member');
    expect(await client(writePort).waitFor(/hello from db\d/)).toContain('db3');
  });

  it('reopens the event stream with Last-Event-ID after the manager comes back', async () => {
    const db1 = await echo('db1');
    const m = await manager();
    m.set({ master: db1.backend, epoch: 7 });
    const { connector: c } = await connector([m]);
    await until(() => m.openStreams === 1, 'stream open');
    await m.stop();
    await sleep(100);
    await m.start();
    await until(() => m.lastEventIds.length >= 2, 'the stream reopened', 5000);
    expect(m.lastEventIds.at(-1)).toBe('7');
    // Back, it reads the routes before it says ONLINE.
    await until(() => c.status().state === 'ONLINE', 'ONLINE again', 5000);
  });

  it('no manager at start: ON-HOLD (new connections wait), ONLINE once one answers', async () => {
    const db1 = await echo('db1');
    const m = new FakeManager();
    await m.start();
    await m.stop(); // its port is free again: nothing answers there
    m.set({ master: db1.backend });
    const { writePort, connector: c } = await connector([m.url]);
    expect(c.status().state).toBe('ON-HOLD');
    const waiting = client(writePort);
    await sleep(150);
    expect(waiting.text).toBe('');
    await m.start();
    cleanups.push(() => m.stop());
    await waiting.waitFor('hello from db1', 3000);
    expect(c.status().state).toBe('ONLINE');
  });

  it('loses the managers: ON-HOLD, then OFFLINE (connections ended, new ones refused with a reason), then ONLINE again', async () => {
    const db1 = await echo('db1');
    const m = await manager();
    m.set({ master: db1.backend });
    const { writePort, connector: c, logs } = await connector([m], { offlineAfterMs: 500, contactTimeoutMs: 300 });
    const open = client(writePort);
    await open.waitFor('hello from db1');
    await m.stop();
    await until(() => c.status().state === 'ON-HOLD', 'ON-HOLD');
    expect(open.closed).toBe(false);
    const held = client(writePort);
    await until(() => c.status().state === 'OFFLINE', 'OFFLINE', 2000);
    await open.waitClosed(500);
    await held.waitClosed(500);
    expect(held.errPacket()).toMatchObject({ code: 1053, sqlState: '08S01' });
    const refused = client(writePort);
    await refused.waitClosed();
    expect(refused.errPacket()).toMatchObject({ sequenceId: 0, code: 1053, sqlState: '08S01' });
    expect(refused.errPacket()!.message).toMatch(/^tungsten-connector connector@test is OFFLINE: no manager has answered for \d+ s \(.*connection refused\)\. It refuses connections until a manager answers again/);
    expect(logs.join('\n')).toMatch(/ON-HOLD: no manager answers \(.*connection refused\)[^]*OFFLINE: no manager has answered for/);
    await m.start();
    await until(() => c.status().state === 'ONLINE', 'ONLINE again', 3000);
    await client(writePort).waitFor('hello from db1');
  });

  it('ON-HOLD and back before OFFLINE: open connections go on meanwhile, a client that arrived meanwhile waits, then goes where the routes say now (read again before ONLINE)', async () => {
    const [db1, db2] = await Promise.all([echo('db1'), echo('db2')]);
    const m = await manager();
    m.set({ master: db1.backend });
    const { writePort, connector: c, logs } = await connector([m], { offlineAfterMs: 30_000, contactTimeoutMs: 300 });
    const open = client(writePort);
    await open.waitFor('hello from db1');
    await m.stop();
    await until(() => c.status().state === 'ON-HOLD', 'ON-HOLD');
    open.socket.write('still there\n');
    await open.waitFor('still there');
    const held = client(writePort);
    await sleep(200);
    expect(held.text).toBe('');
    // While it was away, the master changed (a failover, say): the manager comes back with it.
    m.set({ master: db2.backend, slaves: [db1.slave()] }, { silent: true });
    await m.start();
    await held.waitFor('hello from db2', 5000);
    expect(c.status()).toMatchObject({ state: 'ONLINE', epoch: m.routes.epoch });
    expect(logs.join('\n')).toMatch(/ON-HOLD: [^]*ONLINE \(was ON-HOLD\)/);
    expect(logs.join('\n')).not.toMatch(/OFFLINE: /);
  });

  it('stopping: waiting clients are told, open ones get the drain time', async () => {
    const db1 = await echo('db1');
    const m = await manager();
    m.set({ master: db1.backend });
    const { writePort, connector: c } = await connector([m]);
    const open = client(writePort);
    await open.waitFor('hello');
    m.set({ hold: { reason: 'switch', since: 'now' } });
    await until(() => c.status().holding, 'holding');
    const waiting = client(writePort);
    await until(() => c.status().stats.waiting === 1, 'waiting');
    const stopped = c.stop(300);
    await waiting.waitClosed();
    expect(waiting.errPacket()?.message).toMatch(/is stopping/);
    expect(open.closed).toBe(false);
    await stopped;
    await open.waitClosed(500);
    await expect(new Promise((resolve, reject) => net.connect(writePort, '127.0.0.1').on('connect', resolve).on('error', reject))).rejects.toThrow(/ECONNREFUSED/);
    expect(m.lastHeartbeat()?.state).toBe('OFFLINE');
  });
});
