import { describe, expect, it } from 'vitest';
import { parseTungstenIni } from '../../src/config/tungstenIni.js';
import { assessSeverity, parseLsDatasources, renderSummary } from '../../src/diag/summary.js';
import type { HostReport } from '../../src/diag/types.js';

const box = (rows: string[]) => ['+' + '-'.repeat(76) + '+', ...rows.map((r) => `|${r.padEnd(75)} |`), '+' + '-'.repeat(76) + '+'].join('\n');
function ls(...datasources: string[][]): string {
  return ['COORDINATOR[db1:AUTOMATIC:ONLINE]', '', 'DATASOURCES:', ...datasources.map(box), ''].join('\n');
}
const master = (state = 'ONLINE', repl = 'ONLINE') => [`db1(master:${state}, progress=3, THL latency=0.561)`, 'STATUS [OK] [2013/05/03 09:11:10 PM BST]', `  REPLICATOR(role=master, state=${repl})`];
const slave = (name: string, state = 'ONLINE') => [`${name}(slave:${state}, progress=3, latency=1.2)`, '  REPLICATOR(role=slave, master=db1, state=ONLINE)'];
const report = (host: string, status: HostReport['status'] = 'ok'): HostReport => ({ host, roles: [], status, error: status === 'ok' ? null : 'boom', files: [], bytes: 0, skipped: [], durationMs: 1200 });

describe('severity from the cluster state', () => {
  it('reads the datasource boxes of ls', () => {
    expect(parseLsDatasources(ls(master(), slave('db2', 'SHUNNED(MANUALLY-SHUNNED)')))).toEqual([
      { name: 'db1', role: 'master', state: 'ONLINE', components: [] },
      { name: 'db2', role: 'slave', state: 'SHUNNED', components: [] },
    ]);
  });

  it.each([
    ['no ls output', undefined, [report('db1')], 'Normal', /unknown/],
    ['a failed master', ls(master('FAILED'), slave('db2')), [report('db1')], 'Urgent', /the master db1 is FAILED/],
    ['no master at all', ls(slave('db2')), [report('db1')], 'Urgent', /no master/],
    ['a shunned slave', ls(master(), slave('db2', 'SHUNNED')), [report('db1')], 'High', /db2 is SHUNNED/],
    ['a stopped replicator', ls(master('ONLINE', 'OFFLINE'), slave('db2')), [report('db1')], 'High', /REPLICATOR OFFLINE/],
    ['all online, a host missing', ls(master(), slave('db2')), [report('db1'), report('db2', 'unreachable')], 'Normal', /missing from db2/],
    ['all online', ls(master(), slave('db2')), [report('db1')], 'Low', /every datasource is ONLINE/],
  ])('%s', (_name, text, reports, severity, reason) => {
    const a = assessSeverity(text, reports as HostReport[]);
    expect(a.severity).toBe(severity);
    expect(a.reason).toMatch(reason as RegExp);
  });

  it('SUMMARY.txt lists what is missing and drafts the support request', () => {
    const config = parseTungstenIni('[alpha]\nmaster=db1\nmembers=db1,db2\nconnectors=db1\n', 't.ini');
    const reports = [
      { ...report('db1'), skipped: [{ path: 'cctrl_ls.txt', reason: 'the manager did not answer within 20 s' }] },
      report('db2', 'timeout'),
    ];
    const text = renderSummary({ archiveName: 'tungsten-diag-x.tgz', createdAt: new Date(0), commandLine: ['tpm', 'diag', '-a'], version: '1.0', config, reports, logSizeMiB: 10 });
    expect(text).toContain('WHAT WAS COLLECTED (1 of 2 hosts complete)');
    expect(text).toContain('db2: timeout: boom');
    expect(text).toContain('db1: cctrl_ls.txt: the manager did not answer within 20 s');
    expect(text).toMatch(/Suggested severity: Normal \(P3\), because the cluster state at collection time is unknown/);
    // Configured roles (tungsten.ini) are labelled apart from the live ones (ls), unknown here.
    expect(text).toContain('Affected hosts: the roles configured in tungsten.ini, and the live ones where cctrl answered (ls):');
    expect(text).toMatch(/db1\s+configured: master, connector \(alpha\) {2}live: unknown/);
    for (const blank of ['Description', 'Environment', 'Business impact', 'Steps to reproduce', 'Steps already taken']) expect(text).toContain(`${blank}`);
  });
});
