/**
 * Failed logins are throttled per client address. The first `freeFailures` cost nothing; each one
 * after them locks the address out for a delay that doubles from `baseDelayMs` up to `maxDelayMs`
 * (30 s by default), so guessing is slowed to about two tries a minute, while the real operator is
 * never locked out for longer than that: every lockout ends by itself, a success clears the
 * address, and failures are forgotten after `forgetAfterMs` without one. While an address is locked
 * out, its requests with credentials are refused without checking them (429 with Retry-After).
 *
 * IPv4 addresses count one by one; IPv6 ones by their /64 (what one host usually holds). At most
 * `maxClients` addresses are remembered; the oldest is forgotten first.
 */

export interface LoginThrottleOptions {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  forgetAfterMs: number;
  maxClients: number;
  now: () => number;
}

export const DEFAULT_LOGIN_THROTTLE: Readonly<LoginThrottleOptions> = {
  freeFailures: 5,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  forgetAfterMs: 15 * 60_000,
  maxClients: 10_000,
  now: () => Date.now(),
};

interface ClientRecord {
  failures: number;
  lockedUntil: number;
  lastFailure: number;
  /** Refusals while locked out not yet written to the audit log. */
  unaudited: number;
  lastAudit: number;
}

/** How often the refusals of one locked-out address are written to the audit log, at most. */
const REFUSAL_AUDIT_INTERVAL_MS = 1000;

export class LoginThrottle {
  private readonly options: LoginThrottleOptions;
  private readonly clients = new Map<string, ClientRecord>();

  constructor(options: Partial<LoginThrottleOptions> = {}) {
    this.options = { ...DEFAULT_LOGIN_THROTTLE, ...options };
  }

  /** Milliseconds the address is still locked out for; 0 when it may try. */
  lockedFor(address: string): number {
    const c = this.current(clientKey(address));
    return c ? Math.max(0, c.lockedUntil - this.options.now()) : 0;
  }

  /** A wrong user or password from the address. */
  failure(address: string): void {
    const key = clientKey(address);
    const now = this.options.now();
    const c = this.current(key) ?? { failures: 0, lockedUntil: 0, lastFailure: now, unaudited: 0, lastAudit: 0 };
    c.failures++;
    c.lastFailure = now;
    const over = c.failures - this.options.freeFailures;
    if (over > 0) c.lockedUntil = now + Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over - 1, 30));
    this.clients.delete(key);
    this.clients.set(key, c);
    while (this.clients.size > this.options.maxClients) this.clients.delete(this.clients.keys().next().value!);
  }

  /** The right credentials from the address: its failures are forgotten. */
  success(address: string): void {
    this.clients.delete(clientKey(address));
  }

  /**
   * A request refused for the lockout. Returns how many refusals to write in one audit line now
   * (this one and those held back), or 0 to hold this one back: at most one line a second per address.
   */
  refused(address: string): number {
    const c = this.current(clientKey(address));
    if (!c) return 1;
    c.unaudited++;
    const now = this.options.now();
    if (now - c.lastAudit < REFUSAL_AUDIT_INTERVAL_MS) return 0;
    const count = c.unaudited;
    c.unaudited = 0;
    c.lastAudit = now;
    return count;
  }

  private current(key: string): ClientRecord | undefined {
    const c = this.clients.get(key);
    if (c && c.lockedUntil <= this.options.now() && this.options.now() - c.lastFailure > this.options.forgetAfterMs) {
      this.clients.delete(key);
      return undefined;
    }
    return c;
  }
}

/** The address a throttle counts by: IPv4 as is (also when mapped into IPv6), IPv6 by its /64. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
