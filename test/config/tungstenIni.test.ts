import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { iniCandidates, loadTungstenConfig, parseTungstenIni, readTungstenIni, tpmArguments, type TungstenConfig } from '../../src/config/tungstenIni.js';
import { ToolkitError } from '../../src/errors.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/tpm/${name}`, import.meta.url));
const corpusDir = fixture('ini-corpus');

function errorOf(fn: () => unknown): ToolkitError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ToolkitError);
    return e as ToolkitError;
  }
  throw new Error('expected an error');
}

/** host:role+role, the view diag and query take from the configuration. */
const roles = (c: TungstenConfig) => c.hosts.map((h) => `${h.name}:${h.roles.join('+')}`);
const parse = (text: string, hostname = 'staging') => parseTungstenIni(text, 'f.ini', { hostname });

describe('tungsten.ini', () => {
  it('reads defaults, dataservices and every member, connector and witness with their roles', () => {
    const c = readTungstenIni(fixture('tungsten.ini'));
    expect(c.installDirectory).toBe('/opt/continuent');
    expect(c.user).toBe('tungsten');
    expect(c.hosts).toEqual([
      { name: 'db1', roles: ['master', 'connector'], dataservices: ['alpha'], installDirectory: '/opt/continuent', user: 'tungsten' },
      { name: 'db2', roles: ['slave', 'connector'], dataservices: ['alpha'], installDirectory: '/opt/continuent', user: 'tungsten' },
      { name: 'db3', roles: ['slave', 'connector'], dataservices: ['alpha'], installDirectory: '/opt/continuent', user: 'tungsten' },
    ]);
  });

  it('normalises underscores, knows composite services and witnesses', () => {
    const c = readTungstenIni(fixture('composite.ini'));
    expect(c.installDirectory).toBe('/opt/tungsten');
    expect(c.dataservices.map((d) => [d.name, d.compositeOf ?? null])).toEqual([['east', null], ['west', null], ['world', ['east', 'west']]]);
    expect(roles(c)).toEqual(['db1:master', 'db2:slave', 'conn1:connector', 'db4:master', 'db5:slave', 'wit1:witness']);
  });

  it('names the file, line and key of an inconsistency', () => {
    const e = errorOf(() => readTungstenIni(fixture('bad-master.ini')));
    expect(e.message).toBe(`${fixture('bad-master.ini')}:6: master: "db9" is not one of the members (db1, db2, db3)`);
    expect(e.exitCode).toBe(2);
  });

  it.each([
    ['user=x\n[alpha]\nmembers=a', 'f.ini:1: user: key outside any section'],
    ['[alpha]\nconnectors=a\n', 'f.ini:1: members: dataservice [alpha] has no members'],
    ['[alpha]\nmembers=a,,b\n', 'f.ini:2: members: empty host name in "a,,b"'],
    ['[alpha]\nmembers=a b\n', 'f.ini:2: members: "a b" is not a valid host name'],
    ['[alpha]\n=x\n', 'f.ini:2: a line with a value but no key'],
    ['[defaults]\n', 'f.ini:1: no dataservice section'],
    ['[defaults]\ninstall-directory=opt\n[a]\nmembers=x', 'f.ini:2: install-directory: "opt" is not an absolute path'],
    ['[a]\nmembers=x\n[w]\ncomposite-datasources=a,zz\n', 'f.ini:4: composite-datasources: "zz" is not a physical dataservice of this file'],
    ['[a]\nmembers=x,y\nwitnesses=y\n', 'f.ini:3: witnesses: "y" is also a member'],
    ['[a]\nmembers=x,y\nwitnesses=w\nactive-witnesses=true\n', 'f.ini:3: witnesses: "w" is an active witness but not one of the members'],
  ])('rejects %j', (text, message) => {
    expect(errorOf(() => parse(text)).message).toBe(message);
  });

  describe("tpm's semantics", () => {
    it('[defaults.replicator] (written by the puppet template) is accepted and not applied to a cluster', () => {
      const c = parse('[defaults]\nhome-directory=/opt/continuent\n[defaults.replicator]\nhome-directory=/opt/replicator\nrmi-port=10002\n[alpha]\nmembers=db1\n');
      expect(c.installDirectory).toBe('/opt/continuent');
      expect(c.dataservices.map((d) => d.name)).toEqual(['alpha']);
      expect(c.warnings).toEqual(['f.ini:3: [defaults.replicator] not applied: it configures a Tungsten Replicator installation, not a cluster']);
    });

    it('[service@host] and [defaults@host] apply on that host only, after everything else', () => {
      const text = '[alpha@db2]\ninstall-directory=/data/alpha\n[alpha]\nmembers=db1,db2\nmaster=db1\ninstall-directory=/opt/alpha\n[defaults@db2]\nuser=admin\n';
      const onDb2 = parse(text, 'db2');
      expect(onDb2.hosts.map((h) => [h.name, h.installDirectory])).toEqual([['db1', '/data/alpha'], ['db2', '/data/alpha']]);
      expect(onDb2.user).toBe('admin');
      const elsewhere = parse(text, 'staging');
      expect(elsewhere.hosts.map((h) => h.installDirectory)).toEqual(['/opt/alpha', '/opt/alpha']);
      expect(elsewhere.user).toBeUndefined();
      expect(elsewhere.warnings).toContain('f.ini:1: [alpha@db2] not applied: it applies on db2 only, and this is staging');
    });

    it('a section given twice is one section', () => {
      const c = parse('[alpha]\nmembers=db1,db2\n[defaults]\nuser=t\n[alpha]\nmaster=db2\nconnectors=db1\n');
      expect(c.dataservices).toHaveLength(1);
      expect(roles(c)).toEqual(['db1:slave+connector', 'db2:master']);
    });

    it('inline ; and # comments after whitespace are cut, a # inside a value is kept', () => {
      const c = parse('[defaults] ; site\nuser=tungsten   ; OS user\nreplication-password=abc#def\n[alpha] # primary\nmembers=db1,db2   # two\nmaster=db1\t;tab\n');
      expect(c.user).toBe('tungsten');
      expect(c.defaults.find((e) => e.key === 'replication-password')!.value).toBe('abc#def');
      expect(roles(c)).toEqual(['db1:master', 'db2:slave']);
    });

    it('a trailing " \\" from a pasted tpm configure command is dropped with a warning', () => {
      const c = parse('[alpha]\nmembers=db1,db2 \\\nmaster=db1 \\\n');
      expect(roles(c)).toEqual(['db1:master', 'db2:slave']);
      expect(c.warnings[0]).toBe('f.ini:2: members: the trailing " \\" was dropped, as tpm does (wrap the value in double quotes to keep it)');
    });

    it('master= and slaves= without members= make the members', () => {
      expect(roles(parse('[alpha]\nmaster=db1\nslaves=db2,db3\n'))).toEqual(['db1:master', 'db2:slave', 'db3:slave']);
    });

    it('dataservice-hosts= / dataservice-master-host= / dataservice-connectors= are the same keys', () => {
      expect(roles(parse('[alpha]\ndataservice-hosts=db1,db2\ndataservice_master_host=db2\ndataservice-connectors=app1\n'))).toEqual(['db1:slave', 'db2:master', 'app1:connector']);
    });

    it('members+= and connectors+= add to what is set', () => {
      expect(roles(parse('[alpha]\nmembers=db1,db2\nmaster=db1\nmembers+=db3\nconnectors=db1\nconnectors+=db2\n'))).toEqual(['db1:master+connector', 'db2:slave+connector', 'db3:slave']);
    });

    it('active witnesses are members with the witness role', () => {
      const c = parse('[alpha]\nmembers=db1,db2,wit1\nmaster=db1\nwitnesses=wit1\nactive-witnesses=true\n');
      expect(roles(c)).toEqual(['db1:master', 'db2:slave', 'wit1:witness']);
      expect(roles(parse('[alpha]\nmaster=db1\nslaves=db2\nwitnesses=wit1\nenable-active-witnesses=true\n'))).toEqual(['db1:master', 'db2:slave', 'wit1:witness']);
    });

    it('relay= names the master of a passive site; relay-source= says which site it follows', () => {
      const c = readTungstenIni(join(corpusDir, '10-composite-active-passive.ini'), { hostname: 'staging' });
      const west = c.dataservices.find((d) => d.name === 'west')!;
      expect(west).toMatchObject({ master: 'db4', relaySource: 'east' });
      expect(c.hosts.find((h) => h.name === 'db4')!.roles).toEqual(['relay', 'connector']);
    });

    it('install-directory (or home-directory) in a service section is that service’s hosts’ directory', () => {
      const c = readTungstenIni(join(corpusDir, '16-install-directory-per-service.ini'), { hostname: 'staging' });
      expect(c.hosts.map((h) => `${h.name}:${h.installDirectory}`)).toEqual(['db1:/opt/alpha', 'db2:/opt/alpha', 'db3:/opt/beta', 'db4:/opt/beta']);
      expect(parse('[defaults]\nhome-directory=/opt/tungsten\n[a]\nmembers=x\n').installDirectory).toBe('/opt/tungsten');
    });

    it('a second members= is refused, naming members (not master) and both lines', () => {
      const e = errorOf(() => parse('[alpha]\nmembers=db1,db2,db3\nmaster=db1\nmembers=db2,db3\n'));
      expect(e.message).toBe('f.ini:4: members: [alpha] sets members twice (line 2: members=db1,db2,db3; line 4: members=db2,db3); tpm would silently use the last one');
      expect(e.hint).toBe('keep one members= line in [alpha] of f.ini');
      const spelt = errorOf(() => parse('[alpha]\nmembers=db1,db2\ndataservice-hosts=db1,db3\n'));
      expect(spelt.message).toMatch(/^f.ini:3: dataservice-hosts: \[alpha\] sets members twice/);
    });

    it('unknown keys are warned about, known ones are not', () => {
      const c = readTungstenIni(join(corpusDir, '24-unknown-keys.ini'), { hostname: 'staging' });
      expect(c.warnings).toEqual([
        `${join(corpusDir, '24-unknown-keys.ini')}:8: [alpha] unknown key "conectors" (not a tpm option); check the spelling`,
        `${join(corpusDir, '24-unknown-keys.ini')}:3: [defaults] unknown key "replication-pasword" (not a tpm option); check the spelling`,
      ]);
      expect(readTungstenIni(join(corpusDir, '01-three-node-cluster.ini'), { hostname: 'staging' }).warnings).toEqual([]);
    });
  });

  describe("the corpus against tpm's own code", () => {
    const golden = JSON.parse(readFileSync(join(corpusDir, 'tpm-arguments.json'), 'utf8')) as {
      hostname: string;
      files: Record<string, { sections: Array<{ key: string; arguments: string[] }>; warnings: string[] }>;
    };
    const files = readdirSync(corpusDir).filter((f) => f.endsWith('.ini')).sort();

    it(`every one of the ${files.length} files gives the sections and tpm configure arguments tpm gives, in its order`, () => {
      expect(Object.keys(golden.files).sort()).toEqual(files);
      const mismatched: string[] = [];
      for (const f of files) {
        const ours = tpmArguments(readFileSync(join(corpusDir, f), 'utf8'), f, golden.hostname);
        const theirs = golden.files[f]!;
        const same = JSON.stringify(ours.sections) === JSON.stringify(theirs.sections) && ours.warnings.length === theirs.warnings.length;
        if (!same) mismatched.push(f);
      }
      expect({ matching: files.length - mismatched.length, mismatched }).toEqual({ matching: files.length, mismatched: [] });
    });

    it('every file of the corpus loads (tpm accepts them all)', () => {
      for (const f of files) expect(() => readTungstenIni(join(corpusDir, f), { hostname: golden.hostname }), f).not.toThrow();
    });
  });

  describe('where it is looked for', () => {
    let root: string;
    let home: string;
    let etc: string;
    const quiet = { warn: () => undefined };
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'tpm-ini-'));
      home = join(root, 'home');
      etc = join(root, 'etc');
      mkdirSync(join(etc, 'tungsten'), { recursive: true });
      mkdirSync(home);
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('reads every file tpm finds: ~/tungsten.ini, /etc/tungsten/tungsten*.ini, /etc/tungsten.ini', () => {
      writeFileSync(join(etc, 'tungsten.ini'), '[c]\nmembers=c1\n');
      expect(loadTungstenConfig(undefined, { home, etcDir: etc, ...quiet }).hosts.map((h) => h.name)).toEqual(['c1']);
      writeFileSync(join(etc, 'tungsten', 'tungsten-b.ini'), '[defaults]\ninstall-directory=/opt/b\n[b]\nmembers=b1\n');
      writeFileSync(join(etc, 'tungsten', 'tungsten-a.ini'), '[a2]\nmembers=a2\n');
      writeFileSync(join(etc, 'tungsten', 'other.ini'), '[x]\nmembers=x1\n');
      writeFileSync(join(home, 'tungsten.ini'), '[a]\nmembers=a1\n');
      const c = loadTungstenConfig(undefined, { home, etcDir: etc, ...quiet });
      expect(c.files).toEqual([join(home, 'tungsten.ini'), join(etc, 'tungsten', 'tungsten-a.ini'), join(etc, 'tungsten', 'tungsten-b.ini'), join(etc, 'tungsten.ini')]);
      expect(c.hosts.map((h) => `${h.name}:${h.installDirectory}`)).toEqual(['a1:/opt/continuent', 'a2:/opt/continuent', 'b1:/opt/b', 'c1:/opt/continuent']);
      expect(iniCandidates({ home, etcDir: etc })).toEqual(c.files);
    });

    it('--ini a,b reads both, relative to where tpm was run, and may hold a wildcard', () => {
      writeFileSync(join(root, 'one.ini'), '[a]\nmembers=a1\n');
      writeFileSync(join(root, 'two.ini'), '[b]\nmembers=b1\n');
      expect(loadTungstenConfig('one.ini,two.ini', { cwd: root, ...quiet }).hosts.map((h) => h.name)).toEqual(['a1', 'b1']);
      expect(loadTungstenConfig('*.ini', { cwd: root, ...quiet }).files).toEqual([join(root, 'one.ini'), join(root, 'two.ini')]);
      expect(errorOf(() => loadTungstenConfig('nope*.ini,none.ini', { cwd: root })).message).toBe('--ini nope*.ini,none.ini: no such file');
    });

    it('says where it looked when there is none (naming /etc/tungsten/tungsten*.ini), and names an unreadable file', () => {
      const e = errorOf(() => loadTungstenConfig(undefined, { home, etcDir: etc }));
      expect(e.message).toBe(`no tungsten.ini found (looked for ${join(home, 'tungsten.ini')}, ${join(etc, 'tungsten', 'tungsten*.ini')}, ${join(etc, 'tungsten.ini')})`);
      expect(e.hint).toMatch(/--ini FILE/);
      const missing = errorOf(() => readTungstenIni(join(root, 'nope.ini')));
      expect(missing.message).toBe(`cannot read ${join(root, 'nope.ini')}: ENOENT`);
    });

    it('warnings go to the warn callback', () => {
      writeFileSync(join(root, 'w.ini'), '[a]\nmembers=a1\ncolour=blue\n');
      const seen: string[] = [];
      loadTungstenConfig(join(root, 'w.ini'), { warn: (m) => seen.push(m) });
      expect(seen).toEqual([`${join(root, 'w.ini')}:3: [a] unknown key "colour" (not a tpm option); check the spelling`]);
    });
  });
});
