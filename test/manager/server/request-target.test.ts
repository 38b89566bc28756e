/** How the server reads a request target: as the URL parser would, without parsing plain paths. */
import { describe, expect, it } from 'vitest';
import { matchPath } from '../../../src/manager/server/routes.js';
import { requestTarget } from '../../../src/manager/server/server.js';

describe('request target', () => {
  it.each([
    '/api/v2/manager/status/service/alpha',
    '/api/v2/manager/status/service/alpha?includeRouters=no',
    '/api/v2/manager/service/alpha/history?limit=5&limit=6',
    '/api/v2/manager/status/service/al%70ha',
    '/api/v2/manager/status/service/a%20b?x=a+b&y=%7E',
    '//evil/api/v2/ping',
    '/api/v2/ping#fragment',
    '/api/v2/ping?q=1#fragment',
    '/api/v2/manager/status/service/alpha/datasource/db1.example.com',
    '/api/v2/manager/status/service/ä',
    '/api/v2/ping?',
    '/',
    '',
    'http://other-host/api/v2/ping?x=1',
  ])('%s: the pathname and query of the URL parser', (target) => {
    const url = new URL(target, 'http://manager');
    const read = requestTarget(target);
    expect(read.pathname).toBe(url.pathname);
    expect([...read.searchParams]).toEqual([...url.searchParams]);
  });
});

describe('a target the URL parser would resolve into another path', () => {
  it.each([
    '/api/v2/manager/../v2/ping',
    '/api/v2/manager/%2e%2e/v2/ping',
    '/api/v2/manager/.%2E/v2/ping',
    '/api/v2/./ping',
    '/api/v2/manager/control/service/alpha/datasource/../recover',
    '/api/v2/manager/control/service/alpha/datasource/%2E%2E/recover',
    '/api/v2/manager/control/service/alpha/datasource/db1%2F..%2F..%2Frecover/online',
    '/api/v2/manager/control/service/alpha/datasource/db1%5c..%5c..%5crecover/online',
    '/api\\v2\\ping',
    '/api/v2/manager/control/service/alpha/datasource/..?x=1',
  ])('%s is refused as a usage error', (target) => {
    expect(() => requestTarget(target)).toThrow(expect.objectContaining({ kind: 'usage', message: expect.stringMatching(/dot segment or an encoded slash/) }));
  });

  it('keeps dots that are part of a name', () => {
    expect(requestTarget('/api/v2/manager/status/service/alpha/datasource/db1.example.com').pathname).toBe(
      '/api/v2/manager/status/service/alpha/datasource/db1.example.com',
    );
    expect(requestTarget('/api/v2/manager/status/service/alpha/datasource/...').pathname).toBe('/api/v2/manager/status/service/alpha/datasource/...');
    expect(requestTarget('/api/v2/manager/status/service/alpha/datasource/db%2e1').pathname).toBe('/api/v2/manager/status/service/alpha/datasource/db%2e1');
  });
});

describe('path matching', () => {
  it('finds a route by its literal segments and decodes its parameters', () => {
    const [match, ...rest] = matchPath('/api/v2/manager/status/service/al%70ha/datasource/db%31');
    expect(rest).toEqual([]);
    expect(match!.route.pattern).toBe('/api/v2/manager/status/service/:svc/datasource/:ds');
    expect(match!.params).toEqual({ svc: 'alpha', ds: 'db1' });
  });

  it('puts a route with a literal segment before one with a parameter there', () => {
    const matches = matchPath('/api/v2/manager/control/service/alpha/datasource/db1/fault/host-down');
    expect(matches.map((m) => m.route.pattern)).toEqual([
      '/api/v2/manager/control/service/:svc/datasource/:ds/fault/:fault',
    ]);
    const both = matchPath('/api/v2/manager/control/service/alpha/datasource/db1/fault');
    expect(both[0]!.route.pattern).toBe('/api/v2/manager/control/service/:svc/datasource/:ds/:action');
  });

  it('matches nothing for an empty or undecodable parameter, or an unknown path', () => {
    expect(matchPath('/api/v2/manager/status/service/')).toEqual([]);
    expect(matchPath('/api/v2/manager/status/service/%E0%A4%A')).toEqual([]);
    expect(matchPath('/api/v2/nothing')).toEqual([]);
  });
});
