/**
 * The TCP router: accepts application connections on the write port (`--listen`) and the read port
 * (`--read-listen`), and splices each to a server the route table names, in bridge mode: what each
 * socket reads is written to the other (handle-bridge.ts: between the sockets' libuv handles;
 * inflow.ts where this Node does not allow that), the database server authenticates the user, and
 * the connector reads nothing of the MySQL protocol after accepting (it stores no database
 * credentials).
 *
 * A new client is bridged at once when the connector may open backend connections: it is ONLINE,
 * holds routes, the routes carry no hold, and they name a server for that port. Otherwise it waits
 * (bounded: `maxWaiting` clients, each up to `holdTimeoutMs`), and is bridged as soon as that
 * changes, in the order clients arrived. A client that waited too long, or arrives while the
 * connector is OFFLINE or stopping, gets a MySQL ERR packet saying why (see mysql-error.ts), never
 * a bare reset. A backend connection still being opened when a hold (or ON-HOLD) begins is
 * abandoned and its client waits again, so `holding` is true as soon as the hold is applied: from
 * then on no new connection reaches any server.
 *
 * Open connections after a route change: see RouteTable.verdict (kept; ended after the switch
 * grace; ended at once on a failover). OFFLINE ends every connection, as Tungsten's connector
 * does: with no manager for that long, it no longer knows where the master is.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolkitError } from '../errors.js';
import { HandleBridge, handleBridgeUnavailable } from './handle-bridge.js';
import { Inflow, readAccepted } from './inflow.js';
import { refusalPacket, type RefusalKind } from './mysql-error.js';
import { backendKey, describeBackend, type Backend, type PortKind, type RouteTable } from './routes.js';

export type ConnectorState = 'ONLINE' | 'ON-HOLD' | 'OFFLINE';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ConnectorLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface RouterOptions {
  listen: ListenAddress;
  readListen: ListenAddress | null;
  /** The connector's name, for the messages clients get. */
  name: string;
  /** How long a new client waits for a server (during a hold, ON-HOLD, no master). */
  holdTimeoutMs: number;
  /** How long connections to a server that lost its role on a switch may go on. */
  switchGraceMs: number;
  /** Clients that may wait at once; the next is refused. */
  maxWaiting: number;
  /** A backend TCP connection not open within this fails the client's connection. */
  connectTimeoutMs: number;
  /**
   * 'handles' (the default): bridged connections are forwarded between the sockets' libuv handles
   * where this Node allows it (handle-bridge.ts), through net.Socket otherwise; 'streams': always
   * through net.Socket (inflow.ts).
   */
  forwarding?: 'handles' | 'streams';
  log: ConnectorLog;
}

export interface RouterStats {
  /** Client connections bridged to a server since start. */
  created: number;
  /** Bridged connections open now. */
  active: number;
  /** Clients waiting for a server now. */
  waiting: number;
  /** Clients refused since start (with an ERR packet). */
  refused: number;
  /** Open connections by server name (both ports). */
  byServer: Record<string, number>;
}

/** What a route change did to open connections. */
export interface RouteChangeEffect {
  endedNow: number;
  endingAfterGrace: number;
}

interface Client {
  socket: net.Socket;
  port: PortKind;
  /** When it connected (ms): the hold timeout counts from there, across re-waits. */
  since: number;
  /** What it reads; it holds what the client sent before being bridged (a MySQL client sends none; kept for any that does). */
  inflow: Inflow;
  /** Removes the listeners it has while not bridged. */
  detach: () => void;
  waitTimer: NodeJS.Timeout | null;
  pending: Pending | null;
}

interface Pending {
  client: Client;
  server: Backend;
  key: string;
  backend: net.Socket;
  backendInflow: Inflow;
  timer: NodeJS.Timeout;
}

interface Bridge {
  /** Ends both sides now. */
  close: () => void;
  port: PortKind;
  server: Backend;
  key: string;
  endTimer: NodeJS.Timeout | null;
}

/** What a client may send before it is bridged (a MySQL client sends nothing: the server speaks first). */
const MAX_EARLY_BYTES = 64 * 1024;
/** A side that closed cleanly gives the other this long to close before it is destroyed. */
const LINGER_MS = 10_000;
/** A refused client that does not close after its ERR packet is destroyed after this. */
const REFUSE_CLOSE_MS = 2_000;
const KEEPALIVE_DELAY_MS = 30_000;

export class Router {
  private state: ConnectorState = 'ON-HOLD';
  private stateWhy = 'no manager has answered yet';
  private closing = false;
  private readonly servers: net.Server[] = [];
  private readonly waiting = new Set<Client>();
  private readonly pending = new Set<Pending>();
  private readonly bridges = new Set<Bridge>();
  private readonly load = new Map<string, number>();
  private created = 0;
  private refused = 0;
  private addresses: { listen: string; readListen: string | null } | null = null;
  /** Why connections are forwarded through net.Socket, once said. */
  private saidWhyStreams = false;

  constructor(
    private readonly table: RouteTable,
    private readonly options: RouterOptions,
  ) {}

  /** Bind both ports. Throws ToolkitError 'refused' (exit 1) naming the address that cannot be listened on. */
  async start(): Promise<{ listen: string; readListen: string | null }> {
    const listen = await this.bind(this.options.listen, 'write');
    let readListen: string | null = null;
    if (this.options.readListen) {
      try {
        readListen = await this.bind(this.options.readListen, 'read');
      } catch (e) {
        for (const s of this.servers) s.close();
        throw e;
      }
    }
    this.addresses = { listen, readListen };
    return this.addresses;
  }

  get listening(): { listen: string; readListen: string | null } | null {
    return this.addresses;
  }

  get connectorState(): ConnectorState {
    return this.state;
  }

  /** The routes hold and no backend connection is being opened: nothing new reaches any server. */
  get holding(): boolean {
    return this.table.hold !== null && this.pending.size === 0;
  }

  stats(): RouterStats {
    const byServer: Record<string, number> = {};
    for (const b of this.bridges) byServer[b.server.name] = (byServer[b.server.name] ?? 0) + 1;
    return { created: this.created, active: this.bridges.size, waiting: this.waiting.size, refused: this.refused, byServer };
  }

  /** ONLINE, ON-HOLD or OFFLINE; `why` is what clients are told while it is not ONLINE. */
  setState(state: ConnectorState, why: string): void {
    const before = this.state;
    this.state = state;
    this.stateWhy = why;
    if (state === before) return;
    if (state === 'OFFLINE') {
      for (const c of [...this.waiting]) this.refuse(c, 'offline', this.offlineMessage());
      for (const p of [...this.pending]) this.refuse(this.abandon(p), 'offline', this.offlineMessage());
      const n = this.bridges.size;
      for (const b of [...this.bridges]) this.endBridge(b);
      if (n > 0) this.options.log.warn(`OFFLINE: ended ${n} open connection${n === 1 ? '' : 's'}`);
      return;
    }
    this.afterChange();
  }

  /** The route table changed (an epoch was applied): end what it takes away, bridge who can go. */
  routesChanged(): RouteChangeEffect {
    const effect: RouteChangeEffect = { endedNow: 0, endingAfterGrace: 0 };
    for (const b of [...this.bridges]) {
      const verdict = this.table.verdict(b.port, b.server);
      if (verdict === 'keep') {
        if (b.endTimer) {
          clearTimeout(b.endTimer);
          b.endTimer = null;
        }
      } else if (verdict === 'end-now') {
        effect.endedNow++;
        this.endBridge(b);
      } else if (!b.endTimer) {
        effect.endingAfterGrace++;
        b.endTimer = setTimeout(() => this.endBridge(b), this.options.switchGraceMs);
        b.endTimer.unref();
      }
    }
    // A connection being opened to a server the routes no longer give that port: open it again.
    for (const p of [...this.pending]) {
      if (this.table.verdict(p.client.port, p.server) !== 'keep') this.requeue(this.abandon(p));
    }
    this.afterChange();
    return effect;
  }

  /**
   * Stop: no more listening; waiting clients are told the connector stops; open connections get
   * up to `drainMs` to finish, then are ended.
   */
  async close(drainMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // No more listening (close()'s callback waits for connections, which are ended below).
    for (const s of this.servers) s.close();
    const message = `tungsten-connector ${this.options.name} is stopping; connect again in a moment (to another connector, or to this one once restarted)`;
    for (const c of [...this.waiting]) this.refuse(c, 'stopping', message);
    for (const p of [...this.pending]) this.refuse(this.abandon(p), 'stopping', message);
    const deadline = Date.now() + drainMs;
    while (this.bridges.size > 0 && Date.now() < deadline) await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    for (const b of [...this.bridges]) this.endBridge(b);
  }

  // ---- accepting ----

  private bind(address: ListenAddress, port: PortKind): Promise<string> {
    // pauseOnConnect: nothing is read before readAccepted gives the connection its own buffer.
    const server = net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS },
      (socket) => this.accept(socket, port),
    );
    // Too many open files and the like: the listener goes on; the client that could not be accepted is lost.
    return new Promise<string>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => reject(bindError(e, address, port));
      server.once('error', onError);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off('error', onError);
        server.on('error', (e) => this.options.log.warn(`${port} port: ${e.message}`));
        this.servers.push(server);
        const a = server.address() as net.AddressInfo;
        resolve(formatAddress(a.address, a.port));
      });
    });
  }

  private accept(accepted: net.Socket, port: PortKind): void {
    const inflow = new Inflow();
    const socket = readAccepted(accepted, inflow);
    const client: Client = { socket, port, since: Date.now(), inflow, detach: () => undefined, waitTimer: null, pending: null };
    const gone = () => {
      client.detach();
      this.leave(client);
      socket.destroy();
    };
    inflow.onHeld = () => {
      if (inflow.heldBytes > MAX_EARLY_BYTES) gone();
    };
    socket.on('end', gone);
    socket.on('error', gone);
    socket.on('close', gone);
    client.detach = () => {
      inflow.onHeld = null;
      socket.off('end', gone);
      socket.off('error', gone);
      socket.off('close', gone);
    };
    if (this.closing) return this.refuse(client, 'stopping', `tungsten-connector ${this.options.name} is stopping`);
    if (this.state === 'OFFLINE') return this.refuse(client, 'offline', this.offlineMessage());
    if (!this.tryOpen(client)) this.wait(client);
  }

  private canOpen(): boolean {
    return !this.closing && this.state === 'ONLINE' && this.table.current !== null && this.table.hold === null;
  }

  /** Opens the client's backend connection if it may go now; false: it must wait. */
  private tryOpen(client: Client): boolean {
    if (!this.canOpen()) return false;
    const server = this.table.target(client.port, (s) => this.load.get(backendKey(s)) ?? 0);
    if (!server) return false;
    this.open(client, server);
    return true;
  }

  private wait(client: Client): void {
    if (this.waiting.size >= this.options.maxWaiting) {
      return this.refuse(
        client,
        'tooManyWaiting',
        `tungsten-connector ${this.options.name}: ${this.waiting.size} clients already wait for a server (${this.waitReason(client.port)}); retry shortly`,
      );
    }
    this.waiting.add(client);
    const left = client.since + this.options.holdTimeoutMs - Date.now();
    client.waitTimer = setTimeout(() => {
      client.waitTimer = null;
      if (!this.waiting.has(client)) return;
      const waited = Math.round((Date.now() - client.since) / 100) / 10;
      this.refuse(
        client,
        'waitedTooLong',
        `tungsten-connector ${this.options.name}: waited ${waited} s for a server and gave up: ${this.waitReason(client.port)}. Retry shortly; if it persists, check the managers (cctrl ls)`,
      );
    }, Math.max(0, left));
    client.waitTimer.unref();
  }

  private requeue(client: Client): void {
    if (this.state === 'OFFLINE') return this.refuse(client, 'offline', this.offlineMessage());
    if (!this.tryOpen(client)) this.wait(client);
  }

  private leave(client: Client): void {
    if (client.waitTimer) clearTimeout(client.waitTimer);
    client.waitTimer = null;
    this.waiting.delete(client);
    if (client.pending) this.abandon(client.pending);
  }

  /** Anything that may let waiting clients go (or must stop connections being opened). */
  private afterChange(): void {
    if (!this.canOpen()) {
      for (const p of [...this.pending]) this.requeue(this.abandon(p));
      return;
    }
    for (const client of [...this.waiting]) {
      const server = this.table.target(client.port, (s) => this.load.get(backendKey(s)) ?? 0);
      if (!server) continue;
      this.waiting.delete(client);
      if (client.waitTimer) clearTimeout(client.waitTimer);
      client.waitTimer = null;
      this.open(client, server);
    }
  }

  private waitReason(port: PortKind): string {
    if (this.state !== 'ONLINE') return `the connector is ${this.state}: ${this.stateWhy}`;
    const routes = this.table.current;
    if (!routes) return 'no routes from the managers yet';
    if (routes.hold) return `the managers hold new connections to service ${routes.service} (${routes.hold.reason}, since ${routes.hold.since})`;
    if (port === 'write' || routes.slaves.length === 0) return `the managers name no master for service ${routes.service}`;
    return `the managers name no healthy slave and no master for service ${routes.service}`;
  }

  private offlineMessage(): string {
    return `tungsten-connector ${this.options.name} is OFFLINE: ${this.stateWhy}. It refuses connections until a manager answers again; check the managers (tungsten-manager, cctrl ls) or connect to the master directly`;
  }

  // ---- backend connections ----

  private open(client: Client, server: Backend): void {
    const key = backendKey(server);
    const backendInflow = new Inflow();
    const backend = net.connect({
      host: server.host,
      port: server.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_DELAY_MS,
      onread: backendInflow.onread,
    });
    backendInflow.readFrom(backend, true);
    const pending: Pending = {
      client,
      server,
      key,
      backend,
      backendInflow,
      timer: setTimeout(() => backend.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), this.options.connectTimeoutMs),
    };
    pending.timer.unref();
    client.pending = pending;
    this.pending.add(pending);
    this.addLoad(key, 1);
    backend.once('connect', () => {
      if (!this.pending.has(pending)) return;
      this.settle(pending);
      this.bridge(client, backend, backendInflow, server, key);
    });
    backend.once('error', (e: NodeJS.ErrnoException) => {
      if (!this.pending.has(pending)) return;
      this.settle(pending);
      const role = client.port === 'write' ? 'master' : 'server';
      const why = CONNECT_FAILURES[e.code ?? ''] ?? e.message;
      const service = this.table.service;
      this.options.log.warn(`cannot reach ${role} ${describeBackend(server)}: ${why}`);
      this.refuse(client, 'backendUnreachable', `tungsten-connector ${this.options.name}: cannot reach the ${role} ${describeBackend(server)} of service ${service}: ${why}`);
    });
  }

  /** A connection being opened stops being pending (opened or failed). */
  private settle(p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(p);
    p.client.pending = null;
    this.addLoad(p.key, -1);
  }

  /** Abandon a connection being opened; the client is handed back, not yet bridged. */
  private abandon(p: Pending): Client {
    this.settle(p);
    p.backend.destroy();
    return p.client;
  }

  private bridge(c: Client, backend: net.Socket, backendInflow: Inflow, server: Backend, key: string): void {
    const client = c.socket;
    c.detach();
    if (client.destroyed) {
      backend.destroy();
      return;
    }
    const b: Bridge = { close: () => undefined, port: c.port, server, key, endTimer: null };
    this.bridges.add(b);
    this.addLoad(key, 1);
    this.created++;
    const unavailable = this.options.forwarding === 'streams' ? 'asked for' : handleBridgeUnavailable(client, backend);
    if (unavailable === null) {
      const forwarding = new HandleBridge(
        { socket: client, early: c.inflow.takeHeld(), buffer: c.inflow.onread.buffer },
        { socket: backend, early: backendInflow.takeHeld(), buffer: backendInflow.onread.buffer },
        () => this.unbridge(b),
      );
      b.close = () => forwarding.end();
      return;
    }
    if (!this.saidWhyStreams && this.options.forwarding !== 'streams') {
      this.saidWhyStreams = true;
      this.options.log.info(`forwarding through net.Socket (more CPU per transaction): ${unavailable}`);
    }
    b.close = () => {
      client.destroy();
      backend.destroy();
    };
    let closed = 0;
    const onClose = (other: net.Socket) => (hadError: boolean) => {
      if (hadError) other.destroy();
      else if (!other.destroyed) {
        other.end();
        setTimeout(() => other.destroy(), LINGER_MS).unref();
      }
      if (++closed === 2) this.unbridge(b);
    };
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
    client.once('close', onClose(backend));
    backend.once('close', onClose(client));
    c.inflow.forwardTo(backend);
    backendInflow.forwardTo(client);
  }

  private unbridge(b: Bridge): void {
    if (!this.bridges.delete(b)) return;
    if (b.endTimer) clearTimeout(b.endTimer);
    this.addLoad(b.key, -1);
  }

  /** Force-close a bridged connection (switch grace over, failover, OFFLINE, stop). */
  private endBridge(b: Bridge): void {
    b.close();
    this.unbridge(b);
  }

  private addLoad(key: string, delta: number): void {
    const n = (this.load.get(key) ?? 0) + delta;
    if (n <= 0) this.load.delete(key);
    else this.load.set(key, n);
  }

  private refuse(client: Client, kind: RefusalKind, message: string): void {
    this.leave(client);
    client.detach();
    this.refused++;
    const socket = client.socket;
    if (socket.destroyed) return;
    socket.on('error', () => socket.destroy());
    client.inflow.drop(); // read (and drop) whatever it sends, so its FIN is seen
    socket.resume();
    socket.end(refusalPacket(kind, message));
    setTimeout(() => socket.destroy(), REFUSE_CLOSE_MS).unref();
  }
}

const CONNECT_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'no answer (timed out)',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
};

function bindError(e: NodeJS.ErrnoException, address: ListenAddress, port: PortKind): ToolkitError {
  const where = formatAddress(address.host, address.port);
  const flag = port === 'write' ? '--listen' : '--read-listen';
  if (e.code === 'EADDRINUSE') {
    return new ToolkitError('refused', `cannot listen on ${where}: the address is already in use`, `another process listens there: stop it, or give ${flag} another port`);
  }
  if (e.code === 'EADDRNOTAVAIL') {
    return new ToolkitError('refused', `cannot listen on ${where}: not an address of this host`, `give ${flag} an address of this host (default 127.0.0.1)`);
  }
  if (e.code === 'EACCES') {
    return new ToolkitError('refused', `cannot listen on ${where}: permission denied`, `ports below 1024 need privileges; give ${flag} a higher port`);
  }
  return new ToolkitError('refused', `cannot listen on ${where}: ${e.message}`);
}

export function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

