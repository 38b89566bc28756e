/**
 * The chaos checker over a manager group (group-runner.ts): seeded schedules of database faults,
 * operator calls and application writes, with kill -9, clean stops, rolling restarts, etcd
 * partitions, a lost etcd majority and frozen members on top, the safety invariants of checker.ts
 * and the group's own (one coordinator at a time, terms, commits and actions tied to the acting
 * coordinator's term) checked all along, and one coordinator agreed on by every member at the end.
 *
 *   npx vitest run test/chaos/group.test.ts                           the default seed count
 *   CHAOS_GROUP_SEEDS=2000 npx vitest run test/chaos/group.test.ts    more seeds (CHAOS_GROUP_FIRST_SEED to start elsewhere)
 *   CHAOS_GROUP_SEED=1234 npx vitest run test/chaos/group.test.ts     replay one seed, its schedule printed step by step
 *                                                                     (CHAOS_TRACE_LOG=1: the members' logs; CHAOS_TRACE_ACTIONS=1: every driver action)
 *   CHAOS_SOAK=1 npx vitest run test/chaos/group.test.ts              long schedules (60 steps), 500 seeds unless CHAOS_GROUP_SEEDS
 */
import { describe, expect, it } from 'vitest';
import { formatViolation, summarize, type SeedResult } from './checker.js';
import { runGroupSeed } from './group-runner.js';

const env = process.env;
const single = env.CHAOS_GROUP_SEED !== undefined && env.CHAOS_GROUP_SEED !== '' ? Number(env.CHAOS_GROUP_SEED) : null;
const soak = env.CHAOS_SOAK === '1' || env.CHAOS_SOAK === 'true';
const defaultSteps = soak ? 60 : 12;
const seeds = single !== null ? 1 : Number(env.CHAOS_GROUP_SEEDS ?? (soak ? 500 : 200));
const firstSeed = single ?? Number(env.CHAOS_GROUP_FIRST_SEED ?? 1);
const steps = Number(env.CHAOS_GROUP_STEPS ?? defaultSteps);
const replay = (seed: number) => `CHAOS_GROUP_SEED=${seed}${steps !== 12 ? ` CHAOS_GROUP_STEPS=${steps}` : ''} npx vitest run test/chaos/group.test.ts`;

describe('chaos: a manager group on etcd over a simulated MariaDB cluster under random faults', () => {
  it(
    `holds the safety invariants over ${seeds} seeded schedule(s) of ${steps} steps plus member and etcd faults (first seed ${firstSeed})`,
    async () => {
      const started = Date.now();
      const results: SeedResult[] = [];
      const trace: string[] = [];
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        results.push(await runGroupSeed(seed, { steps, verbose: single !== null ? (line) => trace.push(line) : undefined }));
      }
      if (single !== null) console.log(trace.join('\n'));
      const failing = results.filter((r) => r.violations.length > 0);
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`chaos (group): ${seeds} seed(s) x ${steps} steps in ${elapsed} s (seed ${firstSeed} to ${firstSeed + seeds - 1})`);
      if (failing.length > 0) {
        const smallest = failing[0]!;
        console.log(summarize(results, replay));
        if (single === null) console.log(`schedule of seed ${smallest.seed}:\n  ${smallest.schedule?.join('\n  ')}`);
        else for (const v of smallest.violations) console.log(formatViolation(v, replay));
      }
      expect(failing.map((r) => r.violations.map((v) => formatViolation(v, replay))).flat().slice(0, 20)).toEqual([]);
    },
    60 * 60_000,
  );
});
