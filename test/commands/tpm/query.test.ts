import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runQueryCommand } from '../../../commands/tpm/query.js';
import { runReverseCommand } from '../../../commands/tpm/reverse.js';
import { selectHosts } from '../../../commands/tpm/diag.js';
import { parseTungstenIni } from '../../../src/config/tungstenIni.js';

let dir: string;
let ini: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tpm-q-'));
  mkdirSync(join(dir, 'install', 'releases', 'tungsten-clustering-7.1.4-10'), { recursive: true });
  symlinkSync(join(dir, 'install', 'releases', 'tungsten-clustering-7.1.4-10'), join(dir, 'install', 'tungsten'));
  ini = join(dir, 'tungsten.ini');
  writeFileSync(ini, `[defaults]\nuser=tungsten\ninstall-directory=${dir}/install\nreplication-password=pw\n\n[east]\nmaster=db1\nmembers=db1,db2\nconnectors=c1\n\n[world]\ncomposite-datasources=east\n`);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ctx = () => ({ cwd: dir, cctrlLs: () => undefined });

describe('tpm query', () => {
  it('staging: user@host:directory', () => {
    expect(runQueryCommand('staging', { ini }, ctx()).text).toBe(`tungsten@${hostname()}:${dir}\n`);
  });

  it('version: the installed release', () => {
    expect(runQueryCommand('version', { ini: 'tungsten.ini' }, ctx()).text).toBe('tungsten-clustering-7.1.4-10\n');
  });

  it('dataservices: name padded to 30, then PHYSICAL or COMPOSITE', () => {
    expect(runQueryCommand('dataservices', { ini }, ctx()).text).toBe(`${'east'.padEnd(30)}: PHYSICAL\n${'world'.padEnd(30)}: COMPOSITE\n`);
  });

  it('topology: from cctrl ls when the manager answers, else the configured roles, labelled as such, exit 3', () => {
    const ls = 'DATASOURCES:\n|db1(master:ONLINE, progress=3, THL latency=0.5)   |\n|db2(slave:ONLINE, progress=3, latency=0.1)   |\n';
    expect(JSON.parse(runQueryCommand('topology', { ini }, { cwd: dir, cctrlLs: () => ls }).text)).toEqual({ db1: 'master', db2: 'slave' });
    const fallback = runQueryCommand('topology', { ini }, ctx());
    expect(JSON.parse(fallback.text)).toEqual({ configured: { db1: 'master', db2: 'slave', c1: 'connector' } });
    expect(fallback.note).toMatch(/did not answer .*: this is the CONFIGURED topology/);
    expect(fallback.exitCode).toBe(3);
  });

  it('config: JSON with passwords masked', () => {
    const c = JSON.parse(runQueryCommand('config', { ini }, ctx()).text);
    expect(c.defaults['replication-password']).toBe('@@@@@@@@');
    expect(c.dataservices.east.members).toBe('db1,db2');
  });

  it('an unknown question is a usage error listing the valid ones', () => {
    expect(() => runQueryCommand('colour', { ini }, ctx())).toThrow(expect.objectContaining({ kind: 'usage', hint: 'use one of: staging, version, topology, dataservices, config' }));
  });
});

describe('tpm reverse and --hosts', () => {
  it('reverse reads the ini relative to the current directory', () => {
    expect(runReverseCommand({ ini: 'tungsten.ini', public: true }, { cwd: dir }).text).toContain('--replication-password=@@@@@@@@');
  });

  it('--hosts keeps the configuration names and refuses unknown ones', () => {
    const config = parseTungstenIni('[a]\nmembers=db1,db2,db3\n', 'x.ini');
    expect(selectHosts(config, 'db3,db1,db3')).toEqual(['db3', 'db1']);
    expect(selectHosts(config, undefined)).toEqual(['db1', 'db2', 'db3']);
    expect(() => selectHosts(config, 'db1,db7')).toThrow(expect.objectContaining({ message: '--hosts: unknown host db7', hint: 'known hosts in x.ini: db1, db2, db3', exitCode: 2 }));
  });
});
