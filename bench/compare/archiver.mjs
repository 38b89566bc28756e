#!/usr/bin/env node
/**
 * Measures `archiver` (tar + gzip) writing a diag bundle against the toolkit's own writer
 * (src/diag/archive.ts: one gzip member per tar entry, each host compressed on its own beside the
 * archive). Same input for both: HOSTS hosts × FILES log files of MIB MiB. Each run is its own
 * process (peak RSS is per process); runs alternate. Needs `npm run build` and, for the comparison
 * only, `npm install --no-save archiver@7` (the toolkit does not depend on it: docs/PERFORMANCE.md).
 *
 *   node bench/compare/archiver.mjs [HOSTS=8] [FILES=2] [MIB=8] [RUNS=3]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { median } from '../lib/stats.js';

const ROOT = resolve(import.meta.dirname, '../..');
const [mode, input, out, hostsArg, filesArg] = process.argv.slice(2);

/**
 * @param {number} bytes
 * @param {number} seed
 */
function logText(bytes, seed) {
  /** @type {string[]} */
  const lines = [];
  let size = 0;
  let x = seed;
  while (size < bytes) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const line = `2026-01-01 12:${String(x % 60).padStart(2, '0')}:${String((x >> 6) % 60).padStart(2, '0')},${x % 1000} INFO  [ReplicatorStage-${x % 7}] seqno=${x} applied latency=${(x % 997) / 100}s event=${x.toString(36)}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('').slice(0, bytes);
}

/**
 * The toolkit's writer: one part per host, compressed in parallel, then added to the archive.
 * @param {string} input
 * @param {string} out
 * @param {number} hosts
 * @param {number} files
 */
async function ours(input, out, hosts, files) {
  const { DiagArchive, HostPart } = /** @type {typeof import('../../src/diag/archive.js')} */ (await import(join(ROOT, 'dist/src/diag/archive.js')));
  const archive = await DiagArchive.create(out, 'bundle');
  const mtime = new Date();
  await Promise.all(
    Array.from({ length: hosts }, async (_, h) => {
      const part = await HostPart.create(join(input, `h${h}.part`), `bundle/h${h}`, mtime);
      for (let f = 0; f < files; f++) {
        const path = join(input, `h${h}`, `f${f}.log`);
        const entry = part.openEntry(`f${f}.log`, statSync(path).size);
        for await (const chunk of createReadStream(path, { highWaterMark: 32 * 1024 })) await entry.write(chunk);
        await entry.finish();
      }
      await archive.addPart(part);
    }),
  );
  await archive.finish();
}

/**
 * `archiver` is no dependency of the toolkit (docs/PERFORMANCE.md): installed only for this
 * comparison, so it is imported by a name the type checker does not resolve, with the little of
 * its API used here.
 * @typedef {import('node:stream').Readable & { file(path: string, data: { name: string }): void; finalize(): Promise<void> }} ArchiverStream
 */
const ARCHIVER = 'archiver';

/**
 * @param {string} input
 * @param {string} out
 * @param {number} hosts
 * @param {number} files
 */
async function viaArchiver(input, out, hosts, files) {
  const { default: archiver } = /** @type {{ default: (format: 'tar', options: object) => ArchiverStream }} */ (await import(ARCHIVER));
  const archive = archiver('tar', { gzip: true, gzipOptions: { level: 1 } });
  const done = pipeline(archive, createWriteStream(out));
  for (let h = 0; h < hosts; h++) for (let f = 0; f < files; f++) archive.file(join(input, `h${h}`, `f${f}.log`), { name: `bundle/h${h}/f${f}.log` });
  await archive.finalize();
  await done;
}

if (mode === 'ours' || mode === 'archiver') {
  if (input === undefined || out === undefined) {
    process.stderr.write('usage (one run, as the comparison starts it): node bench/compare/archiver.mjs ours|archiver INPUT_DIR OUT.tgz HOSTS FILES\n');
    process.exit(2);
  }
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  await (mode === 'ours' ? ours : viaArchiver)(input, out, Number(hostsArg), Number(filesArg));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, bytes: statSync(out).size }) + '\n');
} else {
  const [hosts = 8, files = 2, mib = 8, runs = 3] = process.argv.slice(2).map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'archiver-compare-'));
  try {
    for (let h = 0; h < hosts; h++) {
      mkdirSync(join(dir, `h${h}`));
      for (let f = 0; f < files; f++) writeFileSync(join(dir, `h${h}`, `f${f}.log`), logText(mib * 2 ** 20, h * 100 + f + 1));
    }
    /** @typedef {{ wallMs: number; cpuMs: number; maxRssMiB: number; bytes: number }} Run */
    /** @type {{ ours: Run[]; archiver: Run[] }} */
    const results = { ours: [], archiver: [] };
    for (let r = 0; r < runs; r++) {
      /** @type {Array<'ours' | 'archiver'>} */
      const order = r % 2 ? ['archiver', 'ours'] : ['ours', 'archiver'];
      for (const m of order) {
        const target = join(dir, `${m}-${r}.tgz`);
        const p = spawnSync(process.execPath, [import.meta.filename, m, dir, target, String(hosts), String(files)], { encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`${m}: ${p.stderr}`);
        const listed = execFileSync('tar', ['-tzf', target], { encoding: 'utf8' }).split('\n').filter((l) => l.endsWith('.log')).length;
        if (listed !== hosts * files) throw new Error(`${m}: tar lists ${listed} log files, not ${hosts * files}`);
        results[m].push(JSON.parse(p.stdout));
        rmSync(target);
      }
    }
    console.log(`${hosts} hosts x ${files} files x ${mib} MiB = ${hosts * files * mib} MiB of logs, ${runs} runs each, medians:`);
    console.log('| writer | wall ms | CPU ms | CPU / wall | peak RSS MiB | archive MiB |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const m of /** @type {const} */ (['ours', 'archiver'])) {
      const rs = results[m];
      const wall = median(rs.map((x) => x.wallMs));
      const cpu = median(rs.map((x) => x.cpuMs));
      console.log(`| ${m === 'ours' ? 'src/diag/archive.ts (gzip member per entry, hosts in parallel)' : 'archiver 7 (tar, one gzip stream)'} | ${wall.toFixed(0)} | ${cpu.toFixed(0)} | ${(cpu / wall).toFixed(2)} | ${median(rs.map((x) => x.maxRssMiB)).toFixed(0)} | ${(median(rs.map((x) => x.bytes)) / 2 ** 20).toFixed(1)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
