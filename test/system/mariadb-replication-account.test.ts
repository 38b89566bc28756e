/**
 * The replication account (issue 12) on three real MariaDB servers: with mysql.replication.user and
 * its password file, a switch points the slaves at the new master with that account, and the
 * servers' general logs (every statement the manager sent) never hold the manager's own password.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, type ManagerCore } from '../../src/manager/index.js';
import { type MysqlDriver, mysqlDriverFromProperties } from '../../src/manager/drivers/mysql.js';
import { loadProperties } from '../../src/manager/properties.js';
import { titleOrSkipReason } from '../helpers/processes.js';
import { datasourceProperties, MANAGER_PASSWORD, mariadbMissing, skipWithoutMariaDb, startMariaDbCluster, type MariaDbCluster } from '../helpers/mariadb.js';

const REPL_PASSWORD = 'Repl-only-pw-81';

async function waitUntil(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('a replication account of its own, on real MariaDB', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  let core: ManagerCore | undefined;
  let driver: MysqlDriver | undefined;
  const logs = mkdtempSync(join(tmpdir(), 'general-log-'));
  const generalLog = (name: string) => join(logs, `${name}.log`);

  beforeAll(async () => {
    cluster = await startMariaDbCluster();
    await cluster.rootQuery('db1', `CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '${REPL_PASSWORD}'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'`);
    for (const s of cluster.servers) {
      await cluster.rootQuery(s.name, `SET GLOBAL log_output = 'FILE'; SET GLOBAL general_log_file = '${generalLog(s.name)}'; SET GLOBAL general_log = 1`);
    }
  }, 180_000);

  afterAll(async () => {
    await core?.close();
    await driver?.close();
    await cluster?.stop();
  });

  it('a switch repoints the slaves with it, and no general log holds the manager password', async () => {
    const passwordFile = join(logs, 'repl-password');
    writeFileSync(passwordFile, `${REPL_PASSWORD}\n`);
    chmodSync(passwordFile, 0o600);
    const props = loadProperties({
      overrides: [
        'service.name=alpha',
        'manager.driver=mysql',
        ...datasourceProperties(cluster),
        'mysql.user=tungsten',
        `mysql.password=${MANAGER_PASSWORD}`,
        'mysql.replication.user=repl',
        `mysql.replication.passwordFile=${passwordFile}`,
        'policy.liveness.samplePeriod=0.5',
        'policy.liveness.dbping.timeout=2',
        'policy.liveness.hostPing.timeout=1',
      ],
    });
    driver = mysqlDriverFromProperties(props);
    core = await createManager({ properties: props, driver, logger: { info() {}, warn() {}, error() {} }, hostName: 'test' });
    const ds = (n: string) => core!.datasourceStatus('alpha', n);
    await waitUntil('the configured roles', 60_000, () => ['db2', 'db3'].every((n) => ds(n).state === 'ONLINE' && ds(n).replicator?.masterHost === 'db1'));

    const started = core.control('alpha', { op: 'switch', target: 'db2' }, 'test');
    await waitUntil('the switch', 90_000, () => core!.task(started.taskId).state !== 'in_progress');
    expect(core.task(started.taskId).state, JSON.stringify(core.task(started.taskId).steps)).toBe('complete');
    await waitUntil('db1 and db3 replicating from db2', 60_000, () =>
      ['db1', 'db3'].every((n) => ds(n).replicator?.state === 'ONLINE' && ds(n).replicator?.masterHost === 'db2'),
    );
    const [row] = await cluster.rootQuery<Array<{ Master_User: string }>>('db3', 'SHOW SLAVE STATUS');
    expect(row!.Master_User).toBe('repl');

    for (const s of cluster.servers) {
      const file = generalLog(s.name);
      expect(existsSync(file), file).toBe(true);
      const text = readFileSync(file, 'utf8');
      // The log did record what the manager sent: the slaves of the new master were pointed at it.
      if (s.name !== 'db2') expect(text).toMatch(/CHANGE MASTER TO .*MASTER_USER = 'repl'/);
      expect(text).not.toContain(MANAGER_PASSWORD);
    }
  }, 240_000);
});
