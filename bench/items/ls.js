/**
 * Item 5: formatting `ls` for a service of 300 datasources (src/format/ls.ts, as cctrl runs it),
 * vs JSON.stringify of the same status (what `--json` prints): the first call in a fresh process,
 * as a one-shot `cctrl -e ls` pays it, and warm calls, as the interactive shell does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { api, ROOT, runOk, simulatedServiceProperties, startManager } from '../lib/proc.js';
import { interleaved, median, ratio } from '../lib/stats.js';

const FORMAT_LS = pathToFileURL(resolve(ROOT, 'dist/src/format/ls.js')).href;
const V2_SHAPES = pathToFileURL(resolve(ROOT, 'dist/src/api/v2-shapes.js')).href;
const STATUS = '/api/v2/manager/status/service/alpha';

/** A fresh Node process that formats once; prints both timings as JSON. */
const COLD_SCRIPT = `
const { readFileSync } = await import('node:fs');
const status = JSON.parse(readFileSync(process.argv[1], 'utf8'));
const { formatLs } = await import(${JSON.stringify(FORMAT_LS)});
let t = process.hrtime.bigint();
const text = formatLs(status, { timeZone: 'UTC' });
const ls = Number(process.hrtime.bigint() - t) / 1e6;
t = process.hrtime.bigint();
const json = JSON.stringify(status, null, 2);
const js = Number(process.hrtime.bigint() - t) / 1e6;
process.stdout.write(JSON.stringify({ ls, json: js, lines: text.split('\\n').length, bytes: json.length }));
`;

/**
 * @param {import('../lib/report.js').ItemOptions & { datasources?: number }} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchLs({ quick, log, datasources = 300 }) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ls-'));
  const config = join(dir, 'alpha.properties');
  writeFileSync(config, simulatedServiceProperties(datasources));
  const mgr = await startManager(['--config', config]);
  /** @type {import('../../src/manager/model.js').ServiceStatus} */
  let status;
  try {
    // The API's documented shape (datasources as names, the records in datasourceDetails), read back into the model as cctrl's client does.
    const { fromServiceStatusPayload } = /** @type {typeof import('../../src/api/v2-shapes.js')} */ (await import(V2_SHAPES));
    const read = fromServiceStatusPayload(await api(mgr, 'GET', STATUS));
    status = { ...read, routers: read.routers ?? [] };
  } finally {
    await mgr.stop();
  }
  try {
    const statusFile = join(dir, 'status.json');
    writeFileSync(statusFile, JSON.stringify(status));
    const coldRuns = quick ? 3 : 7;
    log(`  ls of ${datasources} datasources: ${coldRuns} fresh processes, then warm calls`);
    /** @type {Array<{ ls: number; json: number; lines: number; bytes: number }>} */
    const cold = [];
    for (let i = 0; i < coldRuns; i++) {
      const r = await runOk(process.execPath, ['--input-type=module', '-e', COLD_SCRIPT, statusFile]);
      cold.push(JSON.parse(r.stdout));
    }
    const { formatLs } = /** @type {typeof import('../../src/format/ls.js')} */ (await import(FORMAT_LS));
    const text = formatLs(status, { timeZone: 'UTC' });
    if (!text.includes(`|ds${datasources}(`)) throw new Error(`ls of ${datasources} datasources does not list ds${datasources}`);
    for (let i = 0; i < 20; i++) formatLs(status, { timeZone: 'UTC' });
    /** @param {() => unknown} fn */
    const time = (fn) => {
      const t = process.hrtime.bigint();
      fn();
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const warm = await interleaved(quick ? 30 : 100, {
      ls: () => time(() => formatLs(status, { timeZone: 'UTC' })),
      json: () => time(() => JSON.stringify(status, null, 2)),
    });
    const coldLs = cold.map((c) => c.ls);
    const coldJson = cold.map((c) => c.json);
    return {
      rows: [
        {
          item: 5, name: `ls formatting, ${datasources} datasources, first call`, unit: 'ms', value: median(coldLs), samples: coldLs,
          baselineName: 'JSON.stringify of the same status, first call', baseline: median(coldJson), baselineSamples: coldJson,
          ratio: ratio(median(coldLs), median(coldJson)), target: '< 20 ms', pass: median(coldLs) < 20,
          note: `${cold[0]?.lines} lines`,
        },
        {
          item: 5, name: `ls formatting, ${datasources} datasources, warm`, unit: 'ms', value: median(warm.ls), samples: warm.ls,
          baselineName: 'JSON.stringify of the same status, warm', baseline: median(warm.json), baselineSamples: warm.json,
          ratio: ratio(median(warm.ls), median(warm.json)), target: '< 20 ms', pass: median(warm.ls) < 20,
        },
      ],
      notMeasured: [],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
