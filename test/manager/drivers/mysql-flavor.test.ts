/**
 * A datasource that turns out to be Oracle MySQL (a protocol-level stand-in that answers
 * `SELECT @@version` with 8.0.36) is reported with a clear reason instead of failing on MariaDB SQL.
 */
import type { AddressInfo } from 'node:net';
import mysql from 'mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSourceConfig } from '../../../src/manager/drivers/driver.js';
import { MysqlDriver } from '../../../src/manager/drivers/mysql.js';

const VERSION_COLUMN = { catalog: 'def', schema: '', table: '', orgTable: '', name: 'version', orgName: 'version', characterSet: 33, columnLength: 384, columnType: 253, flags: 0, decimals: 0 };

/** The parts of mysql2's protocol server this stand-in uses (its typings do not declare them). */
interface StandInConnection {
  sequenceId: number;
  serverHandshake(args: Record<string, unknown>): void;
  writeColumns(columns: unknown[]): void;
  writeTextRow(values: unknown[]): void;
  writeEof(): void;
  on(event: string, listener: (...args: never[]) => void): void;
}
interface StandInServer {
  listen(port: number, host: string, cb: () => void): void;
  close(): void;
  _server: { address(): AddressInfo };
}

describe('mysql driver on a MySQL server', () => {
  let server: StandInServer;
  let ds: DataSourceConfig;
  const queries: string[] = [];

  beforeAll(async () => {
    server = mysql.createServer((raw) => {
      const conn = raw as unknown as StandInConnection;
      conn.serverHandshake({ protocolVersion: 10, serverVersion: '8.0.36', connectionId: 7, statusFlags: 2, characterSet: 8, capabilityFlags: 0xffffff, authCallback: (_: unknown, cb: (e: null, m: null) => void) => cb(null, null) });
      conn.on('query', (sql: string) => {
        queries.push(sql);
        conn.sequenceId = 1;
        conn.writeColumns([VERSION_COLUMN]);
        conn.writeTextRow(['8.0.36']);
        conn.writeEof();
      });
      conn.on('error', () => {});
    }) as unknown as StandInServer;
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server._server.address().port)));
    ds = { name: 'db1', host: '127.0.0.1', port, role: 'master', precedence: 1 };
  });
  afterAll(() => server.close());

  const driver = () =>
    new MysqlDriver({ user: 'tungsten', password: 'pw', replicationUser: 'tungsten', replicationPassword: 'pw', hostCheck: { method: 'echo', timeoutMs: 500 }, dbPingTimeoutMs: 2000 });
  const reason = /^db1 \(127\.0\.0\.1:\d+\) runs MySQL 8\.0\.36: the mysql driver drives MariaDB GTID replication \(MariaDB 10\.5 or newer\); MySQL's own GTIDs are not supported yet$/;

  it('observes it as a database that answers but cannot be managed, and says why', async () => {
    const seen = await driver().observe(ds, { timeoutMs: 3000 });
    expect(seen.host).toBe('alive');
    expect(seen.dataServer.state).toBe('UNKNOWN');
    expect(seen.dataServer.reason).toMatch(reason);
    expect(seen.replicator).toBeNull();
  });

  it('refuses every operation with the same reason before sending any MariaDB statement', async () => {
    queries.length = 0;
    await expect(driver().promote(ds, { timeoutMs: 3000 })).rejects.toThrow(reason);
    expect(queries).toEqual(['SELECT @@version AS version']);
  });
});
