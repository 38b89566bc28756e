/**
 * The manager group's chaos tier on real peers: seeded rounds of member, etcd and database faults,
 * operator calls and application writes on three etcd members, three mariadbd and three
 * `tungsten-manager` processes, the invariants checked all along (test/helpers/mariadb-group-chaos.ts).
 * Each round starts from a group that has never seen anything (GroupEnv.reset()).
 *
 *   npx vitest run test/system/mariadb-group-chaos.test.ts                      4 rounds from a random first seed
 *   MARIADB_GROUP_CHAOS_ROUNDS=100 npx vitest run test/system/mariadb-group-chaos.test.ts   a soak run
 *   MARIADB_GROUP_CHAOS_FIRST_SEED=100 ...                                      rounds from seed 100 on
 *   MARIADB_GROUP_CHAOS_SEED=1234 ...                                           replay one round, step by step
 *   MARIADB_GROUP_CHAOS_STEPS=10 ...                                            longer rounds (default 6 database steps)
 *   MARIADB_GROUP_CHAOS_WAIT_SCALE=0.5 ...                                      longer waits between steps (default 0.15):
 *                                                                              faults outlast detection, so more failovers
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatViolation, summarize } from '../chaos/checker.js';
import { titleOrSkipReason } from '../helpers/processes.js';
import type { RoundResult } from '../helpers/mariadb-chaos.js';
import { runMariaDbGroupRound } from '../helpers/mariadb-group-chaos.js';
import { groupPrerequisitesMissing, skipWithoutGroup, startManagerGroup, type GroupEnv } from '../helpers/manager-group.js';

const env = process.env;
const single = env.MARIADB_GROUP_CHAOS_SEED ? Number(env.MARIADB_GROUP_CHAOS_SEED) : null;
const rounds = single !== null ? 1 : Number(env.MARIADB_GROUP_CHAOS_ROUNDS ?? 4);
const firstSeed = single ?? Number(env.MARIADB_GROUP_CHAOS_FIRST_SEED ?? randomInt(1, 1_000_000));
const steps = Number(env.MARIADB_GROUP_CHAOS_STEPS ?? 6);
const waitScale = env.MARIADB_GROUP_CHAOS_WAIT_SCALE ? Number(env.MARIADB_GROUP_CHAOS_WAIT_SCALE) : undefined;
const replay = (seed: number) => `MARIADB_GROUP_CHAOS_SEED=${seed}${steps !== 6 ? ` MARIADB_GROUP_CHAOS_STEPS=${steps}` : ''}${waitScale !== undefined ? ` MARIADB_GROUP_CHAOS_WAIT_SCALE=${waitScale}` : ''} npx vitest run test/system/mariadb-group-chaos.test.ts`;
const seeds = Array.from({ length: rounds }, (_, i) => firstSeed + i);

const title = titleOrSkipReason(`chaos on a manager group (real etcd, MariaDB, manager processes): ${rounds} round(s) of ${steps} steps from seed ${firstSeed}`, skipWithoutGroup ? groupPrerequisitesMissing() : null);

describe.skipIf(skipWithoutGroup)(title, () => {
  let group: GroupEnv;
  const results: RoundResult[] = [];
  const started = Date.now();

  beforeAll(async () => {
    group = await startManagerGroup();
  }, 120_000);
  afterAll(async () => {
    await group?.destroy();
    if (results.length === 0) return;
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const actions = [...new Set(results.flatMap((r) => r.actions))].sort();
    console.log(
      [
        `mariadb group chaos: ${results.length} round(s) in ${((Date.now() - started) / 1000).toFixed(0)} s (round median ${(ms[Math.floor(ms.length / 2)]! / 1000).toFixed(1)} s), ` +
          `${results.reduce((n, r) => n + r.acknowledged, 0)} acknowledged writes, ${results.reduce((n, r) => n + r.directWrites, 0)} stale writes acknowledged, ${results.reduce((n, r) => n + r.failovers, 0)} failovers`,
        `  actions: ${actions.join(', ')}`,
        summarize(results, replay),
      ].join('\n'),
    );
  }, 60_000);

  for (const seed of seeds) {
    it(`round seed ${seed}`, async () => {
      await group.reset();
      const result = await runMariaDbGroupRound(seed, { env: group, steps, waitScale, verbose: single !== null ? (line) => console.log(line) : undefined });
      results.push(result);
      console.log(`group round seed ${seed}: ${(result.ms / 1000).toFixed(1)} s, ${result.acknowledged} acknowledged writes, ${result.directWrites} stale ones, ${result.failovers} failover(s), ${result.violations.length} violation(s); ${result.actions.join(', ')}`);
      const lines = result.violations.map((v) => formatViolation(v, replay));
      if (lines.length > 0) console.log(`group round seed ${seed}:\n  ${result.schedule?.join('\n  ')}\n${lines.join('\n')}\n${group.logTails(30)}`);
      expect(lines).toEqual([]);
    }, 240_000);
  }
});
