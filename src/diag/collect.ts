import { createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import { posix } from 'node:path';
import { parseTungstenIni, type TungstenConfig } from '../config/tungstenIni.js';
import { CommandTimeoutError, ConnectionLostError, type HostTransport } from '../ssh/transport.js';
import type { EntryWriter, HostPart } from './archive.js';
import { HostCommandError, HostLimitError, LocalWriteError, OutputLimitError } from './errors.js';
import { memberNameProblem, shownName } from './members.js';
import { redactConfig } from './redact.js';
import { secretsOfConfig, type KnownSecret } from './secretScan.js';
import { FrameFormatError, FrameReader, LISTING_SECTION, OS_FACTS, parseListing, parseProbe, probeScript, shellQuote, streamScript, type FrameHeader, type FrameTrailer } from './remote.js';
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
  /** Cap on the bytes read from this host's files (default DEFAULT_MAX_HOST_BYTES). */
  maxHostBytes?: number;
  /** Receives every password this host's configuration revealed (for the archive's final scan). */
  knownSecrets?: KnownSecret[];
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

/** Holds a command's output up to `limit` bytes; past that it fails, which stops the command. */
class MemorySink extends Writable {
  chunks: Buffer[] = [];
  length = 0;
  constructor(
    private readonly limit: number,
    private readonly label: string,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.length += chunk.length;
    if (this.length > this.limit) return cb(new OutputLimitError(this.label, this.limit));
    this.chunks.push(chunk);
    cb();
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return this.buffer().toString('utf8');
  }
}

/** What the OS facts and the listing may print (a listing of 100,000 files is a few MiB). */
export const MAX_PROBE_BYTES = 64 << 20;
/** What `cctrl ls` may print. */
export const MAX_CCTRL_BYTES = 4 << 20;
/** Default cap on all the bytes read from one host (`--max-host-size`). */
export const DEFAULT_MAX_HOST_BYTES = 4096 * 1048576;

/** A file of the host to stream, and where it goes in the host's folder. */
interface PlannedFile {
  archived: string;
  /** The path as the host listed it (for the manifest and messages). */
  source: string;
  /** What it resolves to: the path that is read. */
  resolved: string;
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

  private get maxHostBytes(): number {
    return this.options.maxHostBytes ?? DEFAULT_MAX_HOST_BYTES;
  }

  async run(): Promise<CollectOutcome> {
    const cctrl = this.askClusterStatus();
    cctrl.catch(() => undefined);

    const probe = probeScript(this.options.installDirectory);
    const probeOut = new MemorySink(MAX_PROBE_BYTES, 'the OS facts and file listing');
    let probed;
    try {
      probed = await this.transport.exec(probe.script, probeOut, { idleTimeoutMs: this.options.idleTimeoutMs, label: 'the OS facts and file listing' });
    } catch (e) {
      if (e instanceof OutputLimitError) throw new HostCommandError(`${e.message}; no real installation lists that much, nothing of it was kept`);
      throw e;
    }
    const sections = new Map(parseProbe(probeOut.buffer(), probe.boundary).map((s) => [s.name, s]));
    for (const [path, command] of OS_FACTS) {
      const section = sections.get(path);
      if (section?.code === 0) await this.addBuffer(path, section.data, {});
      else this.skipped.push({ path, reason: `${command.split(' ')[0]} ${section ? `exited with ${section.code}${section.error ? `: ${shownName(section.error, 300)}` : ''}` : 'gave no answer'}` });
    }
    const listingSection = sections.get(LISTING_SECTION);
    if (!listingSection) {
      const why = probed.stderr.trim() ? `: ${shownName(lastLine(probed.stderr), 300)}` : '';
      throw new HostCommandError(`the host answered but did not run the file listing (exit ${probed.code ?? probed.signal})${why}`);
    }
    const listing = parseListing(listingSection.data.toString('utf8'), this.options.installDirectory);
    this.skipped.push(...listing.missing, ...listing.skipped, ...listing.refused);
    this.failures.push(...listing.missing.map((n) => n.reason), ...listing.refused.map((n) => `${n.path}: ${n.reason}`));

    // Configuration keeps its configured path in the archive (conf/opt/continuent/...), whatever it resolves to.
    const install = posix.normalize(this.options.installDirectory).replace(/(.)\/+$/, '$1');
    const plans: PlannedFile[] = [];
    let iniPlanned = false;
    let budget = this.maxHostBytes;
    for (const item of listing.listed) {
      const archived = item.kind === 'log' ? item.path : item.kind === 'ini' ? `conf${item.path}` : `conf${install === '/' ? '' : install}/${item.path}`;
      const nameProblem = memberNameProblem(archived);
      if (nameProblem) {
        this.skipped.push({ path: shownName(archived), reason: `refused: ${nameProblem}` });
        this.failures.push(`${shownName(archived)}: refused: ${nameProblem}`);
      } else if (isCredentialFile(item.path) || isCredentialFile(item.source)) {
        this.skipped.push({ path: archived, reason: 'credential file: never leaves the host' });
      } else if (item.kind !== 'log' && item.size > MAX_CONF_BYTES) {
        this.skipped.push({ path: archived, reason: `${item.size} bytes: larger than a configuration file can be (${MAX_CONF_BYTES >> 20} MiB), not read` });
      } else {
        const tailBytes = item.kind === 'log' ? this.options.logSizeBytes : 0;
        const expected = tailBytes > 0 ? Math.min(tailBytes, item.size) : item.size;
        if (expected > budget) {
          this.skipped.push({ path: archived, reason: `not read: ${item.size} bytes would pass the cap of ${mib(this.maxHostBytes)} for one host (--max-host-size)` });
          continue;
        }
        budget -= expected;
        const listedAs = item.kind === 'ini' ? item.path : `${install === '/' ? '' : install}/${item.path}`;
        plans.push({ archived, source: listedAs, resolved: item.source, tailBytes, redact: item.kind !== 'log', keepText: item.kind === 'ini' && !iniPlanned });
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
    let streamedBytes = 0;
    const fail = (plan: PlannedFile, reason: string) => {
      this.skipped.push({ path: plan.archived, reason });
      this.failures.push(`${plan.archived}: ${reason}`);
    };
    const reader = new FrameReader({
      open: (index: number, header: FrameHeader) => {
        const plan = plans[index];
        if (!plan) throw new FrameFormatError(`the host sent more files than were asked for (${plans.length})`);
        if (!header.ok) return fail(plan, `cannot read: ${header.error}`);
        const cap = plan.redact ? MAX_CONF_BYTES : plan.tailBytes > 0 ? plan.tailBytes : this.maxHostBytes;
        if (header.bytes > cap) {
          throw new HostLimitError(`the host announced ${header.bytes} bytes for it, over its cap of ${mib(cap)} (${plan.redact ? 'a configuration file' : plan.tailBytes > 0 ? '--log-size' : '--max-host-size'})`);
        }
        if (streamedBytes + header.bytes > this.maxHostBytes) throw new HostLimitError(`the host's files passed the cap of ${mib(this.maxHostBytes)} for one host (--max-host-size)`);
        streamedBytes += header.bytes;
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
        const redaction = redactConfig(original, plan.source);
        for (const m of redaction.masked) {
          // A number under a password-like key (a port after -p) is too common in logs to search for.
          if (!/^\d+$/.test(m.value)) this.options.knownSecrets?.push({ value: m.value, from: `${m.key} in ${plan.archived} of this host` });
        }
        await this.addBuffer(plan.archived, Buffer.from(redaction.text), { source: plan.source, redacted: true });
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
          : this.transport.exec(streamScript(plans.map((p) => ({ source: p.resolved, tailBytes: p.tailBytes }))), reader, {
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
      if (!(e instanceof HostLimitError)) throw e;
      // The stream was stopped at the file that broke a cap: it and every file after it are not read.
      const at = reader.completed;
      fail(plans[at]!, `not read: ${e.message}`);
      for (const plan of plans.slice(at + 1)) fail(plan, `not read: the file stream was stopped at ${plans[at]!.archived}, which passed a cap`);
      return hostIni;
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
        const parsed = parseTungstenIni(hostIni.text, hostIni.path);
        this.options.knownSecrets?.push(...secretsOfConfig(parsed));
        text = renderReverse(parsed, { public: true });
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
    const sink = new MemorySink(MAX_CCTRL_BYTES, 'cctrl ls');
    try {
      const result = await this.transport.exec(command, sink, { idleTimeoutMs: Math.max(this.options.idleTimeoutMs, (t + 5) * 1000), label: 'cctrl ls' });
      const text = sink.text();
      if (result.code === 0 && text.trim()) return { text };
      return {
        why:
          result.code === 127 ? shownName(lastLine(result.stderr), 300) || 'cctrl not found'
          : result.code === 124 ? `the manager did not answer within ${t} s`
          : `cctrl exited with ${result.code ?? result.signal}${result.stderr.trim() ? `: ${shownName(lastLine(result.stderr), 300)}` : ''}`,
      };
    } catch (e) {
      if (e instanceof CommandTimeoutError) return { why: `the manager did not answer within ${t} s` };
      if (e instanceof OutputLimitError) return { why: `${e.message}: not kept` };
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

function mib(bytes: number): string {
  return bytes % 1048576 === 0 ? `${bytes / 1048576} MiB` : `${bytes} bytes`;
}

export { CommandTimeoutError, ConnectionLostError };
