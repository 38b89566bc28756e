/**
 * etcd over TLS with client certificates, as a hardened etcd is run: a real etcd member whose
 * clients must come over https with a certificate of the cluster's CA (`--client-cert-auth`).
 * The etcd client (src/manager/coordination/etcd-client.ts) and a `tungsten-manager` process in a
 * group (manager.etcd.cacert / cert / key) against it; and what a client without the right
 * certificate or CA is told.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/manager/coordination/etcd-client.js';
import { etcdSkipReason, skipWithoutEtcd, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { freeLoopbackEndpoint, killOnExit, titleOrSkipReason } from '../helpers/processes.js';
import { makeCertificateAuthority } from '../helpers/tls.js';

const MANAGER_BIN = path.resolve(import.meta.dirname, '../../dist/src/cli/manager.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to fail');
}

describe.skipIf(skipWithoutEtcd)(titleOrSkipReason('etcd over TLS with client certificates (a real etcd member)', skipWithoutEtcd ? etcdSkipReason : null), () => {
  let etcd: EtcdCluster;
  const clients: EtcdClient[] = [];
  const client = (tls: ConstructorParameters<typeof EtcdClient>[0]['tls']) => {
    const c = new EtcdClient({ endpoints: etcd.endpoints, timeoutMs: 2000, tls });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    etcd = await startEtcdCluster({ size: 1, tls: true });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.destroy();
  });

  it('with the CA and a client certificate: reads, compare-and-set, leases and watches over https', async () => {
    expect(etcd.endpoints[0]).toMatch(/^https:\/\//);
    const c = client(etcd.tls!);
    const put = await c.txn([{ key: '/tls/a', target: 'CREATE', result: 'EQUAL', value: 0 }], [{ put: { key: '/tls/a', value: 'one' } }]);
    expect(put.succeeded).toBe(true);
    expect((await c.get('/tls/a')).kv?.value).toBe('one');
    const lease = await c.leaseGrant(5);
    expect(lease.ttl).toBe(5);
    expect((await c.leaseKeepAlive(lease.id)).ttl).toBeGreaterThan(0);
    const seen: string[] = [];
    const watch = c.watch('/tls/', put.header.revision + 1, (events) => seen.push(...events.map((e) => `${e.type} ${e.kv.key}=${e.kv.value}`)), () => undefined);
    await sleep(300);
    await c.txn([], [{ put: { key: '/tls/b', value: 'two' } }]);
    for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(50);
    watch.close();
    expect(seen).toEqual(['PUT /tls/b=two']);
  });

  it('without a client certificate, or with another CA, every call fails with a reason that names the certificate, and nothing secret', async () => {
    const noCert = await rejectionOf(client({ caFile: etcd.tls!.caFile }).get('/tls/a'));
    expect(noCert.message).toMatch(/TLS handshake refused by etcd \(.*\): it wants a client certificate it trusts \(manager.etcd.cert and manager.etcd.key\)/);
    expect(noCert.message).not.toMatch(/SSL routines|\n/);
    const strange = makeCertificateAuthority('another CA');
    const wrongCa = await rejectionOf(client({ caFile: strange.caFile, certFile: etcd.tls!.certFile, keyFile: etcd.tls!.keyFile }).get('/tls/a'));
    expect(wrongCa.message).toMatch(/etcd's certificate is not signed by a trusted CA \(.*\): give etcd's CA as manager.etcd.cacert/);
    const key = readFileSync(etcd.tls!.keyFile, 'utf8');
    for (const e of [noCert, wrongCa]) {
      expect(e.message).not.toContain(key.split('\n')[1]!);
      expect(e.message).toContain(etcd.endpoints[0]!);
    }
  });

  it('a tungsten-manager given manager.etcd.cacert, cert and key joins over TLS and coordinates; without the client certificate it says why', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'etcd-tls-manager-'));
    const { host, ports: [port] } = await freeLoopbackEndpoint(1, 'the etcd TLS test');
    const start = (tlsProps: string[]) => {
      const child = spawn(
        process.execPath,
        [
          MANAGER_BIN,
          '--demo',
          '--bind',
          host,
          '--port',
          String(port),
          ...['manager.coordination=etcd', `manager.etcd.endpoints=${etcd.endpoints.join(',')}`, `manager.etcd.prefix=/tls-test-${port}`, 'manager.name=db1', 'manager.datasource=db1', ...tlsProps].map((p) => `--property=${p}`),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TUNGSTEN_API_USER: 'tls-admin', TUNGSTEN_API_PASSWORD: 'tls-pw-1' } },
      );
      killOnExit(child);
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
      return { child, output: () => out };
    };
    const stop = async (child: ChildProcess) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    };
    try {
      const good = start([`manager.etcd.cacert=${etcd.tls!.caFile}`, `manager.etcd.cert=${etcd.tls!.certFile}`, `manager.etcd.key=${etcd.tls!.keyFile}`]);
      type Status = { isCoordinator?: boolean; group?: { store?: string; quorum?: boolean } };
      let status = null as Status | null;
      for (let i = 0; i < 100 && !status?.isCoordinator; i++) {
        await sleep(100);
        try {
          const r = await fetch(`http://${host}:${port}/api/v2/manager/status`, { headers: { authorization: `Basic ${Buffer.from('tls-admin:tls-pw-1').toString('base64')}` } });
          if (r.ok) status = ((await r.json()) as { payload: Status }).payload;
        } catch {
          // not listening yet
        }
      }
      expect(status?.isCoordinator, good.output()).toBe(true);
      expect(status?.group?.quorum).toBe(true);
      expect(status?.group?.store).toContain(etcd.endpoints[0]);
      expect(good.output()).not.toContain(readFileSync(etcd.tls!.keyFile, 'utf8').split('\n')[1]!);
      await stop(good.child);

      const bad = start([`manager.etcd.cacert=${etcd.tls!.caFile}`]);
      const refused = /TLS handshake refused by etcd .*manager.etcd.cert and manager.etcd.key/;
      for (let i = 0; i < 100 && !refused.test(bad.output()); i++) await sleep(100);
      expect(bad.output()).toMatch(refused);
      expect(bad.output()).not.toMatch(/SSL routines/);
      await stop(bad.child);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

