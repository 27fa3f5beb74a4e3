import { parentPort } from 'node:worker_threads';
import type { WorkerRequest } from '../../src/core/inference-protocol.js';

import { CRASH_SAMPLES } from './crash.js';

/**
 * The real inference worker, except that it dies (as a native crash would take the thread down)
 * when asked to run a chunk of exactly CRASH_SAMPLES samples.
 */

parentPort?.on('message', (request: WorkerRequest) => {
  if (request.samples.length === CRASH_SAMPLES) process.exit(70);
});
await import('../../src/core/inference-worker.js');
