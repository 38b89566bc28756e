/**
 * Requests an attacker would send, over real HTTP (issue 12): paths the URL parser would resolve
 * into another path are refused before anything runs.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startManagerServer, type ManagerServer } from '../../../src/manager/server/index.js';
import { FakeManager } from './fake-manager.js';

const auth = { user: 'tungsten', password: 's3cret-pw' };
const basic = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;

let server: ManagerServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A request whose target goes on the wire exactly as written (no client-side URL resolution). */
function send(port: number, method: string, target: string, authorization: string | undefined = basic): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, agent: false, headers: authorization ? { authorization } : {} });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.end();
  });
}

describe('paths with dot segments or hidden slashes', () => {
  it.each([
    '/api/v2/manager/control/service/alpha/datasource/../recover',
    '/api/v2/manager/control/service/alpha/datasource/%2e%2e/recover',
    '/api/v2/manager/control/service/alpha/datasource/.%2E/recover',
    '/api/v2/manager/control/service/alpha/datasource/db1/./../../recover',
    '/api/v2/manager/control/service/alpha/datasource/x%2F..%2F..%2Frecover/online',
    '/api/v2/manager/control/service/alpha/datasource/x\\..\\..\\recover/online',
  ])('POST %s is refused with 400 and nothing runs', async (target) => {
    const manager = new FakeManager(20);
    server = await startManagerServer({ manager, credentials: auth, port: 0 });
    const reply = await send(server.port, 'POST', target);
    expect(reply.status).toBe(400);
    expect(reply.json.payload).toMatchObject({ kind: 'usage', message: 'the request path has a dot segment or an encoded slash' });
    expect(manager.controlCalls).toEqual([]);
  });

  it('still serves names with dots in them', async () => {
    const manager = new FakeManager(20);
    server = await startManagerServer({ manager, credentials: auth, port: 0 });
    const reply = await send(server.port, 'GET', '/api/v2/manager/status/service/alpha/datasource/db1.example.com');
    expect(reply.status).toBe(404);
    expect(reply.json.payload.message).toBe("no datasource 'db1.example.com' in service 'alpha'");
  });
});

describe('the API client', () => {
  it("refuses '.' and '..' as names before building a path (the URL would resolve them)", async () => {
    const { apiPaths } = await import('../../../src/api/payloads.js');
    expect(() => apiPaths.control('alpha', 'datasource', '..', 'recover')).toThrow("'..' is not a name");
    expect(() => apiPaths.datasourceStatus('alpha', '.')).toThrow("'.' is not a name");
    expect(apiPaths.datasourceStatus('alpha', 'db1.example.com')).toBe('/api/v2/manager/status/service/alpha/datasource/db1.example.com');
  });
});
