/**
 * Redaction by structure: each syntax a configuration file on a Tungsten host can be written in is
 * recognised by its own rule, and the value of every key that names a secret is masked:
 *
 * - JSON (tpm's tungsten.cfg, deploy.cfg): `"repl_datasource_password": "…"`, at any depth;
 * - XML: `<password>…</password>`, `password="…"` attributes, `<entry key="x.password">…</entry>`,
 *   `<property name="x.password" value="…"/>`, `<name>x.password</name><value>…</value>`;
 * - properties, ini, my.cnf and YAML lines: `key=value`, `key: value`, `key value`, with
 *   properties' `\` continuation lines;
 * - shell: `export X_PASSWORD=…`, `MYSQL_PWD="…"`;
 * - URLs and JDBC URLs: `scheme://user:pw@host`, `?password=…`;
 * - command lines: `--password=…`, `--password …`, `-pSECRET` (the mysql clients' spelling),
 *   `IDENTIFIED BY '…'`;
 * - the connector's user.map: `user password service [affinity]`.
 *
 * What is masked is also returned, so the run can search its archive for it (secretScan.ts).
 */
import { posix } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';

/** What replaces a secret. A fixed token, so the bundle does not leak a password's length. */
export const MASK = '********';

const SECRET_KEY = /(pass(word|wd|phrase)?|pwd|secret|credential|private[-_.]?key|token|api[-_.]?key)/i;

/** Keys that name a secret's file, place or switch, not the secret (`security.password_file.location`). */
const ABOUT_A_SECRET = /[._-](location|path|file|dir|directory|encrypted|enabled|length|policy|class|type|format|prompt|required|mode)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !ABOUT_A_SECRET.test(key);
}

export interface MaskedValue {
  key: string;
  value: string;
}

export interface Redaction {
  text: string;
  /** Every value masked, with the key it was under. */
  masked: MaskedValue[];
}

type Found = (key: string, value: string) => void;

/** A quoted value keeps its quotes around the mask; an unquoted one becomes the mask. */
function maskValue(raw: string, key: string, found: Found): string {
  const q = raw[0];
  if ((q === '"' || q === "'") && raw.length >= 2 && raw.endsWith(q)) {
    const inner = raw.slice(1, -1);
    if (inner === '' || inner === MASK) return raw;
    found(key, inner);
    return `${q}${MASK}${q}`;
  }
  // A switch under a password-like key (`…encrypted.password=true`) says how, not what: kept.
  if (raw === '' || raw === MASK || /^(true|false)$/i.test(raw)) return raw;
  found(key, raw);
  return MASK;
}

const JSON_STRING = String.raw`"(?:[^"\\\n]|\\.)*"`;
const JSON_PAIR = new RegExp(String.raw`(${JSON_STRING})(\s*:\s*)(${JSON_STRING}|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)`, 'g');

function jsonString(literal: string): string {
  try {
    return JSON.parse(literal) as string;
  } catch {
    return literal.slice(1, -1);
  }
}

/** `"key": value` pairs wherever they are (a JSON file, JSON inside a log line). */
function redactJson(text: string, found: Found): string {
  return text.replace(JSON_PAIR, (whole, key: string, sep: string, value: string) => {
    const k = jsonString(key);
    if (!isSecretKey(k)) return whole;
    const v = value.startsWith('"') ? jsonString(value) : value;
    if (v === '' || v === MASK) return whole;
    found(k, v);
    return `${key}${sep}"${MASK}"`;
  });
}

const XML_NAME = String.raw`[A-Za-z_][\w.:-]*`;

function redactXml(text: string, found: Found): string {
  let out = text;
  // <password>secret</password>
  out = out.replace(new RegExp(String.raw`<(${XML_NAME})(\s[^<>]*)?>([^<]*)</\1\s*>`, 'g'), (whole, name: string, attrs: string | undefined, inner: string) => {
    // <entry key="x.password">secret</entry>, <property name="x.password">secret</property>
    const named = /\s(?:key|name)\s*=\s*("([^"]*)"|'([^']*)')/.exec(attrs ?? '');
    const key = named ? (named[2] ?? named[3] ?? '') : name;
    if (!isSecretKey(key) || inner.trim() === '' || inner.trim() === MASK) return whole;
    found(key, inner.trim());
    return `<${name}${attrs ?? ''}>${MASK}</${name}>`;
  });
  // <property name="x.password" value="secret"/>
  out = out.replace(/<[^<>]*\s(?:key|name)\s*=\s*("[^"]*"|'[^']*')[^<>]*>/g, (tag, named: string) => {
    const key = named.slice(1, -1);
    if (!isSecretKey(key)) return tag;
    return tag.replace(/(\svalue\s*=\s*)("[^"]*"|'[^']*')/, (_w, pre: string, v: string) => `${pre}${maskValue(v, key, found)}`);
  });
  // <name>x.password</name> <value>secret</value>
  out = out.replace(/(<name>\s*([^<]*?)\s*<\/name>\s*<value>)([^<]*)(<\/value>)/g, (whole, pre: string, key: string, value: string, post: string) =>
    isSecretKey(key) && value.trim() !== '' && value.trim() !== MASK ? (found(key, value.trim()), `${pre}${MASK}${post}`) : whole,
  );
  return out;
}

/** `user:password@` in any URL (`mysql://`, `jdbc:mysql://`, `https://`). */
function redactUrlUserinfo(line: string, found: Found): string {
  return line.replace(/(\/\/[^\s:/@"'<>]*:)([^\s"'<>/]*)@/g, (whole, pre: string, pw: string) => {
    if (pw === '' || pw === MASK) return whole;
    found('url password', pw);
    return `${pre}${MASK}@`;
  });
}

/** `key=value` anywhere in a line: options, query strings, SQL (`MASTER_PASSWORD='x'`), shell. */
function redactInlinePairs(line: string, found: Found): string {
  // The value of a pair that is not secret may hold one (`opt=-Dx.password=secret`): only the key is skipped.
  const key = /([A-Za-z0-9_.-]+)(\s*=\s*)/g;
  const value = /'[^']*'|"[^"]*"|[^\s,;&'"<>)]+/y;
  let out = '';
  let copied = 0;
  for (let m = key.exec(line); m; m = key.exec(line)) {
    if (!isSecretKey(m[1]!)) continue;
    value.lastIndex = key.lastIndex;
    const v = value.exec(line);
    if (!v) continue;
    out += line.slice(copied, key.lastIndex) + maskValue(v[0], m[1]!, found);
    copied = key.lastIndex = value.lastIndex;
  }
  return out + line.slice(copied);
}

/** Command-line spellings without `=`: `--password secret`, `-pSECRET`, `IDENTIFIED BY 'secret'`. */
function redactCommandLine(line: string, found: Found): string {
  let out = line.replace(/((?:^|\s)--?[A-Za-z0-9_.-]+\s+)('[^']*'|"[^"]*"|[^\s'"-][^\s'"]*)/g, (whole, flag: string, value: string) =>
    isSecretKey(flag.trim()) ? `${flag}${maskValue(value, flag.trim().replace(/^-+/, ''), found)}` : whole,
  );
  out = out.replace(/((?:^|[\s'"=])-p)('[^']+'|"[^"]+"|[^\s'"*][^\s'"]*)/g, (_whole, flag: string, value: string) => `${flag}${maskValue(value, '-p', found)}`);
  out = out.replace(/(IDENTIFIED\s+(?:WITH\s+\S+\s+)?BY\s+(?:PASSWORD\s+)?)('[^']*'|"[^"]*")/gi, (_w, pre: string, value: string) => `${pre}${maskValue(value, 'IDENTIFIED BY', found)}`);
  return out;
}

const LINE_PAIR = /^(\s*[#;]?\s*(?:export\s+|declare\s+(?:-\w+\s+)*|readonly\s+|local\s+)?)([A-Za-z0-9_.-]+)(\s*[=:]\s*|\s+)(.*)$/;

/** One line of properties, ini, my.cnf, YAML or shell. */
function redactLineWith(line: string, found: Found): { line: string; continues: boolean } {
  const kv = LINE_PAIR.exec(line);
  if (kv && isSecretKey(kv[2]!) && kv[4]!.trim() !== '') {
    const value = kv[4]!.replace(/\s+$/, '');
    const continues = /(^|[^\\])(\\\\)*\\$/.test(value);
    const masked = maskValue(continues ? value.slice(0, -1) : value, kv[2]!, found);
    return { line: `${kv[1]}${kv[2]}${kv[3]}${masked}${continues ? '\\' : ''}`, continues };
  }
  let out = redactUrlUserinfo(line, found);
  out = redactInlinePairs(out, found);
  out = redactCommandLine(out, found);
  return { line: out, continues: false };
}

/** The connector's user.map: `user password service [affinity]`; `@` lines are directives. */
function redactUserMap(text: string, found: Found): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^(\s*)([^\s#@]\S*)(\s+)(\S+)(.*)$/.exec(line);
      if (!m) return line;
      found(`user.map password of ${m[2]}`, m[4]!);
      return `${m[1]}${m[2]}${m[3]}${MASK}${m[5]}`;
    })
    .join('\n');
}

function lines(text: string, found: Found): string {
  const out: string[] = [];
  let continuing = false;
  for (const line of text.split('\n')) {
    if (continuing) {
      // A properties value continued with `\`: the next line is the same secret.
      continuing = /(^|[^\\])(\\\\)*\\\s*$/.test(line);
      if (line.trim() !== '') found('continued value', line.trim().replace(/\\$/, ''));
      out.push(line.trim() === '' ? line : `${MASK}${continuing ? '\\' : ''}`);
      continue;
    }
    const r = redactLineWith(line, found);
    continuing = r.continues;
    out.push(r.line);
  }
  return out.join('\n');
}

/** Redacts one configuration file; `path` picks the formats that are known by name (user.map). */
export function redactConfig(text: string, path = ''): Redaction {
  const masked: MaskedValue[] = [];
  const found: Found = (key, value) => void masked.push({ key, value });
  if (posix.basename(path) === 'user.map') return { text: redactUserMap(text, found), masked };
  let out = redactJson(text, found);
  out = redactXml(out, found);
  out = lines(out, found);
  return { text: out, masked };
}

export function redactText(text: string): string {
  return redactConfig(text).text;
}

/** One line on its own (no continuation). */
export function redactLine(line: string): string {
  return redactLineWith(redactXml(redactJson(line, () => undefined), () => undefined), () => undefined).line;
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
