/**
 * Item 2: manager API throughput and latency. `GET /api/v2/manager/status/service/alpha` from 64
 * keep-alive connections (bench/loadgen.js, its own process) against a manager with 3, 30 and 300
 * simulated datasources, and against the floor: a bare node:http server answering the same bytes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { api, runOk, simulatedServiceProperties, startManager } from '../lib/proc.js';
import { histogramPercentile, median, ratio } from '../lib/stats.js';

const LOADGEN = resolve(import.meta.dirname, '../loadgen.js');
const BASELINE_SERVER = resolve(import.meta.dirname, '../baseline-server.js');
const PATH = '/api/v2/manager/status/service/alpha';
const CONNECTIONS = 64;

/**
 * @param {string} bodyFile
 * @param {string} credentials `user:pass`
 * @returns {Promise<{ url: string; stop: () => void }>}
 */
function startBaselineServer(bodyFile, credentials) {
  const child = spawn(process.execPath, [BASELINE_SERVER, bodyFile, credentials], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveStart, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      out += c;
      const m = /listening (\S+)/.exec(out);
      if (m) resolveStart({ url: /** @type {string} */ (m[1]), stop: () => child.kill('SIGTERM') });
    });
    child.once('exit', (code) => reject(new Error(`baseline server exited ${code}`)));
  });
}

/**
 * @param {string} url
 * @param {string} credentials
 * @param {number} durationMs
 * @param {number} warmupMs
 * @returns {Promise<{ rps: number; p50: number; p99: number }>}
 */
async function load(url, credentials, durationMs, warmupMs) {
  const r = await runOk(process.execPath, [LOADGEN, `${url}${PATH}`, '--connections', String(CONNECTIONS), '--duration-ms', String(durationMs), '--warmup-ms', String(warmupMs), '--auth', credentials]);
  /** @type {{ requests: number; errors: number; non2xx: number; seconds: number; histogram: Record<string, number> }} */
  const res = JSON.parse(r.stdout);
  if (res.errors > 0 || res.non2xx > 0 || res.requests === 0) {
    throw new Error(`load on ${url}: ${res.requests} requests, ${res.errors} connection errors, ${res.non2xx} non-2xx answers`);
  }
  return { rps: res.requests / res.seconds, p50: histogramPercentile(res.histogram, 50), p99: histogramPercentile(res.histogram, 99) };
}

/**
 * @param {import('../lib/report.js').ItemOptions & { sizes?: number[] }} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchApi({ quick, log, sizes = [3, 30, 300] }) {
  const runs = quick ? 2 : 3;
  const durationMs = quick ? 1500 : 5000;
  const warmupMs = quick ? 300 : 1000;
  const dir = mkdtempSync(join(tmpdir(), 'bench-api-'));
  /** @type {import('../lib/report.js').BenchRow[]} */
  const rows = [];
  try {
    for (const n of sizes) {
      const config = join(dir, `alpha-${n}.properties`);
      writeFileSync(config, simulatedServiceProperties(n));
      const mgr = await startManager(['--config', config]);
      const credentials = `${mgr.user}:${mgr.password}`;
      let baseline;
      try {
        await api(mgr, 'GET', PATH);
        // The floor answers with what the manager answers, byte for byte at the time of the fetch.
        const body = await (await fetch(`${mgr.url}${PATH}`, { headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } })).arrayBuffer();
        const bodyFile = join(dir, `status-${n}.json`);
        writeFileSync(bodyFile, Buffer.from(body));
        baseline = await startBaselineServer(bodyFile, credentials);
        log(`  ${n} datasources (${Math.round(body.byteLength / 1024)} KiB per answer): ${runs} runs x ${durationMs / 1000} s, ${CONNECTIONS} connections`);
        const m = [];
        const b = [];
        for (let i = 0; i < runs; i++) {
          m.push(await load(mgr.url, credentials, durationMs, warmupMs));
          b.push(await load(baseline.url, credentials, durationMs, warmupMs));
        }
        /** @param {typeof m} xs @param {'rps' | 'p50' | 'p99'} k */
        const med = (xs, k) => median(xs.map((x) => x[k]));
        const target = n === 30;
        rows.push({
          item: 2, name: `status req/s, ${n} datasources`, unit: 'req/s', value: med(m, 'rps'), samples: m.map((x) => x.rps),
          baselineName: 'bare node:http, same body', baseline: med(b, 'rps'), baselineSamples: b.map((x) => x.rps),
          ratio: ratio(med(m, 'rps'), med(b, 'rps')),
          ...(target ? { target: '>= 5000 req/s', pass: med(m, 'rps') >= 5000 } : {}),
        });
        rows.push({
          item: 2, name: `status p50 latency, ${n} datasources`, unit: 'ms', value: med(m, 'p50'), samples: m.map((x) => x.p50),
          baselineName: 'bare node:http, same body', baseline: med(b, 'p50'), baselineSamples: b.map((x) => x.p50),
          ratio: ratio(med(m, 'p50'), med(b, 'p50')),
        });
        rows.push({
          item: 2, name: `status p99 latency, ${n} datasources`, unit: 'ms', value: med(m, 'p99'), samples: m.map((x) => x.p99),
          baselineName: 'bare node:http, same body', baseline: med(b, 'p99'), baselineSamples: b.map((x) => x.p99),
          ratio: ratio(med(m, 'p99'), med(b, 'p99')),
          ...(target ? { target: '< 25 ms', pass: med(m, 'p99') < 25 } : {}),
        });
      } finally {
        baseline?.stop();
        await mgr.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notMeasured: [] };
}
