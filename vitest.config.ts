import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // chDB segfaults under the threads pool; forks gives each test file its
    // own process (and so its own chDB data directory).
    pool: 'forks',
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/e2e/**/*.test.ts', 'deploy/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
