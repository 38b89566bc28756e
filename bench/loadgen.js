#!/usr/bin/env node
/**
 * A small HTTP/1.1 load generator, run as its own process so it does not share an event loop with
 * the server it measures: N keep-alive connections, each sending GET requests back to back (one in
 * flight per connection), for a fixed time after a warm-up. Responses must carry content-length.
 *
 *   node bench/loadgen.js URL --connections 64 --duration-ms 5000 --warmup-ms 1000 [--auth user:pass]
 *
 * Prints one JSON line: requests, errors, non2xx, seconds, histogram (latency in whole µs -> count).
 */
import { connect } from 'node:net';
import { resolve } from 'node:path';

/**
 * @param {readonly string[]} argv
 * @returns {{ url: string; connections: number; durationMs: number; warmupMs: number; auth: string | null }}
 */
function parseArgs(argv) {
  /** @type {{ url: string | null; connections: number; durationMs: number; warmupMs: number; auth: string | null }} */
  const opts = { url: null, connections: 64, durationMs: 5000, warmupMs: 1000, auth: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--connections') opts.connections = Number(next());
    else if (a === '--duration-ms') opts.durationMs = Number(next());
    else if (a === '--warmup-ms') opts.warmupMs = Number(next());
    else if (a === '--auth') opts.auth = next() ?? null;
    else if (a !== undefined) opts.url = a;
  }
  if (!opts.url) throw new Error('usage: loadgen.js URL [--connections N] [--duration-ms MS] [--warmup-ms MS] [--auth user:pass]');
  return { ...opts, url: opts.url };
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Latency bucket in µs, 1 % wide at most, so the histogram stays small whatever the run length.
 * @param {number} us
 * @returns {number}
 */
export function bucketOf(us) {
  if (us < 1000) return Math.max(1, Math.round(us));
  const step = 10 ** (Math.floor(Math.log10(us)) - 2);
  return Math.round(us / step) * step;
}

/**
 * @typedef {object} LoadState
 * @property {boolean} stopped
 * @property {boolean} measuring
 * @property {number} requests
 * @property {number} errors
 * @property {number} non2xx
 * @property {Map<number, number>} histogram
 */

/**
 * @param {URL} url
 * @param {Buffer} request
 * @param {LoadState} state
 * @returns {Promise<void>}
 */
function runConnection(url, request, state) {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    let sentAt = 0n;
    const send = () => {
      if (state.stopped) {
        socket.end();
        return;
      }
      sentAt = process.hrtime.bigint();
      socket.write(request);
    };
    socket.on('connect', send);
    socket.on('data', (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        const end = buffered.indexOf(HEADER_END);
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const length = m ? Number(m[1]) : 0;
        const total = end + 4 + length;
        if (buffered.length < total) return;
        const status = Number(head.slice(9, 12));
        buffered = buffered.subarray(total);
        if (state.measuring) {
          const us = bucketOf(Number(process.hrtime.bigint() - sentAt) / 1000);
          state.histogram.set(us, (state.histogram.get(us) ?? 0) + 1);
          state.requests++;
          if (status < 200 || status > 299) state.non2xx++;
        }
        send();
      }
    });
    socket.on('error', () => {
      state.errors++;
      resolve();
    });
    socket.on('close', () => resolve());
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const url = new URL(opts.url);
  const auth = opts.auth ? `authorization: Basic ${Buffer.from(opts.auth).toString('base64')}\r\n` : '';
  const request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n${auth}connection: keep-alive\r\n\r\n`);
  /** @type {LoadState} */
  const state = { stopped: false, measuring: false, requests: 0, errors: 0, non2xx: 0, histogram: new Map() };
  const connections = Array.from({ length: opts.connections }, () => runConnection(url, request, state));
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  state.measuring = true;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, opts.durationMs));
  state.measuring = false;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  state.stopped = true;
  await Promise.race([Promise.all(connections), new Promise((r) => setTimeout(r, 2000))]);
  // Exit only once the line is written: a pipe takes it asynchronously.
  process.stdout.write(
    `${JSON.stringify({ requests: state.requests, errors: state.errors, non2xx: state.non2xx, seconds, histogram: Object.fromEntries(state.histogram) })}\n`,
    () => process.exit(0),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) main().catch((e) => {
  process.stderr.write(`loadgen: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
