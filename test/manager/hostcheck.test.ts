import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { titleOrSkipReason } from '../helpers/processes.js';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHost, parseHostCheckMethod } from '../../src/manager/hostcheck.js';

/** A loopback port where nothing listens: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * A loopback port that never completes a handshake: a listener with a zero backlog that never
 * accepts, its queue filled, so the kernel drops further SYNs and a connect can only time out.
 */
async function silentPort(): Promise<{ port: number; stop: () => void }> {
  const perl = spawn('perl', ['-MSocket', '-e', [
    'socket(S, PF_INET, SOCK_STREAM, 0) or die;',
    'bind(S, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die;',
    'listen(S, 0) or die;',
    'my ($p) = unpack_sockaddr_in(getsockname(S)); $| = 1; print "$p\\n";',
    'sleep 60;',
  ].join(' ')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => perl.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers: net.Socket[] = [];
  // Fill the accept queue: these connect (the kernel completes them), then the queue is full.
  for (let i = 0; i < 3; i++) fillers.push(net.connect({ host: '127.0.0.1', port }).on('error', () => {}));
  await new Promise((r) => setTimeout(r, 300));
  return { port, stop: () => { fillers.forEach((s) => s.destroy()); (perl as ChildProcess).kill('SIGKILL'); } };
}

describe('host check by TCP echo', () => {
  let echo: net.Server;
  let echoPort: number;
  beforeAll(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  afterAll(() => echo.close());

  it('calls a host alive when its echo service answers', async () => {
    expect(await checkHost('127.0.0.1', { method: 'echo', timeoutMs: 1000, echoPort })).toEqual({ alive: true, detail: 'echo answered' });
  });

  it('calls a host alive when the echo port refuses: the refusal came from the host', async () => {
    const port = await closedPort();
    expect(await checkHost('127.0.0.1', { method: 'echo', timeoutMs: 1000, echoPort: port })).toEqual({ alive: true, detail: 'echo refused' });
  });

  it('uses port 7 by default (nothing listens on it here, so the refusal proves the host)', async () => {
    expect((await checkHost('127.0.0.1', { method: 'echo', timeoutMs: 1000 })).alive).toBe(true);
  });

  it('calls a host unreachable when the echo check times out', async () => {
    const silent = await silentPort();
    try {
      const started = Date.now();
      const result = await checkHost('127.0.0.1', { method: 'echo', timeoutMs: 400, echoPort: silent.port });
      expect(result).toEqual({ alive: false, detail: 'echo timed out after 400 ms' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(390);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      silent.stop();
    }
  });
});

function installed(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Outside CI a machine without ping skips; in CI the missing package is a failure.
const pingMissing = !installed('ping') && process.env.CI !== 'true';

describe.skipIf(pingMissing)(titleOrSkipReason('host check by system ping', pingMissing ? 'ping is not installed (iputils-ping)' : null), () => {
  it('calls a loopback host alive when ping answers', async () => {
    if (!installed('ping')) throw new Error('ping is not installed: install iputils-ping (.ci/system-deps.sh does)');
    expect(await checkHost('127.0.0.1', { method: 'ping', timeoutMs: 2000 })).toEqual({ alive: true, detail: 'ping answered' });
  });
});

describe('host check method property', () => {
  it('defaults to echo and accepts echo and ping', () => {
    expect(parseHostCheckMethod(undefined)).toBe('echo');
    expect(parseHostCheckMethod('ping')).toBe('ping');
  });
  it('refuses anything else with the allowed values', () => {
    expect(() => parseHostCheckMethod('icmp')).toThrow("policy.liveness.hostPing.method must be one of echo, ping, not 'icmp'");
  });
});
