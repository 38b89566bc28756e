import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip, gzip as gzipCallback, type Gzip } from 'node:zlib';
import { LocalWriteError } from './errors.js';
import { memberNameProblem } from './members.js';
import { padding, TAR_END, tarHeader, type TarEntry } from './tarFormat.js';

/**
 * Level 1, the fastest deflate level: the logs are line-oriented text that level 1 already shrinks
 * 5 to 10 times, and each level above it costs more CPU than it saves in bytes written.
 */
export const GZIP_LEVEL = 1;
const gzip = promisify(gzipCallback);
const SLAB_BYTES = 256 * 1024;

export interface FinishedArchive {
  path: string;
  sha256: string;
  bytes: number;
}

/**
 * Appends to a file at a known position, so that a member that turns out incomplete can be cut off
 * again (`truncate`). Writes are sequential; every error is a LocalWriteError naming the file.
 */
class Appender {
  position = 0;
  private failure: LocalWriteError | undefined;
  /** Writes and cuts run one after another: a cut must never race a write still in flight. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  private serial(job: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => {
      if (this.failure) throw this.failure;
      return job().catch((e: NodeJS.ErrnoException) => {
        throw (this.failure = e instanceof LocalWriteError ? e : new LocalWriteError(this.path, e));
      });
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  write(data: Buffer): Promise<void> {
    return this.serial(async () => {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, this.position + done);
        done += bytesWritten;
      }
      this.position += data.length;
    });
  }

  cutTo(position: number): Promise<void> {
    return this.serial(async () => {
      await this.fh.truncate(position);
      this.position = position;
    });
  }

  close(): Promise<void> {
    return this.chain.then(() => this.fh.close()).catch(() => undefined);
  }

  static async create(path: string): Promise<Appender> {
    return new Appender(path, await createPrivateFile(path));
  }
}

/**
 * Every file diag writes (the archive, its checksum, the spool of each host) is new and private:
 * created 0600 (the archive holds a copy of every host's configuration), never through a link and
 * never over a file already there: O_CREAT|O_EXCL|O_NOFOLLOW.
 */
export const CREATE_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;
export const FILE_MODE = 0o600;

async function createPrivateFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, CREATE_FLAGS, FILE_MODE);
  } catch (e) {
    throw new LocalWriteError(path, e as NodeJS.ErrnoException);
  }
}

/** Writes a small file 0600 under a name that must be free (see CREATE_FLAGS). */
export async function writePrivateFile(path: string, data: Buffer | string): Promise<void> {
  const fh = await createPrivateFile(path);
  try {
    await fh.writeFile(data);
  } catch (e) {
    await rm(path, { force: true });
    throw new LocalWriteError(path, e as NodeJS.ErrnoException);
  } finally {
    await fh.close();
  }
}

/**
 * Gives the finished temporary file its final name, which must be free: a hard link fails with
 * EEXIST on anything there, a file or a link, and never follows it (rename would replace it).
 * Where the file system has no hard links, the name is checked and the file renamed.
 */
async function placeFile(temp: string, final: string): Promise<void> {
  try {
    await link(temp, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw new LocalWriteError(final, e as NodeJS.ErrnoException);
    try {
      await lstat(final);
      throw new LocalWriteError(final, Object.assign(new Error('EEXIST'), { code: 'EEXIST' }));
    } catch (missing) {
      if ((missing as NodeJS.ErrnoException).code !== 'ENOENT') throw missing;
    }
    await rename(temp, final).catch((r: NodeJS.ErrnoException) => {
      throw new LocalWriteError(final, r);
    });
    return;
  }
  await rm(temp, { force: true });
}

/** One tar entry (header, data, padding) as a complete gzip member. */
async function entryMember(entry: TarEntry, data?: Buffer): Promise<Buffer> {
  const raw = data ? Buffer.concat([tarHeader(entry), data, padding(data.length)]) : tarHeader(entry);
  return gzip(raw, { level: GZIP_LEVEL });
}

/** A tar entry being written as it arrives: its size is declared first, its data follows. */
export interface EntryWriter {
  /**
   * Takes the chunk; returns a promise when more data must wait for it (backpressure from the
   * compressor and the disk), nothing when it may follow at once.
   */
  write(chunk: Buffer): Promise<void> | undefined;
  /** Ends the entry; it must have received exactly the declared size. */
  finish(): Promise<void>;
  /** Removes whatever of the entry was written, as if it had never started. */
  abort(): Promise<void>;
}

/**
 * One host's part of the archive, kept compressed beside it until the archive takes it whole: a
 * sequence of gzip members, one per tar entry, so each host compresses on its own thread-pool
 * thread and an entry whose source fails half-way is cut off without a trace.
 */
export class HostPart {
  private busy = false;

  private constructor(
    private readonly out: Appender,
    private readonly top: string,
    private readonly mtime: Date,
  ) {}

  static async create(path: string, top: string, mtime: Date): Promise<HostPart> {
    const part = new HostPart(await Appender.create(path), top, mtime);
    await part.addDirectory('');
    return part;
  }

  get path(): string {
    return this.out.path;
  }

  get bytes(): number {
    return this.out.position;
  }

  private claim(): void {
    if (this.busy) throw new Error('HostPart: an entry is still being written');
    this.busy = true;
  }

  async addDirectory(path: string): Promise<void> {
    this.claim();
    try {
      await this.out.write(await entryMember({ name: this.name(path), type: 'directory', size: 0, mtime: this.mtime }));
    } finally {
      this.busy = false;
    }
  }

  async addBuffer(path: string, data: Buffer): Promise<void> {
    this.claim();
    try {
      await this.out.write(await entryMember({ name: this.name(path), type: 'file', size: data.length, mtime: this.mtime }, data));
    } finally {
      this.busy = false;
    }
  }

  openEntry(path: string, size: number): EntryWriter {
    this.claim();
    const start = this.out.position;
    const compressor: Gzip = createGzip({ level: GZIP_LEVEL, chunkSize: 64 * 1024 });
    const out = this.out;
    const sink = new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _enc, cb) => void out.write(chunk).then(() => cb(), cb),
    });
    const done = pipeline(compressor, sink);
    done.catch(() => undefined);
    compressor.write(tarHeader({ name: this.name(path), type: 'file', size, mtime: this.mtime }));
    // The SSH channel hands over 32 KiB at a time, and each write to zlib is a round trip to the
    // thread pool that costs about as much as compressing it: data goes in 256 KiB at a time instead,
    // through two slabs that are reused (one filling while zlib reads the other), nothing allocated per chunk.
    const slabs = [Buffer.allocUnsafe(SLAB_BYTES), Buffer.allocUnsafe(SLAB_BYTES)];
    let slab = 0;
    let filled = 0;
    let inflight: Promise<void> | undefined;
    const flush = async () => {
      if (filled === 0) return;
      if (inflight) await inflight;
      const data = slabs[slab]!.subarray(0, filled);
      inflight = new Promise<void>((resolve, reject) => compressor.write(data, (e) => (e ? reject(e) : resolve())));
      inflight.catch(() => undefined);
      slab ^= 1;
      filled = 0;
    };
    let written = 0;
    let settled = false;
    const release = () => {
      settled = true;
      this.busy = false;
    };
    return {
      write: (chunk) => {
        written += chunk.length;
        const fill = (from: number): Promise<void> | undefined => {
          for (let at = from; at < chunk.length; ) {
            const n = chunk.copy(slabs[slab]!, filled, at);
            filled += n;
            at += n;
            if (filled === SLAB_BYTES) return Promise.race([flush(), done]).then(() => fill(at));
          }
          return undefined;
        };
        return fill(0);
      },
      finish: async () => {
        if (written !== size) throw new Error(`entry ${path}: ${written} bytes written, ${size} declared`);
        try {
          await flush();
          await inflight;
          compressor.end(padding(size));
          await done;
        } finally {
          release();
        }
      },
      abort: async () => {
        if (settled) return;
        compressor.destroy();
        await done.catch(() => undefined);
        try {
          await out.cutTo(start);
        } finally {
          release();
        }
      },
    };
  }

  close(): Promise<void> {
    return this.out.close();
  }

  /** Every member is inside the host's folder: a name that could leave it is a bug, never archived. */
  private name(path: string): string {
    if (!path) return this.top;
    const problem = memberNameProblem(path);
    if (problem) throw new Error(`refusing to archive ${JSON.stringify(path)}: ${problem}`);
    return `${this.top}/${path}`;
  }
}

/**
 * The .tgz: a sequence of gzip members (a valid gzip file, `gzip -t` and tar read it whole),
 * written under a temporary name in the target directory and renamed only when complete.
 */
export class DiagArchive {
  private readonly hash = createHash('sha256');
  private readonly mtime = new Date();
  private queue: Promise<void> = Promise.resolve();
  readonly tempPath: string;

  private constructor(
    readonly finalPath: string,
    /** The folder every entry sits under (the archive's base name). */
    readonly top: string,
    private readonly out: Appender,
  ) {
    this.tempPath = out.path;
  }

  static async create(finalPath: string, top: string): Promise<DiagArchive> {
    const tempPath = join(finalPath, '..', `.${basename(finalPath)}.partial-${process.pid}`);
    const archive = new DiagArchive(finalPath, top, await Appender.create(tempPath));
    await archive.enqueue(async () => archive.emit(await entryMember({ name: top, type: 'directory', size: 0, mtime: archive.mtime })));
    return archive;
  }

  get modified(): Date {
    return this.mtime;
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    const next = this.queue.then(job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async emit(data: Buffer): Promise<void> {
    this.hash.update(data);
    await this.out.write(data);
  }

  /** Copies a finished host part in, then deletes it. */
  addPart(part: HostPart): Promise<void> {
    return this.enqueue(async () => {
      await part.close();
      let source: FileHandle;
      try {
        source = await open(part.path, 'r');
      } catch (e) {
        throw new LocalWriteError(part.path, e as NodeJS.ErrnoException);
      }
      try {
        const buffer = Buffer.allocUnsafe(1 << 20);
        for (;;) {
          const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          await this.emit(buffer.subarray(0, bytesRead));
        }
      } finally {
        await source.close();
        await rm(part.path, { force: true });
      }
    });
  }

  addBuffer(path: string, data: Buffer): Promise<void> {
    return this.enqueue(async () => this.emit(await entryMember({ name: `${this.top}/${path}`, type: 'file', size: data.length, mtime: this.mtime }, data)));
  }

  /**
   * Ends the archive; `check` reads the complete temporary file first (the secret scan) and may
   * throw, in which case nothing is given its final name. The archive and then its `.sha256` are
   * put in place only under names that are free.
   */
  async finish(check?: (tempPath: string) => Promise<void>): Promise<FinishedArchive> {
    await this.enqueue(async () => this.emit(await gzip(TAR_END, { level: GZIP_LEVEL })));
    await this.out.close();
    const sha256 = this.hash.digest('hex');
    await check?.(this.tempPath);
    const sumTemp = join(this.finalPath, '..', `.${basename(this.finalPath)}.sha256.partial-${process.pid}`);
    // Only what this run created is removed on failure: a file or link found in the way stays.
    let placed = false;
    let sumCreated = false;
    try {
      await placeFile(this.tempPath, this.finalPath);
      placed = true;
      await writePrivateFile(sumTemp, `${sha256}  ${basename(this.finalPath)}\n`);
      sumCreated = true;
      await placeFile(sumTemp, `${this.finalPath}.sha256`);
    } catch (e) {
      await Promise.all([placed ? rm(this.finalPath, { force: true }) : undefined, sumCreated ? rm(sumTemp, { force: true }) : undefined]);
      throw e instanceof LocalWriteError ? e : new LocalWriteError(`${this.finalPath}.sha256`, e as NodeJS.ErrnoException);
    }
    return { path: this.finalPath, sha256, bytes: this.out.position };
  }

  async abort(): Promise<void> {
    await this.out.close();
    await rm(this.tempPath, { force: true });
  }
}
