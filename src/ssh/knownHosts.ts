import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownHostKey {
  file: string;
  line: number;
  keyType: string;
  key: Buffer;
  revoked: boolean;
}

export type HostKeyVerdict =
  | { kind: 'match'; entry: KnownHostKey }
  | { kind: 'unknown' }
  | { kind: 'changed'; entries: KnownHostKey[] }
  | { kind: 'revoked'; entry: KnownHostKey };

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH's `SHA256:` fingerprint of a raw (wire-format) public key. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a wire-format key (e.g. ssh-ed25519). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('ascii');
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function hostFieldMatches(field: string, names: string[]): boolean {
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (names.some((n) => patternMatches(pattern, n))) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Every known_hosts line naming one of `names`, across the files (missing files are ignored). */
export function lookupKnownHosts(files: string[], names: string[]): KnownHostKey[] {
  const found: KnownHostKey[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const fields = line.split(/\s+/);
      let marker: string | undefined;
      if (fields[0]!.startsWith('@')) marker = fields.shift();
      if (marker === '@cert-authority') return;
      const [hostField, keyType, keyB64] = fields;
      if (!hostField || !keyType || !keyB64) return;
      if (!hostFieldMatches(hostField, names)) return;
      found.push({ file, line: i + 1, keyType, key: Buffer.from(keyB64, 'base64'), revoked: marker === '@revoked' });
    });
  }
  return found;
}

export function verifyHostKey(files: string[], names: string[], key: Buffer): HostKeyVerdict {
  const entries = lookupKnownHosts(files, names);
  const revoked = entries.find((e) => e.revoked && e.key.equals(key));
  if (revoked) return { kind: 'revoked', entry: revoked };
  const match = entries.find((e) => !e.revoked && e.key.equals(key));
  if (match) return { kind: 'match', entry: match };
  const sameType = entries.filter((e) => !e.revoked && e.keyType === keyTypeOf(key));
  if (sameType.length > 0) return { kind: 'changed', entries: sameType };
  return { kind: 'unknown' };
}

export function appendKnownHost(file: string, name: string, key: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${name} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}
