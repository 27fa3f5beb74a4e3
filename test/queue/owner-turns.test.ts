import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import type { Config } from '../../src/config.js';
import type { Core } from '../../src/core/create-transcriber.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { QueueTranscriber } from '../../src/queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import type { QueuedJobData } from '../../src/queue/queued-job.js';
import { speech } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { waitUntil } from '../support/server.js';

// Owners take turns on the shared queue as in the embedded one: a person's second job in flight
// waits behind everyone else's first, whichever front took each. A real redis-server, a real
// BullMQ worker on the test model; the worker is paused while a test lines jobs up.

const PHRASES = ['xin chào các bạn', 'tôi là người việt nam', 'hôm nay trời đẹp quá', 'một hai ba bốn năm'];
const silent = createLogger({ level: 'silent' });

let redis: TestRedis;
let client: Redis;
let core: Core;
let config: Config;
let worker: QueueWorker;
let front: QueueFront;
const audio: Record<string, Buffer> = {};
/** The jobs the worker took, in order, by their log id. */
const taken: string[] = [];
const onActive = (job: Job<QueuedJobData>): void => void taken.push(job.data.logId ?? '?');

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  ({ core, config } = await testCore({ QUEUE_URL: redis.url, QUEUE_CONCURRENCY: '1' }));
  worker = await startQueueWorker({ url: redis.url, transcriber: core.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
  worker.worker.on('active', onActive);
  front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 16, audioTtlMs: 60_000, keepFinishedSec: 60 });
  const encoded = await Promise.all(PHRASES.map((p) => speech(p)));
  PHRASES.forEach((p, i) => (audio[p] = encoded[i]));
});

afterEach(async () => {
  taken.length = 0;
  if (worker.worker.isPaused()) worker.worker.resume();
  // Every turn ends with its job: nothing of the owners is left in Redis.
  expect(await client.keys('viet-stt:turns:*')).toEqual([]);
});

afterAll(async () => {
  worker?.worker.off('active', onActive);
  await front?.close();
  await worker?.close();
  await core?.close();
  client?.disconnect();
  await redis?.close();
});

/** Jobs waiting in Redis now. */
const waiting = (): Promise<number> => client.zcard('bull:viet-stt:prioritized');

/** A job's BullMQ priority as Redis holds it now. */
async function priorityOf(id: string): Promise<number> {
  return Number(await client.hget(`bull:viet-stt:${id}`, 'priority'));
}

/** A voice note (3 s, as a bot states it) of `owner`, named `name` in the worker's run order. */
function submit(on: QueueFront, name: string, owner: string, phrase = PHRASES[0]) {
  return on.submit(audio[phrase], { source: 'telegram', owner, logId: name, createdAt: new Date().toISOString() }, { durationSec: 3, watch: {} });
}

describe('owner turns on the shared queue', () => {
  it('runs owner B’s one note second when owner A sent three first, each answered with its own transcript', async () => {
    const transcriber = new QueueTranscriber({ front, config, logger: silent, modelName: 'tone-model' });
    await worker.worker.pause();
    const sent = [
      { name: 'A1', owner: 'telegram:A', phrase: PHRASES[0] },
      { name: 'A2', owner: 'telegram:A', phrase: PHRASES[1] },
      { name: 'A3', owner: 'telegram:A', phrase: PHRASES[2] },
      { name: 'B1', owner: 'telegram:B', phrase: PHRASES[3] },
    ];
    const ahead: number[] = [];
    const answers: Promise<string>[] = [];
    for (const [i, note] of sent.entries()) {
      const answer = transcriber.transcribe(
        { kind: 'buffer', data: audio[note.phrase] },
        { source: 'telegram', owner: note.owner, jobId: note.name, durationHint: 3, waitForWorker: true, onQueued: (n) => ahead.push(n) },
      );
      answers.push(answer.then((t) => t.text));
      // In Redis before the next is sent: the order of arrival is the order above.
      await waitUntil(async () => ((await waiting()) === i + 1 ? true : undefined), 5000, `${note.name} to wait in Redis`);
    }
    // A's turns are 0, 1, 2 and B's first is 0: B has one job ahead of it, A's first.
    expect(ahead).toEqual([0, 1, 2, 1]);
    worker.worker.resume();
    expect(await Promise.all(answers)).toEqual(sent.map((n) => n.phrase));
    expect(taken).toEqual(['A1', 'B1', 'A2', 'A3']);
  });

  it('ends a turn when its job ends or is cancelled: the owner’s next job takes the turn freed', async () => {
    await worker.worker.pause();
    const a1 = await submit(front, 'A1', 'discord:A');
    const a2 = await submit(front, 'A2', 'discord:A');
    expect([await priorityOf(a1.id), await priorityOf(a2.id)]).toEqual([2, 3]);
    // Cancelled while it waits: A has one job in flight again.
    await front.cancel(a1.id);
    await expect(a1.result).rejects.toMatchObject({ code: 'cancelled' });
    const a3 = await submit(front, 'A3', 'discord:A');
    expect(await priorityOf(a3.id)).toBe(3);
    const b1 = await submit(front, 'B1', 'discord:B');
    expect(await priorityOf(b1.id)).toBe(2);
    worker.worker.resume();
    await Promise.all([a2.result, a3.result, b1.result]);
    expect(taken).toEqual(['B1', 'A2', 'A3']);
    // All ended: A's next is a first turn again.
    const again = await submit(front, 'A4', 'discord:A');
    expect(await priorityOf(again.id)).toBe(2);
    expect((await again.result)?.text).toBe(PHRASES[0]);
    expect(taken.at(-1)).toBe('A4');
  });

  it('counts the turns of all fronts together, and keeps promotion: a job that waited too long goes before everyone’s turns', async () => {
    const aging = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 16, audioTtlMs: 60_000, keepFinishedSec: 60, maxWaitMs: 300 });
    try {
      await worker.worker.pause();
      const a1 = await submit(front, 'A1', 'telegram:A');
      // Another front, the same owner: A's second turn.
      const a2 = await submit(aging, 'A2', 'telegram:A');
      expect(await priorityOf(a2.id)).toBe(3);
      // Promoted once it has waited maxWaitMs: BullMQ's priority 1, ahead of every class and turn.
      await waitUntil(async () => ((await priorityOf(a2.id)) === 1 ? true : undefined), 5000, 'A’s second job to be promoted');
      const b1 = await submit(front, 'B1', 'telegram:B');
      worker.worker.resume();
      await Promise.all([a1.result, a2.result, b1.result]);
      expect(taken).toEqual(['A2', 'A1', 'B1']);
    } finally {
      await aging.close();
    }
  });

  it('forgets a turn whose end nobody heard once its audio’s TTL has passed, so that a dead front cannot hold an owner back for ever', async () => {
    const short = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 16, audioTtlMs: 400, keepFinishedSec: 60 });
    try {
      await worker.worker.pause();
      const first = await submit(short, 'A1', 'telegram:A');
      const pttl = await client.pttl('viet-stt:turns:telegram:A');
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(400);
      expect(await priorityOf(first.id)).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // A's first job still waits, but its turn has lapsed with its audio: the next is a first turn.
      const second = await submit(short, 'A2', 'telegram:A');
      expect(await priorityOf(second.id)).toBe(2);
      await Promise.all([short.cancel(first.id), short.cancel(second.id)]);
      expect(await waiting()).toBe(0);
    } finally {
      await short.close();
    }
  });
});
