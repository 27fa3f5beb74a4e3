import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/create-transcriber.js';
import { encodeWav } from '../../src/core/wav.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { QueueTranscriber } from '../../src/queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { speech } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { CRASH_SAMPLES, MODEL_BROKEN_ENV } from '../support/crash.js';
import { waitUntil } from '../support/server.js';

// A worker's own faults (its model gone, its core full or stopping) are not the job's: the job
// goes back to the shared queue for any worker, rather than failing for good. A real
// redis-server; the sick worker's core runs the real inference worker, made unable to load.

const PHRASE = 'xin chào các bạn';
const silent = createLogger({ level: 'silent' });

let redis: TestRedis;
let dir: string;
const closing: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'stt-worker-faults-'));
});

afterAll(async () => {
  for (const close of closing.reverse()) await close();
  delete process.env[MODEL_BROKEN_ENV];
  await redis?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A core whose inference worker died and cannot load its model again: every job fails with model_unavailable. */
async function coreWithoutModel(): Promise<Core> {
  const broken = path.join(dir, 'model-broken');
  process.env[MODEL_BROKEN_ENV] = broken;
  const lines: string[] = [];
  const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const { core } = await testCore({}, logger, { workerUrl: new URL('../support/crashing-worker.ts', import.meta.url), restartDelayMs: 200 });
  closing.push(() => core.close());
  await writeFile(broken, '');
  const doomed = new Float32Array(CRASH_SAMPLES);
  doomed.set(synthesizeSpeech('chết').subarray(0, CRASH_SAMPLES));
  await expect(core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(doomed) })).rejects.toMatchObject({ code: 'internal' });
  await waitUntil(async () => (lines.some((l) => l.includes('could not restart the inference worker')) ? true : undefined), 10_000, 'a failed restart');
  return core;
}

describe('a worker without its model', () => {
  it('gives the job back to the queue, and another worker answers it with the exact transcript', async () => {
    const sick = await coreWithoutModel();
    const sickWorker: QueueWorker = await startQueueWorker({ url: redis.url, transcriber: sick.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
    closing.push(() => sickWorker.close());
    const { core: healthy, config } = await testCore({ QUEUE_URL: redis.url });
    closing.push(() => healthy.close());
    const front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 8, audioTtlMs: 60_000, keepFinishedSec: 60 });
    closing.push(() => front.close());
    const transcriber = new QueueTranscriber({ front, config, logger: silent, modelName: 'tone-model' });

    const failed = new Promise<{ reason: string; attempts: number }>((resolve) =>
      sickWorker.worker.once('failed', (job, error) => resolve({ reason: error.message, attempts: job?.attemptsMade ?? -1 })),
    );
    const answer = transcriber.transcribe({ kind: 'buffer', data: await speech(PHRASE) }, { waitForWorker: true });
    const first = await failed;
    expect(JSON.parse(first.reason)).toMatchObject({ error: 'model_unavailable' });
    expect(first.attempts).toBe(1);
    // The retry waits out BullMQ's backoff (1 s): long enough for the sick worker to be gone.
    await sickWorker.close();
    const healthyWorker = await startQueueWorker({ url: redis.url, transcriber: healthy.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
    closing.push(() => healthyWorker.close());
    expect((await answer).text).toBe(PHRASE);
  });
});
