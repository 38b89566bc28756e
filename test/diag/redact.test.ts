import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { maskArgv, MASK, RedactStream, redactConfig, redactLine } from '../../src/diag/redact.js';

describe('redaction', () => {
  it.each([
    ['replicator.global.db.password=hunter2', 'replicator.global.db.password=********'],
    ['password = "x y"', 'password = "********"'],
    ['application-password: abc', 'application-password: ********'],
    ['  passwd secret', '  passwd secret'.replace('secret', MASK)],
    ['# password=old', '# password=********'],
    ['replication-user=tungsten', 'replication-user=tungsten'],
    ['tools/tpm configure --replication-password=abc --user=x', 'tools/tpm configure --replication-password=******** --user=x'],
    ['password=', 'password='],
  ])('%s', (line, expected) => {
    expect(redactLine(line)).toBe(expected);
  });

  it('masks secret values on the command line, in every spelling', () => {
    expect(maskArgv(['diag', '-a', '--api-password=pw1', '--password', 'pw2', '--net-ssh-option=passphrase=pw3', '--net-ssh-option=port=22', '--path', '/tmp'])).toEqual([
      'diag', '-a', '--api-password=********', '--password', '********', '--net-ssh-option=passphrase=********', '--net-ssh-option=port=22', '--path', '/tmp',
    ]);
  });

  it('redacts a stream even when a secret is split across chunks', async () => {
    const chunks = ['a=1\nreplicator.global.db.pass', 'word=hun', 'ter2\nb=2\npassword=last'].map((s) => Buffer.from(s));
    const out = await text(Readable.from(chunks).pipe(new RedactStream()));
    expect(out).toBe('a=1\nreplicator.global.db.password=********\nb=2\npassword=********');
  });
});

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), 'corpus');
const corpusFiles = readdirSync(CORPUS).filter((f) => f !== 'README.md');

describe('redaction by structure, over a corpus of the configuration formats a Tungsten host keeps', () => {
  it.each(corpusFiles)('%s: no secret is left, and no line without one is changed', (name) => {
    const text = readFileSync(join(CORPUS, name), 'utf8');
    const { text: out, masked } = redactConfig(text, `/opt/continuent/tungsten/tungsten-connector/conf/${name}`);
    const secrets = [...text.matchAll(/[A-Za-z]*[-"\s]?Zq9-\d+/g)].map((m) => /Zq9-\d+/.exec(m[0])![0]);
    expect(secrets.length).toBeGreaterThan(0);
    expect(out).not.toMatch(/Zq9/);
    const before = text.split('\n');
    const after = out.split('\n');
    expect(after).toHaveLength(before.length);
    before.forEach((line, i) => {
      if (!line.includes('Zq9') && !/\\$/.test(before[i - 1] ?? '')) expect(after[i]).toBe(line);
    });
    // What was masked is reported, so the final scan can search the archive for it.
    for (const id of secrets) expect(masked.some((m) => m.value.includes(id))).toBe(true);
  });

  it.each([
    ['"repl_datasource_password": "pw1",', '"repl_datasource_password": "********",'],
    ['{"a":1,"connector_password":"pw\\"2","b":"x"}', '{"a":1,"connector_password":"********","b":"x"}'],
    ['<password>pw3</password>', '<password>********</password>'],
    ['<datasource user="app" password="pw4"/>', '<datasource user="app" password="********"/>'],
    ['<entry key="api.password">pw5</entry>', '<entry key="api.password">********</entry>'],
    ['export MYSQL_PWD=pw6', 'export MYSQL_PWD=********'],
    ['url=jdbc:mysql://tungsten:pw7@db1:13306/x', 'url=jdbc:mysql://tungsten:********@db1:13306/x'],
    ['mysql://u:p@ss8@db1/x', 'mysql://u:********@db1/x'],
    ['mysqldump -uroot -ppw9 --all-databases', 'mysqldump -uroot -p******** --all-databases'],
    ['run --password=pw10 --user=x', 'run --password=******** --user=x'],
    ['run --password pw11 --user x', 'run --password ******** --user x'],
    ['jdbc:mysql://db1/x?user=a&password=pw12&ssl=1', 'jdbc:mysql://db1/x?user=a&password=********&ssl=1'],
    ["CHANGE MASTER TO MASTER_PASSWORD='pw13', MASTER_PORT=1", "CHANGE MASTER TO MASTER_PASSWORD='********', MASTER_PORT=1"],
    ['security.password_file.location=/opt/continuent/share/passwords.store', 'security.password_file.location=/opt/continuent/share/passwords.store'],
  ])('%s', (line, expected) => {
    expect(redactConfig(line).text).toBe(expected);
  });

  it('masks the password field of every user of the connector user.map, and nothing of its directives', () => {
    const text = '# comment\napp pw1 alpha\n  rep pw2 alpha slave\n@script /x.sh\n@direct rep\n\n';
    expect(redactConfig(text, '/x/tungsten-connector/conf/user.map').text).toBe('# comment\napp ******** alpha\n  rep ******** alpha slave\n@script /x.sh\n@direct rep\n\n');
  });
});

describe('redaction of values that are not passwords', () => {
  it('masks a number under a password key, but keeps a switch', () => {
    expect(redactConfig('{"datasource_password": 123456789}').text).toBe('{"datasource_password": "********"}');
    expect(redactConfig('security.rmi.tungsten.authenticationRealm.encrypted.password=true\n').text).toBe('security.rmi.tungsten.authenticationRealm.encrypted.password=true\n');
  });
});
