import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most files wait on ffmpeg, onnxruntime or a server of their own, so two run side by side
    // even on two cores (vitest's default there is one).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/private-tmp.ts'],
    // Sessions the tests open themselves write no onnxruntime telemetry files either (the
    // service's own pool sets this while it loads; its test clears it to prove that).
    env: { ORT_DISABLE_TELEMETRY: '1' },
  },
});
