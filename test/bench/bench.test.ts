import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { histogramPercentile, interleaved, median, percentile, ratio, summarize } from '../../bench/lib/stats.js';
import { FIGURES_END, FIGURES_START, textTable, withFigures, type BenchResults } from '../../bench/lib/report.js';
import { bucketOf } from '../../bench/loadgen.js';
import { parseArgs } from '../../bench/run.js';

const RUNNER = resolve(import.meta.dirname, '../../bench/run.js');
const LOADGEN = resolve(import.meta.dirname, '../../bench/loadgen.js');

describe('bench statistics', () => {
  it('median of odd and even counts, unsorted input left untouched', () => {
    const xs = [9, 1, 5];
    expect(median(xs)).toBe(5);
    expect(xs).toEqual([9, 1, 5]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('percentiles interpolate between closest ranks', () => {
    const xs = Array.from({ length: 101 }, (_, i) => i); // 0..100
    expect(percentile(xs, 0)).toBe(0);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([10, 20], 25)).toBe(12.5);
    expect(() => percentile(xs, 101)).toThrow(RangeError);
  });

  it('histogram percentiles use nearest rank over µs buckets and answer in ms', () => {
    // 98 answers at 1 ms, 2 at 30 ms: p50 is 1 ms, p99 is 30 ms.
    const h = { 1000: 98, 30000: 2 };
    expect(histogramPercentile(h, 50)).toBe(1);
    expect(histogramPercentile(h, 98)).toBe(1);
    expect(histogramPercentile(h, 99)).toBe(30);
    expect(histogramPercentile(new Map([[2500, 1]]), 99)).toBe(2.5);
    expect(histogramPercentile({}, 50)).toBeNaN();
  });

  it('ratio of medians, NaN when the baseline is missing or zero', () => {
    expect(ratio(250, 100)).toBe(2.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 3)).toBeNaN();
    expect(summarize([3, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3 });
  });

  it('interleaves the measured and the baseline run by run', async () => {
    const order: string[] = [];
    const out = await interleaved(3, { a: (i) => (order.push(`a${i}`), i), b: (i) => (order.push(`b${i}`), 10 * i) });
    expect(order).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
    expect(out).toEqual({ a: [0, 1, 2], b: [0, 10, 20] });
  });
});

const sample: BenchResults = {
  machine: { cpuModel: 'Test CPU', cores: 2, memoryGiB: 4, node: 'v20.0.0', platform: 'linux x64', date: '2026-01-02T03:04:05.000Z' },
  quick: false,
  items: [],
  rows: [{ item: 5, name: 'ls formatting', unit: 'ms', value: 12.345, samples: [12.345], baselineName: 'JSON', baseline: 1.5, ratio: 8.23, target: '< 20 ms', pass: true }],
  notMeasured: [{ item: 3, name: 'tpm diag -a', why: 'needs root' }],
  durationSeconds: 61,
};

describe('bench load generator', () => {
  it('keeps latency buckets within 1 % of the latency', () => {
    for (const us of [1, 17, 999, 1000, 1234.5, 25_049, 987_654, 3_210_987]) {
      expect(Math.abs(bucketOf(us) - us) / us).toBeLessThanOrEqual(0.01);
    }
  });

  it('counts answers of a real server over keep-alive connections and prints one whole JSON line', async () => {
    let seenAuth: string | undefined;
    const body = Buffer.alloc(4096, 'x');
    const server = createServer((req, res) => {
      seenAuth = req.headers.authorization;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const child = spawn(process.execPath, [LOADGEN, `http://127.0.0.1:${port}/x`, '--connections', '4', '--duration-ms', '400', '--warmup-ms', '100', '--auth', 'u:p']);
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      const code = await new Promise((r) => child.on('exit', r));
      expect(code).toBe(0);
      const res = JSON.parse(out) as { requests: number; errors: number; non2xx: number; seconds: number; histogram: Record<string, number> };
      expect(res.errors).toBe(0);
      expect(res.non2xx).toBe(0);
      expect(res.requests).toBeGreaterThan(10);
      expect(Object.values(res.histogram).reduce((a, b) => a + b, 0)).toBe(res.requests);
      expect(res.seconds).toBeGreaterThanOrEqual(0.39);
      expect(seenAuth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('bench report', () => {
  it('prints value, baseline, ratio and verdict, and says what was not measured and why', () => {
    const text = textTable(sample);
    expect(text).toMatch(/ls formatting\s+12\.3 ms\s+1\.50 ms \(JSON\)\s+8\.23x\s+< 20 ms\s+met/);
    expect(text).toContain('tpm diag -a: not measured: needs root');
  });

  it('replaces only the figures block of docs/PERFORMANCE.md and keeps the rest', () => {
    const doc = `# Performance\n\nintro\n\n${FIGURES_START}\nold figures\n${FIGURES_END}\n\n## MariaDB switch and failover\n\nkept\n`;
    const updated = withFigures(doc, sample);
    expect(updated).not.toContain('old figures');
    expect(updated).toContain('Test CPU, 2 cores, 4 GiB, Node v20.0.0');
    expect(updated).toContain('| 5 | ls formatting | 12.3 ms |');
    expect(updated.endsWith('## MariaDB switch and failover\n\nkept\n')).toBe(true);
    expect(withFigures(updated, sample)).toBe(updated);
  });
});

describe('bench runner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses unknown items and arguments with one line saying what to pick', () => {
    expect(() => parseArgs(['--only', 'speed'])).toThrow(/unknown item 'speed': pick from 1\/cli, 2\/api/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument '--fast'/);
    expect(parseArgs(['--quick', '--only=ls,2', '--no-docs'])).toMatchObject({ quick: true, only: [5, 2], docs: false });
    const r = spawnSync(process.execPath, [RUNNER, '--only', 'nine'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--quick runs an item against its baseline and writes results.json with the machine', () => {
    const out = join(dir, 'results.json');
    const r = spawnSync(process.execPath, [RUNNER, '--quick', '--only', 'ls', '--out', out, '--no-docs'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ls formatting, 300 datasources, first call/);
    const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    expect(results.quick).toBe(true);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node).toBe(process.version);
    expect(results.notMeasured).toEqual([]);
    expect(results.rows.map((row) => row.item)).toEqual([5, 5]);
    for (const row of results.rows) {
      expect(row.value).toBeGreaterThan(0);
      expect(row.baseline).toBeGreaterThan(0);
      expect(row.ratio).toBeCloseTo(row.value / row.baseline!, 6);
      expect(typeof row.pass).toBe('boolean');
    }
  }, 120_000);
});
