/**
 * The built connector in front of real mariadbd servers (test/helpers/mariadb.ts: each cluster on
 * its own random loopback address; under CI=true a missing MariaDB fails instead of skipping),
 * following a fake manager over HTTP: queries reach the master through it, the server
 * authenticates the application's user (the connector holds no database credentials), and after a
 * route change new connections reach the new master while the old one's connections end after the
 * grace.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_PASSWORD, APP_USER, mariadbMissing, skipWithoutMariaDb, startMariaDbCluster, waitForReplicas, type MariaDbCluster } from '../helpers/mariadb.js';
import { FakeManager, until } from './fake-manager.js';

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/connector.js');

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('tungsten-connector in front of real MariaDB servers', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  let manager: FakeManager;
  let child: ChildProcess;
  let output = '';
  let port: number;

  const server = (name: string) => {
    const s = cluster.server(name);
    return { name: s.name, host: s.host, port: s.port };
  };
  const connect = (password = APP_PASSWORD) =>
    mysql.createConnection({ host: '127.0.0.1', port, user: APP_USER, password, database: 'app', connectTimeout: 5000 });

  beforeAll(async () => {
    cluster = await startMariaDbCluster({ count: 2 });
    manager = await new FakeManager().start();
    manager.set({ master: server('db1'), slaves: [{ ...server('db2'), latencySeconds: 0, healthy: true }] });
    child = spawn(process.execPath, [BIN, '--manager', manager.url, '--service', 'alpha', '--listen', '127.0.0.1:0', '--user', 'tungsten', '--password', 'secret', '--switch-grace', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await until(() => /listening on \S+:\d+ \(master\)/.test(output), `the connector listening:\n${output}`, 10_000);
    port = Number(/listening on \S+:(\d+) \(master\)/.exec(output)![1]);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await manager?.stop();
    await cluster?.stop();
  });

  it('a query goes through the connector to the master; the server checks the user', async () => {
    const conn = await connect();
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id, @@read_only AS ro');
    expect(rows[0]).toEqual({ id: cluster.server('db1').serverId, ro: 0 });
    await conn.query('INSERT INTO writes (id) VALUES (?)', [1]);
    await conn.end();
    await waitForReplicas(cluster, 'db1');
    expect((await cluster.rootQuery<Array<{ n: number }>>('db2', 'SELECT COUNT(*) AS n FROM app.writes WHERE id = 1'))[0]!.n).toBe(1);

    const refused = await connect('wrong').then(() => null, (e: { code?: string; message: string }) => e);
    expect(refused?.code).toBe('ER_ACCESS_DENIED_ERROR');

    // The mariadb command line client through the connector.
    const viaCli = await new Promise<string>((res, rej) =>
      execFile('mariadb', ['--skip-ssl', '-h', '127.0.0.1', '-P', String(port), '-u', APP_USER, `-p${APP_PASSWORD}`, '-N', '-B', '-e', 'SELECT @@server_id'], { timeout: 10_000 }, (e, out, err) =>
        e ? rej(new Error(`${e.message}\n${err}`)) : res(out.trim()),
      ),
    );
    expect(viaCli).toBe(String(cluster.server('db1').serverId));
  });

  it('after a switch new connections reach the new master; the old master\'s connections end after the grace', async () => {
    const old = await connect();
    await old.query('SELECT 1');
    // A switch as the managers run it: hold, make db1 read-only, promote db2, resume to db2.
    manager.set({ hold: { reason: 'switch to db2', since: new Date().toISOString() } });
    await until(() => manager.heartbeats.some((h) => h.holding === true && h.epoch === manager.routes.epoch), 'the connector holding');
    const heldOpen = connect(); // waits during the hold
    await cluster.rootQuery('db1', 'SET GLOBAL read_only = 1');
    await waitForReplicas(cluster, 'db1');
    await cluster.rootQuery('db2', 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0');
    manager.set({ hold: null, master: server('db2'), slaves: [{ ...server('db1'), latencySeconds: 0, healthy: true }] });

    const held = await heldOpen;
    const [rows] = await held.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id');
    expect(rows[0]!.id).toBe(cluster.server('db2').serverId);
    await held.query('INSERT INTO writes (id) VALUES (?)', [2]);
    await held.end();

    const fresh = await connect();
    const [again] = await fresh.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id, @@read_only AS ro');
    expect(again[0]).toEqual({ id: cluster.server('db2').serverId, ro: 0 });
    await fresh.end();

    // The old connection is ended within the grace (1 s) and a little.
    const lost = await (async () => {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        try {
          await old.query('SELECT 1');
        } catch (e) {
          return e as { code?: string };
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    })();
    expect(`${lost?.code} ${(lost as Error | null)?.message}`).toMatch(/PROTOCOL_CONNECTION_LOST|ECONNRESET|EPIPE|closed state/);
    old.destroy();
  });
});
