import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCredentials, resolveCredentials } from '../../src/shell/credentials.js';
import { managerUrls, parseArgs, type CctrlOptions } from '../../src/shell/options.js';
import { statusText } from '../../src/ui/status.js';

function run(argv: string[]): CctrlOptions {
  const parsed = parseArgs(argv, '1.2.3');
  if (parsed.kind !== 'run') throw new Error('expected options');
  return parsed.options;
}

describe('parseArgs', () => {
  it("accepts cctrl's single-dash spellings and the GNU ones alike", () => {
    const cctrl = run(['-expert', '-multi', '-host', 'mgr1', '-port', '9000', '-service', 'beta', '-no-history']);
    const gnu = run(['--expert', '--multi', '--host', 'mgr1', '--port', '9000', '--service', 'beta', '--no-history']);
    expect(cctrl).toEqual(gnu);
    expect(cctrl).toMatchObject({ expert: true, multi: true, host: 'mgr1', port: 9000, service: 'beta', history: false });
    expect(managerUrls(cctrl)).toEqual(['http://mgr1:9000']);
  });

  it("-port 9997 is the manager's RMI port, as tpm passes it: the REST API is reached on 8090 unless told otherwise", () => {
    expect(managerUrls(run(['-expert', '-port', '9997']))).toEqual(['http://127.0.0.1:8090']);
    expect(managerUrls(run(['-port', '9997', '--api-port', '8095']))).toEqual(['http://127.0.0.1:8095']);
    expect(managerUrls(run(['-port', '9997', '-api-port', '8095']))).toEqual(['http://127.0.0.1:8095']);
    expect(managerUrls(run(['-host', 'db2', '-port', '9997']), { TUNGSTEN_API_PORT: '8096' })).toEqual(['http://db2:8096']);
    // Any other -port is the REST port itself.
    expect(managerUrls(run(['-port', '8091']), { TUNGSTEN_API_PORT: '8096' })).toEqual(['http://127.0.0.1:8091']);
    expect(() => run(['--api-port', 'x'])).toThrow(/--api-port must be a TCP port/);
    expect(() => managerUrls(run(['-port', '9997']), { TUNGSTEN_API_PORT: 'x' })).toThrow(/TUNGSTEN_API_PORT must be a TCP port/);
  });

  it('has the documented defaults', () => {
    const o = run([]);
    expect(o).toMatchObject({ expert: false, multi: false, history: true, json: false, yes: false, demo: false, timeoutSeconds: 120, execute: null, manager: null });
    expect(managerUrls(o)).toEqual(['http://127.0.0.1:8090']);
    expect(managerUrls(run(['--manager', 'https://m:1']))).toEqual(['https://m:1']);
  });

  it('takes -e, --json, --yes, --timeout, --demo with --property', () => {
    expect(run(['-e', 'ls; ls', '--json', '-y', '--timeout', '2.5', '--demo', '--property', 'a=1', '--property', 'b=2'])).toMatchObject({
      execute: 'ls; ls',
      json: true,
      yes: true,
      timeoutSeconds: 2.5,
      demo: true,
      properties: ['a=1', 'b=2'],
    });
  });

  it('refuses bad values and unknown options with usage errors', () => {
    expect(() => run(['--port', 'eighty'])).toThrow(/--port must be a TCP port/);
    expect(() => run(['--timeout', '0'])).toThrow(/--timeout must be a positive number/);
    expect(() => run(['-bogus'])).toThrow(/unknown option '-bogus'/);
    expect(() => run(['stray'])).toThrow(/too many arguments|unknown command|excess/i);
  });

  it('refuses --demo with a manager address, and --property without --demo, instead of ignoring one of them', () => {
    expect(() => run(['--demo', '--manager', 'http://prod:8090'])).toThrow("--demo runs its own simulated cluster: give --demo or --manager, not both");
    expect(() => run(['--demo', '-host', 'prod'])).toThrow(/give --demo or --manager, not both/);
    expect(() => run(['--manager', 'http://prod:8090', '--property', 'policy.mode=manual'])).toThrow('--property sets a property of the --demo manager; it needs --demo');
    expect(run(['--demo', '--property', 'a=1'])).toMatchObject({ demo: true, properties: ['a=1'] });
  });

  it('prints help and version instead of running', () => {
    const help = parseArgs(['--help'], '1.2.3');
    expect(help.kind).toBe('print');
    expect(parseArgs(['--version'], '1.2.3')).toEqual({ kind: 'print', text: '1.2.3\n' });
  });
});

describe('resolveCredentials', () => {
  const home = () => mkdtempSync(join(tmpdir(), 'cctrl-cred-'));
  const none = { user: null, password: null, credentials: null };

  it('flags win over the environment, the environment over the file', () => {
    const h = home();
    writeFileSync(join(h, '.cctrl_credentials'), 'user=fromfile\npassword=f\n', { mode: 0o600 });
    const env = { TUNGSTEN_API_USER: 'fromenv', TUNGSTEN_API_PASSWORD: 'e' };
    expect(resolveCredentials({ ...none, user: 'flag', password: 'p' }, env, h)).toEqual({ user: 'flag', password: 'p' });
    expect(resolveCredentials(none, env, h)).toEqual({ user: 'fromenv', password: 'e' });
    expect(resolveCredentials(none, {}, h)).toEqual({ user: 'fromfile', password: 'f' });
  });

  it('no file and nothing else: no credentials', () => {
    expect(resolveCredentials(none, {}, home())).toBeNull();
  });

  it('refuses a file that group or others can read, saying how to fix it', () => {
    const h = home();
    const file = join(h, '.cctrl_credentials');
    writeFileSync(file, 'user=u\npassword=p\n');
    chmodSync(file, 0o640);
    expect(() => resolveCredentials(none, {}, h)).toThrow(`credentials file ${file} is readable by others (mode 0640)`);
  });

  it('parses user= and password= lines with comments and blanks', () => {
    expect(parseCredentials('# ops\n\n user = admin \npassword=a=b\n')).toEqual({ user: 'admin', password: 'a=b' });
    expect(parseCredentials('password=x\n')).toBeNull();
  });
});

describe('statusText', () => {
  const base = { address: 'http://m:8090', service: 'alpha', policy: 'AUTOMATIC' as const, coordinator: 'db1', answeredAt: 1000, error: null };

  it('names the master apart from the coordinating manager; shows policy, service and manager', () => {
    expect(statusText({ ...base, master: 'db2' }, 2000)).toEqual({
      text: 'master db2 | policy AUTOMATIC | service alpha | coordinating manager db1 | manager http://m:8090',
      warning: null,
      coming: [],
      alert: null,
    });
  });

  it('counts down what is coming between two answers', () => {
    const pending = { action: 'failover' as const, fault: 'DATASERVER STOPPED', policy: 'AUTOMATIC' as const, dueAt: 'x', inSeconds: 12, message: 'db1 DATASERVER STOPPED: automatic failover in 12 s (AUTOMATIC)' };
    expect(statusText({ ...base, master: 'db1', pending: [pending] }, 1000 + 3_400).coming).toEqual(['db1 DATASERVER STOPPED: automatic failover in 9 s (AUTOMATIC)']);
  });

  it('warns when the data is old or the manager does not answer', () => {
    expect(statusText(base, 1000 + 10_000).warning).toBe('no answer for 10 s; data shown may be stale');
    expect(statusText({ ...base, error: 'connection refused' }, 2000).warning).toBe('manager not answering; data shown may be stale (connection refused)');
  });
});
