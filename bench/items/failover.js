/**
 * Item 4: automatic failover in real time on the demo cluster. A fault is injected on the master;
 * the manager must fail over (threshold + 1) x 10 s after it first detects the fault. Measured:
 * detection (the sample that first shows the fault, `sampledAt`) to the failover task's start,
 * minus that expected delay (the rule's timing, targeted); and the task's own time, start to end
 * (the demo driver's steps, 200 ms each: fence the failed master, wait for the candidate, promote,
 * repoint the other slave), reported beside it. Managers run side by side: they are idle between
 * samples.
 */
import { api, startManager } from '../lib/proc.js';
import { median } from '../lib/stats.js';

/** @typedef {import('../../src/manager/model.js').DataSourceStatus} DataSourceStatus */
/** @typedef {import('../../src/manager/model.js').ManagerEvent} ManagerEvent */
/** @typedef {import('../lib/proc.js').BenchManager} BenchManager */

const SAMPLE_PERIOD_S = 10;
/** @type {Record<'dataserver-stop' | 'host-down', { threshold: number; shows: (ds: DataSourceStatus) => boolean }>} */
const FAULTS = {
  'dataserver-stop': { threshold: 1, shows: (ds) => ds.dataServer?.state !== 'ONLINE' },
  'host-down': { threshold: 2, shows: (ds) => ds.dataServer?.state !== 'ONLINE' || ds.manager?.state !== 'ONLINE' },
};

/**
 * Reads server-sent events from the manager, calling onEvent(event) until it returns true.
 * @param {BenchManager} mgr
 * @param {(event: ManagerEvent) => boolean} onEvent
 * @param {AbortSignal} signal
 */
async function followEvents(mgr, onEvent, signal) {
  const res = await fetch(`${mgr.url}/api/v2/manager/events?service=alpha`, {
    headers: { authorization: `Basic ${Buffer.from(`${mgr.user}:${mgr.password}`).toString('base64')}` },
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (type && data && onEvent(JSON.parse(data))) return;
    }
  }
}

/**
 * @param {keyof typeof FAULTS} fault
 * @param {number} timeoutMs
 */
async function oneFailover(fault, timeoutMs) {
  const mgr = await startManager(['--demo', '--property=policy.mode=automatic']);
  const abort = new AbortController();
  try {
    const { threshold, shows } = FAULTS[fault];
    /** @type {number | null} */
    let detectedAt = null;
    /** @type {number | null} */
    let endedAt = null;
    /** @type {number | null} */
    let startedAt = null;
    /** @type {number | null} */
    let injectedAt = null;
    const done = followEvents(
      mgr,
      (data) => {
        // Only a sample taken after the injection counts: the injection itself republishes the
        // previous sample's status.
        const sampledAt = data.type === 'state' ? Date.parse(data.status.sampledAt) : NaN;
        if (data.type === 'state' && injectedAt !== null && detectedAt === null && sampledAt >= injectedAt) {
          const master = data.status.datasources.find((d) => d.name === 'db1');
          if (master && shows(master)) detectedAt = sampledAt;
        }
        if (data.type === 'task-end' && data.task.operation.startsWith('failover')) {
          if (data.task.state !== 'complete') throw new Error(`failover task ended ${data.task.state}: ${JSON.stringify(data.task.taskResult)}`);
          endedAt = Date.parse(data.task.endTime ?? '');
          startedAt = Date.parse(data.task.startTime ?? '');
          return true;
        }
        return false;
      },
      abort.signal,
    );
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    // Let the event stream open before the fault, so no sample after it is missed.
    await new Promise((r) => setTimeout(r, 200));
    injectedAt = Date.now();
    await api(mgr, 'POST', `/api/v2/manager/control/service/alpha/datasource/db1/fault/${fault}`);
    try {
      await done;
    } catch (e) {
      if (abort.signal.aborted) throw new Error(`no failover within ${timeoutMs / 1000} s after ${fault}`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (detectedAt === null) throw new Error(`the fault ${fault} was never seen in a sample before the failover`);
    if (endedAt === null || Number.isNaN(endedAt)) throw new Error(`the failover after ${fault} ended without an end time`);
    if (startedAt === null || Number.isNaN(startedAt)) throw new Error(`the failover after ${fault} ended without a start time`);
    const expectedMs = (threshold + 1) * SAMPLE_PERIOD_S * 1000;
    return { fault, expectedMs, detectionToStartMs: startedAt - detectedAt, differenceMs: startedAt - detectedAt - expectedMs, taskMs: endedAt - startedAt };
  } finally {
    abort.abort();
    await mgr.stop();
  }
}

/**
 * @param {import('../lib/report.js').ItemOptions} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchFailover({ quick, log }) {
  const faults = /** @type {Array<keyof typeof FAULTS>} */ (Object.keys(FAULTS));
  // Quick: one stopped database server (20 s after detection); full: three of each fault.
  /** @type {Array<keyof typeof FAULTS>} */
  const plan = quick ? ['dataserver-stop'] : faults.flatMap((f) => [f, f, f]);
  log(`  ${plan.length} demo manager(s) side by side, a fault on the master of each (${quick ? 30 : 45} s or so in real time)`);
  const results = await Promise.all(plan.map((f) => oneFailover(f, 90_000)));
  const rows = faults.filter((fault) => plan.includes(fault)).flatMap((fault) => {
    const mine = results.filter((r) => r.fault === fault);
    const diffs = mine.map((r) => r.differenceMs);
    const worst = Math.max(...diffs.map(Math.abs));
    const taskMs = mine.map((r) => r.taskMs);
    return [{
      item: 4, name: `failover after ${fault}: detection to the failover's start`, unit: 'ms', value: median(mine.map((r) => r.detectionToStartMs)),
      samples: mine.map((r) => r.detectionToStartMs),
      baselineName: `(threshold ${FAULTS[fault].threshold} + 1) x 10 s`, baseline: mine[0]?.expectedMs, baselineSamples: [],
      difference: median(diffs), differenceSamples: diffs,
      target: '|difference| < 1000 ms', pass: worst < 1000,
      note: `difference median ${Math.round(median(diffs))} ms, worst ${Math.round(worst)} ms`,
    }, {
      item: 4, name: `failover after ${fault}: the failover task, start to end`, unit: 'ms', value: median(taskMs), samples: taskMs,
      note: 'five steps of the demo driver at 200 ms each: fence the failed master, wait for the candidate, promote it, repoint the other slave (two)',
    }];
  });
  return { rows, notMeasured: [] };
}
