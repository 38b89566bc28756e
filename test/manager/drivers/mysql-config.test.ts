import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mysqlDriverOptionsFromProperties } from '../../../src/manager/drivers/mysql-config.js';
import { formatGtid, formatGtidList, gtidSeqno, gtidsMissingFrom, mergeNewest, parseGtidList, parseGtidState } from '../../../src/manager/drivers/mysql-gtid.js';
import { isToolkitError } from '../../../src/errors.js';

const policy = { hostPingMethod: 'ping' as const, hostPingTimeoutSeconds: 1.5, dbPingTimeoutSeconds: 5 };
const props = (mysql: {
  user: string;
  password: string | null;
  passwordFile: string | null;
  replication?: { user: string | null; password: string | null; passwordFile: string | null };
}) =>
  ({ mysql, policy }) as unknown as Parameters<typeof mysqlDriverOptionsFromProperties>[0];

describe('mysql driver options from the manager properties', () => {
  it('takes the account, and the liveness method and timeouts in milliseconds', () => {
    expect(mysqlDriverOptionsFromProperties(props({ user: 'tungsten', password: 'pw', passwordFile: null }))).toEqual({
      user: 'tungsten',
      password: 'pw',
      replicationUser: 'tungsten',
      replicationPassword: 'pw',
      separateReplicationAccount: false,
      hostCheck: { method: 'ping', timeoutMs: 1500 },
      dbPingTimeoutMs: 5000,
    });
  });

  it('takes a replication account of its own, its password inline or from a file', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mysql-pw-')), 'repl');
    writeFileSync(file, 'repl-from-file\n');
    const inline = mysqlDriverOptionsFromProperties(props({ user: 'tungsten', password: 'pw', passwordFile: null, replication: { user: 'repl', password: 'rpw', passwordFile: null } }));
    expect(inline).toMatchObject({ user: 'tungsten', password: 'pw', replicationUser: 'repl', replicationPassword: 'rpw', separateReplicationAccount: true });
    const fromFile = mysqlDriverOptionsFromProperties(props({ user: 'tungsten', password: 'pw', passwordFile: null, replication: { user: 'repl', password: null, passwordFile: file } }));
    expect(fromFile.replicationPassword).toBe('repl-from-file');
    expect(() => mysqlDriverOptionsFromProperties(props({ user: 'tungsten', password: 'pw', passwordFile: null, replication: { user: null, password: 'rpw', passwordFile: null } }))).toThrow(
      'a replication password needs mysql.replication.user',
    );
  });

  it('reads mysql.passwordFile without its trailing newline', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mysql-pw-')), 'pw');
    writeFileSync(file, 'from-file\n');
    expect(mysqlDriverOptionsFromProperties(props({ user: 'u', password: null, passwordFile: file })).password).toBe('from-file');
  });

  it('refuses a missing password, both kinds at once, or an unreadable file, as usage errors without the secret', () => {
    const attempt = (mysql: Parameters<typeof props>[0]) => {
      try {
        mysqlDriverOptionsFromProperties(props(mysql));
      } catch (e) {
        expect(isToolkitError(e) && e.kind).toBe('usage');
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(attempt({ user: 'u', password: null, passwordFile: null })).toBe('manager.driver=mysql needs mysql.password or mysql.passwordFile');
    const both = attempt({ user: 'u', password: 'secret-1', passwordFile: '/x' });
    expect(both).toBe('set either mysql.password or mysql.passwordFile, not both');
    expect(attempt({ user: 'u', password: null, passwordFile: '/nonexistent/pw' })).toBe('mysql.passwordFile /nonexistent/pw cannot be read (ENOENT)');
  });
});

describe('MariaDB GTID lists', () => {
  it('parses, formats and sums seqnos across domains', () => {
    const list = parseGtidList('1-2-7,0-1-42');
    expect(formatGtidList(list)).toBe('0-1-42,1-2-7');
    expect(gtidSeqno(list)).toBe(49);
    expect(gtidSeqno(parseGtidList(''))).toBe(0);
    expect(() => parseGtidList('0-1')).toThrow("not a MariaDB GTID: '0-1'");
  });

  it('merges two views of a history keeping the newer entry per domain', () => {
    expect(formatGtidList(mergeNewest(parseGtidList('0-1-10'), parseGtidList('0-2-12,1-3-1')))).toBe('0-2-12,1-3-1');
  });

  it('keeps the last GTID of every (domain, server) pair of a history', () => {
    const state = parseGtidState('0-1-10,0-2-12', '0-1-11');
    expect([...state.values()].map(formatGtid)).toEqual(['0-1-11', '0-2-12']);
  });

  it('finds transactions a server has that the reference lacks, even when the reference has moved past their seqno', () => {
    const newMaster = parseGtidState('0-1-40,0-2-57');
    expect(gtidsMissingFrom(parseGtidState('0-1-40,0-2-57'), newMaster)).toEqual([]);
    expect(gtidsMissingFrom(parseGtidState('0-1-40,0-2-50'), newMaster)).toEqual([]);
    // The old master wrote 0-2-58 and 0-2-59 that never left it; the new master went on to 0-1-80.
    const forked = gtidsMissingFrom(parseGtidState('0-1-40,0-2-59'), parseGtidState('0-1-80,0-2-57'));
    expect(forked.map((m) => [formatGtid(m.mine), m.theirs && formatGtid(m.theirs)])).toEqual([['0-2-59', '0-2-57']]);
    expect(gtidsMissingFrom(parseGtidState('1-3-1'), newMaster).map((m) => m.theirs)).toEqual([null]);
  });
});
