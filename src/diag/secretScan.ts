/**
 * The last check before an archive gets its name: the whole archive, decompressed, is searched for
 * every password the run knows (tungsten.ini, the hosts' own tungsten.ini, and the values redaction
 * masked). Redaction works by structure and a format it does not know can still hold a secret; this
 * scan makes such a miss fail the run instead of shipping the secret.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { TungstenConfig } from '../config/tungstenIni.js';
import { isSecretKey } from './redact.js';

export interface KnownSecret {
  value: string;
  /** Where the run learned it, e.g. `replication-password in /etc/tungsten/tungsten.ini` (never the value). */
  from: string;
}

/** Shorter values match ordinary text everywhere; they are masked by structure but not searched. */
export const MIN_SCANNED_LENGTH = 4;

/** Values that are settings, not passwords, even under a key that names one. */
const NOT_A_PASSWORD = /^(true|false|yes|no|on|off|none|null|\*+|@+)$/i;

export function scannable(value: string): boolean {
  const v = value.trim();
  // A template's placeholder (@{APPLIER.REPL_DBPASSWORD}, ${PASSWORD}) is not the password.
  return Buffer.byteLength(v) >= MIN_SCANNED_LENGTH && !NOT_A_PASSWORD.test(v) && !v.includes('\n') && !/^[@$]\{[^}]*\}$/.test(v);
}

/** Every secret value of a tungsten.ini (defaults and every dataservice). */
export function secretsOfConfig(config: TungstenConfig): KnownSecret[] {
  const out: KnownSecret[] = [];
  for (const e of [...config.defaults, ...config.dataservices.flatMap((d) => d.entries)]) {
    if (isSecretKey(e.key) && scannable(e.value)) out.push({ value: e.value.trim(), from: `${e.key} in ${config.file}` });
  }
  return out;
}

export interface SecretHit {
  secret: KnownSecret;
  /** The archive member that holds it (or its name does). */
  member: string;
}

/** Streams `chunks` through a search for every secret, with an overlap so none is missed at a chunk edge. */
export class SecretSearch extends Writable {
  private readonly needles: Array<{ secret: KnownSecret; bytes: Buffer }>;
  private readonly keep: number;
  private carry = Buffer.alloc(0);
  found: KnownSecret | undefined;

  constructor(secrets: KnownSecret[]) {
    super({ highWaterMark: 1 << 20 });
    this.needles = secrets.map((secret) => ({ secret, bytes: Buffer.from(secret.value) }));
    this.keep = Math.max(0, ...this.needles.map((n) => n.bytes.length - 1));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.found) return cb();
    // The chunk itself, then only the seam with the previous one (no copy of the chunk).
    const seam = this.carry.length > 0 ? Buffer.concat([this.carry, chunk.subarray(0, this.keep)]) : undefined;
    for (const n of this.needles) {
      if (chunk.indexOf(n.bytes) >= 0 || (seam && seam.indexOf(n.bytes) >= 0)) {
        this.found = n.secret;
        return cb();
      }
    }
    const tail = chunk.length >= this.keep ? chunk.subarray(chunk.length - this.keep) : Buffer.concat([this.carry, chunk]).subarray(-this.keep);
    this.carry = Buffer.from(this.keep > 0 ? tail : Buffer.alloc(0));
    cb();
  }
}

function unique(secrets: KnownSecret[]): KnownSecret[] {
  const seen = new Map<string, KnownSecret>();
  for (const s of secrets) if (scannable(s.value) && !seen.has(s.value)) seen.set(s.value, s);
  return [...seen.values()];
}

/** Searches a .tgz; resolves with the first hit (and the member holding it), or undefined. */
export async function scanArchive(path: string, secrets: KnownSecret[]): Promise<SecretHit | undefined> {
  const wanted = unique(secrets);
  if (wanted.length === 0) return undefined;
  const search = new SecretSearch(wanted);
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), createGunzip({ chunkSize: 1 << 20 }), search);
  if (!search.found) return undefined;
  return { secret: search.found, member: await memberHolding(path, search.found) };
}

/** The second, slower pass, only once a secret was found: which member holds it. */
async function memberHolding(path: string, secret: KnownSecret): Promise<string> {
  const extract = tar.extract();
  let member = '(the archive)';
  extract.on('entry', (header, stream, next) => {
    if (member !== '(the archive)') {
      stream.resume();
      stream.on('end', next);
      return;
    }
    if (header.name.includes(secret.value)) member = `the name ${header.name}`;
    const search = new SecretSearch([secret]);
    stream.pipe(search).on('finish', () => {
      if (search.found && member === '(the archive)') member = header.name;
      next();
    });
  });
  await pipeline(createReadStream(path), createGunzip(), extract).catch(() => undefined);
  return member;
}
