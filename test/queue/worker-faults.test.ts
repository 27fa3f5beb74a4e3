import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/create-transcriber.js';
import { encodeWav } from '../../src/core/wav.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { QueueTranscriber } from '../../src/queue/queue-transcriber.js';
import { KEY_PREFIX, QUEUE_NAME } from '../../src/queue/redis-connection.js';
import { MAX_STALLED_COUNT, startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import type { Transcriber } from '../../src/core/types.js';
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

// Each test's workers go with it: a worker left running would take the next test's job.
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

afterAll(async () => {
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

/** A front on the test Redis, its QueueTranscriber, and a look at the service's keys there. */
async function frontWithKeys() {
  const { core, config } = await testCore({ QUEUE_URL: redis.url });
  closing.push(() => core.close());
  const front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 8, audioTtlMs: 600_000, keepFinishedSec: 60 });
  closing.push(() => front.close());
  const transcriber = new QueueTranscriber({ front, config, logger: silent, modelName: 'tone-model' });
  const client = new Redis(redis.url);
  closing.push(async () => client.disconnect());
  const audioKeys = () => client.keys(`${KEY_PREFIX}audio:*`);
  const turns = async () => (await Promise.all((await client.keys(`${KEY_PREFIX}turns:*`)).map((k) => client.zcard(k)))).reduce((a, b) => a + b, 0);
  // A worker's core that takes a job and never comes back: a worker dying, or stuck, under it.
  let taken = 0;
  const stuck: Transcriber = {
    status: () => core.transcriber.status(),
    transcribe: () => {
      taken++;
      return new Promise(() => undefined);
    },
  };
  /** Waits until stuck cores have taken the job `times` times in all. */
  const takenTimes = (times: number) => waitUntil(async () => (taken >= times ? true : undefined), 10_000, `the job taken ${times} times`);
  return { core, transcriber, audioKeys, turns, stuck, takenTimes, client };
}

describe('a worker closing with a deadline', () => {
  it('hands the job it still runs at the deadline back to the queue, and another worker answers it at once with the exact transcript', async () => {
    const { core, transcriber, audioKeys, stuck, takenTimes } = await frontWithKeys();
    // A minute-long lock: had the job only been left to lapse, the next worker could not take it within the test.
    const leaving = await startQueueWorker({ url: redis.url, transcriber: stuck, concurrency: 1, failoverMs: 60_000, logger: silent });
    const answer = transcriber.transcribe({ kind: 'buffer', data: await speech(PHRASE) }, { waitForWorker: true });
    await takenTimes(1);
    const deadline = new AbortController();
    const closed = leaving.close(deadline.signal);
    deadline.abort();
    await closed;
    expect(await audioKeys()).toHaveLength(1);
    const next = await startQueueWorker({ url: redis.url, transcriber: core.transcriber, concurrency: 1, failoverMs: 60_000, logger: silent });
    closing.push(() => next.close());
    expect((await answer).text).toBe(PHRASE);
    await waitUntil(async () => ((await audioKeys()).length === 0 ? true : undefined), 5_000, 'the audio gone');
  });
});

describe('a job whose workers keep dying under it', () => {
  it(`fails as internal once it stalled more than ${MAX_STALLED_COUNT} times, and its audio and its owner's turn go with it`, async () => {
    const { transcriber, audioKeys, turns, stuck, takenTimes, client } = await frontWithKeys();
    // BullMQ runs one stalled check per interval across all workers, marked by a key that lives
    // for the interval of the worker that set it: the previous test's minute-long lock's is 20 s.
    await client.del(`bull:${QUEUE_NAME}:stalled-check`);
    const outcome = transcriber.transcribe({ kind: 'buffer', data: await speech(PHRASE) }, { waitForWorker: true, owner: 'team-a' }).then(
      () => 'answered',
      (error: { code?: string }) => error.code,
    );
    await waitUntil(async () => ((await audioKeys()).length === 1 && (await turns()) === 1 ? true : undefined), 5_000, 'the audio stored');
    for (let death = 0; death <= MAX_STALLED_COUNT; death++) {
      const dying = await startQueueWorker({ url: redis.url, transcriber: stuck, concurrency: 1, failoverMs: 1000, logger: silent });
      closing.push(() => dying.close(AbortSignal.abort()));
      await takenTimes(death + 1);
      // Gone as a killed process is: its lock is no longer renewed, and nothing is handed back.
      await dying.worker.close(true);
    }
    // The next worker's stalled check finds the job stalled once too often; BullMQ fails it there.
    const last = await startQueueWorker({ url: redis.url, transcriber: stuck, concurrency: 1, failoverMs: 1000, logger: silent });
    closing.push(() => last.close());
    expect(await outcome).toBe('internal');
    await waitUntil(async () => ((await audioKeys()).length === 0 && (await turns()) === 0 ? true : undefined), 5_000, 'the audio and the turn gone');
  });
});
