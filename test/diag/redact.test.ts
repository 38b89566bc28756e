import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { maskArgv, MASK, RedactStream, redactLine } from '../../src/diag/redact.js';

describe('redaction', () => {
  it.each([
    ['replicator.global.db.password=hunter2', 'replicator.global.db.password=********'],
    ['password = "x y"', 'password = ********'],
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
