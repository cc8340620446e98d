import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Generous: tests wait for events, never for the clock, and a loaded machine must not fail them.
    testTimeout: 240_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Most test files wait on brokers, databases and child processes rather than compute, so one
    // more file than cores runs at once (vitest's default leaves a core idle: on 2 cores the suite
    // ran one file at a time, 10 minutes). Capped so PostgreSQL's connections suffice.
    maxWorkers: Math.min(4, availableParallelism() + 1),
    reporters: ['default'],
  },
});
