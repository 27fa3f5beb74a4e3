import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Core } from '../../src/core/create-transcriber.js';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { Metrics } from '../../src/core/metrics.js';
import { buildApp } from '../../src/http/app.js';
import { CallbackSender } from '../../src/jobs/callback.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { QueueTranscriber } from '../../src/queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import { RedisJobBackend } from '../../src/queue/redis-job-backend.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { speech } from '../support/audio.js';
import { testCore, testConfig } from '../support/core.js';
import { postFile, waitUntil } from '../support/server.js';

// A front's HTTP app on a real port, over a real redis-server, with no worker running: what a
// client is told, and that it all works once a worker is there.

const PHRASE = 'xin chào các bạn';
/** How long a synchronous request may wait with no worker alive, short for the test. */
const NO_WORKER_WAIT_MS = 1000;
const silent = createLogger({ level: 'silent' });

let redis: TestRedis;
let client: Redis;
let config: Config;
let front: QueueFront;
let jobs: RedisJobBackend;
let app: Awaited<ReturnType<typeof buildApp>>;
let url: string;
let core: Core | undefined;
let worker: QueueWorker | undefined;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  config = testConfig({ QUEUE_URL: redis.url, ROLE: 'front', NO_WORKER_SEC: String(NO_WORKER_WAIT_MS / 1000) });
  front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 8, audioTtlMs: 60_000, keepFinishedSec: 60 });
  const transcriber = new QueueTranscriber({ front, config, logger: silent, modelName: 'tone-model' });
  jobs = new RedisJobBackend({ front, redis: client, callbacks: new CallbackSender({ secret: undefined, allowedHosts: [], logger: silent }), ttlMs: 60_000, logger: silent });
  app = await buildApp({ config, transcriber, logger: silent, metrics: new Metrics({ defaultMetrics: false }), jobs, queueConnected: () => front.connected });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  await jobs?.close();
  await front?.close();
  await worker?.close();
  await core?.close();
  client?.disconnect();
  await redis?.close();
});

describe('a front with no worker alive', () => {
  it('answers POST /wav2vec2 503 no_worker within its bound, leaves nothing in Redis, and POST /jobs 202 with eta_sec null', async () => {
    const audio = await speech(PHRASE);
    const sentAt = performance.now();
    const refused = await postFile(`${url}/wav2vec2`, audio, 'note.wav');
    const waitedMs = performance.now() - sentAt;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toEqual({ status: 'error', error: 'no_worker', message: ERROR_CATALOGUE.no_worker.message });
    // It waited for a worker to come, then gave up: not at once, not until the client's timeout.
    expect(waitedMs).toBeGreaterThanOrEqual(NO_WORKER_WAIT_MS);
    expect(waitedMs).toBeLessThan(NO_WORKER_WAIT_MS + 3000);
    // The given-up job is gone: its audio, and its place in the queue.
    expect(await client.keys('viet-stt:audio:*')).toEqual([]);
    expect(await client.zcard('bull:viet-stt:prioritized')).toBe(0);

    // An async job waits for a worker, however long: its answer says there is no estimate.
    const accepted = await postFile(`${url}/jobs`, audio, 'later.wav');
    expect(accepted.status).toBe(202);
    const body = (await accepted.json()) as { id: string };
    expect(body).toEqual({ id: body.id, status: 'queued', position: 0, eta_sec: null });

    // Once a worker is up, the waiting job runs and the next request is answered.
    ({ core } = await testCore({ QUEUE_CONCURRENCY: '1' }));
    worker = await startQueueWorker({ url: redis.url, transcriber: core.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
    const done = await waitUntil(async () => {
      const view = (await (await fetch(`${url}/jobs/${body.id}`)).json()) as { status: string; result?: { transcript: string } };
      return view.status === 'done' ? view : undefined;
    }, 20_000, 'the async job to be done');
    expect(done.result?.transcript).toBe(PHRASE);
    const answered = await postFile(`${url}/wav2vec2`, audio, 'note.wav');
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as { transcript: string }).transcript).toBe(PHRASE);
    // With a worker alive, an async job's answer estimates when it is done.
    await worker.worker.pause();
    const estimated = await postFile(`${url}/jobs`, audio, 'estimated.wav');
    expect(((await estimated.json()) as { eta_sec: unknown }).eta_sec).toEqual(expect.any(Number));
    worker.worker.resume();
  });
});
