#!/usr/bin/env node
/**
 * The floor for the manager API benchmark: a bare node:http server that checks the same Basic
 * credentials and answers every GET with a fixed body (the manager's own status payload, fetched
 * once), so it does the same HTTP work with no model, no routing and no serialization.
 *
 *   node bench/baseline-server.js BODY_FILE user:pass   (prints "listening URL")
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [bodyFile, credentials] = process.argv.slice(2);
if (bodyFile === undefined || credentials === undefined) {
  process.stderr.write('usage: node bench/baseline-server.js BODY_FILE user:pass\n');
  process.exit(2);
}
const body = readFileSync(bodyFile);
const expected = `Basic ${Buffer.from(credentials).toString('base64')}`;
const server = createServer((req, res) => {
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { 'content-length': 0 });
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
