/**
 * Item 1: `cctrl -e ls` end to end against a local manager vs `node -e 0` (the floor of any Node
 * CLI), and the time from start to the first interactive prompt under a pseudo-terminal vs a Node
 * program that prints a prompt at once.
 */
import { stripVTControlCharacters } from 'node:util';
import { BIN, ROOT, runOk, startManager } from '../lib/proc.js';
import { interleaved, median, ratio } from '../lib/stats.js';

const PROMPT = /\[LOGICAL(:EXPERT)?\] \/\S* >/;

/**
 * Milliseconds from spawning under a pty until its output matches `ready`.
 * @param {typeof import('node-pty')} pty
 * @param {string[]} args
 * @param {RegExp} ready
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<number>}
 */
async function timeToOutput(pty, args, ready, env) {
  const started = process.hrtime.bigint();
  const term = pty.spawn(process.execPath, args, { name: 'xterm-color', cols: 100, rows: 40, cwd: process.cwd(), env });
  let out = '';
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no prompt within 10 s; output: ${JSON.stringify(out.slice(-300))}`)), 10_000);
      term.onData((d) => {
        out += d;
        if (ready.test(stripVTControlCharacters(out))) {
          clearTimeout(timer);
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        }
      });
      term.onExit(({ exitCode }) => {
        clearTimeout(timer);
        if (!ready.test(stripVTControlCharacters(out))) reject(new Error(`exited ${exitCode} before the prompt; output: ${JSON.stringify(out.slice(-300))}`));
      });
    });
  } finally {
    await new Promise(/** @param {(value?: unknown) => void} r */ (r) => {
      term.onExit(() => r());
      try {
        term.kill('SIGKILL');
      } catch {
        r();
      }
      setTimeout(r, 1000);
    });
  }
}

/**
 * @param {import('../lib/report.js').ItemOptions} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchCli({ quick, log }) {
  const runs = quick ? 5 : 15;
  const mgr = await startManager(['--demo']);
  /** @type {import('../lib/report.js').BenchRow[]} */
  const rows = [];
  /** @type {import('../lib/report.js').NotMeasured[]} */
  const notMeasured = [];
  try {
    const connect = ['--manager', mgr.url, '--user', mgr.user, '--password', mgr.password];
    // Warm the file system cache once so the first sample is not an outlier.
    await runOk(process.execPath, [BIN.cctrl, ...connect, '-e', 'ls']);
    await runOk(process.execPath, ['-e', '0']);
    log(`  cctrl -e ls vs node -e 0, ${runs} runs each, interleaved`);
    const t = await interleaved(runs, {
      cctrl: async () => {
        const r = await runOk(process.execPath, [BIN.cctrl, ...connect, '-e', 'ls']);
        if (!r.stdout.includes('DATASOURCES:')) throw new Error(`cctrl -e ls printed no listing: ${r.stdout.slice(0, 200)}`);
        return r.ms;
      },
      node: async () => (await runOk(process.execPath, ['-e', '0'])).ms,
    });
    rows.push({
      item: 1, name: 'cctrl -e ls (end to end)', unit: 'ms', value: median(t.cctrl), samples: t.cctrl,
      baselineName: 'node -e 0', baseline: median(t.node), baselineSamples: t.node,
      ratio: ratio(median(t.cctrl), median(t.node)), target: 'ratio <= 2.5', pass: ratio(median(t.cctrl), median(t.node)) <= 2.5,
    });

    let pty;
    try {
      pty = (await import('node-pty')).default;
    } catch (e) {
      notMeasured.push({ item: 1, name: 'cctrl prompt under a pty', why: `node-pty cannot load: ${e instanceof Error ? e.message : String(e)}` });
    }
    if (pty) {
      const ptyRuns = quick ? 3 : 10;
      log(`  cctrl interactive prompt under a pty, ${ptyRuns} runs`);
      const env = { ...process.env, TERM: 'xterm-color', FORCE_COLOR: '0' };
      const floorScript = "process.stdout.write('[LOGICAL] /alpha > '); setTimeout(() => {}, 10000)";
      const p = await interleaved(ptyRuns, {
        cctrl: () => timeToOutput(pty, [BIN.cctrl, ...connect], PROMPT, env),
        node: () => timeToOutput(pty, ['-e', floorScript], PROMPT, env),
      });
      // What loading the UI libraries alone costs: the floor of any Ink program's first frame.
      /** @type {number[]} */
      const inkFloor = [];
      for (let i = 0; i < ptyRuns; i++) {
        inkFloor.push((await runOk(process.execPath, ['--input-type=module', '-e', "await import('ink'); await import('react')"], { cwd: ROOT })).ms);
      }
      rows.push({
        item: 1, name: 'import ink + react, nothing else', unit: 'ms', value: median(inkFloor), samples: inkFloor,
        baselineName: 'node -e 0', baseline: median(t.node), baselineSamples: t.node, ratio: ratio(median(inkFloor), median(t.node)),
        note: 'the floor of any Ink UI under the prompt target',
      });
      rows.push({
        item: 1, name: 'cctrl start to first prompt (pty)', unit: 'ms', value: median(p.cctrl), samples: p.cctrl,
        baselineName: 'node printing a prompt (pty)', baseline: median(p.node), baselineSamples: p.node,
        ratio: ratio(median(p.cctrl), median(p.node)), target: '< 300 ms', pass: median(p.cctrl) < 300,
      });
    }
  } finally {
    await mgr.stop();
  }
  return { rows, notMeasured };
}
