import { Transform, type TransformCallback } from 'node:stream';

/** What replaces a secret. A fixed token, so the bundle does not leak a password's length. */
export const MASK = '********';

const SECRET_KEY = /(pass(word|wd)?|pwd|secret|credential|private[-_.]?key|token)/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/**
 * Masks the value of every `key=value` / `key: value` / `key value` (my.cnf style) line whose key
 * names a secret, and every `--key=value` option inside a line.
 */
export function redactLine(line: string): string {
  const kv = /^(\s*[#;]?\s*)([A-Za-z0-9_.-]+)(\s*[=:]\s*|\s+)(.*)$/.exec(line);
  if (kv && isSecretKey(kv[2]!) && kv[4]!.trim() !== '') {
    return `${kv[1]}${kv[2]}${kv[3]}${MASK}`;
  }
  return line.replace(/(--?[A-Za-z0-9_.-]+=)(\S+)/g, (whole, prefix: string) => (isSecretKey(prefix) ? `${prefix}${MASK}` : whole));
}

export function redactText(text: string): string {
  return text.split('\n').map(redactLine).join('\n');
}

/** The command line as it may be written to the manifest: secret option values masked. */
export function maskArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let maskNext = false;
  for (const arg of argv) {
    if (maskNext) {
      out.push(MASK);
      maskNext = false;
      continue;
    }
    const eq = /^(--?[^=]+=)(.*)$/.exec(arg);
    if (eq) {
      const inner = /^(--?net-ssh-option=)([^=]+)=(.*)$/.exec(arg);
      if (inner) out.push(isSecretKey(inner[2]!) ? `${inner[1]}${inner[2]}=${MASK}` : arg);
      else out.push(isSecretKey(eq[1]!) ? `${eq[1]}${MASK}` : arg);
      continue;
    }
    if (/^--?[A-Za-z]/.test(arg) && isSecretKey(arg)) maskNext = true;
    out.push(arg);
  }
  return out;
}

/** Redacts a text stream line by line, holding at most one partial line. */
export class RedactStream extends Transform {
  private pending = '';

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const text = this.pending + chunk.toString('utf8');
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      this.pending = text;
      // A single endless line must not grow memory without bound.
      if (this.pending.length > 1 << 20) {
        this.push(redactLine(this.pending));
        this.pending = '';
      }
      return cb();
    }
    this.pending = text.slice(cut + 1);
    cb(null, redactText(text.slice(0, cut + 1)));
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.pending ? redactLine(this.pending) : undefined);
  }
}
