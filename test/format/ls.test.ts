import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatLs, formatServiceList } from '../../src/format/ls.js';
import type { ServiceStatus } from '../../src/manager/model.js';
import { expectGolden as expectGoldenFile } from '../helpers/golden.js';
import { classicService, datasource, replicator, router } from './model-builders.js';

/**
 * What a latency check reads from `ls -l`: per `host:REPLICATOR(...)` box, the number on its
 * `appliedLatency : N` row (the check grepping `appliedLatency` as it does trepctl's status).
 */
function latencyByHost(text: string): Record<string, number> {
  const found: Record<string, number> = {};
  let host: string | null = null;
  for (const line of text.split('\n')) {
    const box = /^\|(\S+?):REPLICATOR\(/.exec(line);
    if (box) host = box[1]!;
    const row = /^\|\s+appliedLatency\s+:\s+([0-9.-]+)/.exec(line);
    if (row && host) found[host] = Number(row[1]);
  }
  return found;
}

const GOLDEN = join(import.meta.dirname, '../../fixtures/ls');
const TZ = 'Europe/London';

/** Compares with fixtures/ls/NAME.txt (`npm run golden:update` rewrites them). */
function expectGolden(name: string, text: string): void {
  expectGoldenFile(join(GOLDEN, `${name}.txt`), text);
}

function afterFailover(): ServiceStatus {
  const base = classicService();
  return classicService({
    coordinator: { host: 'host3', state: 'ONLINE' },
    routers: [router('host2', 28116), router('host3', 1533)],
    datasources: [
      datasource('host1', {
        role: 'master',
        state: 'SHUNNED',
        alertStatus: 'SHUNNED',
        lastShunReason: 'FAILED-OVER-TO-host2',
        alertTime: '2013-05-14T11:18:54Z',
        manager: { state: 'STOPPED' },
        replicator: null,
      }),
      datasource('host2', {
        role: 'master',
        alertTime: '2013-05-14T11:46:55Z',
        replicator: replicator({ role: 'master', masterHost: null, appliedSeqno: 156325, appliedLatency: 0.606 }),
      }),
      { ...base.datasources[2]!, replicator: replicator({ masterHost: 'host2', appliedSeqno: 156325 }) },
    ],
  });
}

describe('ls golden outputs (TZ Europe/London)', () => {
  it('normal 3-node cluster matches the reference sample byte for byte', () => {
    const text = formatLs(classicService(), { timeZone: TZ });
    expectGolden('normal-3-node', text);
    for (const line of text.split('\n')) if (/^[|+]/.test(line)) expect(line).toHaveLength(78);
  });

  it('after failover the old master is SHUNNED(FAILED-OVER-TO-x) with no replicator status', () => {
    const text = formatLs(afterFailover(), { timeZone: TZ });
    expectGolden('after-failover', text);
    expect(text).toContain('|host1(master:SHUNNED(FAILED-OVER-TO-host2))                                 |\n');
    expect(text).toContain('|STATUS [SHUNNED] [2013/05/14 12:18:54 PM BST]                               |\n');
    expect(text).toContain('|  REPLICATOR(state=STATUS NOT AVAILABLE)                                    |\n');
    expect(text).toContain('|host2(master:ONLINE, progress=156325, THL latency=0.606)                    |\n');
    expect(text.split('\n')[0]).toBe('COORDINATOR[host3:AUTOMATIC:ONLINE]');
  });

  it('a manually shunned slave keeps its progress in the header', () => {
    const s = classicService();
    s.datasources[2] = datasource('host3', {
      state: 'SHUNNED',
      alertStatus: 'SHUNNED',
      lastShunReason: 'MANUALLY-SHUNNED',
      alertTime: '2013-05-14T16:24:41Z',
      replicator: replicator({ appliedSeqno: 157454, appliedLatency: 1 }),
    });
    const text = formatLs(s, { timeZone: TZ });
    expectGolden('manually-shunned', text);
    expect(text).toContain('|host3(slave:SHUNNED(MANUALLY-SHUNNED), progress=157454, latency=1.000)      |\n');
    expect(text).toContain('|STATUS [SHUNNED] [2013/05/14 05:24:41 PM BST]                               |\n');
  });

  it('a FAILED data server with REASON widens the whole listing, to 80 columns where its header fits (7.x rounds to 83)', () => {
    const s = classicService({ coordinator: { host: 'db1', state: 'ONLINE' }, routers: [router('db1', 100)] });
    s.datasources = [
      datasource('db1', { role: 'master', alertTime: '2025-01-24T14:50:00Z' }),
      datasource('db3', {
        state: 'FAILED',
        alertStatus: 'CRITICAL',
        lastError: "DATASERVER 'db3@alpha' STOPPED",
        alertMessage: "DATASERVER 'db3@alpha' STOPPED",
        alertTime: '2025-01-24T14:59:42Z',
        dataServer: { state: 'STOPPED' },
        connections: { created: 8, active: 0 },
        replicator: replicator({ masterHost: 'db1', appliedLatency: 0.194 }),
      }),
    ];
    const text = formatLs(s, { timeZone: 'UTC' });
    expectGolden('failed-dataserver', text);
    const reference = [
      '+------------------------------------------------------------------------------+',
      "|db3(slave:FAILED(DATASERVER 'db3@alpha' STOPPED), progress=3, latency=0.194)  |",
      '|STATUS [CRITICAL] [2025/01/24 02:59:42 PM UTC]                                |',
      "|REASON[DATASERVER 'db3@alpha' STOPPED]                                        |",
      '+------------------------------------------------------------------------------+',
      '|  MANAGER(state=ONLINE)                                                       |',
      '|  REPLICATOR(role=slave, master=db1, state=ONLINE)                            |',
      '|  DATASERVER(state=STOPPED)                                                   |',
      '|  CONNECTIONS(created=8, active=0)                                            |',
      '+------------------------------------------------------------------------------+',
    ].join('\n');
    expect(text).toContain(reference);
    for (const line of text.split('\n')) if (/^[|+]/.test(line)) expect(line).toHaveLength(80);
  });

  it('a master shunned by failover after a data server error says both, widening the listing', () => {
    const s = afterFailover();
    s.datasources[0] = { ...s.datasources[0]!, lastError: "DATASERVER 'host1@alpha' STOPPED", dataServer: { state: 'STOPPED' } };
    const text = formatLs(s, { timeZone: TZ });
    expectGolden('shunned-after-error', text);
    const header = "host1(master:SHUNNED(FAILED-OVER-TO-host2 AFTER DATASERVER 'host1@alpha' STOPPED))";
    expect(header).toHaveLength(82);
    expect(text).toContain(`|${header.padEnd(85)} |\n`);
    for (const line of text.split('\n')) if (/^[|+]/.test(line)) expect(line).toHaveLength(88);
  });

  it('DIMINISHED: a stopped replicator drops the progress and adds REASON', () => {
    const s = classicService();
    s.datasources[0] = datasource('host1', {
      role: 'master',
      alertStatus: 'DIMINISHED',
      alertMessage: 'REPLICATOR STOPPED',
      alertTime: '2013-05-10T23:38:33Z',
      replicator: replicator({ state: 'STOPPED', role: 'master', masterHost: null }),
    });
    const text = formatLs(s, { timeZone: TZ });
    expectGolden('diminished', text);
    const row = (t: string): string => `|${t.padEnd(75)} |`;
    expect(text).toContain(
      [
        row('host1(master:ONLINE)'),
        row('STATUS [DIMINISHED] [2013/05/11 12:38:33 AM BST]'),
        row('REASON[REPLICATOR STOPPED]'),
        `+${'-'.repeat(76)}+`,
        row('  MANAGER(state=ONLINE)'),
        row('  REPLICATOR(state=STOPPED)'),
      ].join('\n'),
    );
  });

  it('MAINTENANCE shows in the coordinator line that tools parse', () => {
    const text = formatLs(classicService({ policy: 'MAINTENANCE' }), { timeZone: TZ });
    expectGolden('maintenance', text);
    const m = /COORDINATOR\[(\S+):(\w+):(\w+)\]/.exec(text);
    expect(m?.slice(1)).toEqual(['host1', 'MAINTENANCE', 'ONLINE']);
  });

  it("ls -l is cctrl's long layout: key : value rows, a box per component and per connector", () => {
    const text = formatLs(classicService(), { timeZone: TZ, detailed: true });
    expectGolden('ls-l', text);
    expect(text).toContain('\n|  precedence         : 1                                                    |\n');
    expect(text).toContain('\n|host2:REPLICATOR(role=slave, master=host1, state=ONLINE)                    |\n');
    expect(text).toContain('\n|host3:DATASERVER(state=ONLINE)                                              |\n');
    expect(text).toContain('\n|connector@host1[8805](ONLINE, created=0, active=0)                          |\n+---');
    expect(text).not.toMatch(/^\|\s+\w+=/m);
    for (const line of text.split('\n')) if (/^[|+]/.test(line)) expect(line).toHaveLength(78);
  });

  it('ls -l tells how far behind each slave is as monitoring reads it (appliedLatency rows by REPLICATOR box)', () => {
    const base = classicService();
    const service = { ...base, datasources: base.datasources.map((d) => (d.name === 'host3' ? { ...d, replicator: replicator({ appliedLatency: 29.5 }) } : d)) };
    expect(latencyByHost(formatLs(service, { timeZone: TZ, detailed: true }))).toEqual({ host1: 0.561, host2: 1.243, host3: 29.5 });
  });

  it('ls HOST prints the coordinator and only that datasource (no routers)', () => {
    const text = formatLs(classicService(), { timeZone: TZ, host: 'host2' });
    expectGolden('ls-host', text);
    expect(text).toContain('|host2(slave:ONLINE');
    expect(text).not.toContain('host1(');
    expect(text).not.toContain('ROUTERS:');
    expect(text).toContain('MANAGER(state=ONLINE)');
  });

  it('the multi root lists data services in a box', () => {
    expect(formatServiceList(['east', 'global', 'west'])).toBe(
      [
        '+----------------------------------------------------------------------------+',
        '|DATA SERVICES:                                                              |',
        '+----------------------------------------------------------------------------+',
        'east',
        'global',
        'west',
        '',
      ].join('\n'),
    );
  });

  it('control characters in names cannot break the box', () => {
    const s = classicService();
    s.datasources = [datasource('ev\u001b[2Jil\tx', { role: 'master' })];
    const text = formatLs(s, { timeZone: TZ });
    expect(text).not.toContain('\u001b');
    for (const line of text.split('\n')) if (/^[|+]/.test(line)) expect(line).toHaveLength(78);
  });
});
