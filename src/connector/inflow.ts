/**
 * What one side of a bridged connection reads, and where it goes, without the stream machinery:
 * the socket reads into the inflow's own buffer (net.Socket's `onread` option), and each chunk is
 * written straight to the other socket from there. No Buffer is allocated per chunk for the read,
 * no Readable buffering, no pipe() bookkeeping. Per transaction that is about a sixth less CPU than
 * `pipe()` both ways (docs/connector.md, "Where the time goes").
 *
 * Backpressure and order: on loopback and on a LAN the write almost always completes within the
 * call (the kernel takes the bytes). When it does not, the pending write still points into the
 * buffer, so the socket stops reading (the onread callback returns false) until the other socket
 * has written everything, then reads again. The buffer is therefore never overwritten while its
 * bytes are still to be sent, and nothing is queued in memory beyond that one chunk.
 *
 * Before the connection is bridged (a client waiting during a hold, a backend not yet bridged),
 * what arrives is held, copied aside, and written first when forwarding starts. A refused client
 * is read and its bytes dropped, so that its FIN is seen.
 */
import net from 'node:net';

/** One read at most; libuv reads again at once when a read fills it. */
const CHUNK_BYTES = 64 * 1024;

export class Inflow {
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private source: net.Socket | null = null;
  private target: net.Socket | null = null;
  /** The source was stopped until the target has written everything. */
  private stalled = false;
  private dropping = false;
  private held: Buffer[] = [];
  /** Bytes held before forwarding started. */
  heldBytes = 0;
  /** Called after each chunk held (the router bounds what a client may send before it is bridged). */
  onHeld: (() => void) | null = null;

  /** For `net.connect()` / `new net.Socket()`: the socket reads into this inflow's buffer. */
  readonly onread = {
    buffer: this.buffer,
    callback: (bytes: number): boolean => this.take(this.buffer.subarray(0, bytes), true),
  };

  /**
   * The socket whose reads this inflow takes: one created with `onread` above, or any other
   * socket, whose 'data' events are then taken (a copy Node made: nothing to protect).
   */
  readFrom(socket: net.Socket, viaOnread: boolean): void {
    this.source = socket;
    if (!viaOnread) {
      socket.on('data', (chunk: Buffer) => this.take(chunk, false));
      socket.resume();
    }
  }

  /** From now on every chunk read goes to `target`, those held first; `target` ends when the source ends. */
  forwardTo(target: net.Socket): void {
    const source = this.source;
    if (!source) throw new Error('Inflow.forwardTo before readFrom');
    this.target = target;
    for (const chunk of this.held) target.write(chunk, this.afterWrite);
    this.held = [];
    source.once('end', () => target.end());
    if (target.writableLength > 0) this.stall(source);
  }

  /** What was held before forwarding started, handed over to forward elsewhere (handle-bridge.ts). */
  takeHeld(): Buffer[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  /** A refused client: whatever it sends is read and dropped. */
  drop(): void {
    this.dropping = true;
    this.held = [];
    this.heldBytes = 0;
  }

  /** Returns false to stop an onread socket reading (`borrowed`: the chunk is a view of the buffer). */
  private take(chunk: Buffer, borrowed: boolean): boolean {
    if (this.dropping) return true;
    const target = this.target;
    if (target === null) {
      this.held.push(borrowed ? Buffer.from(chunk) : chunk);
      this.heldBytes += chunk.length;
      this.onHeld?.();
      return true;
    }
    target.write(chunk, this.afterWrite);
    if (target.writableLength === 0) return true;
    // Not all written yet: the rest goes out from `chunk`; read nothing more until it has.
    this.stalled = true;
    if (borrowed) return false;
    this.source!.pause();
    return true;
  }

  private stall(source: net.Socket): void {
    this.stalled = true;
    source.pause();
  }

  /** After each write: once the target has written everything, the source reads again. */
  private readonly afterWrite = (error?: Error | null): void => {
    if (error || !this.stalled || !this.target || this.target.writableLength > 0) return;
    this.stalled = false;
    this.source?.resume();
  };
}

/**
 * An accepted socket as one that reads into `inflow`'s buffer. net.Server takes no `onread` option
 * for the sockets it accepts, so the server is created with `pauseOnConnect` (nothing has been
 * read yet) and the connection's handle moves to a new Socket created with the inflow's `onread`;
 * the accepted Socket object, left without a handle, is discarded. Where this Node's sockets do not
 * expose their handle, the accepted socket itself is used and read through 'data' events (slower,
 * the same bytes). `noDelay` and keep-alive, set on the connection by the server, stay set.
 */
export function readAccepted(accepted: net.Socket, inflow: Inflow): net.Socket {
  if (!acceptedSocketsReadInPlace(accepted)) {
    inflow.readFrom(accepted, false);
    return accepted;
  }
  const handle = (accepted as unknown as { _handle: unknown })._handle;
  (accepted as unknown as { _handle: unknown })._handle = null;
  accepted.destroy();
  const socket = new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true, onread: inflow.onread } as net.SocketConstructorOpts);
  inflow.readFrom(socket, true);
  return socket;
}

/** Whether this socket's handle can move to a Socket that reads in place (what readAccepted relies on). */
export function acceptedSocketsReadInPlace(socket: net.Socket): boolean {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  return !!handle && typeof handle === 'object' && 'readStart' in handle && 'useUserBuffer' in handle;
}
