import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { iniCandidates, loadTungstenConfig, parseTungstenIni, readTungstenIni } from '../../src/config/tungstenIni.js';
import { ToolkitError } from '../../src/errors.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/tpm/${name}`, import.meta.url));

function errorOf(fn: () => unknown): ToolkitError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ToolkitError);
    return e as ToolkitError;
  }
  throw new Error('expected an error');
}

describe('tungsten.ini', () => {
  it('reads defaults, dataservices and every member, connector and witness with their roles', () => {
    const c = readTungstenIni(fixture('tungsten.ini'));
    expect(c.installDirectory).toBe('/opt/continuent');
    expect(c.user).toBe('tungsten');
    expect(c.hosts).toEqual([
      { name: 'db1', roles: ['master', 'connector'], dataservices: ['alpha'] },
      { name: 'db2', roles: ['slave', 'connector'], dataservices: ['alpha'] },
      { name: 'db3', roles: ['slave', 'connector'], dataservices: ['alpha'] },
    ]);
  });

  it('normalises underscores, knows composite services and witnesses', () => {
    const c = readTungstenIni(fixture('composite.ini'));
    expect(c.installDirectory).toBe('/opt/tungsten');
    expect(c.dataservices.map((d) => [d.name, d.compositeOf ?? null])).toEqual([['east', null], ['west', null], ['world', ['east', 'west']]]);
    expect(c.hosts.map((h) => `${h.name}:${h.roles.join('+')}`)).toEqual(['db1:master', 'db2:slave', 'conn1:connector', 'db4:master', 'db5:slave', 'wit1:witness']);
  });

  it('names the file, line and key of an inconsistency', () => {
    const e = errorOf(() => readTungstenIni(fixture('bad-master.ini')));
    expect(e.message).toBe(`${fixture('bad-master.ini')}:6: master: "db9" is not one of the members (db1, db2, db3)`);
    expect(e.exitCode).toBe(2);
  });

  it.each([
    ['user=x\n[alpha]\nmembers=a', 'f.ini:1: user: key outside any section'],
    ['[alpha]\nmaster=a\n', 'f.ini:1: members: dataservice [alpha] has no members'],
    ['[alpha]\nmembers=a,,b\n', 'f.ini:2: members: empty host name in "a,,b"'],
    ['[alpha]\nmembers=a b\n', 'f.ini:2: members: "a b" is not a valid host name'],
    ['[defaults]\n', 'f.ini:1: no dataservice section'],
    ['[alpha]\nmembers=a\n[alpha]\n', 'f.ini:3: section [alpha] appears twice'],
    ['[defaults]\ninstall-directory=opt\n[a]\nmembers=x', 'f.ini:2: install-directory: "opt" is not an absolute path'],
    ['[a]\nmembers=x\n[w]\ncomposite-datasources=a,zz\n', 'f.ini:4: composite-datasources: "zz" is not a physical dataservice of this file'],
    ['[a]\nmembers=x,y\nwitnesses=y\n', 'f.ini:3: witnesses: "y" is also a member'],
  ])('rejects %j', (text, message) => {
    expect(errorOf(() => parseTungstenIni(text, 'f.ini')).message).toBe(message);
  });

  describe('where it is looked for', () => {
    let root: string;
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'tpm-ini-'));
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('~/tungsten.ini, then /etc/tungsten/tungsten*.ini, then /etc/tungsten.ini', () => {
      const home = join(root, 'home');
      const etc = join(root, 'etc');
      mkdirSync(join(etc, 'tungsten'), { recursive: true });
      mkdirSync(home);
      writeFileSync(join(etc, 'tungsten.ini'), '[c]\nmembers=c1\n');
      expect(loadTungstenConfig(undefined, { home, etcDir: etc }).hosts[0]!.name).toBe('c1');
      writeFileSync(join(etc, 'tungsten', 'tungsten-b.ini'), '[b]\nmembers=b1\n');
      expect(loadTungstenConfig(undefined, { home, etcDir: etc }).hosts[0]!.name).toBe('b1');
      writeFileSync(join(home, 'tungsten.ini'), '[a]\nmembers=a1\n');
      expect(loadTungstenConfig(undefined, { home, etcDir: etc }).hosts[0]!.name).toBe('a1');
      expect(iniCandidates({ home, etcDir: etc })).toEqual([join(home, 'tungsten.ini'), join(etc, 'tungsten', 'tungsten-b.ini'), join(etc, 'tungsten.ini')]);
    });

    it('says where it looked when there is none, and names an unreadable file', () => {
      const e = errorOf(() => loadTungstenConfig(undefined, { home: root, etcDir: join(root, 'etc') }));
      expect(e.message).toMatch(/^no tungsten.ini found \(looked at .*tungsten.ini\)$/);
      expect(e.hint).toMatch(/--ini FILE/);
      const missing = errorOf(() => readTungstenIni(join(root, 'nope.ini')));
      expect(missing.message).toBe(`cannot read ${join(root, 'nope.ini')}: ENOENT`);
    });
  });
});
