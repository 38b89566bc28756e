/**
 * Failed logins are throttled per client address and audited (issue 12), over real HTTP on a real
 * manager: a guesser is slowed to a few tries a minute, every refusal is in audit.log, other
 * addresses are not affected, and the operator is never locked out for longer than the cap.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { launchManager, type RunningManager } from '../../../src/manager/server/launch.js';
import { LoginThrottle, clientKey } from '../../../src/manager/server/login-throttle.js';

const USER = 'ops';
const PASSWORD = 'the-real-pw-7';
let running: RunningManager | undefined;
let dir: string | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function get(url: string, password: string | null, localAddress = '127.0.0.1'): Promise<{ status: number; retryAfter: string | undefined; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = password === null ? {} : { authorization: `Basic ${Buffer.from(`${USER}:${password}`).toString('base64')}` };
    const req = http.request(`${url}/api/v2/manager/status`, { agent: false, headers, localAddress });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.end();
  });
}

describe('failed logins', () => {
  it('are throttled per address with an audit line for each refusal, and the operator gets in once the pause ends', async () => {
    dir = mkdtempSync(join(tmpdir(), 'throttle-'));
    running = await launchManager({ demo: true, port: 0, stateDir: dir, user: USER, password: PASSWORD, logger: { info() {}, warn() {}, error() {} } });
    const url = running.url;
    for (let i = 0; i < 6; i++) expect((await get(url, `guess-${i}`)).status).toBe(401);
    // Locked out now: even the right password is refused, without being checked.
    const refused = await get(url, PASSWORD);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(refused.body.payload).toMatchObject({ kind: 'unauthorized', message: expect.stringMatching(/^too many failed logins from 127\.0\.0\.1: refused for \d+ s more$/) });
    let throttled = 1;
    for (let i = 0; i < 20; i++) {
      const r = await get(url, `guess-more-${i}`);
      expect(r.status).toBe(429);
      throttled++;
    }
    // Another address is not affected.
    expect((await get(url, PASSWORD, '127.0.0.2')).status).toBe(200);
    // Requests without credentials are not guesses: still a plain 401.
    expect((await get(url, null)).status).toBe(401);

    // The lockout after 6 failures is 1 s: then the operator gets in, and that clears the address.
    const deadline = Date.now() + 5000;
    let ok = await get(url, PASSWORD);
    while (ok.status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      ok = await get(url, PASSWORD);
      if (ok.status === 429) throttled++;
    }
    expect(ok.status).toBe(200);
    expect((await get(url, 'one-more-typo')).status).toBe(401);
    expect((await get(url, PASSWORD)).status).toBe(200);

    const text = readFileSync(join(dir, 'audit.log'), 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('guess');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    const wrong = lines.filter((l) => l.operation === 'login' && l.outcome === 'unauthorized');
    expect(wrong).toHaveLength(7);
    expect(wrong[0]).toMatchObject({ user: USER, client: '127.0.0.1', error: 'wrong user name or password', request: null });
    const folded = lines.filter((l) => l.operation === 'login' && l.outcome === 'throttled');
    expect(folded.length).toBeGreaterThanOrEqual(1);
    expect(folded[0]).toMatchObject({ client: '127.0.0.1', error: 'too many failed logins' });
    // Every refusal is counted; those of the last second may still be held back for the next line.
    const counted = folded.reduce((n, l) => n + (l.count ?? 1), 0);
    expect(counted).toBeGreaterThanOrEqual(1);
    expect(counted).toBeLessThanOrEqual(throttled);
  });
});

describe('the throttle', () => {
  it('doubles the pause after the free failures and never pauses longer than the cap', () => {
    let now = 0;
    const t = new LoginThrottle({ now: () => now });
    for (let i = 0; i < 5; i++) t.failure('10.0.0.1');
    expect(t.lockedFor('10.0.0.1')).toBe(0);
    const pauses: number[] = [];
    for (let i = 0; i < 8; i++) {
      t.failure('10.0.0.1');
      pauses.push(t.lockedFor('10.0.0.1'));
    }
    expect(pauses).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    for (let i = 0; i < 1000; i++) t.failure('10.0.0.1');
    expect(t.lockedFor('10.0.0.1')).toBe(30000);
    now += 30_000;
    expect(t.lockedFor('10.0.0.1')).toBe(0); // the operator may try again
    t.success('10.0.0.1');
    t.failure('10.0.0.1');
    expect(t.lockedFor('10.0.0.1')).toBe(0);
    // Failures are forgotten after 15 minutes without one.
    for (let i = 0; i < 5; i++) t.failure('10.0.0.2');
    now += 16 * 60_000;
    t.failure('10.0.0.2');
    expect(t.lockedFor('10.0.0.2')).toBe(0);
  });

  it('counts IPv6 clients by their /64 and IPv4-mapped ones as IPv4', () => {
    expect(clientKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});
