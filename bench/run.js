#!/usr/bin/env node
/**
 * `npm run bench`: every item measured against its baseline in the same run, several runs each,
 * medians and ratios. Prints a table, writes bench/results.json and, after a full run of every
 * item, the figures block of docs/PERFORMANCE.md.
 *
 *   node bench/run.js [--quick] [--only 1,2,ls,...] [--out FILE] [--no-docs]
 *
 * Needs the build (dist/); item 3 needs root and openssh-server, item 6 on MariaDB needs mariadbd,
 * item 8 mariadbd, sysbench and haproxy.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BIN, installInterruptHandler, ROOT } from './lib/proc.js';
import { machine, textTable, withFigures } from './lib/report.js';

/** @typedef {import('./lib/report.js').BenchResults} BenchResults */
/** @typedef {import('./lib/report.js').ItemOutcome} ItemOutcome */
/** @typedef {(opts: import('./lib/report.js').ItemOptions) => Promise<ItemOutcome>} ItemBench */
/** @typedef {{ id: number; key: string; title: string; load: () => Promise<ItemBench> }} BenchItem */
/** @typedef {{ quick: boolean; only: number[] | null; out: string; docs: boolean }} BenchOptions */

/** @type {readonly BenchItem[]} */

export const ITEMS = [
  { id: 1, key: 'cli', title: 'cctrl start-up', load: async () => (await import('./items/cli.js')).benchCli },
  { id: 2, key: 'api', title: 'manager API under load', load: async () => (await import('./items/api.js')).benchApi },
  { id: 3, key: 'diag', title: 'tpm diag over OpenSSH', load: async () => (await import('./items/diag.js')).benchDiag },
  { id: 4, key: 'failover', title: 'failover timing', load: async () => (await import('./items/failover.js')).benchFailover },
  { id: 5, key: 'ls', title: 'ls formatting', load: async () => (await import('./items/ls.js')).benchLs },
  { id: 6, key: 'switch', title: 'switch duration', load: async () => (await import('./items/switch.js')).benchSwitch },
  { id: 7, key: 'group', title: 'manager group on etcd', load: async () => (await import('./items/group.js')).benchGroup },
  { id: 8, key: 'connector', title: 'connector vs HAProxy and direct (sysbench)', load: async () => (await import('./items/connector.js')).benchConnector },
];

const USAGE = 'usage: node bench/run.js [--quick] [--only 1,2,...|cli,api,diag,failover,ls,switch,group,connector] [--out FILE] [--no-docs]';

/**
 * @param {readonly string[]} argv
 * @returns {BenchOptions}
 */
export function parseArgs(argv) {
  /** @type {BenchOptions} */
  const opts = { quick: false, only: null, out: resolve(ROOT, 'bench/results.json'), docs: true };
  for (let i = 0; i < argv.length; i++) {
    const a = /** @type {string} */ (argv[i]);
    const value = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--no-docs') opts.docs = false;
    else if (a === '--only' || a.startsWith('--only=')) {
      opts.only = value().split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
        const item = ITEMS.find((it) => String(it.id) === s || it.key === s);
        if (!item) throw new Error(`unknown item '${s}': pick from ${ITEMS.map((it) => `${it.id}/${it.key}`).join(', ')}`);
        return item.id;
      });
    } else if (a === '--out' || a.startsWith('--out=')) opts.out = resolve(value());
    else if (a === '--help' || a === '-h') throw Object.assign(new Error(USAGE), { exitCode: 0 });
    else throw new Error(`unknown argument '${a}'\n${USAGE}`);
  }
  return opts;
}

/**
 * @param {BenchOptions} opts
 * @param {(line: string) => void} [log]
 * @returns {Promise<BenchResults>}
 */
export async function runBench(opts, log = (line) => void process.stderr.write(`${line}\n`)) {
  for (const [name, file] of Object.entries(BIN)) {
    if (!existsSync(file)) throw new Error(`${file} is missing: build first (npm run build), then run the ${name} benchmark`);
  }
  const started = Date.now();
  /** @type {BenchResults} */
  const results = { machine: machine(), quick: opts.quick, items: [], rows: [], notMeasured: [], durationSeconds: 0 };
  /** @param {BenchItem} item @returns {Promise<{ item: BenchItem; outcome: ItemOutcome; seconds: number }>} */
  const runItem = async (item) => {
    log(`${item.id}. ${item.title}`);
    const itemStarted = Date.now();
    let outcome;
    try {
      const bench = await item.load();
      outcome = await bench({ quick: opts.quick, log });
    } catch (e) {
      outcome = { rows: [], notMeasured: [{ item: item.id, name: item.title, why: `failed: ${messageOf(e).split('\n')[0]}` }] };
    }
    return { item, outcome, seconds: (Date.now() - itemStarted) / 1000 };
  };
  const selected = ITEMS.filter((item) => !opts.only || opts.only.includes(item.id));
  // Quick mode runs the failover item (idle managers waiting out 20-30 s of real time) alongside
  // the others, so the whole run fits in two minutes; a full run keeps every item alone.
  const background = opts.quick ? selected.filter((item) => item.key === 'failover') : [];
  const pending = background.map(runItem);
  /** @type {Array<{ item: BenchItem; outcome: ItemOutcome; seconds: number }>} */
  const done = [];
  for (const item of selected) if (!background.includes(item)) done.push(await runItem(item));
  done.push(...(await Promise.all(pending)));
  done.sort((a, b) => a.item.id - b.item.id);
  for (const { item, outcome, seconds } of done) {
    results.rows.push(...outcome.rows);
    results.notMeasured.push(...outcome.notMeasured);
    results.items.push({ id: item.id, key: item.key, seconds });
  }
  results.durationSeconds = (Date.now() - started) / 1000;
  return results;
}

/** @param {unknown} e */
function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${messageOf(e)}\n`);
    return /** @type {{ exitCode?: number }} */ (e).exitCode ?? 2;
  }
  installInterruptHandler();
  let results;
  try {
    results = await runBench(opts);
  } catch (e) {
    process.stderr.write(`bench: ${messageOf(e)}\n`);
    return 1;
  }
  process.stdout.write(`\n${textTable(results)}`);
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${opts.out} (${Math.round(results.durationSeconds)} s)\n`);
  // Only a full run of every item replaces the published figures.
  if (opts.docs && !opts.quick && !opts.only) {
    const doc = resolve(ROOT, 'docs/PERFORMANCE.md');
    writeFileSync(doc, withFigures(existsSync(doc) ? readFileSync(doc, 'utf8') : '# Performance\n', results));
    process.stdout.write(`figures written to ${doc}\n`);
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => process.exit(code));
}
