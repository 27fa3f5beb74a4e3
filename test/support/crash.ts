/** test/support/crashing-worker.ts dies when asked to run a chunk of exactly this many samples. */
export const CRASH_SAMPLES = 19_753;
