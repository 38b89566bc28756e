/**
 * An in-process ssh2 server for the fast tier: each exec is answered by a handler, and faults are
 * injected per server (slow handshake, connection drop mid-stream, stderr flood, hanging command).
 */
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import ssh2, { type ServerChannel } from 'ssh2';

export interface FakeReply {
  stdout?: Buffer | string;
  stderr?: Buffer | string;
  code?: number;
  /** Never answer (the command hangs). */
  hang?: boolean;
}

export interface FakeServerOptions {
  handler?: (command: string) => FakeReply;
  /** Accept TCP, then wait this long before speaking SSH (Infinity: never). */
  handshakeDelayMs?: number;
  /** Cut the whole connection after this many stdout bytes of one command. */
  dropAfterBytes?: number;
  /** Public keys (OpenSSH format) allowed to log in; anything else is rejected. */
  authorizedKeys: string[];
  hostKey?: string;
}

export interface FakeServer {
  port: number;
  hostKey: string;
  /** The host key's public half in known_hosts form: "<type> <base64>". */
  hostPublic: string;
  commands: string[];
  close(): Promise<void>;
}

/**
 * An ed25519 key pair that ssh2 can read back: about 1 in 300 generated keys is one ssh2's parser
 * rejects ("Malformed OpenSSH private key", ssh2 issues #1390/#1513), so such a key is made again.
 */
export function keyPair(): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const k = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(k.private) instanceof Error) || attempt === 20) return { private: k.private, public: k.public };
  }
}

function send(channel: ServerChannel, reply: FakeReply, dropAfter: number | undefined, drop: () => void): void {
  if (reply.hang) return;
  const stderrFlushed = new Promise<void>((resolve) => {
    const err = typeof reply.stderr === 'string' ? Buffer.from(reply.stderr) : reply.stderr;
    if (!err) return resolve();
    const source = Readable.from(chunks(err, 32 * 1024));
    source.on('data', (c: Buffer) => {
      if (!channel.stderr.write(c)) {
        source.pause();
        channel.stderr.once('drain', () => source.resume());
      }
    });
    // Ending the channel drops what the stderr writable still buffers: wait until it is sent.
    const flushed = () => (channel.stderr.writableLength === 0 ? resolve() : setTimeout(flushed, 5));
    source.on('end', flushed);
  });
  const data = typeof reply.stdout === 'string' ? Buffer.from(reply.stdout) : reply.stdout ?? Buffer.alloc(0);
  const source = Readable.from(chunks(data, 32 * 1024));
  let sent = 0;
  source.on('data', (c: Buffer) => {
    sent += c.length;
    if (dropAfter !== undefined && sent > dropAfter) {
      source.destroy();
      drop();
      return;
    }
    if (!channel.write(c)) {
      source.pause();
      channel.once('drain', () => source.resume());
    }
  });
  source.on('end', () => {
    void stderrFlushed.then(() => {
      channel.exit(reply.code ?? 0);
      channel.end();
    });
  });
}

function* chunks(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export async function startFakeServer(options: FakeServerOptions): Promise<FakeServer> {
  const hostKey = options.hostKey ?? keyPair().private;
  const parsedHost = ssh2.utils.parseKey(hostKey);
  if (parsedHost instanceof Error) throw parsedHost;
  const hostPublic = `${parsedHost.type} ${parsedHost.getPublicSSH().toString('base64')}`;
  const allowed = options.authorizedKeys.map((k) => {
    const p = ssh2.utils.parseKey(k);
    if (p instanceof Error) throw p;
    return p;
  });
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const ssh = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const match = allowed.find((k) => k.getPublicSSH().equals(ctx.key.data));
      if (!match) return ctx.reject(['publickey']);
      if (ctx.signature && ctx.blob && !match.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.reject(['publickey']);
      ctx.accept();
    });
    client.on('ready', () => {
      // direct-tcpip: lets this server act as a ProxyJump hop.
      client.on('tcpip', (accept, reject, info) => {
        const upstream = connect(info.destPort, info.destIP);
        upstream.once('error', () => reject());
        upstream.once('connect', () => {
          const channel = accept();
          channel.pipe(upstream).pipe(channel);
          channel.on('close', () => upstream.destroy());
          upstream.on('close', () => channel.close());
        });
      });
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acceptExec, _reject, info) => {
          commands.push(info.command);
          const channel = acceptExec();
          const reply = options.handler?.(info.command) ?? { stdout: '' };
          send(channel, reply, options.dropAfterBytes, () => client.end());
        });
      });
    });
  });
  const net: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const delay = options.handshakeDelayMs ?? 0;
    if (delay === Infinity) return;
    setTimeout(() => ssh.injectSocket(socket), delay);
  });
  await new Promise<void>((resolve) => net.listen(0, '127.0.0.1', resolve));
  const port = (net.address() as { port: number }).port;
  return {
    port,
    hostKey,
    hostPublic,
    commands,
    close: () =>
      new Promise((resolve) => {
        sockets.forEach((s) => s.destroy());
        net.close(() => resolve());
      }),
  };
}
