/**
 * What diag runs on a host, in as few commands as possible: one POSIX sh script for the OS facts
 * and the file listing (sections between random boundary lines), then one script that streams
 * every chosen file as a frame whose size is stated before its data.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Writable } from 'node:stream';
import { hostPathProblem, isInside, memberNameProblem, shownName } from './members.js';

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const OS_FACTS: Array<[path: string, command: string]> = [
  ['os_info/uname.txt', 'uname -a'],
  ['os_info/uptime.txt', 'uptime'],
  ['os_info/df.txt', 'df -h'],
  ['os_info/free.txt', 'free -m'],
  ['os_info/etc_hosts.txt', 'cat /etc/hosts'],
];

export const LISTING_SECTION = 'listing';

export interface ProbeScript {
  script: string;
  boundary: string;
}

/** The directories (relative to the installation) whose files are listed. */
export const LISTED_DIRECTORIES = ['service_logs', 'conf', 'tungsten/tungsten-replicator/conf', 'tungsten/tungsten-manager/conf', 'tungsten/tungsten-connector/conf'];

/** Where tpm keeps a tungsten.ini outside the installation. */
export const INI_LOCATIONS = ['/etc/tungsten/tungsten*.ini', '/etc/tungsten.ini'];

/**
 * Prints one record per path given ($0 is the record's letter for a regular file): the path, what
 * it resolves to (`readlink -f`, every link followed) and the size of that. A path that resolves to
 * something that is not a regular file is `N`, one that resolves to nothing `D`. Nothing is opened.
 */
const DESCRIBE = [
  'for p; do',
  '  r=$(readlink -f -- "$p")',
  '  if [ -n "$r" ] && [ -f "$r" ]; then printf "%s\\t%s\\t%s\\t%s\\0" "$0" "$(stat -c %s -- "$r" 2>/dev/null)" "$p" "$r"',
  '  elif [ -n "$r" ] && [ -e "$r" ]; then printf "N\\t0\\t%s\\t%s\\0" "$p" "$r"',
  '  else printf "D\\t0\\t%s\\t%s\\0" "$p" "$(readlink -- "$p")"',
  '  fi',
  'done',
].join('\n');

/**
 * One script for the OS facts and the listing. Each section is `--B name\n` + the command's stdout
 * + `\n--B. rc last-line-of-stderr\n`; stdout goes straight through (fd 3) while stderr is caught.
 *
 * The listing never follows a link while it walks (`find -H`: only the listed directory itself is
 * followed, and only when it resolves inside the installation), so a link to `/` costs one record,
 * not a walk of the whole host. Every file's resolved path is sent along; tpm decides (parseListing).
 */
export function probeScript(install: string): ProbeScript {
  const boundary = `tpm-diag-${randomBytes(16).toString('hex')}`;
  const q = shellQuote(install);
  const listing = [
    `D=${shellQuote(DESCRIBE)}`,
    `listing() {`,
    `  cd ${q} 2>/dev/null || { printf 'X\\t0\\tno installation directory %s\\0' ${q}; return 0; }`,
    `  root=$(pwd -P)`,
    `  printf 'R\\t0\\t%s\\0' "$root"`,
    `  [ -d service_logs ] || printf 'X\\t0\\tno service_logs directory in %s\\0' ${q}`,
    `  for d in ${LISTED_DIRECTORIES.join(' ')}; do`,
    `    [ -d "$d" ] || continue`,
    `    r=$(readlink -f -- "$d")`,
    `    case "$r/" in "$root"/?*) ;; *) printf 'O\\t0\\t%s\\t%s\\0' "$d" "$r"; continue ;; esac`,
    `    find -H "$d" -mindepth 1 \\( -type f -o -type l \\) -exec sh -c "$D" F {} + 2>/dev/null`,
    `  done`,
    `  for f in ${INI_LOCATIONS.join(' ')} ${q}/tungsten/tungsten.ini; do { [ -e "$f" ] || [ -L "$f" ]; } && sh -c "$D" I "$f"; done`,
    `  return 0`,
    `}`,
  ];
  const script = [
    'exec 3>&1',
    `B=${boundary}`,
    'section() {',
    `  n=$1; shift`,
    `  printf -- '--%s %s\\n' "$B" "$n"`,
    `  e=$( { "$@"; } 2>&1 >&3 3>&- ); rc=$?`,
    `  printf -- '\\n--%s. %s %s\\n' "$B" "$rc" "$(printf '%s' "$e" | tail -n 1)"`,
    '}',
    ...listing,
    ...OS_FACTS.map(([path, command]) => `section ${path} ${command}`),
    `section ${LISTING_SECTION} listing`,
    'exit 0',
  ].join('\n');
  return { script, boundary };
}

export interface ProbeSection {
  name: string;
  data: Buffer;
  code: number;
  /** The last line of the command's stderr. */
  error: string;
}

/** Splits the probe's output into its sections; a section cut short (connection lost) is absent. */
export function parseProbe(output: Buffer, boundary: string): ProbeSection[] {
  const sections: ProbeSection[] = [];
  const open = Buffer.from(`--${boundary} `);
  const close = Buffer.from(`\n--${boundary}. `);
  let at = output.indexOf(open);
  while (at >= 0) {
    const nameEnd = output.indexOf(0x0a, at);
    if (nameEnd < 0) break;
    const name = output.subarray(at + open.length, nameEnd).toString('utf8');
    const end = output.indexOf(close, nameEnd + 1);
    if (end < 0) break;
    const lineEnd = output.indexOf(0x0a, end + close.length);
    const status = output.subarray(end + close.length, lineEnd < 0 ? output.length : lineEnd).toString('utf8');
    const space = status.indexOf(' ');
    sections.push({
      name,
      data: output.subarray(nameEnd + 1, Math.max(nameEnd + 1, end)),
      code: Number(space < 0 ? status : status.slice(0, space)),
      error: space < 0 ? '' : status.slice(space + 1).trim(),
    });
    if (lineEnd < 0) break;
    at = output.indexOf(open, lineEnd + 1);
  }
  return sections;
}

export interface ListedFile {
  kind: 'log' | 'conf' | 'ini';
  /** The name the host listed: relative to the installation, absolute for a tungsten.ini. */
  path: string;
  /** What it resolves to on the host (canonical): the path that is read. */
  source: string;
  size: number;
}

export interface ListingNote {
  path: string;
  reason: string;
}

export interface Listing {
  /** The installation's canonical path on the host. */
  root: string;
  listed: ListedFile[];
  /** What the installation lacks (no installation directory, no service_logs): the host is partial. */
  missing: ListingNote[];
  /** Not collected, for a reason that is the host's configuration (a dangling link, a link outside). */
  skipped: ListingNote[];
  /** Refused: records no honest host sends (a name that leaves its folder, a garbled record). */
  refused: ListingNote[];
}

const FIELDS: Record<string, number> = { X: 3, R: 3, F: 4, N: 4, D: 4, O: 4, I: 4 };

function iniLocation(path: string, install: string): boolean {
  return /^\/etc\/tungsten\/tungsten[^/]*\.ini$/.test(path) || path === '/etc/tungsten.ini' || path === `${install}/tungsten/tungsten.ini`;
}

/**
 * Checks every record of the listing against what an honest host can send: names relative to the
 * installation and inside the listed directories, sizes that are numbers, and only regular files
 * that resolve inside the installation (or a tungsten.ini at its known places).
 */
export function parseListing(text: string, installDirectory: string): Listing {
  const install = posix.normalize(installDirectory).replace(/(.)\/+$/, '$1');
  const listing: Listing = { root: install, listed: [], missing: [], skipped: [], refused: [] };
  const refuse = (path: string, reason: string) => void listing.refused.push({ path: shownName(path), reason });
  const records = text.split('\0').filter((r) => r !== '');
  for (const record of records) {
    const fields = record.split('\t');
    const [kind, size, path, target] = fields as [string, string, string, string | undefined];
    if (!kind || FIELDS[kind] !== fields.length) {
      refuse(record, 'refused: a listing record tpm cannot read (a name with a tab in it?)');
      continue;
    }
    if (kind === 'X') {
      listing.missing.push({ path: path.startsWith('no service_logs') ? 'service_logs/' : install, reason: shownName(path, 400) });
      continue;
    }
    if (kind === 'R') {
      const problem = hostPathProblem(path);
      if (problem || path === '/') refuse(path, `refused: the host gave ${problem ?? 'the root directory'} as its installation`);
      else listing.root = path;
      continue;
    }
    const isIni = kind === 'I';
    const nameProblem = isIni ? (iniLocation(path, install) ? hostPathProblem(path) : 'not a place tpm keeps a tungsten.ini') : memberNameProblem(path);
    if (nameProblem) {
      refuse(path, `refused: the host listed ${nameProblem}; it would not stay inside the host's folder`);
      continue;
    }
    if (!isIni && !LISTED_DIRECTORIES.some((d) => (kind === 'O' ? path === d : path.startsWith(`${d}/`)))) {
      refuse(path, 'refused: the host listed a name outside the directories tpm lists');
      continue;
    }
    if (kind === 'D') {
      listing.skipped.push({ path, reason: `dangling symlink${target ? ` to ${shownName(target)}` : ''} (that component is not installed on this host)` });
      continue;
    }
    const resolvedProblem = hostPathProblem(target!);
    if (resolvedProblem) {
      refuse(path, `refused: the host resolved it to ${resolvedProblem}`);
      continue;
    }
    const inside = isInside(target!, listing.root) && target !== listing.root;
    const allowed = inside || (isIni && iniLocation(target!, install));
    const shownTarget = shownName(target!);
    if (kind === 'O') {
      listing.skipped.push({ path: `${path}/`, reason: `resolves to ${shownTarget}, outside the installation ${shownName(listing.root)}: not listed` });
    } else if (kind === 'N') {
      listing.skipped.push({ path, reason: `resolves to ${shownTarget}, ${allowed ? '' : 'outside the installation, '}not a regular file: not collected` });
    } else if (!allowed) {
      listing.skipped.push({ path, reason: `resolves to ${shownTarget}, outside the installation ${shownName(listing.root)}: not collected` });
    } else if (!/^\d{0,15}$/.test(size)) {
      refuse(path, `refused: the host gave a size that is not a number ("${shownName(size, 40)}")`);
    } else {
      listing.listed.push({ kind: isIni ? 'ini' : path.startsWith('service_logs/') ? 'log' : 'conf', path, source: target!, size: Number(size) });
    }
  }
  return listing;
}

export interface FrameRequest {
  /** Absolute path on the host. */
  source: string;
  /** Keep only the last this many bytes; 0 = the whole file. */
  tailBytes: number;
}

/**
 * Streams the files one after the other. Per file: a header line `F <size now> <bytes sent>` (or
 * `E <why>` when it cannot be opened), exactly that many bytes (padded with NULs should the file
 * shrink under dd), then a trailer line `<dd exit code> <bytes dd copied> <dd's error>`. The size
 * is taken when the file's turn comes, so a growing log cannot break the framing; only the last
 * `tailBytes` cross the network.
 */
export function streamScript(frames: FrameRequest[]): string {
  return [
    'exec 3>&1',
    'f() {',
    // The path was canonical and a regular file when listed: a link or anything else put there since is not read.
    `  [ ! -e "$2" ] || { [ "$(readlink -f -- "$2")" = "$2" ] && [ -f "$2" ]; } || { printf 'E %s\\n' 'no longer a regular file at that path (changed since it was listed)'; return 0; }`,
    `  s=$(wc -c 2>&1 < "$2") || { printf 'E %s\\n' "$(printf '%s' "$s" | tail -n 1)"; return 0; }`,
    '  s=$((s)); c=$s',
    '  [ "$1" -gt 0 ] && [ "$s" -gt "$1" ] && c=$1',
    `  printf 'F %s %s\\n' "$s" "$c"`,
    '  r=$(LC_ALL=C dd if="$2" bs=1048576 skip=$((s - c)) count="$c" iflag=skip_bytes,count_bytes 2>&1 >&3 3>&-); rc=$?',
    '  n=${r%% bytes*}; n=${n##*[!0-9]}; [ -n "$n" ] || n=0',
    '  [ "$n" -lt "$c" ] && head -c $((c - n)) /dev/zero',
    '  [ "$rc" -eq 0 ] && r=',
    `  printf '%s %s %s\\n' "$rc" "$n" "$(printf '%s' "$r" | head -n 1)"`,
    '}',
    // Whole bytes: a fraction would fail the script's integer test and send the whole file.
    ...frames.map((f) => `f ${Math.max(0, Math.floor(f.tailBytes))} ${shellQuote(f.source)}`),
    'exit 0',
  ].join('\n');
}

export type FrameHeader = { ok: true; sourceBytes: number; bytes: number } | { ok: false; error: string };

export interface FrameTrailer {
  code: number;
  /** What dd really copied: fewer than announced means the file shrank while it was read. */
  copied: number;
  error: string;
}

/** Each call may return a promise: the reader then waits for it before going on (backpressure). */
export interface FrameHandler {
  open(index: number, header: FrameHeader): void | Promise<void>;
  data(index: number, chunk: Buffer): void | Promise<void>;
  close(index: number, trailer: FrameTrailer): void | Promise<void>;
}

const MAX_LINE = 64 * 1024;

export class FrameFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameFormatError';
  }
}

/** Reads the stream script's output and hands each frame to `handler`, with backpressure. */
export class FrameReader extends Writable {
  private index = 0;
  private state: 'header' | 'body' | 'trailer' = 'header';
  private remaining = 0;
  private line: Buffer[] = [];
  private lineLength = 0;

  constructor(private readonly handler: FrameHandler) {
    super({ highWaterMark: 256 * 1024 });
  }

  /** Frames fully read so far. */
  get completed(): number {
    return this.index;
  }

  private busy: Promise<void> = Promise.resolve();
  private stopped = false;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.stopped) return cb();
    let pending: Promise<void> | undefined;
    try {
      pending = this.consume(chunk, 0);
    } catch (e) {
      return cb(e as Error);
    }
    if (!pending) return cb();
    this.busy = pending.catch(() => undefined);
    pending.then(() => cb(), cb);
  }

  /** Stops handing out data; resolves once the handler is no longer called. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.busy;
  }

  /**
   * Synchronous while the handler is (a log's data is copied into a slab most of the time), so a
   * chunk costs no promise; continues asynchronously from where a handler asked to wait.
   */
  private consume(chunk: Buffer, from: number): Promise<void> | undefined {
    let at = from;
    while (at < chunk.length && !this.stopped) {
      let pending: void | Promise<void> = undefined;
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - at);
        const part = chunk.subarray(at, at + take);
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'trailer';
        if (take > 0) pending = this.handler.data(this.index, part);
      } else {
        const nl = chunk.indexOf(0x0a, at);
        const piece = chunk.subarray(at, nl < 0 ? chunk.length : nl);
        this.line.push(piece);
        this.lineLength += piece.length;
        if (this.lineLength > MAX_LINE) throw new FrameFormatError('the file stream from the host is garbled (a status line of over 64 KiB)');
        if (nl < 0) return undefined;
        at = nl + 1;
        const text = Buffer.concat(this.line).toString('utf8');
        this.line = [];
        this.lineLength = 0;
        pending = this.state === 'header' ? this.header(text) : this.trailer(text);
      }
      if (pending) {
        const resume = at;
        return pending.then(() => this.consume(chunk, resume));
      }
    }
    return undefined;
  }

  private header(text: string): void | Promise<void> {
    if (text.startsWith('E ')) {
      const index = this.index++;
      return this.handler.open(index, { ok: false, error: shownName(text.slice(2), 300) });
    }
    const m = /^F (\d{1,15}) (\d{1,15})$/.exec(text);
    if (!m) throw new FrameFormatError(`the file stream from the host is garbled: "${shownName(text, 80)}"`);
    this.remaining = Number(m[2]);
    this.state = this.remaining > 0 ? 'body' : 'trailer';
    return this.handler.open(this.index, { ok: true, sourceBytes: Number(m[1]), bytes: this.remaining });
  }

  private trailer(text: string): void | Promise<void> {
    const m = /^(\d{1,15}) (\d{1,15}) ?(.*)$/.exec(text);
    if (!m) throw new FrameFormatError(`the file stream from the host is garbled: "${shownName(text, 80)}"`);
    const index = this.index++;
    this.state = 'header';
    return this.handler.close(index, { code: Number(m[1]), copied: Number(m[2]), error: shownName(m[3]!.trim(), 300) });
  }
}
