/**
 * The real-MariaDB chaos tier: seeded random rounds of faults, operator actions and application
 * writes on three real mariadbd servers with the manager on the mysql driver (0.5 s samples), the
 * invariants of test/chaos/checker.ts checked all along (at most one writable server at any
 * moment; after each round every acknowledged write on the master, except inside the loss window
 * a failover reported; the manager's view against the servers). Each round starts from a known
 * cluster (reset) and a manager with a fresh --state-dir; see test/helpers/mariadb-chaos.ts.
 *
 *   npx vitest run test/system/mariadb-chaos.test.ts                         20 rounds from a random first seed
 *   MARIADB_CHAOS_ROUNDS=200 npx vitest run test/system/mariadb-chaos.test.ts  a soak run
 *   MARIADB_CHAOS_FIRST_SEED=100 ...                                          rounds from seed 100 on
 *   MARIADB_CHAOS_SEED=1234 npx vitest run test/system/mariadb-chaos.test.ts  replay one round, step by step
 *   MARIADB_CHAOS_STEPS=12 ...                                                longer rounds (default 6 steps)
 *   MARIADB_CHAOS_WAIT_SCALE=0.3 ...                                          longer waits between steps (default 0.15)
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvariantChecker, formatViolation, summarize } from '../chaos/checker.js';
import { runMariaDbRound, watchServers, type RoundResult } from '../helpers/mariadb-chaos.js';
import { mariadbMissing, skipWithoutMariaDb, startMariaDbCluster, type MariaDbCluster } from '../helpers/mariadb.js';

const env = process.env;
const single = env.MARIADB_CHAOS_SEED ? Number(env.MARIADB_CHAOS_SEED) : null;
const rounds = single !== null ? 1 : Number(env.MARIADB_CHAOS_ROUNDS ?? 20);
const firstSeed = single ?? Number(env.MARIADB_CHAOS_FIRST_SEED ?? randomInt(1, 1_000_000));
const steps = Number(env.MARIADB_CHAOS_STEPS ?? 6);
const SAMPLE_PERIOD_S = Number(env.MARIADB_SAMPLE_PERIOD ?? '0.5');
const waitScale = env.MARIADB_CHAOS_WAIT_SCALE ? Number(env.MARIADB_CHAOS_WAIT_SCALE) : undefined;
const replay = (seed: number) => `MARIADB_CHAOS_SEED=${seed}${steps !== 6 ? ` MARIADB_CHAOS_STEPS=${steps}` : ''}${waitScale !== undefined ? ` MARIADB_CHAOS_WAIT_SCALE=${waitScale}` : ''} npx vitest run test/system/mariadb-chaos.test.ts`;
const seeds = Array.from({ length: rounds }, (_, i) => firstSeed + i);

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason(`chaos on three real MariaDB servers: ${rounds} round(s) of ${steps} steps from seed ${firstSeed}`, skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  const results: RoundResult[] = [];
  const started = Date.now();

  beforeAll(async () => {
    cluster = await startMariaDbCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
    if (results.length === 0) return;
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const actions = [...new Set(results.flatMap((r) => r.actions))].sort();
    console.log(
      [
        `mariadb chaos: ${results.length} round(s) in ${((Date.now() - started) / 1000).toFixed(0)} s (round median ${(ms[Math.floor(ms.length / 2)]! / 1000).toFixed(1)} s, max ${(ms.at(-1)! / 1000).toFixed(1)} s), ` +
          `${results.reduce((n, r) => n + r.acknowledged, 0)} acknowledged writes, ${results.reduce((n, r) => n + r.directWrites, 0)} stale writes acknowledged, ${results.reduce((n, r) => n + r.failovers, 0)} failovers`,
        `  actions: ${actions.join(', ')}`,
        summarize(results, replay),
      ].join('\n'),
    );
  });

  it('the checker sees two writable servers when there are, and none through fast switches by hand', async () => {
    await cluster.reset({ clearWrites: true });
    const opts = { samplePeriodMs: 500, dbDetectMs: 1000, hostDetectMs: 1500, observationTimeoutMs: 3000 };
    const watch = watchServers(cluster);
    const check = async (checker: InvariantChecker, work: () => Promise<void>) => {
      let ticking = true;
      const ticker = (async () => {
        while (ticking) {
          checker.checkWriters(Date.now(), watch.snapshot());
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      await work();
      await new Promise((r) => setTimeout(r, 600));
      ticking = false;
      await ticker;
      return checker.finish(Date.now());
    };
    try {
      // Switches by hand, as fast as SQL allows, ten times: never two writable servers at once.
      const switches = await check(new InvariantChecker({ seed: 0, startedAt: Date.now(), ...opts }), async () => {
        for (let i = 0; i < 10; i++) {
          const [from, to] = i % 2 === 0 ? ['db1', 'db2'] : ['db2', 'db1'];
          await cluster.rootQuery(from!, 'SET GLOBAL read_only = 1');
          await cluster.rootQuery(to!, 'SET GLOBAL read_only = 0');
          await new Promise((r) => setTimeout(r, 300));
        }
      });
      expect(switches).toEqual([]);
      // db3 writable next to db1 for 2 s: one violation, about that long.
      const twice = await check(new InvariantChecker({ seed: 0, startedAt: Date.now(), ...opts }), async () => {
        await cluster.rootQuery('db3', 'SET GLOBAL read_only = 0');
        await new Promise((r) => setTimeout(r, 2000));
        await cluster.rootQuery('db3', 'SET GLOBAL read_only = 1');
      });
      expect(twice.map((v) => v.kind)).toEqual(['two-writable']);
      expect(twice[0]!.detail).toBe('db1 and db3 accept writes');
      expect(twice[0]!.durationMs).toBeGreaterThan(1000);
      expect(twice[0]!.durationMs).toBeLessThan(3000);
    } finally {
      await watch.stop();
    }
  }, 60_000);

  for (const seed of seeds) {
    it(`round seed ${seed}`, async () => {
      const reset = await cluster.reset({ clearWrites: true });
      const result = await runMariaDbRound(seed, { cluster, steps, samplePeriodSeconds: SAMPLE_PERIOD_S, waitScale, verbose: single !== null ? (line) => console.log(line) : undefined });
      results.push(result);
      console.log(`round seed ${seed}: ${(result.ms / 1000).toFixed(1)} s, ${result.acknowledged} acknowledged writes, ${result.directWrites} stale ones, ${result.failovers} failover(s), ${result.violations.length} violation(s); ${result.actions.join(', ')}`);
      const lines = result.violations.map((v) => formatViolation(v, replay));
      if (lines.length > 0) {
        console.log(`round seed ${seed} (reset ${reset.ms} ms${reset.rebuilt.length ? `, rebuilt ${reset.rebuilt.join(', ')}` : ''}):\n  ${result.schedule?.join('\n  ')}\n${lines.join('\n')}`);
      }
      expect(lines).toEqual([]);
    }, 120_000);
  }
});
