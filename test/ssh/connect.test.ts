import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SshTarget } from '../../src/config/sshConfig.js';
import { connectSsh, HostConnectError } from '../../src/ssh/connect.js';
import { CommandTimeoutError, ConnectionLostError, SshTransport } from '../../src/ssh/transport.js';
import { keyPair, startFakeServer, type FakeServer, type FakeServerOptions } from './fakeSshServer.js';

const user = keyPair();
let dir: string;
let servers: FakeServer[] = [];

function sink(): Writable & { bytes: number } {
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      w.bytes += chunk.length;
      cb();
    },
  }) as Writable & { bytes: number };
  w.bytes = 0;
  return w;
}

async function serve(options: Partial<FakeServerOptions> = {}, known: 'yes' | 'no' = 'yes'): Promise<{ server: FakeServer; target: SshTarget }> {
  const server = await startFakeServer({ authorizedKeys: [user.public], ...options });
  servers.push(server);
  const knownHosts = join(dir, `known_hosts_${server.port}`);
  writeFileSync(knownHosts, known === 'yes' ? `[127.0.0.1]:${server.port} ${server.hostPublic}\n` : '');
  writeFileSync(join(dir, 'id'), user.private);
  return {
    server,
    target: {
      alias: 'db1',
      hostName: '127.0.0.1',
      port: server.port,
      user: 'tungsten',
      identityFiles: [join(dir, 'id')],
      knownHostsFiles: [knownHosts],
      strictHostKeyChecking: 'yes',
      connectTimeoutMs: 1000,
      proxyJump: [],
    },
  };
}

async function failure(p: Promise<unknown>): Promise<HostConnectError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HostConnectError);
  return e as HostConnectError;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tpm-ssh-'));
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  rmSync(dir, { recursive: true, force: true });
});

describe('connectSsh', () => {
  it('runs a command and streams its binary output unchanged', async () => {
    const payload = Buffer.alloc(3 << 20, 0xab);
    const { target } = await serve({ handler: () => ({ stdout: payload }) });
    const client = await connectSsh(target);
    const t = new SshTransport(client);
    const out = sink();
    const r = await t.exec('cat big', out, { idleTimeoutMs: 2000 });
    t.close();
    expect(r.code).toBe(0);
    expect(out.bytes).toBe(payload.length);
  });

  it('a slow handshake ends as timeout within the connect limit', async () => {
    const { target } = await serve({ handshakeDelayMs: Infinity });
    const started = Date.now();
    const e = await failure(connectSsh({ ...target, connectTimeoutMs: 500 }));
    expect(e.status).toBe('timeout');
    expect(e.message).toMatch(/accepted TCP but finished no SSH handshake within 0.5 s/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a refused connection is unreachable', async () => {
    const { target, server } = await serve();
    await server.close();
    const e = await failure(connectSsh(target));
    expect(e.status).toBe('unreachable');
    expect(e.message).toMatch(/connection refused/);
  });

  it('a changed host key is refused with its fingerprint and how to accept it; no key is sent', async () => {
    const { target, server } = await serve();
    const other = keyPair();
    const wrong = (await startFakeServer({ authorizedKeys: [user.public], hostKey: other.private })).hostPublic;
    writeFileSync(target.knownHostsFiles[0]!, `[127.0.0.1]:${server.port} ${wrong}\n`);
    const e = await failure(connectSsh(target));
    expect(e.status).toBe('host_key_rejected');
    expect(e.message).toMatch(/has CHANGED: it now offers ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}/);
    expect(e.message).toContain(`ssh-keygen -R '[127.0.0.1]:${server.port}'`);
  });

  it('an unknown host key is refused under StrictHostKeyChecking yes and learnt under accept-new', async () => {
    const { target } = await serve({}, 'no');
    const e = await failure(connectSsh(target));
    expect(e.status).toBe('host_key_rejected');
    expect(e.message).toMatch(/is not known: it offers ssh-ed25519 SHA256:/);
    expect(e.message).toContain(`ssh-keyscan -p ${target.port} 127.0.0.1 >> ${target.knownHostsFiles[0]}`);
    const client = await connectSsh({ ...target, strictHostKeyChecking: 'accept-new' });
    client.end();
    expect(readFileSync(target.knownHostsFiles[0]!, 'utf8')).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${target.port} ssh-ed25519 `));
    (await connectSsh(target)).end();
  });

  it('a key the host does not accept is auth_failed', async () => {
    const { target } = await serve({ authorizedKeys: [keyPair().public] });
    const e = await failure(connectSsh(target));
    expect(e.status).toBe('auth_failed');
    expect(e.message).toMatch(/tungsten@db1 rejected every key/);
  });

  it('with no key at all says so before connecting', async () => {
    const { target } = await serve();
    const e = await failure(connectSsh({ ...target, identityFiles: [join(dir, 'missing')] }));
    expect(e.status).toBe('auth_failed');
    expect(e.message).toMatch(/no key to offer/);
  });
});

describe('SshTransport faults', () => {
  it('drains a stderr flood while stdout streams, keeping only its tail', async () => {
    // 1.5 MiB of stderr: with stdout it overflows the 2 MiB channel window unless stderr is read.
    // (ssh2's own server stalls on stderr beyond one window; the real-sshd test floods 7 MB.)
    const flood = Buffer.from('warning: file changed as we read it\n'.repeat(43_000));
    const { target } = await serve({ handler: () => ({ stdout: Buffer.alloc(4 << 20, 1), stderr: Buffer.concat([flood, Buffer.from('LAST LINE\n')]) }) });
    const t = new SshTransport(await connectSsh(target));
    const out = sink();
    const r = await t.exec('tar', out, { idleTimeoutMs: 5000 });
    t.close();
    expect(out.bytes).toBe(4 << 20);
    expect(r.stderr.length).toBeLessThanOrEqual(4096);
    expect(r.stderr).toMatch(/LAST LINE\n$/);
  });

  it('a connection dropped mid-stream rejects with ConnectionLostError', async () => {
    const { target } = await serve({ handler: () => ({ stdout: Buffer.alloc(2 << 20, 2) }), dropAfterBytes: 256 * 1024 });
    const t = new SshTransport(await connectSsh(target));
    await expect(t.exec('cat log', sink(), { idleTimeoutMs: 3000 })).rejects.toBeInstanceOf(ConnectionLostError);
    t.close();
  });

  it('a command that hangs ends at the idle limit', async () => {
    const { target } = await serve({ handler: () => ({ hang: true }) });
    const t = new SshTransport(await connectSsh(target));
    const started = Date.now();
    await expect(t.exec('uname -a', sink(), { idleTimeoutMs: 300 })).rejects.toBeInstanceOf(CommandTimeoutError);
    expect(Date.now() - started).toBeLessThan(1500);
    t.close();
  });

  it('reaches a host through a ProxyJump hop, checking each hop against known_hosts', async () => {
    const { target } = await serve({ handler: (c) => ({ stdout: `ran ${c}` }) });
    const jump = await startFakeServer({ authorizedKeys: [user.public] });
    servers.push(jump);
    const jumpKnown = join(dir, 'kh_jump');
    writeFileSync(jumpKnown, `[127.0.0.1]:${jump.port} ${jump.hostPublic}\n`);
    const viaJump = { ...target, proxyJump: [{ host: 'bastion', port: jump.port }] };
    const resolveJump = (j: { port?: number }) => ({ ...target, alias: 'bastion', port: j.port!, knownHostsFiles: [jumpKnown], proxyJump: [] });
    const t = new SshTransport(await connectSsh(viaJump, { resolveJump }));
    const chunks: Buffer[] = [];
    await t.exec('hostname', new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }), { idleTimeoutMs: 2000 });
    t.close();
    expect(Buffer.concat(chunks).toString()).toBe('ran hostname');
    writeFileSync(jumpKnown, '');
    const e = await failure(connectSsh(viaJump, { resolveJump }));
    expect(e.status).toBe('host_key_rejected');
    expect(e.message).toContain('host key for bastion');
  });

  it('authenticates with ssh-agent when no identity file is given', async () => {
    const { target } = await serve({ handler: () => ({ stdout: 'ok' }) });
    const sock = join(dir, 'agent.sock');
    const agent = spawnSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
    try {
      writeFileSync(join(dir, 'agent_key'), user.private, { mode: 0o600 });
      expect(spawnSync('ssh-add', [join(dir, 'agent_key')], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status).toBe(0);
      const client = await connectSsh({ ...target, identityFiles: [], agent: sock });
      client.end();
    } finally {
      if (pid > 0) process.kill(pid);
    }
  });
});

describe('ProxyCommand', () => {
  /** A ProxyCommand as operators write them (`nc %h %p`), here a small node relay. */
  function relay(): string {
    const script = join(dir, 'relay.mjs');
    writeFileSync(script, "import net from 'node:net';\nconst s = net.connect(Number(process.argv[3]), process.argv[2]);\nprocess.stdin.pipe(s);\ns.pipe(process.stdout);\ns.on('close', () => process.exit(0));\n");
    return `${process.execPath} ${script} %h %p`;
  }

  it('spawns the command, expands %p, and runs SSH over its stdio (the HostName itself does not resolve), checking the host key', async () => {
    const { target, server } = await serve({ handler: (c) => ({ stdout: `ran ${c}` }) });
    const proxied = { ...target, hostName: 'db1.invalid', connectTimeoutMs: 15_000, proxyCommand: relay().replace('%h', '127.0.0.1') };
    writeFileSync(target.knownHostsFiles[0]!, `[db1.invalid]:${server.port} ${server.hostPublic}\n`);
    // A node process per connection: give it time to start on a loaded machine.
    const t = new SshTransport(await connectSsh(proxied));
    const chunks: Buffer[] = [];
    await t.exec('hostname', new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }), { idleTimeoutMs: 2000 });
    t.close();
    expect(Buffer.concat(chunks).toString()).toBe('ran hostname');
    writeFileSync(target.knownHostsFiles[0]!, '');
    const e = await failure(connectSsh(proxied));
    expect(e.status).toBe('host_key_rejected');
  }, 60_000);

  it('a ProxyCommand that fails says why', async () => {
    const { target } = await serve();
    const e = await failure(connectSsh({ ...target, connectTimeoutMs: 15_000, proxyCommand: "sh -c 'echo no route to %h >&2; exit 3'" }));
    expect(e.status).toBe('unreachable');
    expect(e.message).toMatch(/ProxyCommand for db1 ended \(no route to 127\.0\.0\.1\)/);
  });

  it('known_hosts is searched under HostKeyAlias', async () => {
    const { target, server } = await serve({}, 'no');
    writeFileSync(target.knownHostsFiles[0]!, `[cluster-db1]:${server.port} ${server.hostPublic}\n`);
    expect((await failure(connectSsh(target))).status).toBe('host_key_rejected');
    (await connectSsh({ ...target, hostKeyAlias: 'cluster-db1' })).end();
  });
});
