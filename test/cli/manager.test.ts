import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManagerClient } from '../../src/api/index.js';
import { spawnManager, type ManagerProcess } from '../helpers/manager-process.js';
import { rawRequest } from '../helpers/http.js';
import { makeSelfSignedCert } from '../helpers/tls.js';

const started: ManagerProcess[] = [];
function run(args: string[], env: Record<string, string | undefined> = {}): ManagerProcess {
  const p = spawnManager(args, env);
  started.push(p);
  return p;
}

afterEach(() => {
  for (const p of started.splice(0)) p.kill();
});

describe('tungsten-manager', () => {
  it('--demo --port 0 serves the demo service with the printed demo credentials, and stops cleanly on SIGTERM', async () => {
    const p = run(['--demo', '--port', '0']);
    const url = await p.ready;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(p.stdout()).toContain('demo API credentials: user tungsten, password secret');
    expect(p.stdout()).toContain(`connect with: cctrl --manager ${url} --user tungsten`);

    const client = new ManagerClient({ url, user: 'tungsten', password: 'secret' });
    const status = await client.serviceStatus('alpha');
    expect(status.datasources.map((d) => [d.name, d.role])).toEqual([
      ['db1', 'master'],
      ['db2', 'slave'],
      ['db3', 'slave'],
    ]);
    expect((await rawRequest(`${url}/api/v2/manager/status`, { user: 'tungsten', password: 'wrong' })).status).toBe(401);
    client.close();

    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toContain('SIGTERM, stopping');
  });

  it('SIGTERM during a switch lets the revert finish before exiting: old master back, task failed, policy restored, state flushed', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mgr-stop-'));
    const p = run(['--demo', '--port', '0', '--state-dir', stateDir, '--property=simulation.stepDelayMs=400']);
    const url = await p.ready;
    const client = new ManagerClient({ url, user: 'tungsten', password: 'secret' });
    const task = await client.switch('alpha', { target: 'db2' });
    while (!(await client.task(task.taskId)).steps.some((s) => s.line.startsWith('FLUSH TRANSACTIONS'))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    client.close();
    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toContain("PUT THE PRIOR MASTER 'db1@alpha' BACK ONLINE");
    expect(p.stderr()).toContain('REVERT POLICY: MAINTENANCE => AUTOMATIC');
    const saved = JSON.parse(readFileSync(join(stateDir, 'manager-state.json'), 'utf8')) as {
      service: { policy: string; datasources: Array<{ name: string; role: string }> };
      tasks: Array<{ taskId: string; state: string }>;
    };
    expect(saved.service.policy).toBe('AUTOMATIC');
    expect(saved.service.datasources.find((d) => d.role === 'master')?.name).toBe('db1');
    expect(saved.tasks.find((t) => t.taskId === task.taskId)?.state).toBe('failed');
  });

  it('takes credentials from the environment and never prints that password', async () => {
    const p = run(['--demo', '--port', '0'], { TUNGSTEN_API_USER: 'ops', TUNGSTEN_API_PASSWORD: 'env-pw-829' });
    const url = await p.ready;
    expect(p.stdout()).toContain(`cctrl --manager ${url} --user ops`);
    expect(p.stdout() + p.stderr()).not.toContain('env-pw-829');
    expect((await rawRequest(`${url}/api/v2/manager/status`, { user: 'ops', password: 'env-pw-829' })).status).toBe(200);
    expect((await rawRequest(`${url}/api/v2/manager/status`, { user: 'tungsten', password: 'secret' })).status).toBe(401);
    p.child.kill('SIGINT');
    expect((await p.exited).code).toBe(0);
  });

  it('listens where --bind says and logs requests with --log-requests, without credentials', async () => {
    const p = run(['--demo', '--port', '0', '--bind', '127.0.0.2', '--log-requests']);
    const url = await p.ready;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect((await rawRequest(`${url}/api/v2/manager/status`, { user: 'tungsten', password: 'secret' })).status).toBe(200);
    expect((await rawRequest(`${url}/api/v2/manager/status`, { user: 'tungsten', password: 'guess-77' })).status).toBe(401);
    p.child.kill('SIGTERM');
    await p.exited;
    expect(p.stderr()).toMatch(/^GET \/api\/v2\/manager\/status 200 \d+ms$/m);
    expect(p.stderr()).toMatch(/^GET \/api\/v2\/manager\/status 401 \d+ms$/m);
    expect(p.stderr()).not.toContain('guess-77');
  });

  it('serves HTTPS with --tls-cert/--tls-key and says how to trust it', async () => {
    const tls = makeSelfSignedCert();
    const p = run(['--demo', '--port', '0', '--tls-cert', tls.certFile, '--tls-key', tls.keyFile]);
    const url = await p.ready;
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(p.stdout()).toContain(`cctrl --manager ${url} --user tungsten --cacert ${tls.certFile}`);
    const client = new ManagerClient({ url, user: 'tungsten', password: 'secret', caFile: tls.certFile });
    expect((await client.status()).dataServiceName).toBe('alpha');
    client.close();
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });

  it('refuses to start without credentials unless --demo, saying how to set them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mgr-'));
    const config = join(dir, 'manager.properties');
    writeFileSync(config, 'service.name=beta\nservice.datasources=a,b\ndatasource.a.host=127.0.0.21\ndatasource.a.role=master\ndatasource.b.host=127.0.0.22\n');
    const p = run(['--config', config, '--port', '0']);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain('tungsten-manager: the REST API needs credentials and none were given');
    expect(p.stderr()).toContain('--api-user U --api-password P');
    expect(p.stderr()).toContain('TUNGSTEN_API_USER');
    expect(p.stdout()).toBe('');
  });

  it.each([
    [['--demo', '--frobnicate'], "unknown option '--frobnicate'"],
    [['--demo', '--port', 'eighty'], "option '--port <n>' argument 'eighty' is invalid"],
    [['--demo', '--port', '70000'], 'expected a port number 0-65535'],
    [['--demo', '--api-user', 'only-user'], "no API password given for user 'only-user'"],
    [['--demo', '--property=policy.mode=sometimes'], "--property=policy.mode: bad value 'sometimes' for 'policy.mode'"],
    [['--demo', '--property=no.such.key=1'], "unknown property 'no.such.key'"],
    [['--demo', '--tls-cert', '/nonexistent/cert.pem'], 'TLS needs both a certificate and a key'],
  ])('exits 2 on bad usage %j with a one-line reason', async (args, message) => {
    const p = run(args);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain(message);
    expect(p.stderr()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('names the file, line and key of a bad property in --config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mgr-'));
    const config = join(dir, 'bad.properties');
    writeFileSync(config, '# demo\nservice.name=alpha\npolicy.liveness.dbping.fail.threshold=-3\n');
    const p = run(['--config', config, '--api-user', 'u', '--api-password', 'p']);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain(`${config}:3: bad value '-3' for 'policy.liveness.dbping.fail.threshold'`);
  });

  it('says the port is in use and suggests --port, exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address() as AddressInfo;
    try {
      const p = run(['--demo', '--port', String(port)]);
      expect((await p.exited).code).toBe(1);
      expect(p.stderr()).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(p.stderr()).toContain('--port N');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('prints its options with --help and exits 0', async () => {
    const p = run(['--help']);
    expect((await p.exited).code).toBe(0);
    for (const flag of ['--demo', '--port', '--bind', '--api-user', '--api-password', '--config', '--property', '--tls-cert', '--tls-key', '--state-dir']) {
      expect(p.stdout()).toContain(flag);
    }
  });
});
