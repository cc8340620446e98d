import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Generous: tests wait for events, never for the clock, and a loaded machine must not fail them.
    testTimeout: 240_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
