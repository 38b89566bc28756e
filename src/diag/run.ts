import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { JumpSpec, SshTarget } from '../config/sshConfig.js';
import type { TungstenConfig } from '../config/tungstenIni.js';
import { ToolkitError } from '../errors.js';
import { connectSsh, HostConnectError } from '../ssh/connect.js';
import { CommandTimeoutError, ConnectionLostError, LocalTransport, SshTransport, type HostTransport } from '../ssh/transport.js';
import { DiagArchive, HostPart } from './archive.js';
import { HostCollector } from './collect.js';
import { HostCommandError, LocalWriteError } from './errors.js';
import { neutraliseControls } from '../controlChars.js';
import { scanArchive, secretsOfConfig, type KnownSecret } from './secretScan.js';
import { renderSummary } from './summary.js';
import type { HostProgress, HostReport, HostStatus, ProgressListener } from './types.js';

export interface DiagRunOptions {
  config: TungstenConfig;
  /** Host names to collect (already checked against the configuration). */
  hosts: string[];
  /** `local`: this host, read directly; `ssh`: every host over SSH. */
  mode: 'local' | 'ssh';
  outDir: string;
  logSizeMiB: number;
  concurrency: number;
  hostTimeoutMs: number;
  commandTimeoutMs: number;
  cctrlTimeoutS: number;
  commandLine: string[];
  version: string;
  sshTarget?: (host: string) => SshTarget;
  resolveJump?: (jump: JumpSpec) => SshTarget;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  now?: () => Date;
  /** Hosts whose files stream at the same time (default STREAM_CONCURRENCY). */
  streamConcurrency?: number;
  /** Cap on the bytes read from one host's files (default DEFAULT_MAX_HOST_BYTES). */
  maxHostBytes?: number;
}

/**
 * Four file streams keep both cores busy (decryption and hashing here, compression on the thread
 * pool); more only add their SSH windows and compression buffers to memory.
 */
export const STREAM_CONCURRENCY = 4;

export interface DiagManifest {
  schema: 'tungsten-diag-manifest';
  schemaVersion: 1;
  tool: { name: 'tpm'; version: string };
  archive: string;
  createdAt: string;
  commandLine: string[];
  collectedFrom: string;
  mode: 'local' | 'allhosts';
  logSizeMiB: number;
  configuration: string;
  hosts: ManifestHost[];
}

/** A host in manifest.json: `files` counts what was collected, `collected` lists it. */
export interface ManifestHost extends Omit<HostReport, 'clusterStatus' | 'files'> {
  files: number;
  collected: HostReport['files'];
}

function manifestHost({ clusterStatus: _omit, files, ...rest }: HostReport): ManifestHost {
  return { ...rest, files: files.length, collected: files };
}

export interface DiagRunResult {
  archivePath: string;
  sha256: string;
  manifest: DiagManifest;
  exitCode: 0 | 1 | 3;
}

export function archiveBaseName(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `tungsten-diag-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

/** Anything at the path, a dangling link included. */
function taken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Like tpm: when the name of this second is taken, wait (up to 5 s) for the next one. */
async function freeName(outDir: string, now: () => Date): Promise<string> {
  const until = Date.now() + 5000;
  for (;;) {
    const name = archiveBaseName(now());
    if (!taken(join(outDir, `${name}.tgz`)) && !taken(join(outDir, `${name}.tgz.sha256`))) return name;
    if (Date.now() > until) throw new ToolkitError('conflict', `${join(outDir, `${name}.tgz`)} already exists`, 'remove it or use --path DIR');
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function exitCodeFor(reports: HostReport[]): 0 | 1 | 3 {
  if (reports.length > 0 && reports.every((r) => r.status === 'ok')) return 0;
  return reports.some((r) => r.files.length > 0) ? 1 : 3;
}

export async function runDiag(options: DiagRunOptions): Promise<DiagRunResult> {
  const now = options.now ?? (() => new Date());
  try {
    mkdirSync(options.outDir, { recursive: true });
  } catch (e) {
    throw toToolkit(new LocalWriteError(options.outDir, e as NodeJS.ErrnoException));
  }
  const name = await freeName(options.outDir, now);
  const createdAt = now();
  const finalPath = join(options.outDir, `${name}.tgz`);
  const spoolRoot = join(options.outDir, `.${name}.spool-${process.pid}`);
  let archive: DiagArchive | undefined;
  let spoolMade = false;
  const transports = new Set<HostTransport>();
  const abortAll = () => transports.forEach((t) => t.close());
  options.signal?.addEventListener('abort', abortAll, { once: true });
  try {
    try {
      // Not recursive: a directory or link already at that name is an error, never used.
      mkdirSync(spoolRoot, { mode: 0o700 });
      spoolMade = true;
    } catch (e) {
      throw new LocalWriteError(spoolRoot, e as NodeJS.ErrnoException);
    }
    archive = await DiagArchive.create(finalPath, name);
    const writer = archive;
    const limit = pLimit(Math.max(1, options.concurrency));
    const streamSlot = pLimit(Math.max(1, Math.min(options.concurrency, options.streamConcurrency ?? STREAM_CONCURRENCY)));
    const reports: HostReport[] = [];
    const archived: Promise<void>[] = [];
    // Every password the run knows: the final scan fails the run if one is anywhere in the archive.
    const knownSecrets: KnownSecret[] = secretsOfConfig(options.config);
    let fatal: Error | undefined;
    const failFast = (e: Error) => {
      fatal ??= e;
      limit.clearQueue();
      abortAll();
    };
    for (const host of options.hosts) options.onProgress?.({ host, phase: 'queued', files: 0, bytes: 0 });
    await Promise.all(
      options.hosts.map((host) =>
        limit(async () => {
          if (fatal || options.signal?.aborted) return;
          try {
            const part = await HostPart.create(join(spoolRoot, `${host}.tgz-part`), `${name}/${host}`, writer.modified);
            const report = await collectHost(host, { ...options, streamSlot, knownSecrets }, part, transports);
            if (options.signal?.aborted) return void (await part.close());
            reports.push(report);
            const done = appendHost(writer, report, part);
            archived.push(done);
            await done;
          } catch (e) {
            failFast(e as Error);
          }
        }),
      ),
    );
    await Promise.allSettled(archived);
    if (options.signal?.aborted) throw new ToolkitError('interrupted', 'interrupted: no archive written');
    if (fatal) throw fatal;
    reports.sort((a, b) => options.hosts.indexOf(a.host) - options.hosts.indexOf(b.host));
    const manifest: DiagManifest = {
      schema: 'tungsten-diag-manifest',
      schemaVersion: 1,
      tool: { name: 'tpm', version: options.version },
      archive: `${name}.tgz`,
      createdAt: createdAt.toISOString(),
      commandLine: options.commandLine,
      collectedFrom: hostname(),
      mode: options.mode === 'ssh' ? 'allhosts' : 'local',
      logSizeMiB: options.logSizeMiB,
      configuration: options.config.file,
      hosts: reports.map(manifestHost),
    };
    await writer.addBuffer('manifest.json', Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
    const summary = renderSummary({ archiveName: `${name}.tgz`, createdAt, commandLine: options.commandLine, version: options.version, config: options.config, reports, logSizeMiB: options.logSizeMiB });
    await writer.addBuffer('SUMMARY.txt', Buffer.from(summary));
    const finished = await writer.finish(async (temp) => {
      const hit = await scanArchive(temp, knownSecrets);
      if (hit) {
        throw new ToolkitError(
          'refused',
          `the archive would contain a password (${hit.secret.from}) in ${neutraliseControls(hit.member)}; it was not written`,
          'redaction did not recognise where that file keeps it: remove the file from the host or mask it there, then run tpm diag again (a password that is also an ordinary word in the logs, such as a user name, cannot be shipped safely: change it)',
        );
      }
    });
    return { archivePath: finished.path, sha256: finished.sha256, manifest, exitCode: exitCodeFor(reports) };
  } catch (e) {
    abortAll();
    await archive?.abort();
    throw toToolkit(e);
  } finally {
    options.signal?.removeEventListener('abort', abortAll);
    if (spoolMade) rmSync(spoolRoot, { recursive: true, force: true });
  }
}

function toToolkit(e: unknown): unknown {
  if (e instanceof LocalWriteError) {
    return new ToolkitError(
      'refused',
      e.message,
      e.errno.code === 'ENOSPC' ? 'free some space or write elsewhere with --path DIR; no archive was left behind'
      : e.errno.code === 'EEXIST' || e.errno.code === 'ELOOP' ? 'remove what is in the way (after checking who put it there), or write elsewhere with --path DIR'
      : 'check the directory, or write elsewhere with --path DIR',
    );
  }
  return e;
}

async function appendHost(archive: DiagArchive, report: HostReport, part: HostPart): Promise<void> {
  if (report.error) await part.addBuffer('ERROR.txt', Buffer.from(`${report.status}: ${report.error}\n`));
  await archive.addPart(part);
}

async function collectHost(host: string, options: DiagRunOptions & { streamSlot?: <T>(stream: () => Promise<T>) => Promise<T>; knownSecrets?: KnownSecret[] }, part: HostPart, transports: Set<HostTransport>): Promise<HostReport> {
  const startedAt = Date.now();
  const roles = options.config.hosts.find((h) => h.name === host)?.roles ?? [];
  const progress: HostProgress = { host, phase: 'connecting', files: 0, bytes: 0, startedAt };
  const emit = () => options.onProgress?.({ ...progress });
  emit();
  const target = options.mode === 'ssh' ? options.sshTarget?.(host) : undefined;
  const report = (status: HostStatus, error: string | null, collector?: HostCollector): HostReport => {
    const files = collector ? [...collector.files] : [];
    const r: HostReport = {
      host,
      ...(target ? { address: `${target.hostName}:${target.port}` } : {}),
      roles,
      status,
      error: error === null ? null : neutraliseControls(error),
      files,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      skipped: collector ? collector.skipped.map((f) => ({ path: neutraliseControls(f.path), reason: neutraliseControls(f.reason) })) : [],
      durationMs: Date.now() - startedAt,
      ...(collector?.clusterStatus ? { clusterStatus: collector.clusterStatus } : {}),
    };
    Object.assign(progress, { phase: 'done', status, error: r.error, finishedAt: Date.now(), files: r.files.length, bytes: r.bytes });
    emit();
    return r;
  };

  let transport: HostTransport;
  try {
    if (options.mode === 'local') transport = new LocalTransport();
    else {
      if (!target) throw new Error(`no SSH target for ${host}`);
      const deadline = AbortSignal.any([options.signal ?? new AbortController().signal, AbortSignal.timeout(options.hostTimeoutMs)]);
      transport = new SshTransport(await connectSsh(target, { signal: deadline, ...(options.resolveJump ? { resolveJump: options.resolveJump } : {}) }));
    }
  } catch (e) {
    if (e instanceof HostConnectError) return report(e.status, e.message);
    throw e;
  }
  transports.add(transport);
  progress.phase = 'collecting';
  emit();
  const stop = new AbortController();
  const collector = new HostCollector(transport, part, {
    signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal,
    installDirectory: options.config.hosts.find((h) => h.name === host)?.installDirectory ?? options.config.installDirectory,
    logSizeBytes: options.logSizeMiB * 1048576,
    idleTimeoutMs: options.commandTimeoutMs,
    cctrlTimeoutS: options.cctrlTimeoutS,
    stagingConfig: options.config,
    ...(options.maxHostBytes ? { maxHostBytes: options.maxHostBytes } : {}),
    knownSecrets: options.knownSecrets ?? [],
    ...(options.streamSlot ? { streamSlot: options.streamSlot } : {}),
    onFile: (f) => {
      progress.files++;
      progress.bytes += f.bytes;
      emit();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const running = collector.run();
  try {
    const overtime = new Promise<'overtime'>((resolve) => (timer = setTimeout(() => resolve('overtime'), Math.max(0, options.hostTimeoutMs - (Date.now() - startedAt)))));
    const outcome = await Promise.race([running, overtime]);
    if (outcome === 'overtime') {
      stop.abort();
      transport.close();
      // The collector cuts off the entry it was writing; the host's part must be whole before it is archived.
      await running.catch(() => undefined);
      return report('timeout', `collection did not finish within the per-host limit of ${options.hostTimeoutMs / 1000} s`, collector);
    }
    return report(outcome.failures.length > 0 ? 'partial' : 'ok', outcome.failures.length > 0 ? `could not read: ${outcome.failures.join('; ')}` : null, collector);
  } catch (e) {
    if (e instanceof LocalWriteError) throw e;
    if (options.signal?.aborted) return report('partial', 'interrupted', collector);
    if (e instanceof CommandTimeoutError) {
      return report('timeout', `${e.command.split('\n')[0]!.slice(0, 80)} gave no output for ${e.idleMs / 1000} s; the host stopped answering`, collector);
    }
    // The host answered the handshake and the login: whatever failed after that, it was reachable.
    if (e instanceof ConnectionLostError) return report('partial', e.message, collector);
    if (e instanceof HostCommandError) return report('partial', e.message, collector);
    return report('partial', (e as Error).message, collector);
  } finally {
    clearTimeout(timer);
    transport.close();
    transports.delete(transport);
  }
}
