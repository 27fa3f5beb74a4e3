import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/create-transcriber.js';
import { SttError } from '../../src/core/errors.js';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { QueueTranscriber } from '../../src/queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import { speech } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { rejection } from '../support/rejection.js';
import { waitUntil } from '../support/server.js';

// A front's QueueTranscriber and a worker in this process, on a real redis-server the test
// starts: what goes through BullMQ comes back as the embedded core would answer it.

const PHRASE = 'xin chào các bạn';
const LONG = Array.from({ length: 6 }, () => 'một hai ba bốn năm').join(' ');
const silent = createLogger({ level: 'silent' });

let redis: TestRedis;
let client: Redis;
let core: Core;
let config: Config;
let worker: QueueWorker;
let front: QueueFront;
let transcriber: QueueTranscriber;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  // Short windows, so that a few seconds of speech come back window by window.
  ({ core, config } = await testCore({ QUEUE_URL: redis.url, CHUNK_SEC: '3', STRIDE_SEC: '0.5', QUEUE_CONCURRENCY: '1' }));
  worker = await startQueueWorker({ url: redis.url, transcriber: core.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
  front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 8, audioTtlMs: 60_000, keepFinishedSec: 60 });
  transcriber = new QueueTranscriber({ front, config, logger: silent, modelName: 'tone-model' });
});

afterAll(async () => {
  await front?.close();
  await worker?.close();
  await core?.close();
  client?.disconnect();
  await redis?.close();
});

/** The service's own keys left in Redis: audio blobs and cancel marks. */
async function leftovers(): Promise<string[]> {
  return (await client.keys('viet-stt:audio:*')).sort();
}

describe('QueueTranscriber on BullMQ', () => {
  it('answers with the exact transcript, says how many are ahead, and streams the windows as progress', async () => {
    const queued: number[] = [];
    const partials: { text: string; windowsDone: number; windows: number }[] = [];
    const transcript = await transcriber.transcribe(
      { kind: 'buffer', data: await speech(LONG) },
      { source: 'http', onQueued: (ahead) => queued.push(ahead), onPartial: (p) => partials.push(p) },
    );
    expect(transcript.text).toBe(LONG);
    expect(transcript.device).toBe('cpu');
    expect(transcript.words.map((w) => w.word).join(' ')).toBe(LONG);
    expect(queued).toEqual([0]);
    // Every window is reported once, in order, each with the words it made final.
    expect(partials.length).toBeGreaterThan(1);
    expect(partials.map((p) => p.windowsDone)).toEqual(partials.map((_, i) => i + 1));
    expect(partials.at(-1)).toEqual({ text: LONG, windowsDone: partials[0].windows, windows: partials[0].windows });
    expect(LONG.startsWith(partials[0].text)).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it('reads a server file at the front, so that a worker elsewhere gets its bytes', async () => {
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const path = await import('node:path');
    const os = await import('node:os');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stt-queue-file-'));
    try {
      await writeFile(path.join(dir, 'a.wav'), await speech(PHRASE));
      const transcript = await transcriber.transcribe({ kind: 'file', path: path.join(dir, 'a.wav') });
      expect(transcript.text).toBe(PHRASE);
      const missing = await rejection(transcriber.transcribe({ kind: 'file', path: path.join(dir, 'b.wav') }));
      expect(missing).toMatchObject({ code: 'file_not_found', status: 404 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the worker’s refusal the code the embedded core gives, leaves no audio behind, and the next job works', async () => {
    const garbage = await rejection(transcriber.transcribe({ kind: 'buffer', data: new Uint8Array(4000).fill(7) }));
    expect(garbage).toBeInstanceOf(SttError);
    expect(garbage).toMatchObject({ code: 'invalid_audio', status: 400, message: 'The file could not be decoded as audio.' });
    const empty = await rejection(transcriber.transcribe({ kind: 'buffer', data: new Uint8Array(0) }));
    expect(empty).toMatchObject({ code: 'no_audio', status: 400 });
    expect(await leftovers()).toEqual([]);
    expect((await transcriber.transcribe({ kind: 'buffer', data: await speech(PHRASE) })).text).toBe(PHRASE);
  });

  it('cancels a running job at its next window when the caller aborts; the worker takes the next one', async () => {
    const controller = new AbortController();
    const started = new Promise<void>((resolve) => worker.worker.once('active', () => resolve()));
    const cancelled = rejection(
      transcriber.transcribe(
        { kind: 'buffer', data: await speech(Array.from({ length: 6 }, () => LONG).join(' ')) },
        { signal: controller.signal, onPartial: () => controller.abort(new SttError('cancelled')) },
      ),
    );
    await started;
    expect(await cancelled).toMatchObject({ code: 'cancelled', status: 499 });
    // The worker stops the job too: BullMQ records it failed as cancelled, and it is not tried again.
    const failed = await new Promise<{ reason: string; attempts: number }>((resolve) =>
      worker.worker.once('failed', (job, error) => resolve({ reason: error.message, attempts: job?.attemptsMade ?? -1 })),
    );
    expect(JSON.parse(failed.reason)).toEqual({ error: 'cancelled', message: 'The request was cancelled.' });
    expect(failed.attempts).toBe(1);
    expect(await leftovers()).toEqual([]);
    expect((await transcriber.transcribe({ kind: 'buffer', data: await speech(PHRASE) })).text).toBe(PHRASE);
  });

  it('answers queue_unavailable at once while Redis is down, and works again by itself once it is back', async () => {
    const audio = await speech(PHRASE);
    await redis.stop();
    const startedAt = performance.now();
    const refused = await rejection(transcriber.transcribe({ kind: 'buffer', data: audio }));
    expect(refused).toMatchObject({ code: 'queue_unavailable', status: 503, retryAfterSec: 5 });
    expect(performance.now() - startedAt).toBeLessThan(1000);
    await waitFor(() => !transcriber.connected, 5000, 'the front to see Redis gone');
    await redis.start();
    await waitFor(() => transcriber.connected && worker.worker.isRunning(), 10_000, 'the front to reconnect');
    const transcript = await retryUntilAnswered(() => transcriber.transcribe({ kind: 'buffer', data: audio }), 15_000);
    expect(transcript.text).toBe(PHRASE);
  });
});

describe('priorities on the shared queue', () => {
  it('runs voice notes before a long file queued earlier, and a long file that waited too long before both', async () => {
    const aging = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 8, audioTtlMs: 60_000, keepFinishedSec: 60, maxWaitMs: 300 });
    try {
      const order: string[] = [];
      const onActive = (job: { data: { logId?: string } }): void => void order.push(job.data.logId ?? '?');
      worker.worker.on('active', onActive);
      const audio = await speech(PHRASE);
      const submit = (name: string, durationSec: number) =>
        aging.submit(audio, { source: 'test', logId: name, createdAt: new Date().toISOString() }, { durationSec, watch: {} });

      await worker.worker.pause();
      const long = await submit('long', 200);
      const note = await submit('note', 3);
      expect([long.ahead, note.ahead]).toEqual([0, 0]);
      worker.worker.resume();
      await Promise.all([long.result, note.result]);
      expect(order).toEqual(['note', 'long']);

      order.length = 0;
      await worker.worker.pause();
      const starved = await submit('starved', 200);
      // Promoted once it has waited maxWaitMs: BullMQ's priority 1, ahead of every class.
      await waitFor(() => promoted.has(starved.id), 5000, 'the long job to be promoted');
      const later = await submit('later note', 3);
      worker.worker.resume();
      await Promise.all([starved.result, later.result]);
      expect(order).toEqual(['starved', 'later note']);
      worker.worker.off('active', onActive);
    } finally {
      await aging.close();
    }
  });
});

describe('a full queue', () => {
  it('refuses with queue_full once QUEUE_MAX_PENDING jobs wait in Redis, whichever front took them, and takes work again once they have run', async () => {
    const small = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 1, audioTtlMs: 60_000, keepFinishedSec: 60 });
    const other = new QueueTranscriber({ front: small, config, logger: silent, modelName: 'tone-model' });
    try {
      const audio = await speech(PHRASE);
      await worker.worker.pause();
      const waiting = transcriber.transcribe({ kind: 'buffer', data: audio });
      await waitUntil(async () => ((await client.zcard('bull:viet-stt:prioritized')) === 1 ? true : undefined), 5000, 'the first job to wait in Redis');
      const refused = await rejection(other.transcribe({ kind: 'buffer', data: audio }));
      expect(refused).toMatchObject({ code: 'queue_full', status: 503 });
      expect((refused as SttError).retryAfterSec).toBeGreaterThan(0);
      worker.worker.resume();
      expect((await waiting).text).toBe(PHRASE);
      expect((await other.transcribe({ kind: 'buffer', data: audio })).text).toBe(PHRASE);
      expect(await leftovers()).toEqual([]);
    } finally {
      await small.close();
    }
  });
});

/** Jobs whose BullMQ priority is 1 now, read from Redis each time it is asked. */
const promoted = {
  ids: new Set<string>(),
  has(id: string): boolean {
    void client.hget(`bull:viet-stt:${id}`, 'priority').then((p) => p === '1' && this.ids.add(id));
    return this.ids.has(id);
  },
};

/** Polls a synchronous condition (a connection's state) until it holds, within `timeoutMs`. */
async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The worker's and the events' connections come back on their own schedules: a job is retried while it is refused as unavailable. */
async function retryUntilAnswered<T>(attempt: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof SttError && error.code === 'queue_unavailable') || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
