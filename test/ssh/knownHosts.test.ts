import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprint, knownHostsName, verifyHostKey } from '../../src/ssh/knownHosts.js';

const dir = mkdtempSync(join(tmpdir(), 'tpm-kh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function newKey(name: string): { line: string; blob: Buffer } {
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  const [type, b64] = readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ');
  return { line: `${type} ${b64}`, blob: Buffer.from(b64!, 'base64') };
}

const a = newKey('a');
const b = newKey('b');

describe('known_hosts', () => {
  it('matches plain, [host]:port, patterns and hashed names', () => {
    const salt = Buffer.from('0123456789abcdef0123');
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.9]:2222').digest('base64')}`;
    const f = join(dir, 'kh1');
    writeFileSync(f, `# comment\ndb1,10.0.0.1 ${a.line}\n[10.0.0.2]:2222 ${a.line}\n*.example.com ${a.line}\n${hashed} ${a.line}\n`);
    for (const name of ['db1', '10.0.0.1', '[10.0.0.2]:2222', 'x.example.com', '[10.0.0.9]:2222']) {
      expect(verifyHostKey([f], [name], a.blob).kind, name).toBe('match');
    }
    expect(verifyHostKey([f], ['10.0.0.2'], a.blob).kind).toBe('unknown');
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2222)).toBe('[h]:2222');
  });

  it('tells a changed key from an unknown one, and honours @revoked', () => {
    const f = join(dir, 'kh2');
    writeFileSync(f, `db1 ${a.line}\n@revoked db2 ${b.line}\n`);
    const changed = verifyHostKey([f, join(dir, 'missing')], ['db1'], b.blob);
    expect(changed).toMatchObject({ kind: 'changed', entries: [{ file: f, line: 1 }] });
    expect(verifyHostKey([f], ['db2'], b.blob).kind).toBe('revoked');
    expect(verifyHostKey([f], ['db3'], b.blob).kind).toBe('unknown');
  });

  it('prints the same fingerprint as ssh-keygen -l', () => {
    const expected = spawnSync('ssh-keygen', ['-l', '-f', join(dir, 'a.pub')], { encoding: 'utf8' }).stdout.split(' ')[1];
    expect(fingerprint(a.blob)).toBe(expected);
  });
});
