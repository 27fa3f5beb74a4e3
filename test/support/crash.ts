/** test/support/crashing-worker.ts dies when asked to run a chunk of exactly this many samples. */
export const CRASH_SAMPLES = 19_753;

/** crashing-worker.ts fails to load the model while the file this variable names exists. */
export const MODEL_BROKEN_ENV = 'VIET_STT_TEST_MODEL_BROKEN';
