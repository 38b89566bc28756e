import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // The subprocess tests run dist/: it is rebuilt first whenever a source is newer.
    globalSetup: ['./test/helpers/fresh-dist.ts'],
    testTimeout: 20_000,
    hookTimeout: 120_000,
    // System tests start real sshd and mariadbd processes; two cores cannot run many at once.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
