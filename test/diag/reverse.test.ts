import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseTungstenIni, readTungstenIni, readTungstenInis } from '../../src/config/tungstenIni.js';
import { renderReverse, shellWord } from '../../src/diag/reverse.js';

const file = fileURLToPath(new URL('../../fixtures/tpm/tungsten.ini', import.meta.url));

describe('tpm reverse', () => {
  it('prints tpm configure blocks with sorted, escaped --key=value lines', () => {
    expect(renderReverse(readTungstenIni(file))).toBe(
      [
        `# Configuration built from ${file}`,
        '# Defaults for all data services and hosts',
        'tools/tpm configure defaults \\',
        "'--application-password=app pass'\\''word' \\",
        '--application-port=3306 \\',
        '--application-user=app \\',
        '--install-directory=/opt/continuent \\',
        '--replication-password=s3cret-repl \\',
        '--replication-user=tungsten \\',
        '--start-and-report=true \\',
        '--user=tungsten',
        '# Options for the alpha data service',
        'tools/tpm configure alpha \\',
        '--connectors=db1,db2,db3 \\',
        '--master=db1 \\',
        '--members=db1,db2,db3 \\',
        '--topology=clustered',
        '',
      ].join('\n'),
    );
  });

  it('--public masks every password with a fixed token', () => {
    const out = renderReverse(readTungstenIni(file), { public: true });
    expect(out).toContain('--replication-password=@@@@@@@@ \\');
    expect(out).toContain('--application-password=@@@@@@@@ \\');
    expect(out).not.toMatch(/s3cret|pass'word/);
  });

  it('--ini-format prints an INI that reads back to the same configuration', () => {
    const config = readTungstenIni(file);
    const ini = renderReverse(config, { iniFormat: true });
    expect(ini).toContain('[defaults]\napplication-password=app pass\'word\n');
    const again = parseTungstenIni(ini, 'again.ini');
    expect(again.hosts).toEqual(config.hosts);
    expect(again.defaults.map((e) => [e.key, e.value]).sort()).toEqual(config.defaults.map((e) => [e.key, e.value]).sort());
  });

  it('keeps every repeated property= and skip-validation-check= line, in order; other keys once, the last', () => {
    const repeated = fileURLToPath(new URL('../../fixtures/tpm/ini-corpus/15-repeated-property.ini', import.meta.url));
    const out = renderReverse(readTungstenIni(repeated, { hostname: 'staging' }));
    expect(out).toContain(
      [
        'tools/tpm configure defaults \\',
        '--property=replicator.filter.pkey.addColumnsToDeletes=true \\',
        '--property=replicator.filter.pkey.addPkeyToInserts=true \\',
        '--property=replicator.stage.q-to-dbms.blockCommitRowCount=100 \\',
        '--skip-validation-check=MySQLPermissionsCheck \\',
        '--skip-validation-check=HostsFileCheck \\',
        '--skip-validation-check=ReplicationServicePipelines \\',
        '--user=tungsten',
      ].join('\n'),
    );
    expect(out).toContain('--property=replicator.applier.dbms.optimizeRowEvents=false \\\n--property=replicator.extractor.dbms.usingBytesForString=true\n');
    const ini = renderReverse(readTungstenIni(repeated, { hostname: 'staging' }), { iniFormat: true });
    expect(ini.match(/^skip-validation-check=/gm)).toHaveLength(3);
    const again = parseTungstenIni(ini, 'again.ini', { hostname: 'staging' });
    expect(again.defaults.filter((e) => e.key === 'property').map((e) => e.value)).toHaveLength(3);
    const last = renderReverse(parseTungstenIni('[defaults]\nuser=a\nuser=b\n[alpha]\nmembers=db1\n', 'f.ini', { hostname: 'staging' }));
    expect(last).toContain('tools/tpm configure defaults \\\n--user=b\n');
  });

  it('prints one block per INI file', () => {
    const two = readTungstenInis([file, fileURLToPath(new URL('../../fixtures/tpm/composite.ini', import.meta.url))], { hostname: 'staging' });
    const out = renderReverse(two);
    expect(out.match(/^# Configuration built from /gm)).toHaveLength(2);
    expect(out).toContain('tools/tpm configure world \\\n--composite-datasources=east,west\n');
  });

  it('quotes only what the shell needs quoted', () => {
    expect(shellWord('--members=db1,db2')).toBe('--members=db1,db2');
    expect(shellWord('--x=a b')).toBe("'--x=a b'");
  });
});
