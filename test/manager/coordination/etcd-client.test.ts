/**
 * The etcd client's own logic, against small fake etcd gateways on real loopback sockets: base64
 * and int64 decoding, request encoding, the watch stream's newline-delimited JSON arriving in
 * arbitrary chunks, and the defences that need a hostile or broken server (a stale raft term,
 * another cluster, a server that accepts and never answers, oversized answers, secrets echoed back).
 * The same client against real etcd members: test/system/etcd-client.test.ts.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EtcdAmbiguousError,
  EtcdClient,
  EtcdLeaseLostError,
  EtcdRequestError,
  EtcdUnavailableError,
  type EtcdClientOptions,
  type EtcdHeader,
  type EtcdWatchEvent,
} from '../../../src/manager/coordination/etcd-client.js';
import { ToolkitError } from '../../../src/errors.js';
import { makeSelfSignedCert } from '../../helpers/tls.js';

type Json = Record<string, unknown>;
interface Seen {
  path: string;
  body: Json;
  authorization: string | undefined;
  at: number;
}
type Handler = (req: Seen, res: http.ServerResponse) => void;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const header = (term: number, revision = 7, cluster = '111') => ({ cluster_id: cluster, member_id: '222', revision: String(revision), raft_term: String(term) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const servers: net.Server[] = [];
const connections = new Set<net.Socket>();
const clients: EtcdClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of connections) s.destroy();
  connections.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (s: net.Socket) => {
    connections.add(s);
    s.on('close', () => connections.delete(s));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

/** Accepts connections, reads what comes and never answers (it still sees the client hang up). */
function silentServer(): net.Server {
  return net.createServer((s) => s.resume());
}

/** A fake gateway: every POST's path and JSON body recorded, answered by `handler`. */
async function fake(handler: Handler, tls?: { cert: string; key: string }): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const s: Seen = { path: req.url ?? '', body: text ? (JSON.parse(text) as Json) : {}, authorization: req.headers.authorization, at: performance.now() };
      seen.push(s);
      handler(s, res);
    });
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  const port = await listen(server);
  const close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen, close };
}

const reply = (res: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const ok = (term = 3) => (_: Seen, res: http.ServerResponse) => reply(res, 200, { header: header(term) });

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const s = net.createServer();
  const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function client(endpoints: string[], opts: Partial<EtcdClientOptions> = {}): EtcdClient {
  const c = new EtcdClient({ endpoints, timeoutMs: 1000, ...opts });
  clients.push(c);
  return c;
}

async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to fail');
}

describe('etcd client: encoding and decoding', () => {
  it('sends keys and values in base64 and reads int64 strings, keeping lease ids exact as strings', async () => {
    const leaseId = '8583757748599044360'; // more than 2^53: a number would round it
    const g = await fake((req, res) => {
      if (req.path === '/v3/kv/range') {
        return reply(res, 200, {
          header: header(4, 12),
          kvs: [{ key: b64('clé/ü'), value: b64('✓ done'), create_revision: '10', mod_revision: '12', version: '3', lease: leaseId }],
          count: '1',
        });
      }
      reply(res, 200, { header: header(4, 13) });
    });
    const c = client([g.url]);
    const got = await c.get('clé/ü');
    expect(g.seen[0]).toMatchObject({ path: '/v3/kv/range', body: { key: b64('clé/ü') } });
    expect(g.seen[0]!.body.range_end).toBeUndefined();
    expect(got).toEqual({
      header: { revision: 12, raftTerm: 4, memberId: '222', clusterId: '111' },
      kv: { key: 'clé/ü', value: '✓ done', createRevision: 10, modRevision: 12, version: 3, lease: leaseId },
    });
    expect(await c.put('k', 'v', leaseId)).toMatchObject({ revision: 13 });
    expect(g.seen[1]!.body).toEqual({ key: b64('k'), value: b64('v'), lease: leaseId });
  });

  it('asks a prefix as [prefix, prefix+1) and the empty prefix as every key; an absent field is 0', async () => {
    const g = await fake((req, res) => reply(res, 200, req.body.key === b64('a/') ? { header: header(2), kvs: [{ key: b64('a/x') }] } : { header: header(2) }));
    const c = client([g.url]);
    const r = await c.range('a/');
    expect(g.seen[0]!.body).toEqual({ key: b64('a/'), range_end: b64('a0') });
    expect(r.kvs).toEqual([{ key: 'a/x', value: '', createRevision: 0, modRevision: 0, version: 0, lease: '0' }]);
    expect((await c.range('')).kvs).toEqual([]);
    expect(g.seen[1]!.body).toEqual({ key: 'AA==', range_end: 'AA==' });
  });

  it('encodes txn compares and ops as the gateway wants, and reads the branch taken (succeeded absent = false)', async () => {
    const g = await fake((_, res) =>
      reply(res, 200, {
        header: header(5, 20),
        responses: [
          { response_put: { header: { revision: '20' } } },
          { response_range: { header: { revision: '20' }, kvs: [{ key: b64('x'), value: b64('1'), mod_revision: '19' }], count: '1' } },
          { response_range: { header: { revision: '20' } } },
        ],
      }),
    );
    const c = client([g.url]);
    const result = await c.txn(
      [
        { key: 'l', target: 'CREATE', result: 'EQUAL', value: 0 },
        { key: 'l', target: 'MOD', result: 'LESS', value: '12' },
        { key: 'l', target: 'VALUE', result: 'NOT_EQUAL', value: 'me' },
        { key: 'l', target: 'VERSION', result: 'GREATER', value: 1 },
        { key: 'l', target: 'LEASE', result: 'EQUAL', value: '8583757748599044360' },
      ],
      [{ put: { key: 'l', value: 'me', lease: '5' } }, { range: { key: 'x' } }],
      [{ delete: { key: 'p/', prefix: true } }, { range: { key: 'p/', prefix: true } }],
    );
    expect(g.seen[0]!.body).toEqual({
      compare: [
        { key: b64('l'), target: 'CREATE', result: 'EQUAL', create_revision: '0' },
        { key: b64('l'), target: 'MOD', result: 'LESS', mod_revision: '12' },
        { key: b64('l'), target: 'VALUE', result: 'NOT_EQUAL', value: b64('me') },
        { key: b64('l'), target: 'VERSION', result: 'GREATER', version: '1' },
        { key: b64('l'), target: 'LEASE', result: 'EQUAL', lease: '8583757748599044360' },
      ],
      success: [{ request_put: { key: b64('l'), value: b64('me'), lease: '5' } }, { request_range: { key: b64('x') } }],
      failure: [{ request_delete_range: { key: b64('p/'), range_end: b64('p0') } }, { request_range: { key: b64('p/'), range_end: b64('p0') } }],
    });
    expect(result.succeeded).toBe(false);
    expect(result.ranges).toHaveLength(2);
    expect(result.ranges[0]![0]).toMatchObject({ key: 'x', value: '1', modRevision: 19 });
    expect(result.ranges[1]).toEqual([]);
    await expect(c.txn([{ key: 'l', target: 'MOD', result: 'EQUAL', value: 'twelve' }], [])).rejects.toBeInstanceOf(ToolkitError);
  });

  it('keepalive: the TTL from the gateway\'s {"result": ...}, sentAt taken before sending; no TTL means the lease is lost', async () => {
    const g = await fake((req, res) =>
      reply(res, 200, { result: { header: header(3), ID: req.body.ID, ...(req.body.ID === '99' ? {} : { TTL: '5' }) } }),
    );
    const c = client([g.url]);
    const kept = await c.leaseKeepAlive('42');
    expect(kept.ttl).toBe(5);
    expect(kept.sentAt).toBeLessThanOrEqual(g.seen[0]!.at);
    const err = await rejectionOf(c.leaseKeepAlive('99'));
    expect(err).toBeInstanceOf(EtcdLeaseLostError);
    expect((err as EtcdLeaseLostError).leaseId).toBe('99');
  });

  it('refuses a bad endpoint URL with a usage error (credentials in it are not repeated)', () => {
    for (const bad of ['not a url', 'ftp://127.0.0.1:2379', 'http://127.0.0.1:2379/v3', 'http://root:hunter2@127.0.0.1:2379']) {
      const e = (() => {
        try {
          new EtcdClient({ endpoints: [bad], timeoutMs: 1000 });
        } catch (err) {
          return err as ToolkitError;
        }
        throw new Error(`accepted ${bad}`);
      })();
      expect(e).toBeInstanceOf(ToolkitError);
      expect(e.kind).toBe('usage');
      expect(e.message).toContain('bad etcd endpoint');
      expect(e.message).not.toContain('hunter2');
    }
    expect(() => new EtcdClient({ endpoints: [], timeoutMs: 1000 })).toThrow(ToolkitError);
    expect(() => new EtcdClient({ endpoints: ['http://127.0.0.1:2379'], timeoutMs: 0 })).toThrow(ToolkitError);
    expect(() => new EtcdClient({ endpoints: ['http://127.0.0.1:2379', 'https://127.0.0.2:2379'], timeoutMs: 100 })).toThrow(/mix http and https/);
  });
});

describe('etcd client: the watch stream', () => {
  it('parses newline-delimited JSON split at any byte (inside a UTF-8 character too) and delivers events in order', async () => {
    const messages = [
      { result: { header: header(3, 9), created: true } },
      { result: { header: header(3, 10), events: [{ kv: { key: b64('w/é'), value: b64('ü1'), create_revision: '10', mod_revision: '10', version: '1' } }] } },
      { result: { header: header(3, 12), events: [{ type: 'DELETE', kv: { key: b64('w/é'), mod_revision: '11' } }, { kv: { key: b64('w/b'), value: b64('2'), mod_revision: '12' } }] } },
      { result: { header: header(3, 13), events: [{ kv: { key: b64('w/c'), value: b64('→3'), mod_revision: '13' } }] } },
    ];
    let requestClosed: Promise<void> = Promise.resolve();
    const g = await fake(async (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      requestClosed = new Promise((r) => res.on('close', () => r()));
      const stream = Buffer.from(messages.map((m) => JSON.stringify(m)).join('\n') + '\n', 'utf8');
      // One byte, then pieces of 7 bytes: lines and multi-byte characters are cut everywhere.
      res.write(stream.subarray(0, 1));
      for (let i = 1; i < stream.length; i += 7) {
        res.write(stream.subarray(i, i + 7));
        await sleep(1);
      }
      // Then a cancel (compaction) that leaves the stream open, as etcd's gateway does.
      res.write(JSON.stringify({ result: { header: { raft_term: '3', cluster_id: '111' }, canceled: true, compact_revision: '12' } }) + '\n');
    });
    const c = client([g.url]);
    const events: Array<EtcdWatchEvent & { at: number }> = [];
    const errors: Error[] = [];
    c.watch('w/', 10, (batch: EtcdWatchEvent[], h: EtcdHeader) => events.push(...batch.map((e) => ({ ...e, at: h.revision }))), (e) => errors.push(e));
    await until(() => errors.length > 0);
    expect(g.seen[0]).toMatchObject({ path: '/v3/watch', body: { create_request: { key: b64('w/'), range_end: b64('w0'), start_revision: '10' } } });
    expect(events.map((e) => [e.type, e.kv.key, e.kv.value, e.kv.modRevision, e.at])).toEqual([
      ['PUT', 'w/é', 'ü1', 10, 10],
      ['DELETE', 'w/é', '', 11, 12],
      ['PUT', 'w/b', '2', 12, 12],
      ['PUT', 'w/c', '→3', 13, 13],
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EtcdRequestError);
    expect((errors[0] as EtcdRequestError).compactRevision).toBe(12);
    // The client ends the HTTP request itself (etcd's cancel does not).
    await requestClosed;
  });

  it('a stream that ends, or a server that never confirms the watch, calls onError once; close() stops everything', async () => {
    const g = await fake((_, res) => {
      res.writeHead(200);
      res.write(JSON.stringify({ result: { header: header(3), created: true } }) + '\n');
      setTimeout(() => res.end(), 50);
    });
    const c = client([g.url]);
    const errors: Error[] = [];
    c.watch('a', 0, () => {}, (e) => errors.push(e));
    await until(() => errors.length > 0);
    await sleep(100);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EtcdUnavailableError);
    expect(errors[0]!.message).toMatch(/watch stream ended/);

    const silent = await fake((_, res) => res.writeHead(200) && undefined);
    const s = client([silent.url], { timeoutMs: 200 });
    const silentErrors: Error[] = [];
    s.watch('a', 0, () => {}, (e) => silentErrors.push(e));
    await until(() => silentErrors.length > 0);
    expect(silentErrors[0]!.message).toMatch(/not confirmed within 200 ms/);

    const open = await fake((_, res) => {
      res.writeHead(200);
      res.write(JSON.stringify({ result: { header: header(3), created: true } }) + '\n');
    });
    const o = client([open.url]);
    const late: Error[] = [];
    const handle = o.watch('a', 0, () => {}, (e) => late.push(e));
    await until(() => open.seen.length > 0);
    await sleep(50);
    handle.close();
    o.close();
    await sleep(50);
    expect(late).toEqual([]);
  });
});

describe('etcd client: endpoints that fail', () => {
  it('refuses an answer whose raft term is below one already seen (a stale member), and moves on', async () => {
    let fresh = 5;
    const good = await fake((req, res) => (fresh > 0 ? reply(res, 200, { header: header(fresh) }) : reply(res, 503, { error: 'etcdserver: request timed out', code: 14, message: 'etcdserver: request timed out' })));
    const stale = await fake(ok(3));
    const c = client([good.url, stale.url]);
    expect((await c.get('k')).header.raftTerm).toBe(5);
    fresh = 0; // the good member stops answering usefully
    const err = await rejectionOf(c.get('k'));
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(err.message).toContain(`${stale.url}: stale member: raft term 3 is behind 5`);
    expect(err.message).toContain(`${good.url}: etcd: etcdserver: request timed out`);
    fresh = 6;
    expect((await c.get('k')).header.raftTerm).toBe(6);
    // A write answered by a stale member (the good one refusing connections): it was sent, so it is ambiguous.
    await good.close();
    const err2 = await rejectionOf(c.put('k', 'v'));
    expect(err2).toBeInstanceOf(EtcdAmbiguousError);
    expect(err2.message).toContain(`etcd write to ${stale.url} may or may not have been applied: stale member: raft term 3 is behind 6`);
  });

  it('refuses an answer from another etcd cluster', async () => {
    let first = true;
    const a = await fake((_, res) => (first ? reply(res, 200, { header: header(3, 1, '1000') }) : reply(res, 503, {})));
    const b = await fake((_, res) => reply(res, 200, { header: header(9, 1, '2000') }));
    const c = client([a.url, b.url]);
    await c.get('k');
    first = false;
    const err = await rejectionOf(c.get('k'));
    expect(err.message).toContain('answered for etcd cluster 2000, not 1000');
  });

  it('a server that accepts TCP and never answers: the attempt times out after timeoutMs; a read goes on to the next endpoint, a txn is ambiguous and not resent', async () => {
    const port = await listen(silentServer());
    const dead = `http://127.0.0.1:${port}`;
    const good = await fake(ok());
    const c = client([dead, good.url], { timeoutMs: 300 });
    const started = performance.now();
    await c.get('k');
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1000);
    expect(c.currentEndpoint).toBe(good.url);

    const alone = client([dead], { timeoutMs: 300 });
    const err = await rejectionOf(alone.get('k'));
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(err.message).toContain('no answer within 300 ms');

    const w = client([dead, good.url], { timeoutMs: 300 });
    const before = good.seen.length;
    const txnErr = await rejectionOf(w.txn([], [{ put: { key: 'k', value: 'v' } }]));
    expect(txnErr).toBeInstanceOf(EtcdAmbiguousError);
    expect((txnErr as EtcdAmbiguousError).kind).toBe('timeout');
    expect(good.seen.length).toBe(before);
    // The next call starts at the next endpoint.
    expect(w.currentEndpoint).toBe(good.url);
  });

  it('a write whose connection was refused is sent to the next endpoint; one that broke after sending is ambiguous', async () => {
    const refused = await closedPort();
    const good = await fake(ok());
    const c = client([refused, good.url]);
    expect((await c.put('k', 'v')).raftTerm).toBe(3);
    expect(good.seen.map((s) => s.path)).toEqual(['/v3/kv/put']);

    // Reads the whole request, then drops the connection without an answer.
    const breaks = await fake((_, res) => res.socket?.destroy());
    const w = client([breaks.url, good.url]);
    const err = await rejectionOf(w.txn([], [{ put: { key: 'k', value: 'v' } }]));
    expect(err).toBeInstanceOf(EtcdAmbiguousError);
    expect(err.message).toMatch(/may or may not have been applied: (connection reset|socket hang up|the connection broke)/);
    expect(good.seen.filter((s) => s.path === '/v3/kv/txn')).toEqual([]);
    // A read broken the same way goes on.
    expect((await w.get('k')).header.raftTerm).toBe(3);
  });

  it('HTTP 5xx and etcd "leader changed / no leader / Unavailable" answers move to the next endpoint; other etcd errors do not', async () => {
    const answers = [
      [503, { error: 'etcdserver: leader changed', code: 14, message: 'etcdserver: leader changed' }],
      [500, { error: 'context deadline exceeded', code: 2, message: 'context deadline exceeded' }],
      [503, { error: { grpc_code: 14, http_code: 503, message: 'etcdserver: no leader', http_status: 'Service Unavailable' } }],
      [502, 'not json'],
    ] as const;
    const failing = await Promise.all(answers.map(([status, body]) => fake((_, res) => reply(res, status, body))));
    const good = await fake(ok());
    const c = client([...failing.map((f) => f.url), good.url]);
    await c.get('k');
    expect(c.currentEndpoint).toBe(good.url);
    const refusing = await fake((_, res) => reply(res, 404, { error: 'etcdserver: requested lease not found', code: 5, message: 'etcdserver: requested lease not found' }));
    const r = client([refusing.url, good.url]);
    const err = await rejectionOf(r.put('k', 'v', '7'));
    expect(err).toBeInstanceOf(EtcdRequestError);
    expect((err as EtcdRequestError).code).toBe(5);
    expect(good.seen.filter((s) => s.path === '/v3/kv/put')).toEqual([]);
  });

  it('refuses an answer larger than the limit, declared or streamed, without buffering it', async () => {
    const declared = await fake((_, res) => {
      res.writeHead(200, { 'content-length': String(9 * 1024 * 1024) });
      res.write('{"header":');
    });
    const c = client([declared.url]);
    const err = await rejectionOf(c.get('k'));
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(err.message).toContain('answer refused: 9437184 bytes is more than the 8388608 allowed');

    let written = 0;
    const endless = await fake((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && written < 64 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (!res.destroyed && written < 64 * 1024 * 1024) res.once('drain', pump);
      };
      pump();
    });
    const e = client([endless.url], { timeoutMs: 5000 });
    const err2 = await rejectionOf(e.range(''));
    expect(err2.message).toContain('answer refused: more than the 8388608 bytes allowed');
    expect(written).toBeLessThan(32 * 1024 * 1024);
  });

  it('HTTPS with the CA given: works; without it the connection is refused before sending, so even a write is tried elsewhere', async () => {
    const cert = makeSelfSignedCert();
    const secure = await fake(ok(), cert);
    const c = client([secure.url], { tls: { caFile: cert.certFile } });
    expect((await c.put('k', 'v')).raftTerm).toBe(3);
    const untrusted = client([secure.url]);
    const err = await rejectionOf(untrusted.put('k', 'v'));
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(err.message).toMatch(/self.signed|certificate/i);
    expect(() => client([secure.url], { tls: { caFile: '/nonexistent/ca.pem' } })).toThrow(/cannot read the etcd CA certificate file/);
  });
});

describe('etcd client: credentials', () => {
  const password = 'pa55-W0rd-never-shown';

  it('authenticates once, sends the token, renews it once on "invalid auth token", and never shows the password or token', async () => {
    let tokens = 0;
    let invalidate = false;
    const g = await fake((req, res) => {
      if (req.path === '/v3/auth/authenticate') {
        tokens++;
        return reply(res, 200, { header: header(3), token: `tok-SECRET-${tokens}` });
      }
      if (invalidate || req.authorization !== `tok-SECRET-${tokens}`) {
        invalidate = false;
        return reply(res, 401, { error: 'etcdserver: invalid auth token', code: 16, message: 'etcdserver: invalid auth token' });
      }
      reply(res, 200, { header: header(3) });
    });
    const c = client([g.url], { auth: { user: 'mgr', password } });
    await Promise.all([c.get('a'), c.get('b'), c.put('c', 'd')]);
    expect(tokens).toBe(1);
    expect(g.seen[0]!.body).toEqual({ name: 'mgr', password });
    invalidate = true;
    await c.get('a');
    expect(tokens).toBe(2);
    expect(g.seen.at(-1)!.authorization).toBe('tok-SECRET-2');
    // Invalid every time: renewed once, then the error.
    const always = await fake((req, res) =>
      req.path === '/v3/auth/authenticate'
        ? reply(res, 200, { header: header(3), token: 'tok-SECRET-x' })
        : reply(res, 401, { error: 'etcdserver: invalid auth token', code: 16, message: 'etcdserver: invalid auth token' }),
    );
    const a = client([always.url], { auth: { user: 'mgr', password } });
    const err = await rejectionOf(a.get('k'));
    expect(err).toBeInstanceOf(EtcdRequestError);
    expect((err as EtcdRequestError).kind).toBe('unauthorized');
    expect(always.seen.filter((s) => s.path === '/v3/auth/authenticate')).toHaveLength(2);
  });

  it('an endpoint that echoes the password or the token back: the client\'s errors do not carry them', async () => {
    const echo = await fake((req, res) => {
      const said = JSON.stringify({ body: req.body, authorization: req.authorization });
      if (req.path === '/v3/auth/authenticate' && req.body.password !== password) {
        return reply(res, 400, { error: `authentication failed for ${said}`, code: 3, message: `authentication failed for ${said}` });
      }
      if (req.path === '/v3/auth/authenticate') return reply(res, 200, { header: header(3), token: 'tok-SECRET-echo' });
      reply(res, 503, { error: `Unavailable: ${said}`, code: 14, message: `Unavailable: ${said}` });
    });
    const wrong = client([echo.url], { auth: { user: 'mgr', password: `${password}-bad` } });
    const e1 = await rejectionOf(wrong.get('k'));
    expect(e1).toBeInstanceOf(EtcdRequestError);
    expect(e1.message).toContain("authentication as user 'mgr' failed");
    const right = client([echo.url], { auth: { user: 'mgr', password } });
    const e2 = await rejectionOf(right.get('k'));
    expect(e2).toBeInstanceOf(EtcdUnavailableError);
    const e3 = await new Promise<Error>((resolve) => right.watch('k', 0, () => {}, resolve));
    const health = await right.memberHealth();
    for (const e of [e1, e2, e3]) {
      const all = `${e.message} ${e.stack} ${JSON.stringify(e)}`;
      expect(all).not.toContain(password);
      expect(all).not.toContain('tok-SECRET');
      expect(all).toContain('***');
    }
    expect(JSON.stringify(health)).not.toContain(password);
  });
});

describe('etcd client: close()', () => {
  it('ends requests and watches in flight and leaves no timer or socket behind', async () => {
    const good = await fake(ok());
    const port = await listen(silentServer());
    const before = resourceCounts();
    const c = new EtcdClient({ endpoints: [`http://127.0.0.1:${port}`], timeoutMs: 60_000 });
    const pooled = new EtcdClient({ endpoints: [good.url], timeoutMs: 60_000 });
    await pooled.get('k'); // leaves a keep-alive socket in its pool
    const pending = c.get('k').then(
      () => null,
      (e: Error) => e,
    );
    const watchErrors: Error[] = [];
    c.watch('k', 0, () => {}, (e) => watchErrors.push(e));
    await sleep(50);
    expect(connections.size).toBe(3); // the hanging get and watch, and the pooled socket
    c.close();
    pooled.close();
    const err = await pending;
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(err!.message).toContain('closed');
    // The servers see every connection closed (the client's side went first), and no timer of the client remains.
    await until(() => connections.size === 0, 2000);
    const after = resourceCounts();
    for (const [kind, n] of Object.entries(after)) expect(n, kind).toBeLessThanOrEqual(before[kind] ?? 0);
    expect(watchErrors).toEqual([]);
    await expect(c.get('k')).rejects.toBeInstanceOf(EtcdUnavailableError);
  });
});

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

async function until(done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}
