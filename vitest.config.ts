import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/private-tmp.ts'],
    // Sessions the tests open themselves write no onnxruntime telemetry files either (the
    // service's own pool sets this while it loads; its test clears it to prove that).
    env: { ORT_DISABLE_TELEMETRY: '1' },
  },
});
