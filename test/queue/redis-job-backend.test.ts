import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/create-transcriber.js';
import { SttError } from '../../src/core/errors.js';
import { CallbackSender, SIGNATURE_HEADER } from '../../src/jobs/callback.js';
import type { JobView } from '../../src/jobs/types.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import { RedisJobBackend, deliverCallbacks } from '../../src/queue/redis-job-backend.js';
import type { Transcript } from '../../src/core/types.js';
import { HTTP_CHAT, rememberHttpTranscript } from '../../src/http/transcripts.js';
import { openStore } from '../../src/store/index.js';
import { speech } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { rejection } from '../support/rejection.js';
import { waitUntil } from '../support/server.js';

// The async job API's Redis backend, on a real redis-server: jobs are read back by id from
// BullMQ, by any front, and outlive the front that took them.

const PHRASES = ['xin chào các bạn', 'tôi là người việt nam'];
const SECRET = 'callback-secret-for-tests';
const silent = createLogger({ level: 'silent' });

let redis: TestRedis;
let core: Core;
let worker: QueueWorker;
const fronts: QueueFront[] = [];
const clients: Redis[] = [];
let hooks: http.Server;
const received: { body: string; signature: string | undefined }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  ({ core } = await testCore({ CHUNK_SEC: '2', STRIDE_SEC: '0.5', QUEUE_CONCURRENCY: '1' }));
  worker = await startQueueWorker({ url: redis.url, transcriber: core.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
  hooks = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ body, signature: request.headers[SIGNATURE_HEADER] as string | undefined });
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  deliverCallbacks(worker, callbacks(), silent);
});

afterAll(async () => {
  for (const front of fronts) await front.close();
  await worker?.close();
  await core?.close();
  for (const client of clients) client.disconnect();
  await new Promise((resolve) => hooks?.close(resolve));
  await redis?.close();
});

function callbacks(): CallbackSender {
  return new CallbackSender({ secret: SECRET, allowedHosts: [`127.0.0.1:${(hooks.address() as AddressInfo).port}`], logger: silent, firstRetryMs: 50 });
}

/** A front's backend, as main.ts builds it; a second one is another front (or this one restarted). */
async function backend(keepSec = 60, remember?: (transcript: Transcript) => Promise<string>): Promise<RedisJobBackend> {
  const front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 16, audioTtlMs: 60_000, keepFinishedSec: keepSec });
  fronts.push(front);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  clients.push(client);
  return new RedisJobBackend({ front, redis: client, callbacks: callbacks(), ttlMs: keepSec * 1000, logger: silent, remember });
}

function settled(jobs: RedisJobBackend, id: string): Promise<JobView> {
  return waitUntil(async () => {
    const view = await jobs.get(id);
    return view && ['done', 'failed', 'cancelled'].includes(view.status) ? view : undefined;
  }, 20_000, `job ${id} to end`);
}

describe('RedisJobBackend', () => {
  it('queues with positions, and another front reads the results by id', async () => {
    const first = await backend();
    await worker.worker.pause();
    const submitted = await Promise.all(PHRASES.map(async (p) => first.submit(await speech(p), { source: 'http', filename: `${p}.wav` })));
    expect(submitted.map((v) => [v.status, v.position])).toEqual([
      ['queued', 0],
      ['queued', 1],
    ]);
    expect(submitted[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await first.get(submitted[1].id)).toMatchObject({ status: 'queued', position: 1, progress: 0 });
    worker.worker.resume();
    const second = await backend();
    const views = await Promise.all(submitted.map((v) => settled(second, v.id)));
    expect(views.map((v) => [v.status, v.transcript?.text, v.filename, v.progress])).toEqual(PHRASES.map((p) => ['done', p, `${p}.wav`, 1]));
    expect(views[0].createdAt).toBe(submitted[0].createdAt);
    expect(await second.get('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(await second.get('../../etc/passwd')).toBeUndefined();
  });

  it('estimates when a queued job is done: 5 s a job before any has ended, the slots of the live workers sharing those ahead, then the pace of the jobs heard ending', async () => {
    const jobs = await backend();
    await worker.worker.pause();
    const audio = await speech(PHRASES[0]);
    const first = await jobs.submit(audio, { source: 'http' });
    const second = await jobs.submit(audio, { source: 'http' });
    // One worker with one slot: the second waits for the first.
    expect([first.etaSec, second.etaSec]).toEqual([5, 10]);
    worker.worker.resume();
    await Promise.all([first, second].map((v) => settled(jobs, v.id)));
    // The tone model's jobs take well under a second: the estimate comes down to their pace.
    await worker.worker.pause();
    const third = await jobs.submit(audio, { source: 'http' });
    expect(third.etaSec).toBeGreaterThan(0);
    expect(third.etaSec).toBeLessThan(5);
    worker.worker.resume();
    await settled(jobs, third.id);
  });

  it('cancels a waiting job (it never runs) and a running one (it stops at its next window); ended jobs stay as they are', async () => {
    const jobs = await backend();
    await worker.worker.pause();
    const waiting = await jobs.submit(await speech(PHRASES[0]), { source: 'http' });
    const cancelled = await jobs.cancel(waiting.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', position: null, error: { error: 'cancelled', message: 'The job was cancelled.' } });
    expect(await jobs.get(waiting.id)).toMatchObject({ status: 'cancelled' });

    const long = Array.from({ length: 20 }, () => 'một hai ba bốn năm').join(' ');
    const running = await jobs.submit(await speech(long), { source: 'http' });
    worker.worker.resume();
    await waitUntil(async () => ((await jobs.get(running.id))?.progress ?? 0) > 0 || undefined, 20_000, 'the long job to be under way');
    expect(await jobs.cancel(running.id)).toMatchObject({ status: 'cancelled' });
    expect((await settled(jobs, running.id)).status).toBe('cancelled');
    const done = await jobs.submit(await speech(PHRASES[1]), { source: 'http' });
    expect((await settled(jobs, done.id)).transcript?.text).toBe(PHRASES[1]);
    expect(await jobs.cancel(done.id)).toMatchObject({ status: 'done' });
    const client = clients[0];
    expect(await client.keys('viet-stt:audio:*')).toEqual([]);
  });

  it('sends a finished job’s callback from the worker, signed, once; refuses a callback host not allowed', async () => {
    const jobs = await backend();
    received.length = 0;
    const url = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook?token=receiver-own`;
    const view = await jobs.submit(await speech(PHRASES[0]), { source: 'http', filename: 'a.wav', callbackUrl: url });
    await waitUntil(async () => (received.length > 0 ? true : undefined), 20_000, 'the callback');
    expect(received).toHaveLength(1);
    const body = JSON.parse(received[0].body) as { id: string; status: string; result: { transcript: string; path: string } };
    expect(body).toMatchObject({ id: view.id, status: 'done', result: { transcript: PHRASES[0], path: 'a.wav' } });
    expect(received[0].signature).toBe(`sha256=${createHmac('sha256', SECRET).update(received[0].body).digest('hex')}`);

    const refused = await rejection(jobs.submit(await speech(PHRASES[0]), { source: 'http', callbackUrl: 'http://169.254.169.254/latest' }));
    expect(refused).toBeInstanceOf(SttError);
    expect(refused).toMatchObject({ code: 'callback_not_allowed' });
  });

  it('tells any front following a job each time its worker moves it: taken, each window done, ended', async () => {
    const jobs = await backend();
    const other = await backend();
    const long = Array.from({ length: 6 }, () => 'một hai ba bốn năm').join(' ');
    await worker.worker.pause();
    const { id } = await jobs.submit(await speech(long), { source: 'http' });
    const views: Promise<JobView | undefined>[] = [];
    let ended = false;
    const unwatch = other.watch(id, () => {
      views.push(
        other.get(id).then((view) => {
          ended ||= view?.status === 'done';
          return view;
        }),
      );
    });
    worker.worker.resume();
    await waitUntil(async () => ended || undefined, 20_000, 'the followed job to end');
    unwatch();
    const seen = await Promise.all(views);
    const running = seen.filter((view) => view?.status === 'running');
    const total = running.at(-1)?.windows?.total ?? 0;
    expect(total).toBeGreaterThan(2);
    // Taken, then one call a window, then its end: told by the queue's events, never by a timer.
    expect(views).toHaveLength(total + 2);
    expect(seen.at(-1)).toMatchObject({ id, status: 'done', progress: 1, transcript: { text: long } });
  });

  it('keeps the transcript of a job that asked for history once, whichever fronts are asked for it, and shows its id on every front', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'stt-jobs-history-'));
    const store = await openStore({ dataDir, historyDays: 30 });
    try {
      const remember = (transcript: Transcript): Promise<string> => rememberHttpTranscript(store, transcript);
      const [taker, other] = [await backend(60, remember), await backend(60, remember)];
      const kept = await taker.submit(await speech(PHRASES[0]), { source: 'http', history: true });
      const unkept = await taker.submit(await speech(PHRASES[1]), { source: 'http' });
      // Both fronts asked while the job runs and ends: one of them keeps it.
      const [seenByOther, seenByTaker] = await Promise.all([kept.id, kept.id].map((id, i) => waitUntil(async () => (await [other, taker][i].get(id))?.historyId, 20_000, 'the history id')));
      expect(seenByOther).toBe(seenByTaker);
      expect(await store.getTranscript(HTTP_CHAT, seenByOther)).toMatchObject({ id: seenByOther, transcript: PHRASES[0] });
      expect((await settled(other, unkept.id)).historyId).toBeUndefined();
      expect(await store.historySummary(HTTP_CHAT)).toMatchObject({ count: 1 });
    } finally {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('forgets a finished job once JOB_TTL_SEC has passed', async () => {
    const jobs = await backend(1);
    const first = await jobs.submit(await speech(PHRASES[0]), { source: 'http' });
    expect((await settled(jobs, first.id)).status).toBe('done');
    // BullMQ removes aged jobs when a later one finishes: the next jobs past the TTL do it.
    await waitUntil(async () => {
      const next = await jobs.submit(await speech(PHRASES[1]), { source: 'http' });
      await settled(jobs, next.id);
      return (await jobs.get(first.id)) === undefined ? true : undefined;
    }, 15_000, 'the first job to be forgotten');
  });
});
