import { createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import { posix } from 'node:path';
import { parseTungstenIni, type TungstenConfig } from '../config/tungstenIni.js';
import { CommandTimeoutError, ConnectionLostError, type HostTransport } from '../ssh/transport.js';
import type { EntryWriter, HostPart } from './archive.js';
import { LocalWriteError } from './errors.js';
import { redactText } from './redact.js';
import { FrameReader, LISTING_SECTION, OS_FACTS, parseListing, parseProbe, probeScript, shellQuote, streamScript, type FrameHeader, type FrameTrailer } from './remote.js';
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
  /** Runs the file stream when a slot is free (bounds how many hosts stream at once). */
  streamSlot?: <T>(stream: () => Promise<T>) => Promise<T>;
  /** Stops the collection (per-host limit): a host still waiting for its stream slot gives it up. */
  signal?: AbortSignal;
}

export interface CollectOutcome {
  files: CollectedFile[];
  skipped: SkippedFile[];
  /** Reads that failed on a file that exists: they make the host `partial`. */
  failures: string[];
  clusterStatus?: string;
}

export { LocalWriteError, shellQuote };

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

/** Configuration files are redacted in memory, whole; anything larger is not configuration. */
export const MAX_CONF_BYTES = 16 << 20;

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
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return this.buffer().toString('utf8');
  }
}

/** A file of the host to stream, and where it goes in the host's folder. */
interface PlannedFile {
  archived: string;
  source: string;
  tailBytes: number;
  redact: boolean;
  keepText: boolean;
}

/** The frame being received. */
interface OpenFrame {
  plan: PlannedFile;
  bytes: number;
  sourceBytes: number;
  hash: Hash;
  /** Logs go straight into the archive; configuration is held to be redacted whole. */
  writer?: EntryWriter;
  chunks: Buffer[];
}

/**
 * Collects one host into its part of the archive, through whatever transport reaches it, with
 * three commands on one connection: the probe (OS facts and listing), the file stream, and cctrl
 * (alongside the other two). Transport failures (timeouts, lost connection) propagate so the caller
 * can set the host's status; what was collected so far stays listed in `files`.
 */
export class HostCollector {
  readonly files: CollectedFile[] = [];
  readonly skipped: SkippedFile[] = [];
  readonly failures: string[] = [];
  clusterStatus: string | undefined;

  constructor(
    private readonly transport: HostTransport,
    private readonly part: HostPart,
    private readonly options: CollectOptions,
  ) {}

  async run(): Promise<CollectOutcome> {
    const cctrl = this.askClusterStatus();
    cctrl.catch(() => undefined);

    const probe = probeScript(this.options.installDirectory);
    const probeOut = new MemorySink(64 << 20);
    await this.transport.exec(probe.script, probeOut, { idleTimeoutMs: this.options.idleTimeoutMs, label: 'the OS facts and file listing' });
    const sections = new Map(parseProbe(probeOut.buffer(), probe.boundary).map((s) => [s.name, s]));
    for (const [path, command] of OS_FACTS) {
      const section = sections.get(path);
      if (section?.code === 0) await this.addBuffer(path, section.data, {});
      else this.skipped.push({ path, reason: `${command.split(' ')[0]} ${section ? `exited with ${section.code}${section.error ? `: ${section.error}` : ''}` : 'gave no answer'}` });
    }
    const listingSection = sections.get(LISTING_SECTION);
    if (!listingSection) throw new ConnectionLostError('the host did not list its files (the listing script was cut short)');
    const { listed, notes } = parseListing(listingSection.data.toString('utf8'), this.options.installDirectory);
    this.skipped.push(...notes);
    this.failures.push(...notes.map((n) => n.reason));

    const plans: PlannedFile[] = [];
    let iniPlanned = false;
    for (const item of listed) {
      const source = item.path.startsWith('/') ? item.path : `${this.options.installDirectory}/${item.path}`;
      const archived = item.kind === 'log' ? item.path : `conf${source}`;
      if (item.kind === 'dangling') {
        this.skipped.push({ path: item.path, reason: `dangling symlink${item.target ? ` to ${item.target}` : ''} (that component is not installed on this host)` });
      } else if (isCredentialFile(item.path)) {
        this.skipped.push({ path: archived, reason: 'credential file: never leaves the host' });
      } else if (item.kind === 'log') {
        plans.push({ archived, source, tailBytes: this.options.logSizeBytes, redact: false, keepText: false });
      } else if (item.size > MAX_CONF_BYTES) {
        this.skipped.push({ path: archived, reason: `${item.size} bytes: larger than a configuration file can be (${MAX_CONF_BYTES >> 20} MiB), not read` });
      } else {
        plans.push({ archived, source, tailBytes: 0, redact: true, keepText: item.kind === 'ini' && !iniPlanned });
        if (item.kind === 'ini') iniPlanned = true;
      }
    }
    const hostIni = plans.length > 0 ? await this.streamFiles(plans) : undefined;

    await this.writeReverse(hostIni);
    await this.writeClusterStatus(await cctrl);
    return { files: this.files, skipped: this.skipped, failures: this.failures, ...(this.clusterStatus ? { clusterStatus: this.clusterStatus } : {}) };
  }

  /** Streams every planned file through one command; returns the host's own tungsten.ini. */
  private async streamFiles(plans: PlannedFile[]): Promise<{ path: string; text: string } | undefined> {
    let hostIni: { path: string; text: string } | undefined;
    let current: OpenFrame | undefined;
    const fail = (plan: PlannedFile, reason: string) => {
      this.skipped.push({ path: plan.archived, reason });
      this.failures.push(`${plan.archived}: ${reason}`);
    };
    const reader = new FrameReader({
      open: (index: number, header: FrameHeader) => {
        const plan = plans[index];
        if (!plan) throw new Error(`the host sent more files than were asked for (${plans.length})`);
        if (!header.ok) return fail(plan, `cannot read: ${header.error}`);
        current = {
          plan,
          bytes: header.bytes,
          sourceBytes: header.sourceBytes,
          hash: createHash('sha256'),
          chunks: [],
          ...(plan.redact ? {} : { writer: this.part.openEntry(plan.archived, header.bytes) }),
        };
      },
      data: (_index: number, chunk: Buffer) => {
        const frame = current!;
        if (!frame.writer) return void frame.chunks.push(chunk);
        frame.hash.update(chunk);
        return frame.writer.write(chunk);
      },
      close: async (_index: number, trailer: FrameTrailer) => {
        const frame = current!;
        current = undefined;
        if (trailer.code !== 0 || trailer.copied < frame.bytes) {
          await frame.writer?.abort();
          return fail(
            frame.plan,
            trailer.code !== 0 ? `dd exited with ${trailer.code}${trailer.error ? `: ${trailer.error}` : ''}` : `the file shrank to ${trailer.copied} bytes while it was read (rotated?)`,
          );
        }
        const { plan } = frame;
        if (frame.writer) {
          await frame.writer.finish();
          const tail = frame.sourceBytes > frame.bytes;
          this.record({ path: plan.archived, bytes: frame.bytes, sha256: frame.hash.digest('hex'), source: plan.source, ...(tail ? { sourceBytes: frame.sourceBytes } : {}) });
          return;
        }
        const original = Buffer.concat(frame.chunks).toString('utf8');
        if (plan.keepText) hostIni = { path: plan.source, text: original };
        await this.addBuffer(plan.archived, Buffer.from(redactText(original)), { source: plan.source, redacted: true });
      },
    });
    const slot = this.options.streamSlot ?? ((stream) => stream());
    const signal = this.options.signal;
    const stopped = new Promise<never>((_, reject) => {
      const stop = () => reject(new ConnectionLostError('collection stopped'));
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
    });
    stopped.catch(() => undefined);
    try {
      const streamed = slot(() =>
        signal?.aborted
          ? Promise.resolve(undefined)
          : this.transport.exec(streamScript(plans.map((p) => ({ source: p.source, tailBytes: p.tailBytes }))), reader, {
              idleTimeoutMs: this.options.idleTimeoutMs,
              label: `the stream of ${plans.length} file${plans.length === 1 ? '' : 's'}`,
            }),
      );
      streamed.catch(() => undefined);
      await Promise.race([streamed, stopped]);
      reader.end();
      await new Promise<void>((resolve, reject) => {
        reader.once('finish', resolve);
        reader.once('error', reject);
      });
    } catch (e) {
      await reader.stop();
      await current?.writer?.abort();
      throw e;
    }
    if (current || reader.completed < plans.length) {
      await current?.writer?.abort();
      for (const plan of plans.slice(reader.completed)) fail(plan, 'the file stream ended before this file');
    }
    return hostIni;
  }

  private async writeReverse(hostIni: { path: string; text: string } | undefined): Promise<void> {
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
    await this.addBuffer('tpm_reverse.txt', Buffer.from(text), { redacted: true });
  }

  /** Runs `cctrl ls` on its own channel; resolves with its text or why there is none. */
  private async askClusterStatus(): Promise<{ text: string } | { why: string }> {
    const cctrl = `${this.options.installDirectory}/tungsten/tungsten-manager/bin/cctrl`;
    const t = this.options.cctrlTimeoutS;
    const command = `c=${shellQuote(cctrl)}; [ -x "$c" ] || { echo "$c is not installed on this host" >&2; exit 127; }; echo ls | timeout ${t} "$c"`;
    const sink = new MemorySink(4 << 20);
    try {
      const result = await this.transport.exec(command, sink, { idleTimeoutMs: Math.max(this.options.idleTimeoutMs, (t + 5) * 1000), label: 'cctrl ls' });
      const text = sink.text();
      if (result.code === 0 && text.trim()) return { text };
      return {
        why:
          result.code === 127 ? result.stderr.trim() || 'cctrl not found'
          : result.code === 124 ? `the manager did not answer within ${t} s`
          : `cctrl exited with ${result.code ?? result.signal}${result.stderr.trim() ? `: ${lastLine(result.stderr)}` : ''}`,
      };
    } catch (e) {
      if (e instanceof CommandTimeoutError) return { why: `the manager did not answer within ${t} s` };
      throw e;
    }
  }

  private async writeClusterStatus(answer: { text: string } | { why: string }): Promise<void> {
    if ('why' in answer) {
      this.skipped.push({ path: 'cctrl_ls.txt', reason: answer.why });
      return;
    }
    this.clusterStatus = answer.text;
    await this.addBuffer('cctrl_ls.txt', Buffer.from(answer.text), { redacted: true });
  }

  private async addBuffer(path: string, data: Buffer, meta: { source?: string; redacted?: boolean }): Promise<void> {
    await this.part.addBuffer(path, data);
    this.record({ path, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'), ...meta });
  }

  private record(file: CollectedFile): void {
    this.files.push(file);
    this.options.onFile?.(file);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)!.slice(0, 300);
}

export { CommandTimeoutError, ConnectionLostError };
