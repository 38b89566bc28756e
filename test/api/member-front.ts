/**
 * A real HTTP server in front of a manager, to make one member of a group misbehave on the wire:
 * `handle` answers (or cuts, or holds) the requests it chooses and returns true; every other request
 * passes through to the manager at `upstream`, event streams included.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { envelope } from '../../src/api/payloads.js';

export interface Front {
  url: string;
  server: http.Server;
  /** Requests `handle` took, by method and path. */
  taken: string[];
  close(): Promise<void>;
}

export async function startFront(
  upstream: string,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => boolean = () => false,
): Promise<Front> {
  const taken: string[] = [];
  const server = http.createServer((req, res) => {
    if (handle(req, res)) {
      taken.push(`${req.method} ${req.url}`);
      return;
    }
    const forwarded = http.request(upstream + req.url, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    taken,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Cut the connection once the request has arrived, without a word (a member killed mid-call). */
export function cutAfterArrival(req: http.IncomingMessage): void {
  req.on('data', () => undefined);
  req.on('end', () => req.socket.destroy());
}

/**
 * Pass the request on to `upstream`, and cut the caller's connection once the manager answered,
 * without relaying a word: a member that carried the call out and died before answering.
 */
export function forwardThenCut(upstream: string): (req: http.IncomingMessage) => void {
  return (req) => {
    const forwarded = http.request(upstream + req.url, { method: req.method, headers: req.headers }, (up) => {
      up.resume();
      up.on('end', () => req.socket.destroy());
    });
    forwarded.on('error', () => req.socket.destroy());
    req.pipe(forwarded);
  };
}

/** Answer like a member that has no coordinator to hand the call to. */
export function answer503(res: http.ServerResponse): void {
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end(JSON.stringify(envelope('ErrorPayload', { status: 503, kind: 'unreachable', message: 'no coordinator', hint: null })));
}

/** A loopback port nobody listens on: bind, note, close. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
