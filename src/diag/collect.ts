import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { parseTungstenIni, type TungstenConfig } from '../config/tungstenIni.js';
import { CommandTimeoutError, ConnectionLostError, type HostTransport } from '../ssh/transport.js';
import { RedactStream } from './redact.js';
import { renderReverse } from './reverse.js';
import type { CollectedFile, SkippedFile } from './types.js';

export interface CollectOptions {
  installDirectory: string;
  /** Bytes of each log to keep (its end); 0 = all of it. */
  logSizeBytes: number;
  idleTimeoutMs: number;
  cctrlTimeoutS: number;
  /** Used for tpm_reverse.txt when the host has no tungsten.ini of its own. */
  stagingConfig: TungstenConfig;
  onFile?: (file: CollectedFile) => void;
}

export interface CollectOutcome {
  files: CollectedFile[];
  skipped: SkippedFile[];
  /** Reads that failed on a file that exists: they make the host `partial`. */
  failures: string[];
  clusterStatus?: string;
}

/** A local write failed (disk full, permissions): the whole run must stop, not just this host. */
export class LocalWriteError extends Error {
  constructor(
    readonly path: string,
    readonly errno: NodeJS.ErrnoException,
  ) {
    super(errno.code === 'ENOSPC' ? `disk full writing ${path}` : `cannot write ${path}: ${errno.code ?? errno.message}`);
    this.name = 'LocalWriteError';
  }
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Files that hold credentials: they never leave the host. */
export function isCredentialFile(path: string): boolean {
  const base = posix.basename(path);
  return (
    /(^|\/)share\//.test(path) ||
    /^\.my\..*cnf$/.test(base) ||
    /\.(jks|keystore|truststore|p12|pfx|pem|key)$/i.test(base) ||
    /^passwords?\.store$/i.test(base) ||
    /^\.?(pgpass|netrc|mylogin\.cnf)$/.test(base) ||
    /^id_(rsa|dsa|ecdsa|ed25519)$/.test(base)
  );
}

interface ListedFile {
  kind: 'log' | 'conf' | 'ini' | 'dangling';
  path: string;
  size: number;
  target?: string;
}

const OS_COMMANDS: Array<[string, string]> = [
  ['os_info/uname.txt', 'uname -a'],
  ['os_info/uptime.txt', 'uptime'],
  ['os_info/df.txt', 'df -h'],
  ['os_info/free.txt', 'free -m'],
  ['os_info/etc_hosts.txt', 'cat /etc/hosts'],
];

function listingCommand(install: string): string {
  const q = shellQuote(install);
  return [
    `cd ${q} 2>/dev/null || { printf 'X\\t0\\tno installation directory %s\\0' ${q}; exit 0; }`,
    `[ -d service_logs ] || printf 'X\\t0\\tno service_logs directory in %s\\0' ${q}`,
    `for d in service_logs conf tungsten/tungsten-replicator/conf tungsten/tungsten-manager/conf tungsten/tungsten-connector/conf; do [ -d "$d" ] && find -L "$d" -mindepth 1 \\( -type f -printf 'F\\t%s\\t%p\\0' \\) -o \\( -type l -printf 'D\\t0\\t%p\\t%l\\0' \\) 2>/dev/null; done`,
    `for f in /etc/tungsten/tungsten*.ini /etc/tungsten.ini ${q}/tungsten/tungsten.ini; do [ -f "$f" ] && printf 'I\\t%s\\t%s\\0' "$(wc -c < "$f")" "$f"; done`,
    'exit 0',
  ].join('\n');
}

function parseListing(text: string, install: string): { listed: ListedFile[]; notes: SkippedFile[] } {
  const listed: ListedFile[] = [];
  const notes: SkippedFile[] = [];
  for (const record of text.split('\0')) {
    if (!record) continue;
    const [kind, size, path, target] = record.split('\t');
    if (!kind || !path) continue;
    if (kind === 'X') notes.push({ path: path.startsWith('no service_logs') ? 'service_logs/' : install, reason: path });
    else if (kind === 'D') listed.push({ kind: 'dangling', path, size: 0, ...(target ? { target } : {}) });
    else if (kind === 'I') listed.push({ kind: 'ini', path, size: Number(size) });
    else if (kind === 'F') listed.push({ kind: path.startsWith('service_logs/') ? 'log' : 'conf', path, size: Number(size) });
  }
  return { listed, notes };
}

class MemorySink extends Writable {
  chunks: Buffer[] = [];
  length = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.length < this.limit) this.chunks.push(chunk.subarray(0, this.limit - this.length));
    this.length += chunk.length;
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Collects one host into `spoolDir` (the host's folder as it will appear in the archive), through
 * whatever transport reaches it. Transport failures (timeouts, lost connection) propagate so the
 * caller can set the host's status; what was spooled so far stays listed in `progress`.
 */
export class HostCollector {
  readonly files: CollectedFile[] = [];
  readonly skipped: SkippedFile[] = [];
  readonly failures: string[] = [];
  clusterStatus: string | undefined;

  constructor(
    private readonly transport: HostTransport,
    private readonly spoolDir: string,
    private readonly options: CollectOptions,
  ) {}

  async run(): Promise<CollectOutcome> {
    for (const [path, command] of OS_COMMANDS) await this.capture(path, command, { mustExist: false });

    const listing = new MemorySink(64 << 20);
    await this.transport.exec(listingCommand(this.options.installDirectory), listing, { idleTimeoutMs: this.options.idleTimeoutMs });
    const { listed, notes } = parseListing(listing.text(), this.options.installDirectory);
    this.skipped.push(...notes);
    this.failures.push(...notes.map((n) => n.reason));

    let hostIni: { path: string; text: string } | undefined;
    for (const item of listed) {
      const source = item.path.startsWith('/') ? item.path : `${this.options.installDirectory}/${item.path}`;
      const archived = item.kind === 'log' ? item.path : `conf${source}`;
      if (item.kind === 'dangling') {
        this.skipped.push({ path: item.path, reason: `dangling symlink${item.target ? ` to ${item.target}` : ''} (that component is not installed on this host)` });
        continue;
      }
      if (isCredentialFile(item.path)) {
        this.skipped.push({ path: archived, reason: 'credential file: never leaves the host' });
        continue;
      }
      if (item.kind === 'log') {
        const limit = this.options.logSizeBytes;
        const tail = limit > 0 && item.size > limit;
        const command = tail ? `tail -c ${limit} -- ${shellQuote(source)}` : `cat -- ${shellQuote(source)}`;
        await this.capture(archived, command, { source, mustExist: true, ...(tail ? { sourceBytes: item.size } : {}) });
      } else {
        const file = await this.capture(archived, `cat -- ${shellQuote(source)}`, { source, mustExist: true, redact: true, keepText: item.kind === 'ini' && !hostIni });
        if (file?.text !== undefined) hostIni = { path: source, text: file.text };
      }
    }

    this.writeReverse(hostIni);
    await this.captureClusterStatus();
    return { files: this.files, skipped: this.skipped, failures: this.failures, ...(this.clusterStatus ? { clusterStatus: this.clusterStatus } : {}) };
  }

  private writeReverse(hostIni: { path: string; text: string } | undefined): void {
    let text: string;
    if (hostIni) {
      try {
        text = renderReverse(parseTungstenIni(hostIni.text, hostIni.path), { public: true });
      } catch (e) {
        this.skipped.push({ path: 'tpm_reverse.txt', reason: `the host's ${hostIni.path} does not parse: ${(e as Error).message}` });
        return;
      }
    } else {
      text = `# This host has no tungsten.ini of its own; this is the configuration tpm diag ran with.\n${renderReverse(this.options.stagingConfig, { public: true })}`;
    }
    this.writeBuffer('tpm_reverse.txt', Buffer.from(text));
  }

  private async captureClusterStatus(): Promise<void> {
    const cctrl = `${this.options.installDirectory}/tungsten/tungsten-manager/bin/cctrl`;
    const t = this.options.cctrlTimeoutS;
    const command = `c=${shellQuote(cctrl)}; [ -x "$c" ] || { echo "$c is not installed on this host" >&2; exit 127; }; echo ls | timeout ${t} "$c"`;
    const sink = new MemorySink(4 << 20);
    try {
      const result = await this.transport.exec(command, sink, { idleTimeoutMs: Math.max(this.options.idleTimeoutMs, (t + 5) * 1000) });
      const text = sink.text();
      if (result.code === 0 && text.trim()) {
        this.clusterStatus = text;
        this.writeBuffer('cctrl_ls.txt', Buffer.from(text));
        return;
      }
      const why =
        result.code === 127 ? result.stderr.trim() || 'cctrl not found'
        : result.code === 124 ? `the manager did not answer within ${t} s`
        : `cctrl exited with ${result.code ?? result.signal}${result.stderr.trim() ? `: ${lastLine(result.stderr)}` : ''}`;
      this.skipped.push({ path: 'cctrl_ls.txt', reason: why });
    } catch (e) {
      if (e instanceof CommandTimeoutError) {
        this.skipped.push({ path: 'cctrl_ls.txt', reason: `the manager did not answer within ${t} s` });
        return;
      }
      throw e;
    }
  }

  private writeBuffer(path: string, data: Buffer): void {
    const target = join(this.spoolDir, path);
    try {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, data);
    } catch (e) {
      throw new LocalWriteError(target, e as NodeJS.ErrnoException);
    }
    const file: CollectedFile = { path, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'), redacted: true };
    this.files.push(file);
    this.options.onFile?.(file);
  }

  /** Runs one command and spools its stdout as one file of the host folder. */
  private async capture(
    path: string,
    command: string,
    opts: { source?: string; sourceBytes?: number; mustExist: boolean; redact?: boolean; keepText?: boolean },
  ): Promise<(CollectedFile & { text?: string }) | undefined> {
    const target = join(this.spoolDir, path);
    mkdirSync(dirname(target), { recursive: true });
    const hash = createHash('sha256');
    let bytes = 0;
    const kept = opts.keepText ? new MemorySink(1 << 20) : undefined;
    const counter = new PassThrough();
    counter.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    const file = createWriteStream(target);
    let writeError: NodeJS.ErrnoException | undefined;
    file.on('error', (e) => (writeError = e));
    const head = new PassThrough();
    if (kept) head.on('data', (c: Buffer) => kept.write(c));
    const chain = opts.redact ? pipeline(head, new RedactStream(), counter, file) : pipeline(head, counter, file);
    chain.catch(() => undefined);
    let result;
    try {
      result = await this.transport.exec(command, head, { idleTimeoutMs: this.options.idleTimeoutMs });
    } catch (e) {
      head.destroy();
      await chain.catch(() => undefined);
      rmSync(target, { force: true });
      if (writeError || (e as NodeJS.ErrnoException).code === 'ENOSPC') throw new LocalWriteError(target, (writeError ?? e) as NodeJS.ErrnoException);
      throw e;
    }
    head.end();
    try {
      await chain;
    } catch (e) {
      rmSync(target, { force: true });
      throw new LocalWriteError(target, (writeError ?? e) as NodeJS.ErrnoException);
    }
    if (result.code !== 0) {
      rmSync(target, { force: true });
      const reason = `${command.split(' ')[0]} exited with ${result.code ?? result.signal}${result.stderr.trim() ? `: ${lastLine(result.stderr)}` : ''}`;
      this.skipped.push({ path, reason });
      if (opts.mustExist) this.failures.push(`${path}: ${reason}`);
      return undefined;
    }
    const collected: CollectedFile = {
      path,
      bytes,
      sha256: hash.digest('hex'),
      ...(opts.source ? { source: opts.source } : {}),
      ...(opts.sourceBytes !== undefined ? { sourceBytes: opts.sourceBytes } : {}),
      ...(opts.redact ? { redacted: true } : {}),
    };
    this.files.push(collected);
    this.options.onFile?.(collected);
    return kept ? { ...collected, text: kept.text() } : collected;
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)!.slice(0, 300);
}

export { CommandTimeoutError, ConnectionLostError };
