import { describe, expect, it } from 'vitest';
import { errPacket, refusalPacket } from '../../src/connector/mysql-error.js';
import { parseRoutes, RouteTable, type RoutesPayload } from '../../src/connector/routes.js';

const db1 = { name: 'db1', host: '10.0.0.1', port: 3306 };
const db2 = { name: 'db2', host: '10.0.0.2', port: 3306 };
const db3 = { name: 'db3', host: '10.0.0.3', port: 3306 };
const slave = (b: typeof db1, healthy = true) => ({ ...b, latencySeconds: healthy ? 0 : 120, healthy });

function routes(epoch: number, over: Partial<RoutesPayload> = {}): RoutesPayload {
  return { service: 'alpha', epoch, master: db1, slaves: [slave(db2), slave(db3)], hold: null, ...over };
}

describe('route table: the epoch rule', () => {
  it('applies the first routes, then only strictly newer epochs', () => {
    const t = new RouteTable('alpha');
    expect(t.epoch).toBeNull();
    expect(t.apply(routes(5)).applied).toBe(true);
    expect(t.apply(routes(5, { master: db2 }))).toEqual({ applied: false, reason: 'stale', epoch: 5, held: 5 });
    expect(t.apply(routes(3, { master: db3 }))).toEqual({ applied: false, reason: 'stale', epoch: 3, held: 5 });
    expect(t.master).toEqual(db1);
    const next = t.apply(routes(6, { master: db2, slaves: [slave(db1), slave(db3)] }));
    expect(next).toMatchObject({ applied: true, masterChanged: true });
    expect(t.epoch).toBe(6);
    expect(t.master).toEqual(db2);
  });

  it('never goes back, whatever order the epochs come in', () => {
    const t = new RouteTable('alpha');
    const order = [4, 2, 9, 7, 9, 10, 1, 10, 12, 11];
    const held: number[] = [];
    for (const e of order) {
      t.apply(routes(e));
      held.push(t.epoch!);
    }
    expect(held).toEqual([4, 4, 9, 9, 9, 10, 10, 10, 12, 12]);
  });

  it('ignores routes of another service', () => {
    const t = new RouteTable('alpha');
    expect(t.apply({ ...routes(1), service: 'beta' })).toMatchObject({ applied: false, reason: 'other-service' });
    expect(t.current).toBeNull();
  });
});

describe('route table: hold and resume', () => {
  it('says when a hold starts and ends, and who is master after it', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    const hold = { reason: 'switch to db2', since: '2025-01-01T00:00:00Z' };
    expect(t.apply(routes(2, { hold }))).toMatchObject({ applied: true, holdStarted: true, holdEnded: false, masterChanged: false });
    expect(t.hold).toEqual(hold);
    expect(t.apply(routes(3, { hold }))).toMatchObject({ holdStarted: false, holdEnded: false });
    expect(t.apply(routes(4, { master: db2, slaves: [slave(db1), slave(db3)] }))).toMatchObject({ holdEnded: true, masterChanged: true });
    expect(t.hold).toBeNull();
    expect(t.target('write', () => 0)).toEqual(db2);
  });

  it('a reverted switch resumes to the old master', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    t.apply(routes(2, { hold: { reason: 'switch', since: 'now' } }));
    expect(t.apply(routes(3))).toMatchObject({ holdEnded: true, masterChanged: false });
    expect(t.target('write', () => 0)).toEqual(db1);
  });
});

describe('route table: what becomes of open connections', () => {
  it('a switch (old master now a slave): write connections to it end after the grace, read ones stay', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    t.apply(routes(2, { master: db2, slaves: [slave(db1), slave(db3)] }));
    expect(t.verdict('write', db1)).toBe('end-after-grace');
    expect(t.verdict('write', db2)).toBe('keep');
    expect(t.verdict('read', db1)).toBe('keep');
    expect(t.verdict('read', db3)).toBe('keep');
  });

  it('a failover: the old master gone from the routes ends at once, on both ports', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    t.apply(routes(2, { master: db2, slaves: [slave(db3)] }));
    expect(t.verdict('write', db1)).toBe('end-now');
    expect(t.verdict('read', db1)).toBe('end-now');
  });

  it('endImmediately: true ends at once even when the old master is still listed', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    t.apply(routes(2, { master: db2, slaves: [slave(db1, false), slave(db3)], endImmediately: true }));
    expect(t.verdict('write', db1)).toBe('end-now');
    expect(t.verdict('write', db2)).toBe('keep');
    expect(t.verdict('read', db1)).toBe('keep'); // still a (listed) server for reads
  });

  it('a server that moved is another server', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    t.apply(routes(2, { master: { ...db1, port: 3307 } }));
    expect(t.verdict('write', db1)).toBe('end-now');
  });

  it('a hold changes nothing for open connections', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1));
    t.apply(routes(2, { hold: { reason: 'switch', since: 'now' } }));
    expect(t.verdict('write', db1)).toBe('keep');
  });
});

describe('route table: where a new connection goes', () => {
  it('reads: the healthy slave with the fewest connections, skipping unhealthy ones; the master when none is healthy', () => {
    const t = new RouteTable('alpha');
    t.apply(routes(1, { slaves: [slave(db2), slave(db3)] }));
    const load: Record<string, number> = { db2: 3, db3: 1 };
    expect(t.target('read', (s) => load[s.name] ?? 0)?.name).toBe('db3');
    load.db3 = 3;
    expect(t.target('read', (s) => load[s.name] ?? 0)?.name).toBe('db2'); // tie: the first listed
    t.apply(routes(2, { slaves: [slave(db2, false), slave(db3)] }));
    expect(t.target('read', () => 0)?.name).toBe('db3');
    t.apply(routes(3, { slaves: [slave(db2, false), slave(db3, false)] }));
    expect(t.target('read', () => 0)?.name).toBe('db1');
    t.apply(routes(4, { master: null, slaves: [slave(db2, false)] }));
    expect(t.target('read', () => 0)).toBeNull();
    expect(t.target('write', () => 0)).toBeNull();
  });
});

describe('parseRoutes', () => {
  it('takes the payload, its envelope, or an event carrying it', () => {
    const p = routes(7, { endImmediately: true });
    expect(parseRoutes(p)).toEqual(p);
    expect(parseRoutes({ payloadType: 'RoutesPayload', payloadVersion: '1', payload: p })).toEqual(p);
    expect(parseRoutes({ type: 'routes', ...p })).toEqual(p);
    expect(parseRoutes({ type: 'routes', routes: p })).toEqual(p);
  });

  it('refuses what is not routes, naming the field', () => {
    expect(() => parseRoutes({ payloadType: 'TaskPayload', payload: {} })).toThrow(/expected RoutesPayload, got TaskPayload/);
    expect(() => parseRoutes({ ...routes(1), epoch: -1 })).toThrow(/epoch/);
    expect(() => parseRoutes({ ...routes(1), master: { name: 'db1', host: 'h', port: 70000 } })).toThrow(/master\.port/);
    expect(() => parseRoutes({ ...routes(1), slaves: [{ ...db2 }] })).toThrow(/slaves\.0\./);
  });
});

describe('MySQL ERR packet', () => {
  it('is a protocol 4.1 ERR packet with sequence id 0', () => {
    const p = errPacket(1053, '08S01', 'no');
    expect([...p]).toEqual([11, 0, 0, 0, 0xff, 0x1d, 0x04, 0x23, 0x30, 0x38, 0x53, 0x30, 0x31, 0x6e, 0x6f]);
  });

  it('cuts a long message on a character boundary, within what clients keep', () => {
    const p = refusalPacket('offline', 'é'.repeat(400));
    const length = p.readUIntLE(0, 3);
    expect(length).toBe(p.length - 4);
    expect(p.length).toBeLessThan(520);
    expect(p.subarray(13).toString('utf8')).toBe('é'.repeat(250));
  });
});
