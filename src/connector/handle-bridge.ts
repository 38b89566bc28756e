/**
 * A bridged connection forwarded between the two sockets' libuv handles, below net.Socket: each
 * handle reads into a buffer of its own, and each chunk read is handed to the other handle's
 * writeBuffer in the same callback. Per chunk that skips what net.Socket does around a read and a
 * write (Readable and Writable state, the write request's callbacks, a nextTick per write), which
 * is most of a Node proxy's user time: measured on loopback with 16 connections in ping-pong, the
 * proxy's user time per round trip fell from 4.1-5.7 µs (inflow.ts, net.Socket with `onread`) to
 * 2.4-3.6 µs, against HAProxy's 1.3-1.9 µs (docs/connector.md, "Where the time goes").
 *
 * The handle API is Node's own, reached through `process.binding('stream_wrap')` (documented as
 * deprecated, allowed in Node 20). Where a Node release does not give it, or a socket has no
 * handle of this kind, `handleBridgeUnavailable` says why, and the router forwards through
 * net.Socket (inflow.ts) instead: the same bytes, more CPU.
 *
 * Nothing is allocated per chunk once a connection is under way: a write request the kernel
 * completed within the call is used again for the next write, and the views of the read buffer
 * are kept by length (a harness's user time per round trip: about 1 µs less than with a request
 * and a view made per chunk).
 *
 * Order and backpressure are those of inflow.ts: when a write does not complete within the call
 * (the kernel did not take every byte), the pending write still points into the reading side's
 * buffer, so that side stops reading until every pending write of its reads has completed.
 * Nothing is queued in memory beyond what was read before reading stopped. An end read on one side
 * ends the other side's writing once what was read before it is written (TCP half-close, as with
 * `allowHalfOpen`); both sides ended, or an error on either, closes both.
 */
import type net from 'node:net';

/** What this module needs of a libuv stream handle (a TCP wrap). */
interface StreamHandle {
  /** Must always be a function: Node asserts it (a native abort otherwise). */
  onread: (buffer?: ArrayBuffer) => void;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: Request, data: Uint8Array): number;
  shutdown(req: Request): number;
  close(callback: () => void): void;
}

interface Request {
  handle: StreamHandle;
  oncomplete: (status: number) => void;
  /** Keeps the bytes of a pending write alive (as net.Socket does): libuv points into them. */
  buffer?: Uint8Array;
}

interface StreamWrapBinding {
  WriteWrap: new () => Request;
  ShutdownWrap: new () => Request;
  /** After a read: bytes read, or a negative libuv error. After a write: 1 when it did not complete within the call. */
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

const CHUNK_BYTES = 64 * 1024;

const ignoreRead = (): void => undefined;

interface Loaded {
  binding: StreamWrapBinding | null;
  eof: number;
  why: string | null;
}

let loaded: Loaded | null = null;

function load(): Loaded {
  if (loaded) return loaded;
  const processBinding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  try {
    if (typeof processBinding !== 'function') throw new Error('process.binding is not available');
    const binding = processBinding.call(process, 'stream_wrap') as Partial<StreamWrapBinding>;
    const uv = processBinding.call(process, 'uv') as { UV_EOF?: unknown };
    if (
      typeof binding.WriteWrap !== 'function' ||
      typeof binding.ShutdownWrap !== 'function' ||
      !(binding.streamBaseState instanceof Int32Array) ||
      typeof binding.kReadBytesOrError !== 'number' ||
      typeof binding.kLastWriteWasAsync !== 'number' ||
      typeof uv.UV_EOF !== 'number'
    ) {
      throw new Error("process.binding('stream_wrap') lacks WriteWrap, ShutdownWrap or streamBaseState");
    }
    loaded = { binding: binding as StreamWrapBinding, eof: uv.UV_EOF, why: null };
  } catch (e) {
    loaded = { binding: null, eof: 0, why: e instanceof Error ? e.message : String(e) };
  }
  return loaded;
}

function handleOf(socket: net.Socket): StreamHandle | null {
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (!handle || typeof handle !== 'object') return null;
  for (const method of ['useUserBuffer', 'readStart', 'readStop', 'writeBuffer', 'shutdown', 'close'] as const) {
    if (typeof handle[method] !== 'function') return null;
  }
  return handle as StreamHandle;
}

/** Why these sockets cannot be forwarded by handle (null: they can). */
export function handleBridgeUnavailable(...sockets: net.Socket[]): string | null {
  const { why } = load();
  if (why) return why;
  for (const s of sockets) {
    if (s.destroyed || s.connecting) return 'a socket is not connected';
    if (s.writableLength > 0) return 'a socket still has bytes to write';
    if (!handleOf(s)) return "a socket's handle is not a stream handle";
  }
  return null;
}

interface Side {
  handle: StreamHandle;
  buffer: Buffer;
  /** The completion of a write of this side's reads (one function per side, not one per write). */
  written: (status: number) => void;
  /** Writes of this side's reads still pending: while there are any, this side does not read. */
  pending: number;
  /** An end was read on this side. */
  ended: boolean;
  /** The other side's writing was ended after it, once all before it was written. */
  shutDown: boolean;
  /**
   * A write request never handed to libuv (the last write completed within the call, so no native
   * request was made of it): the next write reuses it rather than allocating one.
   */
  spare: Request | null;
  /** Views of `buffer` by length, made once: reads come in a few recurring sizes. */
  views: Map<number, Uint8Array>;
}

/** Views of a buffer kept, by length (beyond that, a view is made per read). */
const MAX_VIEWS = 64;

/** One side of a bridge: its socket, bytes already read from it, and the buffer it reads into, if it has one. */
export interface BridgeEnd {
  socket: net.Socket;
  early: readonly Buffer[];
  /** The buffer the socket reads into already (inflow.ts), reused rather than another allocated. */
  buffer?: Buffer;
}

export class HandleBridge {
  private readonly sides: [Side, Side];
  /** Looked up once, not per chunk (handleBridgeUnavailable has checked that it is there). */
  private readonly binding = load().binding!;
  private readonly eof = load().eof;
  private closed = false;

  /**
   * Takes both sockets' handles (the Socket objects are destroyed without closing them) and
   * forwards from now on, what each end read early written first. `onClosed` runs once, when both
   * handles are closed. Check handleBridgeUnavailable first.
   */
  constructor(a: BridgeEnd, b: BridgeEnd, private readonly onClosed: () => void) {
    this.sides = [this.take(a), this.take(b)];
    const [sa, sb] = this.sides;
    for (const chunk of a.early) this.write(sa, sb, chunk);
    for (const chunk of b.early) this.write(sb, sa, chunk);
    this.read(sa, sb);
    this.read(sb, sa);
  }

  /** Close both sides now (a switch's grace over, a failover, OFFLINE, a stop). */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    let open = 2;
    for (const side of this.sides) {
      side.handle.onread = ignoreRead;
      side.handle.readStop();
      side.handle.close(() => {
        if (--open === 0) this.onClosed();
      });
    }
  }

  private take({ socket, buffer = Buffer.allocUnsafe(CHUNK_BYTES) }: BridgeEnd): Side {
    const handle = handleOf(socket)!;
    (socket as unknown as { _handle: unknown })._handle = null;
    socket.destroy();
    // A socket that was reading (a client, holding what it sent early) stops until read() starts it.
    handle.readStop();
    handle.useUserBuffer(buffer);
    const side: Side = { handle, buffer, written: () => undefined, pending: 0, ended: false, shutDown: false, spare: null, views: new Map() };
    side.written = (status) => this.written(side, status);
    return side;
  }

  private read(from: Side, to: Side): void {
    const { binding, eof } = this;
    const state = binding.streamBaseState;
    const index = binding.kReadBytesOrError;
    from.handle.onread = () => {
      const n = state[index]!;
      if (n > 0) this.write(from, to, viewOf(from, n));
      else if (n === eof) this.readEnd(from, to);
      else if (n < 0) this.end();
    };
    if (from.pending === 0 && from.handle.readStart() < 0) this.end();
  }

  private write(from: Side, to: Side, chunk: Uint8Array): void {
    if (this.closed) return;
    const binding = this.binding;
    let req = from.spare;
    from.spare = null;
    if (req === null) {
      req = new binding.WriteWrap();
      req.handle = to.handle;
      req.oncomplete = from.written;
    }
    if (to.handle.writeBuffer(req, chunk) < 0) return this.end();
    if (!binding.streamBaseState[binding.kLastWriteWasAsync]) {
      from.spare = req;
      return;
    }
    req.buffer = chunk;
    if (++from.pending === 1) from.handle.readStop();
  }

  private written(from: Side, status: number): void {
    if (this.closed) return;
    if (status < 0) return this.end();
    if (--from.pending > 0 || from.ended) return;
    if (from.handle.readStart() < 0) this.end();
  }

  private readEnd(from: Side, to: Side): void {
    from.ended = true;
    from.handle.readStop();
    // The shutdown completes after the writes queued before it: closing at once could drop them.
    const req = new this.binding.ShutdownWrap();
    req.handle = to.handle;
    req.oncomplete = (status) => {
      from.shutDown = true;
      if (status < 0 || this.sides.every((s) => s.shutDown)) this.end();
    };
    if (to.handle.shutdown(req) < 0) this.end();
  }
}

/** The first `n` bytes of the side's buffer as a plain view (all writeBuffer needs; cheaper than a Buffer). */
function viewOf(side: Side, n: number): Uint8Array {
  let view = side.views.get(n);
  if (view === undefined) {
    view = new Uint8Array(side.buffer.buffer, side.buffer.byteOffset, n);
    if (side.views.size < MAX_VIEWS) side.views.set(n, view);
  }
  return view;
}
