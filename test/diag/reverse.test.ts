import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseTungstenIni, readTungstenIni } from '../../src/config/tungstenIni.js';
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

  it('quotes only what the shell needs quoted', () => {
    expect(shellWord('--members=db1,db2')).toBe('--members=db1,db2');
    expect(shellWord('--x=a b')).toBe("'--x=a b'");
  });
});
