/**
 * The connector: a route table, the router in front of the servers, and the link to the managers,
 * with the states Tungsten's connector has.
 *
 * - ONLINE: a manager answers; routes are followed as they come (event stream, plus a snapshot each
 *   time the stream opens, plus a poll each heartbeat while it is not open).
 * - ON-HOLD: no manager answers (a heartbeat round in which no member answered, or no answer for
 *   `contactTimeoutMs`). Open connections go on; new ones wait (up to the hold timeout).
 * - OFFLINE: ON-HOLD for `offlineAfterMs`. Every connection is ended and new ones are refused with
 *   a MySQL error saying why, until a manager answers again.
 * Back from ON-HOLD or OFFLINE: once a manager answers, its routes are read again before the
 * connector goes ONLINE (whatever changed meanwhile is applied first, under the epoch rule).
 *
 * Heartbeats go out every `heartbeatMs` and at once after every applied epoch and state change, so
 * a manager waiting for the connectors to hold hears it without waiting for the next second.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { stoppedAnswering, NoManagerAnswers } from '../api/failover.js';
import { ToolkitError, isToolkitError } from '../errors.js';
import { ManagerLink, type ConnectorHeartbeat, type RoutesStream } from './manager-link.js';
import { Router, type ConnectorLog, type ConnectorState, type ListenAddress, type RouterStats } from './router.js';
import { describeBackend, parseRoutes, RouteTable, type RoutesPayload } from './routes.js';

export interface ConnectorOptions {
  managers: readonly string[];
  service: string;
  user?: string;
  password?: string;
  caFile?: string;
  insecure?: boolean;
  /** `connector@<hostname>` by default (the CLI sets it). */
  name: string;
  host: string;
  pid: number;
  listen: ListenAddress;
  readListen: ListenAddress | null;
  offlineAfterMs: number;
  holdTimeoutMs: number;
  switchGraceMs: number;
  maxWaiting?: number;
  connectTimeoutMs?: number;
  heartbeatMs?: number;
  /** Per manager call. */
  requestTimeoutMs?: number;
  /** No answer from any manager for this long: ON-HOLD. */
  contactTimeoutMs?: number;
  streamIdleMs?: number;
  /** RouterOptions.forwarding. */
  forwarding?: 'handles' | 'streams';
  log: ConnectorLog;
}

export interface ConnectorStatus {
  state: ConnectorState;
  epoch: number | null;
  routes: RoutesPayload | null;
  holding: boolean;
  listen: string;
  readListen: string | null;
  /** The member that answered last. */
  manager: string | null;
  stats: RouterStats;
}

export const DEFAULTS = {
  maxWaiting: 1000,
  connectTimeoutMs: 5_000,
  heartbeatMs: 1_000,
  requestTimeoutMs: 2_000,
  contactTimeoutMs: 3_500,
  streamIdleMs: 45_000,
};

/** How the start went, for the banner. */
export interface StartReport {
  listen: string;
  readListen: string | null;
  state: ConnectorState;
  /** Why it started ON-HOLD; null when ONLINE. */
  onHoldBecause: string | null;
  manager: string | null;
}

export class Connector {
  readonly table: RouteTable;
  readonly router: Router;
  private readonly link: ManagerLink;
  private readonly o: Required<Omit<ConnectorOptions, 'user' | 'password' | 'caFile' | 'insecure'>> & ConnectorOptions;
  private state: ConnectorState = 'ON-HOLD';
  private running = false;
  private lastContact = 0;
  private onHoldSince = Date.now();
  private lastFailure = 'no manager has answered yet';
  private manager: string | null = null;
  private regaining = false;
  private stream: RoutesStream | null = null;
  private heartbeatWanted = false;
  private wakeHeartbeat: (() => void) | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private loops: Promise<void>[] = [];
  private warnedHeartbeat = false;

  /** Throws ToolkitError 'usage' for a malformed manager URL or CA file. Nothing is bound until start(). */
  constructor(options: ConnectorOptions) {
    this.o = { ...DEFAULTS, ...options } as typeof this.o;
    this.table = new RouteTable(options.service);
    this.link = new ManagerLink({
      urls: options.managers,
      service: options.service,
      user: options.user,
      password: options.password,
      caFile: options.caFile,
      insecure: options.insecure,
      timeoutMs: this.o.requestTimeoutMs,
      streamIdleMs: this.o.streamIdleMs,
    });
    this.router = new Router(this.table, {
      listen: options.listen,
      readListen: options.readListen,
      name: options.name,
      holdTimeoutMs: options.holdTimeoutMs,
      switchGraceMs: options.switchGraceMs,
      maxWaiting: this.o.maxWaiting,
      connectTimeoutMs: this.o.connectTimeoutMs,
      forwarding: options.forwarding,
      log: options.log,
    });
  }

  /**
   * Bind the ports, read the routes, start following. Throws ToolkitError: 'refused' (exit 1) for
   * a port that cannot be listened on or a manager that has no routes for the service,
   * 'unauthorized' (exit 3) for credentials a manager refuses. No manager answering is no error:
   * the connector starts ON-HOLD and `onHoldBecause` says why.
   */
  async start(): Promise<StartReport> {
    const addresses = await this.router.start();
    this.running = true;
    let onHoldBecause: string | null = null;
    try {
      const { value, from } = await this.link.routes();
      this.applyRoutes(value, from, true);
      if (this.table.current === null) throw new ToolkitError('refused', `the manager at ${from} gave no usable routes for service ${this.o.service}`);
      this.contact(from);
      this.goOnline();
    } catch (e) {
      if (!noAnswer(e)) {
        await this.stop(0, { farewell: false });
        throw e;
      }
      this.lastFailure = failureReason(e);
      onHoldBecause = `no manager answers (${this.lastFailure})`;
      this.onHoldSince = Date.now();
      this.router.setState('ON-HOLD', `no manager answers (${this.lastFailure})`);
    }
    this.watchdog = setInterval(() => this.checkContact(), 200);
    this.watchdog.unref();
    this.loops.push(this.heartbeatLoop(), this.streamLoop());
    return { ...addresses, state: this.state, onHoldBecause, manager: this.manager };
  }

  status(): ConnectorStatus {
    const l = this.router.listening;
    return {
      state: this.state,
      epoch: this.table.epoch,
      routes: this.table.current,
      holding: this.router.holding,
      listen: l?.listen ?? '',
      readListen: l?.readListen ?? null,
      manager: this.manager,
      stats: this.router.stats(),
    };
  }

  /**
   * Stop: stop listening, tell waiting clients, give open connections up to `drainMs`, and tell
   * the managers this connector is OFFLINE (best effort, within a second).
   */
  async stop(drainMs: number, opts: { farewell?: boolean } = {}): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    if (this.watchdog) clearInterval(this.watchdog);
    this.stream?.close();
    this.wakeHeartbeat?.();
    const farewell =
      wasRunning && opts.farewell !== false
        ? Promise.race([this.link.heartbeat({ ...this.heartbeatBody(), state: 'OFFLINE', holding: false }).catch(() => undefined), sleep(1000)])
        : Promise.resolve();
    await Promise.all([this.router.close(drainMs), farewell]);
    await Promise.race([Promise.all(this.loops), sleep(1000)]);
    this.link.close();
  }

  // ---- routes ----

  private applyRoutes(value: unknown, from: string, quiet = false): void {
    let routes: RoutesPayload;
    try {
      routes = parseRoutes(value);
    } catch (e) {
      this.o.log.warn(`ignored routes from ${from}: ${(e as Error).message}`);
      return;
    }
    const outcome = this.table.apply(routes);
    if (!outcome.applied) {
      if (outcome.reason === 'other-service') this.o.log.warn(`ignored routes of service ${routes.service} from ${from}: this connector serves ${this.o.service}`);
      return;
    }
    const effect = this.router.routesChanged();
    const parts = [`routes epoch ${routes.epoch} from ${from}: master ${routes.master ? describeBackend(routes.master) : 'none'}`];
    if (outcome.masterChanged) parts.push(`(was ${outcome.previous?.master ? outcome.previous.master.name : 'none'})`);
    if (routes.slaves.length > 0) parts.push(`slaves ${routes.slaves.map((s) => `${s.name}${s.healthy ? '' : ' (unhealthy)'}`).join(', ')}`);
    if (outcome.holdStarted) parts.push(`HOLD (${routes.hold!.reason}): new connections wait`);
    if (outcome.holdEnded) parts.push('hold over: waiting connections go on');
    if (effect.endedNow > 0) parts.push(`${effect.endedNow} connection${effect.endedNow === 1 ? '' : 's'} to servers it takes away ended now${routes.endImmediately ? ' (failover)' : ''}`);
    if (effect.endingAfterGrace > 0) parts.push(`${effect.endingAfterGrace} connection${effect.endingAfterGrace === 1 ? '' : 's'} to the old master end in ${this.o.switchGraceMs / 1000} s`);
    if (!quiet || outcome.previous !== null) this.o.log.info(parts.join('; '));
    this.heartbeatNow();
  }

  // ---- states ----

  /** A manager answered (a call, or the stream carried something). */
  private contact(from: string): void {
    this.lastContact = Date.now();
    if (this.manager !== from) {
      if (this.manager !== null) this.o.log.info(`following the manager at ${from} (was ${this.manager})`);
      this.manager = from;
    }
    if (this.state !== 'ONLINE' && this.running) void this.regain();
  }

  /** Back from ON-HOLD or OFFLINE: read the routes first, then go ONLINE. */
  private async regain(): Promise<void> {
    if (this.regaining) return;
    this.regaining = true;
    try {
      const { value, from } = await this.link.routes();
      if (!this.running) return;
      this.lastContact = Date.now();
      this.applyRoutes(value, from);
      if (this.table.current !== null) this.goOnline();
    } catch (e) {
      this.lastFailure = failureReason(e);
    } finally {
      this.regaining = false;
    }
  }

  private goOnline(): void {
    if (this.state === 'ONLINE') return;
    const before = this.state;
    this.state = 'ONLINE';
    this.router.setState('ONLINE', '');
    // At start the banner says it.
    if (this.loops.length > 0) this.o.log.info(`ONLINE (was ${before}): following the manager at ${this.manager}, routes epoch ${this.table.epoch}`);
    this.heartbeatNow();
  }

  /** ONLINE -> ON-HOLD. */
  private goOnHold(why: string): void {
    if (this.state !== 'ONLINE') return;
    this.state = 'ON-HOLD';
    this.onHoldSince = Date.now();
    this.router.setState('ON-HOLD', why);
    this.o.log.warn(`ON-HOLD: ${why}; new connections wait, OFFLINE in ${this.o.offlineAfterMs / 1000} s without a manager`);
  }

  private goOffline(): void {
    const seconds = Math.round((Date.now() - (this.lastContact || this.onHoldSince)) / 1000);
    const why = this.lastContact > 0 ? `no manager has answered for ${seconds} s (${this.lastFailure})` : `no manager has answered since it started (${this.lastFailure})`;
    this.state = 'OFFLINE';
    this.o.log.warn(`OFFLINE: ${why}; new connections are refused until a manager answers`);
    this.router.setState('OFFLINE', why);
  }

  private checkContact(): void {
    if (!this.running) return;
    const now = Date.now();
    if (this.state === 'ONLINE' && now - this.lastContact > this.o.contactTimeoutMs) {
      this.goOnHold(`no manager has answered for ${Math.round((now - this.lastContact) / 100) / 10} s (${this.lastFailure})`);
    } else if (this.state === 'ON-HOLD' && now - this.onHoldSince >= this.o.offlineAfterMs) {
      this.goOffline();
    }
  }

  // ---- loops ----

  private heartbeatBody(): ConnectorHeartbeat {
    const stats = this.router.stats();
    const l = this.router.listening;
    return {
      name: this.o.name,
      host: this.o.host,
      pid: this.o.pid,
      state: this.state,
      created: stats.created,
      active: stats.active,
      listen: l?.listen ?? '',
      readListen: l?.readListen ?? null,
      epoch: this.table.epoch,
      holding: this.router.holding,
      waiting: stats.waiting,
      manager: this.manager,
    };
  }

  private heartbeatNow(): void {
    this.heartbeatWanted = true;
    this.wakeHeartbeat?.();
  }

  private async heartbeatLoop(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      this.heartbeatWanted = false;
      try {
        const { from } = await this.link.heartbeat(this.heartbeatBody());
        this.contact(from);
      } catch (e) {
        if (noAnswer(e) || (isToolkitError(e) && e.kind === 'unauthorized')) {
          this.lastFailure = failureReason(e);
          if (this.state === 'ONLINE') this.goOnHold(`no manager answers (${this.lastFailure})`);
        } else {
          // A manager answered (404: it takes no registrations; an answer it should not have given):
          // it is there, and it is the member calls go to now; say so once.
          this.contact(this.link.failover.url);
          if (!this.warnedHeartbeat) {
            this.warnedHeartbeat = true;
            this.o.log.warn(`the managers do not take this connector's heartbeat (${(e as Error).message}): it routes, but cctrl ls will not list it`);
          }
        }
      }
      if (!this.running) break;
      // While the stream is not open, poll the routes each heartbeat.
      if (this.stream === null && this.state === 'ONLINE') {
        try {
          const { value, from } = await this.link.routes();
          this.contact(from);
          this.applyRoutes(value, from);
        } catch {
          // the heartbeat says whether a manager answers
        }
      }
      if (this.heartbeatWanted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, started + this.o.heartbeatMs - Date.now()));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wakeHeartbeat = done;
      });
      this.wakeHeartbeat = null;
    }
  }

  private async streamLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let stream: RoutesStream;
      try {
        stream = await this.link.stream(this.table.epoch, {
          onRoutes: (value, from) => this.applyRoutes(value, from),
          onActivity: (from) => this.contact(from),
        });
      } catch (e) {
        if (!this.running) break;
        failures++;
        if (failures === 1 || failures % 20 === 0) this.o.log.warn(`cannot open the event stream: ${(e as Error).message}`);
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
        continue;
      }
      if (!this.running) {
        stream.close();
        break;
      }
      this.stream = stream;
      if (failures > 0) this.o.log.info(`event stream open on ${stream.url}`);
      failures = 0;
      this.contact(stream.url);
      // The stream is open: whatever changes from now on arrives on it; read what is there now.
      try {
        const { value, from } = await this.link.routes();
        this.applyRoutes(value, from);
      } catch {
        // the stream or the heartbeat will tell
      }
      try {
        await stream.done;
      } catch (e) {
        if (this.running) this.o.log.warn(`event stream from ${stream.url} lost (${failureReason(e)}); reopening`);
      }
      this.stream = null;
      if (this.running) await sleep(100);
    }
  }
}

/** The error says no manager answered (rather than an answer the connector cannot use). */
function noAnswer(e: unknown): boolean {
  return e instanceof NoManagerAnswers || stoppedAnswering(e) || (isToolkitError(e) && (e.kind === 'unreachable' || e.kind === 'timeout'));
}

function failureReason(e: unknown): string {
  if (e instanceof NoManagerAnswers) return e.attempts.map((a) => `${a.url}: ${a.reason}`).join('; ');
  if (e && typeof e === 'object' && 'reason' in e && 'manager' in e) return `${String(e.manager)}: ${String(e.reason)}`;
  return (e as Error)?.message ?? String(e);
}

