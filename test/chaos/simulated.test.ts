/**
 * The fast chaos tier: many seeded random schedules of faults, operator actions and application
 * writes against the manager on the simulated MariaDB cluster, with the invariants of
 * checker.ts checked all along. A failing seed prints with the command that replays it.
 *
 *   npx vitest run test/chaos/simulated.test.ts                      the default seed count
 *   CHAOS_SEEDS=5000 npx vitest run test/chaos/simulated.test.ts     more seeds (CHAOS_FIRST_SEED to start elsewhere)
 *   CHAOS_SEED=1234 npx vitest run test/chaos/simulated.test.ts      replay one seed, its schedule printed step by step
 *   CHAOS_SOAK=1 npx vitest run test/chaos/simulated.test.ts         long schedules (150 steps), 500 seeds unless CHAOS_SEEDS
 */
import { describe, expect, it } from 'vitest';
import { formatViolation, summarize, type SeedResult } from './checker.js';
import { runSimulatedSeed } from './sim-runner.js';

const env = process.env;
const single = env.CHAOS_SEED !== undefined && env.CHAOS_SEED !== '' ? Number(env.CHAOS_SEED) : null;
const soak = env.CHAOS_SOAK === '1' || env.CHAOS_SOAK === 'true';
const seeds = single !== null ? 1 : Number(env.CHAOS_SEEDS ?? (soak ? 500 : 2000));
const firstSeed = single ?? Number(env.CHAOS_FIRST_SEED ?? 1);
const steps = Number(env.CHAOS_STEPS ?? (soak ? 150 : 12));
const replay = (seed: number) => `CHAOS_SEED=${seed}${steps !== 12 ? ` CHAOS_STEPS=${steps}` : ''} npx vitest run test/chaos/simulated.test.ts`;

describe('chaos: the manager on a simulated MariaDB cluster under random faults', () => {
  it(
    `holds the safety invariants over ${seeds} seeded schedule(s) of ${steps} steps (first seed ${firstSeed})`,
    async () => {
      const started = Date.now();
      const results: SeedResult[] = [];
      const trace: string[] = [];
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        results.push(await runSimulatedSeed(seed, { steps, verbose: single !== null ? (line) => trace.push(line) : undefined }));
      }
      if (single !== null) console.log(trace.join('\n'));
      const failing = results.filter((r) => r.violations.length > 0);
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`chaos: ${seeds} seed(s) x ${steps} steps in ${elapsed} s (seed ${firstSeed} to ${firstSeed + seeds - 1})`);
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
