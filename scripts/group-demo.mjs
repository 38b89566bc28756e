#!/usr/bin/env node
/**
 * A manager group on this machine, to try by hand: three etcd members, three `tungsten-manager`
 * processes (db1, db2, db3, one beside each datasource) on 127.0.0.1:8091-8093, and, when MariaDB
 * is installed, three real mariadbd (db1 master, db2 and db3 slaves replicating with GTIDs) that the
 * managers drive with the mysql driver: kill the coordinator, freeze it, stop a server, and watch
 * the group elect, fail over and fence.
 *
 * Without MariaDB (or with --simulated) every member runs the simulated driver: the simulated
 * cluster is not shared between processes, so each member simulates its own. The coordinator's
 * election, takeover and the API are real; what a member shows of the databases is its own
 * simulation, and a failover changes only the coordinator's.
 *
 *   npm run build && node scripts/group-demo.mjs [--simulated]
 *
 * GROUP_DEMO_PORT=N moves the APIs to N, N+1, N+2 (default 8091). Ctrl-C stops everything and removes
 * the temporary directory (set GROUP_DEMO_KEEP=1 to keep the logs). Needs etcd (Debian's
 * etcd-server) and, for real databases, mariadb-server; the same helpers as the system tests start
 * them (test/helpers/etcd.ts, test/helpers/mariadb.ts), each on its own loopback address.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { importTestHelper } from '../bench/lib/ts-helpers.js';

const ROOT = resolve(import.meta.dirname, '..');
const MANAGER_BIN = join(ROOT, 'dist/src/cli/manager.js');
const CCTRL_BIN = join(ROOT, 'dist/src/cli/cctrl.js');
const NAMES = ['db1', 'db2', 'db3'];
const BASE_PORT = Number(process.env.GROUP_DEMO_PORT ?? 8091);
const USER = 'tungsten';
const PASSWORD = 'secret';
/** A lease of 5 s and samples every 2 s: the fastest failover, (1 + 1) x 2 s, comes after 2/3 of the lease, as the manager requires. */
const TTL = 5;
const SAMPLE_PERIOD = 2;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (line = '') => process.stdout.write(`${line}\n`);

function fail(message) {
  process.stderr.write(`group-demo: ${message}\n`);
  process.exit(1);
}

function portFree(port) {
  return new Promise((resolvePort) => {
    const server = net.createServer();
    server.once('error', () => resolvePort(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolvePort(true)));
  });
}

async function main() {
  if (!existsSync(MANAGER_BIN) || !existsSync(CCTRL_BIN)) fail('the programs are not built: run npm run build first');
  const etcdHelpers = await importTestHelper('etcd');
  if (!etcdHelpers.etcdAvailable()) fail(etcdHelpers.etcdSkipReason);
  const dbHelpers = await importTestHelper('mariadb');
  const forceSimulated = process.argv.includes('--simulated');
  const dbMissing = dbHelpers.mariadbMissing();
  const real = !forceSimulated && dbMissing === null;
  for (let i = 0; i < NAMES.length; i++) {
    if (!(await portFree(BASE_PORT + i))) fail(`port ${BASE_PORT + i} on 127.0.0.1 is taken: set GROUP_DEMO_PORT to another first port`);
  }

  const root = mkdtempSync(join(tmpdir(), 'group-demo-'));
  const managers = [];
  let etcd = null;
  let db = null;
  let stopping = false;

  // Whatever ends this script (even kill -9), the managers do not outlive it.
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; for f in "$0"/*/manager.pid; do p=$(cat "$f" 2>/dev/null) && kill -CONT "$p" && kill -9 "$p"; done`, root],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();

  async function stopAll(code) {
    if (stopping) return;
    stopping = true;
    say(`\nstopping the managers${db ? ', the databases' : ''} and etcd...`);
    await Promise.all(
      managers.map(
        (m) =>
          new Promise((r) => {
            if (m.child.exitCode !== null || m.child.signalCode !== null) return r();
            const timer = setTimeout(() => m.child.kill('SIGKILL'), 10_000);
            m.child.once('exit', () => {
              clearTimeout(timer);
              r();
            });
            m.child.kill('SIGCONT');
            m.child.kill('SIGTERM');
          }),
      ),
    );
    // Managers started again by hand (start.sh): their pids are in the pid files.
    for (const m of managers) {
      try {
        const pid = Number(readFileSync(join(root, m.name, 'manager.pid'), 'utf8'));
        if (pid && pid !== m.child.pid) {
          process.kill(pid, 'SIGCONT');
          process.kill(pid, 'SIGTERM');
        }
      } catch {
        // not running
      }
    }
    await sleep(1000);
    await db?.stop().catch(() => undefined);
    await etcd?.destroy().catch(() => undefined);
    if (process.env.GROUP_DEMO_KEEP) say(`logs kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
    watchdog.kill('SIGKILL');
    process.exit(code);
  }
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    say('starting 3 etcd members' + (real ? ' and 3 mariadbd (db1 master, db2 and db3 slaves)' : '') + '...');
    [etcd, db] = await Promise.all([etcdHelpers.startEtcdCluster(), real ? dbHelpers.startMariaDbCluster() : Promise.resolve(null)]);

    const service = real
      ? [
          'service.name=alpha',
          'manager.driver=mysql',
          ...dbHelpers.datasourceProperties(db),
          `mysql.user=${dbHelpers.MANAGER_USER}`,
          `mysql.passwordFile=${join(root, 'mysql.password')}`,
        ]
      : [];
    if (real) writeFileSync(join(root, 'mysql.password'), `${dbHelpers.MANAGER_PASSWORD}\n`, { mode: 0o600 });
    for (let i = 0; i < NAMES.length; i++) {
      const name = NAMES[i];
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      const log = join(dir, 'manager.log');
      const props = [
        ...service,
        `policy.liveness.samplePeriod=${SAMPLE_PERIOD}`,
        'manager.coordination=etcd',
        `manager.etcd.endpoints=${etcd.endpoints.join(',')}`,
        `manager.name=${name}`,
        `manager.datasource=${name}`,
        `manager.coordination.ttl=${TTL}`,
        `manager.audit.log=${join(dir, 'audit.log')}`,
      ];
      const args = [MANAGER_BIN, ...(real ? [] : ['--demo']), '--bind', '127.0.0.1', '--port', String(BASE_PORT + i), '--api-user', USER, '--api-password', PASSWORD, ...props.map((p) => `--property=${p}`)];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      writeFileSync(join(dir, 'manager.pid'), String(child.pid));
      let banner = '';
      const write = (chunk) => appendFileSync(log, chunk);
      child.stdout.setEncoding('utf8').on('data', (c) => {
        banner += c;
        write(c);
      });
      child.stderr.setEncoding('utf8').on('data', write);
      // To start it again after a kill: the same command, its pid where the clean-up finds it.
      const startScript = join(dir, 'start.sh');
      const quoted = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
      writeFileSync(startScript, `#!/bin/sh\n${quoted} >> '${log}' 2>&1 &\necho $! > '${join(dir, 'manager.pid')}'\necho "manager ${name} started again: pid $!"\n`, { mode: 0o755 });
      child.once('exit', (code, signal) => {
        if (!stopping) say(`manager ${name} (pid ${child.pid}) exited (${code ?? signal}); start it again with: sh ${startScript}`);
      });
      managers.push({ name, child, log, url: `http://127.0.0.1:${BASE_PORT + i}` });
      const deadline = Date.now() + 30_000;
      while (!/REST API on /.test(banner)) {
        if (child.exitCode !== null) throw new Error(`manager ${name} did not start; see ${log}`);
        if (Date.now() > deadline) throw new Error(`manager ${name} did not start within 30 s; see ${log}`);
        await sleep(50);
      }
    }
  } catch (e) {
    process.stderr.write(`group-demo: ${e instanceof Error ? e.message : String(e)}\n`);
    await stopAll(1);
    return;
  }

  const urls = managers.map((m) => m.url).join(',');
  say();
  say(real ? 'A manager group on real MariaDB:' : `A manager group on the simulated driver (${forceSimulated ? '--simulated' : dbMissing}):`);
  say(`  etcd members   ${etcd.endpoints.join(' ')} (logs under ${etcd.root})`);
  for (const m of managers) say(`  manager ${m.name}    ${m.url}  pid ${m.child.pid}  log ${m.log}`);
  if (real) {
    for (const s of db.servers) say(`  mariadbd ${s.name}   ${s.host}:${s.port}  pid ${s.process?.pid}  (root: mariadb --socket=${s.socket} -uroot)`);
  } else {
    say('  each member simulates its own cluster: the election and takeover of the coordinator are real,');
    say('  what a member shows of db1, db2, db3 is its own simulation (a failover changes only the coordinator\'s)');
  }
  say(`  lease ${TTL} s, samples every ${SAMPLE_PERIOD} s`);
  say();
  say('Connect (cctrl moves on to the next manager when one stops answering):');
  say(`  node ${CCTRL_BIN} --manager ${urls} --user ${USER} --password ${PASSWORD}`);
  say('  then: ls, members, cluster validate, switch, ...');
  say();
  say('Try:');
  say(`  kill -9 <pid of the coordinator>      another member takes over within ${TTL + 1} s; start it again: sh ${join(root, '<name>', 'start.sh')}`);
  say('  kill -STOP <pid>, later kill -CONT     a frozen coordinator wakes up as a follower');
  if (real) say(`  kill -9 ${db.servers[0].process?.pid}  (db1's mariadbd)         the coordinator fails over to a slave`);
  say();
  say(`Stop: Ctrl-C here (or kill ${process.pid}): stops the managers${real ? ', the databases' : ''} and etcd, and removes ${root}`);
  // Stay up until stopped.
  setInterval(() => undefined, 60_000);
}

main().catch((e) => fail(e instanceof Error ? e.stack ?? e.message : String(e)));
