import { existsSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from '../../src/core/inference-protocol.js';
import { CRASH_SAMPLES, MODEL_BROKEN_ENV } from './crash.js';

/**
 * The real inference worker, except that it dies when asked to run a chunk of exactly
 * CRASH_SAMPLES samples, and fails to load the model while the file named by the
 * MODEL_BROKEN_ENV variable exists (as if the model file had become unreadable).
 */

const broken = process.env[MODEL_BROKEN_ENV];
if (broken && existsSync(broken)) {
  const reply: WorkerReply = { type: 'failed', message: 'model.onnx could not be read' };
  parentPort?.postMessage(reply);
} else {
  parentPort?.on('message', (request: WorkerRequest) => {
    if (request.samples.length === CRASH_SAMPLES) process.exit(70);
  });
  await import('../../src/core/inference-worker.js');
}
