/**
 * A thin etcd v3 client over etcd's JSON gRPC gateway (`POST /v3/...`), for etcd 3.4 and later.
 *
 * Why not an npm etcd library: see reference/ha-connector-research.md §3 (lease loss reported a TTL
 * late, automatic retries of writes, 3.4 not tested). What this client promises instead:
 *
 * - Every request attempt has a deadline (`timeoutMs`) that covers connecting, a server that accepts
 *   TCP and never answers, and reading the whole answer; answers are bounded in size.
 * - Endpoints rotate: the endpoint that last worked is tried first; a connection failure, a timeout,
 *   an HTTP 5xx, an etcd "request timed out / leader changed / no leader / Unavailable" answer, or an
 *   answer from a stale member moves on to the next one. Reads, lease grants, keepalives and revokes
 *   are tried on every endpoint once within one call. A write (put, txn) moves on only when the
 *   request provably never reached a server (the connection was never made); any failure after that
 *   is an EtcdAmbiguousError: the write may or may not have committed, re-read before acting.
 * - Stale members: the highest raft term seen in an answer of the quorum (linearizable reads, writes,
 *   lease calls) is kept, and an answer carrying a lower term is refused (Patroni's StaleEtcdNode).
 *   Watch and status answers are checked against it but never raise it: a member cut off from the
 *   others keeps campaigning (etcd 3.4 has pre-vote off) and its term grows while it knows nothing.
 *   Every answer must also come from the cluster the first answer came from.
 * - Credentials: the password and the token never appear in an error message (any text an endpoint
 *   sends back is scrubbed of them too).
 * - `close()` ends every request, watch and pooled socket; no timer is left behind.
 *
 * Keys and values are UTF-8 strings here and base64 on the wire; int64s arrive as decimal strings.
 * Revisions and terms become numbers; lease, member and cluster ids stay strings (they exceed 2^53).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ToolkitError } from '../../errors.js';
import type { EtcdCompare, EtcdHeader, EtcdKeyValue, EtcdKv, EtcdOp, EtcdTxnResult, EtcdWatchEvent } from './kv.js';

export interface EtcdTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface EtcdClientOptions {
  /** Client URLs, `http://127.0.0.1:2379` or `https://...`. */
  endpoints: string[];
  /** Deadline of each request attempt (one endpoint), ms. */
  timeoutMs: number;
  tls?: EtcdTls;
  /** An etcd user: authenticated once, the token sent in `Authorization`, renewed once on an invalid-token answer. */
  auth?: { user: string; password: string };
  /** Monotonic milliseconds (default performance.now), for `sentAt`. */
  now?: () => number;
  /** Largest answer accepted, bytes (default 8 MiB); a larger one is refused and the endpoint counted as failed. */
  maxResponseBytes?: number;
}

// The shapes of keys, compares and ops are the ones the group codes against (kv.ts).
export type { EtcdCompare, EtcdHeader, EtcdKeyValue, EtcdOp, EtcdTxnResult } from './kv.js';

export type { EtcdWatchEvent } from './kv.js';

export interface EtcdMemberHealth {
  endpoint: string;
  /** It answered, knows a leader and reports no alarm. */
  ok: boolean;
  /** It is the leader. */
  leader: boolean;
  raftTerm: number | null;
  error: string | null;
}

/** No endpoint answered usefully; `attempts` says why, endpoint by endpoint. */
export class EtcdUnavailableError extends ToolkitError {
  constructor(
    message: string,
    readonly attempts: Array<{ endpoint: string; reason: string }>,
  ) {
    super('unreachable', message, 'check that a majority of the etcd members run and that manager.etcd.endpoints lists them');
    this.name = 'EtcdUnavailableError';
  }
}

/** A write was sent and then timed out or its connection broke: it may or may not have committed. */
export class EtcdAmbiguousError extends ToolkitError {
  constructor(
    message: string,
    readonly endpoint: string,
  ) {
    super('timeout', message, 'read the key again before acting: the write may have been applied');
    this.name = 'EtcdAmbiguousError';
  }
}

export class EtcdLeaseLostError extends ToolkitError {
  constructor(readonly leaseId: string) {
    super('refused', `etcd lease ${leaseId} has expired or was revoked`);
    this.name = 'EtcdLeaseLostError';
  }
}

/** etcd answered with an error: its gRPC code and message (a watch canceled by etcd carries its compact revision, if any). */
export class EtcdRequestError extends ToolkitError {
  constructor(
    message: string,
    readonly code: number,
    readonly etcdMessage: string,
    readonly endpoint: string,
    /** The gateway's HTTP status, when it gave one. */
    readonly status: number | null = null,
    readonly compactRevision: number | null = null,
  ) {
    super(code === 16 || /authentication failed|user name is empty|permission denied/.test(etcdMessage) ? 'unauthorized' : 'refused', message);
    this.name = 'EtcdRequestError';
  }
}

const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** gRPC codes that say "this member cannot serve now, another may": DeadlineExceeded, Unavailable. */
const RETRYABLE_CODES = new Set([4, 14]);
const RETRYABLE_MESSAGE = /etcdserver: (request timed out|leader changed|no leader)|Unavailable/;
const INVALID_TOKEN = /invalid auth token/;

interface Endpoint {
  url: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
}

/** One failed attempt on one endpoint. `sent`: the request may have reached the server. */
class AttemptFailure extends Error {
  constructor(
    readonly reason: string,
    readonly sent: boolean,
    /** etcd's own error answer, when that is what failed. */
    readonly etcd: { code: number; message: string; httpStatus: number } | null = null,
    readonly retryable = true,
  ) {
    super(reason);
  }
}

type Json = Record<string, unknown>;

type CallKind =
  /** Safe to send again to another endpoint after any failure (reads, lease calls). */
  | 'retryable'
  /** A write: sent again only if it never reached a server. */
  | 'write';

interface CallOptions {
  kind: CallKind;
  /** The answer's header: where it sits in the answer (keepalive wraps it in `result`). */
  headerOf?: (json: Json) => unknown;
  /** Whether a good answer's raft term may raise the highest term seen (answers of the quorum only). */
  raisesTerm: boolean;
  /** Send the auth token (everything but status). */
  authenticated: boolean;
}

const READ: CallOptions = { kind: 'retryable', raisesTerm: true, authenticated: true };
const WRITE: CallOptions = { kind: 'write', raisesTerm: true, authenticated: true };

function parseEndpoint(raw: string): Endpoint {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ToolkitError('usage', `bad etcd endpoint '${raw}': not a URL`, 'write it as http://HOST:PORT or https://HOST:PORT');
  }
  const shown = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ToolkitError('usage', `bad etcd endpoint '${shown}': the scheme must be http or https`, 'write it as http://HOST:PORT or https://HOST:PORT');
  }
  if (u.username || u.password) {
    throw new ToolkitError('usage', `bad etcd endpoint '${shown}': credentials do not belong in the URL`, 'give the etcd user and password as the client\'s auth settings');
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new ToolkitError('usage', `bad etcd endpoint '${shown}': a client URL has no path`, 'write it as http://HOST:PORT or https://HOST:PORT');
  }
  if (!u.hostname) throw new ToolkitError('usage', `bad etcd endpoint '${shown}': no host`);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { url: `${u.protocol}//${u.host}`, protocol: u.protocol, hostname, port };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The end of the range of every key that starts with `prefix` (etcd's "prefix + 1"); '\0' for all keys. */
function prefixRangeEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

/** etcd range bounds for a key or a prefix (the empty prefix: every key). */
function rangeOf(key: string, prefix: boolean | undefined): { key: string; range_end?: string } {
  if (!prefix) return { key: b64(key) };
  return { key: key === '' ? Buffer.from([0]).toString('base64') : b64(key), range_end: prefixRangeEnd(key) };
}

/** An int64 as etcd's JSON gives it (a decimal string, or absent for 0) as a number. */
function int(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new AttemptFailure(`bad answer: ${what} is not an integer`, true);
  return n;
}

/** An int64 id (lease, member, cluster) as its decimal string; '0' when absent. */
function id(v: unknown, what: string): string {
  if (v === undefined || v === null) return '0';
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^-?\d+$/.test(s)) throw new AttemptFailure(`bad answer: ${what} is not an integer`, true);
  return s;
}

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function decodeHeader(v: unknown): EtcdHeader {
  const h = obj(v);
  return {
    revision: int(h.revision, 'header.revision'),
    raftTerm: int(h.raft_term, 'header.raft_term'),
    memberId: id(h.member_id, 'header.member_id'),
    clusterId: id(h.cluster_id, 'header.cluster_id'),
  };
}

function decodeKeyValue(v: unknown): EtcdKeyValue {
  const kv = obj(v);
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: int(kv.create_revision, 'kv.create_revision'),
    modRevision: int(kv.mod_revision, 'kv.mod_revision'),
    version: int(kv.version, 'kv.version'),
    lease: id(kv.lease, 'kv.lease'),
  };
}

const decodeKvs = (v: unknown): EtcdKeyValue[] => (Array.isArray(v) ? v.map(decodeKeyValue) : []);

/** etcd's error answer, in either of the gateway's shapes: unary `{error, code, message}`, streamed `{error: {grpc_code, http_code, message}}`. */
function etcdErrorOf(json: Json, httpStatus: number): { code: number; message: string; httpStatus: number } | null {
  const e = json.error;
  if (e === undefined || e === null || e === '') return null;
  if (typeof e === 'object') {
    const inner = obj(e);
    return {
      code: Number(inner.grpc_code ?? inner.code ?? 2),
      message: String(inner.message ?? JSON.stringify(inner)),
      httpStatus: Number(inner.http_code ?? httpStatus),
    };
  }
  return { code: Number(json.code ?? 2), message: String(json.message ?? e), httpStatus };
}

function validLeaseId(lease: string): string {
  if (!/^\d+$/.test(lease)) throw new ToolkitError('usage', `bad etcd lease id '${lease}'`);
  return lease;
}

const COMPARE_FIELD = { CREATE: 'create_revision', MOD: 'mod_revision', VERSION: 'version', LEASE: 'lease', VALUE: 'value' } as const;

function encodeCompare(c: EtcdCompare): Json {
  const field = COMPARE_FIELD[c.target];
  let value: string;
  if (c.target === 'VALUE') {
    value = b64(String(c.value));
  } else {
    value = String(c.value);
    if (!/^-?\d+$/.test(value) || (typeof c.value === 'number' && !Number.isSafeInteger(c.value))) {
      throw new ToolkitError('usage', `etcd compare on ${c.target} of '${c.key}' needs an integer, not '${value}'`);
    }
  }
  return { key: b64(c.key), target: c.target, result: c.result, [field]: value };
}

function encodeOp(op: EtcdOp): Json {
  if ('put' in op) {
    return { request_put: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease ? { lease: validLeaseId(op.put.lease) } : {}) } };
  }
  if ('delete' in op) return { request_delete_range: rangeOf(op.delete.key, op.delete.prefix) };
  return { request_range: rangeOf(op.range.key, op.range.prefix) };
}

/** Splits a byte stream into newline-delimited JSON objects; lines are bounded. */
class NdjsonReader {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly maxLine: number) {}

  /** The complete objects in what arrived so far; throws on a bad or oversized line. */
  push(chunk: Buffer): Json[] {
    const out: Json[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      this.append(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts, this.size).toString('utf8').trim();
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      if (line === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error('bad answer: a watch message is not JSON');
      }
      out.push(obj(parsed));
    }
    this.append(chunk.subarray(start));
    return out;
  }

  private append(b: Buffer): void {
    if (b.length === 0) return;
    this.size += b.length;
    if (this.size > this.maxLine) throw new Error(`answer refused: a watch message is larger than ${this.maxLine} bytes`);
    this.parts.push(b);
  }
}

export class EtcdClient implements EtcdKv {
  private readonly endpoints: Endpoint[];
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly now: () => number;
  private readonly auth: { user: string; password: string } | undefined;
  /** Keep-alive sockets, for reads and lease calls. */
  private readonly pooled: http.Agent;
  /** A new connection per request, for writes (a stale pooled socket must not make a write ambiguous) and watches. */
  private readonly fresh: http.Agent;
  private current = 0;
  private highestTerm = 0;
  private clusterId: string | null = null;
  private token: string | null = null;
  /** Every token etcd gave this client: none of them may appear in an error. */
  private readonly tokens: string[] = [];
  private authenticating: Promise<string> | null = null;
  private closed = false;
  private readonly inFlight = new Set<http.ClientRequest>();
  private readonly watches = new Set<{ close(): void }>();

  constructor(opts: EtcdClientOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
      throw new ToolkitError('usage', 'no etcd endpoint given', 'list the etcd client URLs, e.g. http://127.0.0.1:2379');
    }
    this.endpoints = opts.endpoints.map((e) => parseEndpoint(String(e).trim()));
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
      throw new ToolkitError('usage', `bad etcd request timeout '${opts.timeoutMs}': it must be a positive number of milliseconds`);
    }
    this.timeoutMs = opts.timeoutMs;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.now = opts.now ?? (() => performance.now());
    if (opts.auth && (!opts.auth.user || typeof opts.auth.password !== 'string')) {
      throw new ToolkitError('usage', 'etcd authentication needs a user name and a password');
    }
    this.auth = opts.auth;
    const tlsOptions: https.AgentOptions = {};
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (e) {
        throw new ToolkitError('usage', `cannot read the etcd ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    };
    if (opts.tls?.caFile) tlsOptions.ca = read(opts.tls.caFile, 'CA certificate');
    if (opts.tls?.certFile) tlsOptions.cert = read(opts.tls.certFile, 'client certificate');
    if (opts.tls?.keyFile) tlsOptions.key = read(opts.tls.keyFile, 'client key');
    if (Boolean(tlsOptions.cert) !== Boolean(tlsOptions.key)) {
      throw new ToolkitError('usage', 'an etcd client certificate needs its key, and a key its certificate');
    }
    const usesTls = this.endpoints.some((e) => e.protocol === 'https:');
    if (usesTls && this.endpoints.some((e) => e.protocol === 'http:')) {
      throw new ToolkitError('usage', 'etcd endpoints mix http and https', 'use one scheme for every member');
    }
    this.pooled = usesTls
      ? new https.Agent({ keepAlive: true, ...tlsOptions })
      : new http.Agent({ keepAlive: true });
    this.fresh = usesTls ? new https.Agent({ keepAlive: false, ...tlsOptions }) : new http.Agent({ keepAlive: false });
  }

  /** The endpoint the next call tries first (the one that last worked). */
  get currentEndpoint(): string {
    return this.endpoints[this.current]!.url;
  }

  async get(key: string): Promise<{ header: EtcdHeader; kv: EtcdKeyValue | null }> {
    return this.call('/v3/kv/range', rangeOf(key, false), READ, (json) => ({ header: decodeHeader(json.header), kv: decodeKvs(json.kvs)[0] ?? null }));
  }

  async range(prefix: string): Promise<{ header: EtcdHeader; kvs: EtcdKeyValue[] }> {
    return this.call('/v3/kv/range', rangeOf(prefix, true), READ, (json) => ({ header: decodeHeader(json.header), kvs: decodeKvs(json.kvs) }));
  }

  async put(key: string, value: string, lease?: string): Promise<EtcdHeader> {
    const body = { key: b64(key), value: b64(value), ...(lease ? { lease: validLeaseId(lease) } : {}) };
    return this.call('/v3/kv/put', body, WRITE, (json) => decodeHeader(json.header));
  }

  /** A transaction; never sent twice once it may have reached a server. */
  async txn(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[] = []): Promise<EtcdTxnResult> {
    const body = { compare: compare.map(encodeCompare), success: success.map(encodeOp), failure: failure.map(encodeOp) };
    return this.call('/v3/kv/txn', body, WRITE, (json) => {
      const responses = Array.isArray(json.responses) ? json.responses : [];
      const ranges = responses.map(obj).filter((r) => 'response_range' in r).map((r) => decodeKvs(obj(r.response_range).kvs));
      return { header: decodeHeader(json.header), succeeded: json.succeeded === true, ranges };
    });
  }

  async leaseGrant(ttlSeconds: number): Promise<{ id: string; ttl: number; sentAt: number }> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new ToolkitError('usage', `bad etcd lease TTL '${ttlSeconds}': whole seconds, 1 or more`);
    let sentAt = 0;
    return this.call(
      '/v3/lease/grant',
      { TTL: String(ttlSeconds) },
      READ,
      (json) => {
        const ttl = int(json.TTL, 'TTL');
        const leaseId = id(json.ID, 'ID');
        if (leaseId === '0' || ttl <= 0) throw new AttemptFailure('bad answer: no lease granted', true);
        return { id: leaseId, ttl, sentAt };
      },
      () => {
        sentAt = this.now();
      },
    );
  }

  /**
   * Renews a lease once. `sentAt` is now() just before the attempt that was answered was sent: the
   * lease lasts at least `ttl` seconds from then. A lease etcd no longer knows: EtcdLeaseLostError.
   */
  async leaseKeepAlive(leaseId: string): Promise<{ ttl: number; sentAt: number }> {
    validLeaseId(leaseId);
    let sentAt = 0;
    return this.call(
      '/v3/lease/keepalive',
      { ID: leaseId },
      { ...READ, headerOf: (j) => obj(j.result).header },
      (json) => {
        // The gateway answers a unary call on etcd's keepalive stream: {"result": {header, ID, TTL}}; no TTL: lease gone.
        const ttl = int(obj(json.result).TTL, 'TTL');
        if (ttl <= 0) throw new EtcdLeaseLostError(leaseId);
        return { ttl, sentAt };
      },
      () => {
        sentAt = this.now();
      },
    );
  }

  /** Revokes a lease (its keys go); a lease etcd no longer knows counts as revoked. Safe to resend: revoking is idempotent. */
  async leaseRevoke(leaseId: string): Promise<void> {
    validLeaseId(leaseId);
    try {
      await this.call('/v3/lease/revoke', { ID: leaseId }, READ, () => undefined);
    } catch (e) {
      if (e instanceof EtcdRequestError && /requested lease not found/.test(e.etcdMessage)) return;
      throw e;
    }
  }

  /**
   * Watches every key under `prefix` from `fromRevision` (0: from now). Events arrive in revision
   * order. The watch ends, calling onError once, when etcd cancels it (a compacted revision: the
   * error's compactRevision), the stream ends or breaks, or no endpoint accepts it; it is not
   * resumed silently: re-read and watch again. Nothing is called after close().
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: EtcdWatchEvent[], header: EtcdHeader) => void,
    onError: (e: Error) => void,
  ): { close(): void } {
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new ToolkitError('usage', `bad etcd watch revision '${fromRevision}'`);
    let done = false;
    let req: http.ClientRequest | null = null;
    const handle = {
      close: () => {
        done = true;
        this.watches.delete(handle);
        // etcd's cancel message does not end the gateway's HTTP stream: the request is ended here.
        req?.destroy();
        req = null;
      },
    };
    this.watches.add(handle);
    const fail = (e: Error) => {
      if (done) return;
      handle.close();
      onError(e);
    };
    const body = { create_request: { ...rangeOf(prefix, true), start_revision: String(fromRevision) } };

    const open = async () => {
      const attempts: Array<{ endpoint: string; reason: string }> = [];
      let renewedToken = false;
      const first = this.current;
      for (let n = 0; n < this.endpoints.length && !done; n++) {
        const index = (first + n) % this.endpoints.length;
        const ep = this.endpoints[index]!;
        try {
          const token = await this.tokenFor(ep);
          if (done) return;
          await this.openWatch(ep, body, token, (r) => (req = r), onEvents, fail, () => done);
          this.current = index;
          return;
        } catch (e) {
          if (done) return;
          if (e instanceof EtcdRequestError && INVALID_TOKEN.test(e.etcdMessage) && !renewedToken) {
            renewedToken = true;
            this.token = null;
            n--;
            continue;
          }
          if (!(e instanceof AttemptFailure)) return fail(e as Error);
          attempts.push({ endpoint: ep.url, reason: e.reason });
          if (index === this.current) this.current = (index + 1) % this.endpoints.length;
        }
      }
      fail(this.unavailable('no etcd endpoint accepted the watch', attempts));
    };
    if (this.closed) {
      queueMicrotask(() => fail(new EtcdUnavailableError('the etcd client is closed', [])));
    } else {
      void open();
    }
    return handle;
  }

  /** Status of every endpoint, asked at the same time: does etcd have a leader, which member is it. */
  async memberHealth(): Promise<EtcdMemberHealth[]> {
    return Promise.all(
      this.endpoints.map(async (ep): Promise<EtcdMemberHealth> => {
        try {
          const json = await this.attempt(ep, '/v3/maintenance/status', {}, { kind: 'retryable', raisesTerm: false, authenticated: false }, null);
          const header = decodeHeader(json.header);
          const leader = id(json.leader, 'leader');
          const raftTerm = json.raftTerm === undefined ? header.raftTerm : int(json.raftTerm, 'raftTerm');
          const alarms = Array.isArray(json.errors) ? json.errors.map(String) : [];
          const error = leader === '0' ? 'no leader' : alarms.length > 0 ? this.scrub(alarms.join('; ')) : null;
          return { endpoint: ep.url, ok: error === null, leader: leader !== '0' && leader === header.memberId, raftTerm, error };
        } catch (e) {
          const reason = e instanceof AttemptFailure ? e.reason : e instanceof Error ? e.message : String(e);
          return { endpoint: ep.url, ok: false, leader: false, raftTerm: null, error: this.scrub(reason) };
        }
      }),
    );
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    for (const r of [...this.inFlight]) r.destroy(new AttemptFailure('the etcd client was closed', true));
    this.inFlight.clear();
    this.pooled.destroy();
    this.fresh.destroy();
  }

  // ---------------------------------------------------------------------------------------------

  /** One call: the endpoints in turn from the one that last worked, as the call's kind allows. */
  private async call<T>(path: string, body: Json, opts: CallOptions, decode: (json: Json) => T, beforeSend?: () => void): Promise<T> {
    if (this.closed) throw new EtcdUnavailableError('the etcd client is closed', []);
    const attempts: Array<{ endpoint: string; reason: string }> = [];
    let renewedToken = false;
    const first = this.current;
    for (let n = 0; n < this.endpoints.length; n++) {
      const index = (first + n) % this.endpoints.length;
      const ep = this.endpoints[index]!;
      try {
        let token: string | null;
        try {
          token = opts.authenticated ? await this.tokenFor(ep) : null;
        } catch (e) {
          // Authentication never reached the write: the write itself was not sent.
          if (e instanceof AttemptFailure) throw new AttemptFailure(`authentication failed: ${e.reason}`, false);
          throw e;
        }
        const json = await this.attempt(ep, path, body, opts, token, beforeSend);
        const value = decode(json);
        this.current = index;
        return value;
      } catch (e) {
        if (e instanceof EtcdRequestError) {
          if (INVALID_TOKEN.test(e.etcdMessage) && this.auth && !renewedToken) {
            // etcd rejects a request with a bad token before acting on it: asking again is safe.
            renewedToken = true;
            this.token = null;
            n--;
            continue;
          }
          this.current = index;
          throw e;
        }
        if (!(e instanceof AttemptFailure)) {
          this.current = index;
          throw e;
        }
        if (index === this.current) this.current = (index + 1) % this.endpoints.length;
        if (opts.kind === 'write' && e.sent) {
          throw new EtcdAmbiguousError(
            `etcd write to ${ep.url} may or may not have been applied: ${e.reason}`,
            ep.url,
          );
        }
        attempts.push({ endpoint: ep.url, reason: e.reason });
        if (this.closed) break;
      }
    }
    throw this.unavailable('no etcd endpoint answered', attempts);
  }

  private unavailable(what: string, attempts: Array<{ endpoint: string; reason: string }>): EtcdUnavailableError {
    const list = attempts.map((a) => `${a.endpoint}: ${a.reason}`).join('; ');
    return new EtcdUnavailableError(this.scrub(`${what}${list ? ` (${list})` : ''}`), attempts.map((a) => ({ endpoint: a.endpoint, reason: this.scrub(a.reason) })));
  }

  /** Removes the password and the token from any text (an endpoint may echo what it was sent). */
  private scrub(text: string): string {
    let out = text;
    for (const secret of [this.auth?.password, ...this.tokens]) {
      if (secret) out = out.split(secret).join('***');
    }
    return out;
  }

  /** The token to send to `ep` (authenticating there if there is none yet), or null without auth. */
  private async tokenFor(ep: Endpoint): Promise<string | null> {
    if (!this.auth) return null;
    if (this.token) return this.token;
    if (!this.authenticating) {
      const auth = this.auth;
      this.authenticating = (async () => {
        try {
          const json = await this.attempt(ep, '/v3/auth/authenticate', { name: auth.user, password: auth.password }, { kind: 'retryable', raisesTerm: true, authenticated: false }, null);
          if (typeof json.token !== 'string' || json.token === '') throw new AttemptFailure('bad answer: no token', true);
          this.token = json.token;
          this.tokens.push(json.token);
          return json.token;
        } catch (e) {
          if (e instanceof EtcdRequestError) {
            throw new EtcdRequestError(
              `etcd authentication as user '${auth.user}' failed: ${e.etcdMessage}`,
              e.code,
              e.etcdMessage,
              e.endpoint,
              e.status,
            );
          }
          throw e;
        } finally {
          this.authenticating = null;
        }
      })();
    }
    return this.authenticating;
  }

  /** One request to one endpoint: the checked JSON answer, or why not (AttemptFailure, EtcdRequestError). */
  private async attempt(ep: Endpoint, path: string, body: Json, opts: CallOptions, token: string | null, beforeSend?: () => void): Promise<Json> {
    const agent = opts.kind === 'write' ? this.fresh : this.pooled;
    beforeSend?.();
    const { status, text } = await this.post(ep, path, JSON.stringify(body), token, agent);
    let json: Json;
    try {
      json = obj(JSON.parse(text));
    } catch {
      throw new AttemptFailure(
        status >= 500 ? `HTTP ${status}` : status === 404 ? 'HTTP 404: no etcd v3 gateway here (etcd 3.4 or later serves /v3)' : `bad answer (HTTP ${status}, not JSON)`,
        true,
      );
    }
    const etcdError = etcdErrorOf(json, status) ?? (path === '/v3/lease/keepalive' ? etcdErrorOf(obj(json.result), status) : null);
    if (etcdError) {
      const message = this.scrub(etcdError.message);
      if (status >= 500 || etcdError.httpStatus >= 500 || RETRYABLE_CODES.has(etcdError.code) || RETRYABLE_MESSAGE.test(message)) {
        throw new AttemptFailure(`etcd: ${message}`, true, { ...etcdError, message });
      }
      throw new EtcdRequestError(`etcd refused the request at ${ep.url}: ${message}`, etcdError.code, message, ep.url, status);
    }
    if (status !== 200) throw new AttemptFailure(`HTTP ${status}`, true);
    this.checkHeader(ep, (opts.headerOf ?? ((j) => j.header))(json), opts.raisesTerm);
    return json;
  }

  /** Refuses an answer of another cluster or of a member behind the highest raft term seen. */
  private checkHeader(ep: Endpoint, raw: unknown, raisesTerm: boolean): void {
    if (raw === null || typeof raw !== 'object') throw new AttemptFailure('bad answer: no response header', true);
    const header = decodeHeader(raw);
    if (this.clusterId === null) {
      if (header.clusterId !== '0') this.clusterId = header.clusterId;
    } else if (header.clusterId !== this.clusterId) {
      throw new AttemptFailure(`answered for etcd cluster ${header.clusterId}, not ${this.clusterId}`, true);
    }
    if (header.raftTerm < this.highestTerm) {
      throw new AttemptFailure(`stale member: raft term ${header.raftTerm} is behind ${this.highestTerm} seen before`, true);
    }
    if (raisesTerm) this.highestTerm = header.raftTerm;
  }

  /** A POST with a deadline over the whole exchange and a bounded answer. */
  private post(ep: Endpoint, path: string, body: string, token: string | null, agent: http.Agent): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new AttemptFailure('the etcd client was closed', false));
      let connected = false;
      let settled = false;
      const transport = ep.protocol === 'https:' ? https : http;
      const req = transport.request({
        protocol: ep.protocol,
        hostname: ep.hostname,
        port: ep.port,
        method: 'POST',
        path,
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token ? { authorization: token } : {}),
        },
      });
      this.inFlight.add(req);
      const finish = (err: Error | null, value?: { status: number; text: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(req);
        if (err) {
          req.destroy();
          reject(err);
        } else {
          resolve(value!);
        }
      };
      const timer = setTimeout(() => {
        finish(new AttemptFailure(`no answer within ${this.timeoutMs} ms${connected ? '' : ' (not connected)'}`, connected));
      }, this.timeoutMs);
      timer.unref();
      req.on('socket', (socket: Socket) => {
        if (req.reusedSocket || !socket.connecting) {
          connected = true;
        } else {
          socket.once(ep.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
            connected = true;
          });
        }
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof AttemptFailure) return finish(e);
        finish(new AttemptFailure(describeSocketError(e), connected));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > this.maxResponseBytes) {
          return finish(new AttemptFailure(`answer refused: ${declared} bytes is more than the ${this.maxResponseBytes} allowed`, true));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            finish(new AttemptFailure(`answer refused: more than the ${this.maxResponseBytes} bytes allowed`, true));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(null, { status, text: Buffer.concat(chunks, size).toString('utf8') }));
        res.on('aborted', () => finish(new AttemptFailure('the connection broke during the answer', true)));
        res.on('error', (e: NodeJS.ErrnoException) => finish(new AttemptFailure(describeSocketError(e), true)));
        res.on('close', () => {
          if (!res.complete) finish(new AttemptFailure('the connection broke during the answer', true));
        });
      });
      req.end(body);
    });
  }

  /**
   * Opens a watch stream on `ep`: resolves once etcd confirms it (created), rejects with
   * AttemptFailure / EtcdRequestError if it does not. After that, events go to onEvents and the
   * stream's end or failure to fail (once).
   */
  private openWatch(
    ep: Endpoint,
    body: Json,
    token: string | null,
    setReq: (r: http.ClientRequest | null) => void,
    onEvents: (events: EtcdWatchEvent[], header: EtcdHeader) => void,
    fail: (e: Error) => void,
    isDone: () => boolean,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const transport = ep.protocol === 'https:' ? https : http;
      let phase: 'opening' | 'open' | 'over' = 'opening';
      let connected = false;
      const reader = new NdjsonReader(this.maxResponseBytes);
      const req = transport.request({
        protocol: ep.protocol,
        hostname: ep.hostname,
        port: ep.port,
        method: 'POST',
        path: '/v3/watch',
        agent: this.fresh,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...(token ? { authorization: token } : {}),
        },
      });
      setReq(req);
      const timer = setTimeout(() => {
        end(new AttemptFailure(`the watch was not confirmed within ${this.timeoutMs} ms${connected ? '' : ' (not connected)'}`, connected));
      }, this.timeoutMs);
      timer.unref();
      /** Ends this request: while opening, rejects (the caller may try another endpoint); once open, the watch fails. */
      const end = (e: Error) => {
        const was = phase;
        if (was === 'over') return;
        phase = 'over';
        clearTimeout(timer);
        req.destroy();
        if (isDone()) return;
        if (was === 'opening') {
          setReq(null);
          reject(e);
        } else {
          const reason = e.message;
          fail(e instanceof AttemptFailure ? new EtcdUnavailableError(`etcd watch on ${ep.url} ended: ${reason}`, [{ endpoint: ep.url, reason }]) : e);
        }
      };
      req.on('socket', (socket: Socket) => {
        if (!socket.connecting) connected = true;
        else socket.once(ep.protocol === 'https:' ? 'secureConnect' : 'connect', () => (connected = true));
      });
      req.on('error', (e: NodeJS.ErrnoException) => end(e instanceof AttemptFailure ? e : new AttemptFailure(describeSocketError(e), connected)));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          // An error answer: read it (bounded) and say what etcd said.
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 65536) chunks.push(c);
          });
          res.on('end', () => {
            let parsed: ReturnType<typeof etcdErrorOf> = null;
            try {
              parsed = etcdErrorOf(obj(JSON.parse(Buffer.concat(chunks).toString('utf8'))), status);
            } catch {
              // not JSON
            }
            const message = parsed ? this.scrub(parsed.message) : `HTTP ${status}`;
            if (parsed && status < 500 && !RETRYABLE_CODES.has(parsed.code) && !RETRYABLE_MESSAGE.test(message)) {
              end(new EtcdRequestError(`etcd refused the watch at ${ep.url}: ${message}`, parsed.code, message, ep.url, status));
            } else {
              end(new AttemptFailure(parsed ? `etcd: ${message}` : message, true));
            }
          });
          res.on('error', () => end(new AttemptFailure(`HTTP ${status}`, true)));
          res.on('close', () => end(new AttemptFailure(`HTTP ${status}`, true)));
          return;
        }
        res.on('data', (chunk: Buffer) => {
          if (phase === 'over') return;
          try {
            for (const m of reader.push(chunk)) {
              if ((phase as string) === 'over' || isDone()) return;
              handleMessage(m);
            }
          } catch (e) {
            end(e instanceof AttemptFailure || e instanceof EtcdRequestError ? e : new AttemptFailure((e as Error).message, true));
          }
        });
        res.on('end', () => end(new AttemptFailure('the watch stream ended', true)));
        res.on('close', () => end(new AttemptFailure('the watch stream ended', true)));
        res.on('error', (e: NodeJS.ErrnoException) => end(new AttemptFailure(describeSocketError(e), true)));
      });

      const handleMessage = (m: Json) => {
        const topError = etcdErrorOf(m, 200);
        if (topError) {
          const message = this.scrub(topError.message);
          if (RETRYABLE_CODES.has(topError.code) || RETRYABLE_MESSAGE.test(message) || topError.httpStatus >= 500) throw new AttemptFailure(`etcd: ${message}`, true);
          throw new EtcdRequestError(`etcd ended the watch at ${ep.url}: ${message}`, topError.code, message, ep.url, 200);
        }
        const result = obj(m.result);
        this.checkHeader(ep, result.header, false);
        const header = decodeHeader(result.header);
        if (result.canceled === true) {
          // etcd cancels a watch (a compacted start revision, a permission or token problem) and
          // leaves the HTTP stream open: end() closes it.
          const compact = int(result.compact_revision, 'compact_revision');
          const reason =
            typeof result.cancel_reason === 'string' && result.cancel_reason
              ? this.scrub(result.cancel_reason)
              : compact > 0
                ? `revision ${compact} and older are compacted`
                : 'canceled by etcd';
          if (RETRYABLE_MESSAGE.test(reason)) throw new AttemptFailure(`etcd: ${reason}`, true);
          const code = INVALID_TOKEN.test(reason) ? 16 : compact > 0 ? 11 : 1;
          throw new EtcdRequestError(`etcd canceled the watch at ${ep.url}: ${reason}`, code, reason, ep.url, 200, compact > 0 ? compact : null);
        }
        if (phase === 'opening') {
          if (result.created !== true) throw new AttemptFailure('bad answer: the watch was not confirmed', true);
          phase = 'open';
          clearTimeout(timer);
          resolve();
        }
        const events = Array.isArray(result.events) ? result.events.map(obj) : [];
        if (events.length === 0) return;
        const decoded = events.map((ev): EtcdWatchEvent => ({ type: ev.type === 'DELETE' ? 'DELETE' : 'PUT', kv: decodeKeyValue(ev.kv) }));
        onEvents(decoded, header);
      };
      req.end(payload);
    });
  }
}

function describeSocketError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EPIPE':
      return 'connection closed while sending';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found';
    default:
      return describeTlsError(e) ?? (e.code ? `${e.code}: ${e.message}` : e.message);
  }
}

/** OpenSSL's errors in words an operator acts on (its own text is a multi-line dump of library internals). */
function describeTlsError(e: NodeJS.ErrnoException): string | null {
  const code = e.code ?? '';
  if (/ALERT_BAD_CERTIFICATE|ALERT_CERTIFICATE_REQUIRED|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE_UNKNOWN|ALERT_HANDSHAKE_FAILURE/.test(code)) {
    return `TLS handshake refused by etcd (${code.replace(/^ERR_SSL_(SSLV3_|TLSV13_|TLSV1_)?/, '').toLowerCase().replace(/_/g, ' ')}): it wants a client certificate it trusts (manager.etcd.cert and manager.etcd.key)`;
  }
  if (code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY') {
    return `etcd's certificate is not signed by a trusted CA (${code}): give etcd's CA as manager.etcd.cacert`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `etcd's certificate is not for this address (${e.message.split('\n')[0]})`;
  if (code === 'CERT_HAS_EXPIRED') return "etcd's certificate has expired";
  if (code.startsWith('ERR_SSL_')) return `TLS error: ${code.replace(/^ERR_SSL_/, '').toLowerCase().replace(/_/g, ' ')}`;
  return null;
}
