import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['engine/**/*.test.ts', 'transforms/**/*.test.ts', 'config/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests open real sockets and spawn processes; keep them isolated per file.
    pool: 'forks',
    globalSetup: ['test/setup/kafka.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
