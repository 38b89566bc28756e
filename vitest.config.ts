import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // *.field.test.ts run tpm's and Continuent's own Ruby, read from checkouts that are never committed here
    // (TPM_RUBY_SOURCE, CONTINUENT_NAGIOS_SOURCE, CONTINUENT_TOOLS_SOURCE): only `npm run test:field` runs them.
    exclude: process.env.TUNGSTEN_FIELD_TESTS === '1' ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/**/*.field.test.ts'],
    // The run's own TMPDIR (removed at the end); the subprocess tests run dist/, rebuilt first
    // whenever a source is newer.
    globalSetup: ['./test/helpers/run-tmpdir.ts', './test/helpers/fresh-dist.ts'],
    testTimeout: 20_000,
    hookTimeout: 120_000,
    // System tests start real sshd and mariadbd processes; two cores cannot run many at once.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
