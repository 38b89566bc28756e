/**
 * Item 3: `tpm diag -a --log-size 0` over real OpenSSH (8 sshd hosts, each in its own namespaces)
 * vs the plain baseline `ssh HOST tar czhf - -C /opt/continuent service_logs > HOST.tgz` for every
 * host at once. Wall time as a ratio of medians; peak memory of tpm at a small and a large fleet
 * total, which must not grow with the size of the logs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importTestHelper } from '../lib/ts-helpers.js';
import { BIN, onInterrupt, run } from '../lib/proc.js';
import { median, ratio } from '../lib/stats.js';

/** @typedef {typeof import('../../test/helpers/fleet.js')} FleetHelpers */
/** @typedef {import('../../test/helpers/fleet.js').Fleet} Fleet */

const MiB = 1 << 20;
/** 127.0.0.201-208: away from the tpm system tests (101-140). */
const HOSTS = Array.from({ length: 8 }, (_, i) => ({ name: `bench${i + 1}`, address: `127.0.0.${201 + i}`, port: 2222 }));
/** How a host's logs split its total (the replicator's log dominates, as in the field). */
const SPLIT = { 'trepsvc.log': 0.75, 'tmsvc.log': 0.1875, 'connector.log': 0.0625 };

/**
 * True when something already listens there (a fleet left behind would answer in place of ours).
 * @param {string} address
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function listening(address, port) {
  return new Promise((resolve) => {
    const s = connect({ host: address, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Gives every host a stock root home (/etc/skel), bind-mounted over /root inside the host's mount
 * namespace. The fleet's sshd runs as root with this machine's /root, and bash sources ~/.bashrc
 * for every SSH command; a developer's .bashrc (pyenv init here: 0.45 s) would then be measured
 * once per remote command instead of the tools. A database host has a stock one.
 * @param {Fleet} fleet
 * @param {string} work
 */
function stockRootHome(fleet, work) {
  const home = join(work, 'root-home');
  mkdirSync(home, { recursive: true });
  for (const f of ['.bashrc', '.profile']) if (existsSync(join('/etc/skel', f))) copyFileSync(join('/etc/skel', f), join(home, f));
  for (const h of fleet.hosts) {
    const unshare = readFileSync(h.pidFile, 'utf8').trim();
    const sshd = readFileSync(`/proc/${unshare}/task/${unshare}/children`, 'utf8').trim().split(/\s+/)[0];
    if (!sshd) throw new Error(`cannot give ${h.name} a stock root home: its sshd is not running`);
    const r = spawnSync('nsenter', ['-t', sshd, '-m', 'mount', '--bind', home, '/root'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot give ${h.name} a stock root home: ${(r.stderr || r.error?.message || '').trim()}`);
  }
}

/**
 * @param {number} perHostBytes
 * @returns {Record<string, number>}
 */
function logSizes(perHostBytes) {
  return Object.fromEntries(Object.entries(SPLIT).map(([name, share]) => [name, Math.round(perHostBytes * share)]));
}

/**
 * ssh HOST tar czhf - ... > HOST.tgz for every host at once; resolves with the wall time in ms.
 * @param {Fleet} fleet
 * @param {string} outDir
 */
async function baseline(fleet, outDir) {
  mkdirSync(outDir, { recursive: true });
  const started = process.hrtime.bigint();
  await Promise.all(
    fleet.hosts.map(
      (h) =>
        new Promise(/** @param {(value?: unknown) => void} resolve @param {(e: Error) => void} reject */ (resolve, reject) => {
          const out = createWriteStream(join(outDir, `${h.name}.tgz`));
          const child = spawn('ssh', ['-F', fleet.sshConfigFile, '-o', 'BatchMode=yes', h.name, 'tar czhf - -C /opt/continuent service_logs'], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, SSH_AUTH_SOCK: '' },
          });
          let err = '';
          child.stderr.on('data', (c) => (err += c));
          child.stdout.pipe(out);
          const written = new Promise((r) => out.on('close', () => r(undefined)));
          child.on('exit', (code) => {
            void written.then(() => (code === 0 ? resolve() : reject(new Error(`baseline ssh ${h.name} exited ${code}: ${err.trim()}`))));
          });
        }),
    ),
  );
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/**
 * @param {Fleet} fleet
 * @param {string} ini
 * @param {string} outDir
 */
async function tpmDiag(fleet, ini, outDir) {
  mkdirSync(outDir, { recursive: true });
  const r = await run(process.execPath, [BIN.tpm, 'diag', '-a', '--ini', ini, '--ssh-config', fleet.sshConfigFile, '--log-size', '0', '--path', outDir, '--json'], {
    env: { ...process.env, SSH_AUTH_SOCK: '' },
    trackMemory: true,
    timeoutMs: 600_000,
  });
  /** @type {{ hosts: Array<{ host: string; status: string; error: string | null }> }} */
  let manifest;
  try {
    manifest = JSON.parse(r.stdout);
  } catch {
    throw new Error(`tpm diag printed no manifest (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  const bad = manifest.hosts.filter((h) => h.status !== 'ok' && h.status !== 'partial');
  if (bad.length > 0) throw new Error(`tpm diag failed on ${bad.map((h) => `${h.host}: ${h.status} ${h.error ?? ''}`).join('; ')}`);
  const archive = readdirSync(outDir).find((f) => f.endsWith('.tgz'));
  return { ms: r.ms, peakRssBytes: r.peakRssBytes, archiveBytes: archive ? statSync(join(outDir, archive)).size : 0, statuses: manifest.hosts.map((h) => h.status) };
}

/**
 * @param {FleetHelpers} fleetHelpers
 * @param {Fleet} fleet
 * @param {number} perHostBytes
 */
function rewriteLogs(fleetHelpers, fleet, perHostBytes) {
  for (const h of fleet.hosts) {
    for (const [name, size] of Object.entries(logSizes(perHostBytes))) {
      const component = name === 'tmsvc.log' ? 'tungsten-manager' : name === 'connector.log' ? 'tungsten-connector' : 'tungsten-replicator';
      fleetHelpers.writeLogFile(join(h.root, 'releases', fleetHelpers.RELEASE, component, 'log', name), size);
    }
  }
}

/**
 * @param {import('../lib/report.js').ItemOptions} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchDiag({ quick, log }) {
  /** @type {import('../lib/report.js').NotMeasured[]} */
  const notMeasured = [];
  /** @type {FleetHelpers} */
  let fleetHelpers;
  try {
    fleetHelpers = /** @type {FleetHelpers} */ (await importTestHelper('fleet'));
  } catch (e) {
    return { rows: [], notMeasured: [{ item: 3, name: 'tpm diag -a', why: `the fleet helper test/helpers/fleet.ts cannot load: ${e instanceof Error ? e.message : String(e)}` }] };
  }
  const missing = fleetHelpers.fleetPrerequisites();
  if (missing.length > 0) {
    return { rows: [], notMeasured: [{ item: 3, name: 'tpm diag -a', why: `needs ${missing.join(', ')} (run .ci/system-deps.sh as root)` }] };
  }
  /** @type {string[]} */
  const taken = [];
  for (const h of HOSTS) if (await listening(h.address, h.port)) taken.push(`${h.address}:${h.port}`);
  if (taken.length > 0) {
    return { rows: [], notMeasured: [{ item: 3, name: 'tpm diag -a', why: `${taken.join(', ')} already in use (a benchmark fleet left running? stop its sshd)` }] };
  }
  const runs = quick ? 1 : 3;
  const sizes = quick ? { small: 2 * MiB, large: 16 * MiB } : { small: 16 * MiB, large: 128 * MiB };
  const work = mkdtempSync(join(tmpdir(), 'bench-diag-'));
  log(`  starting ${HOSTS.length} sshd hosts`);
  const fleet = await fleetHelpers.startFleet(HOSTS.map((h) => ({ ...h, install: { logs: logSizes(sizes.small) } })));
  const forget = onInterrupt(() => fleet.stop());
  /** @type {import('../lib/report.js').BenchRow[]} */
  const rows = [];
  try {
    stockRootHome(fleet, work);
    const ini = join(work, 'tungsten.ini');
    writeFileSync(ini, fleetHelpers.fleetIni(HOSTS.map((h) => h.name)));
    /** @typedef {{ totalMiB: number; t: number[]; b: number[]; rss: number[]; archiveBytes: number }} Phase */
    /** @type {Partial<Record<'small' | 'large', Phase>>} */
    const phases = {};
    for (const phase of /** @type {const} */ (['small', 'large'])) {
      const perHost = sizes[phase];
      if (phase === 'large') rewriteLogs(fleetHelpers, fleet, perHost);
      const totalMiB = (perHost * HOSTS.length) / MiB;
      log(`  ${HOSTS.length} hosts x ${perHost / MiB} MiB (${totalMiB} MiB total): ${runs} runs of tpm diag and the ssh tar baseline`);
      /** @type {number[]} */
      const t = [];
      /** @type {number[]} */
      const b = [];
      /** @type {number[]} */
      const rss = [];
      let archiveBytes = 0;
      for (let i = 0; i < runs; i++) {
        const dir = join(work, `${phase}-${i}`);
        const d = await tpmDiag(fleet, ini, join(dir, 'tpm'));
        t.push(d.ms);
        rss.push(d.peakRssBytes ?? Number.NaN);
        archiveBytes = d.archiveBytes;
        b.push(await baseline(fleet, join(dir, 'ssh')));
        rmSync(dir, { recursive: true, force: true });
      }
      phases[phase] = { totalMiB, t, b, rss, archiveBytes };
    }
    const measured = { small: /** @type {Phase} */ (phases.small), large: /** @type {Phase} */ (phases.large) };
    for (const phase of /** @type {const} */ (['small', 'large'])) {
      const { totalMiB, t, b, archiveBytes } = measured[phase];
      const r = ratio(median(t), median(b));
      rows.push({
        item: 3, name: `tpm diag -a, 8 hosts, ${totalMiB} MiB logs`, unit: 'ms', value: median(t), samples: t,
        baselineName: 'ssh HOST tar czhf - (all hosts at once)', baseline: median(b), baselineSamples: b, ratio: r,
        ...(phase === 'large' ? { target: 'ratio <= 1.2', pass: r <= 1.2 } : {}),
        note: `archive ${Math.round(archiveBytes / MiB)} MiB`,
      });
    }
    const small = median(measured.small.rss);
    const large = median(measured.large.rss);
    rows.push({
      item: 3, name: `tpm diag peak RSS, ${measured.large.totalMiB} MiB logs`, unit: 'MB', value: large / 1e6, samples: measured.large.rss.map((x) => x / 1e6),
      baselineName: `tpm diag peak RSS, ${measured.small.totalMiB} MiB logs`, baseline: small / 1e6, baselineSamples: measured.small.rss.map((x) => x / 1e6),
      ratio: ratio(large, small),
      // "No larger": within 10 % (garbage collection timing alone moves the high-water mark that much).
      target: '< 150 MB, ratio <= 1.1', pass: large < 150e6 && large <= small * 1.1,
    });
  } finally {
    forget();
    await fleet.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return { rows, notMeasured };
}
