import { describe, expect, it, vi } from 'vitest';
import { SttError } from '../../src/core/errors.js';
import { JobQueue, priorityFor } from '../../src/core/job-queue.js';

/** A task the test finishes by hand. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, task: () => opened };
}

describe('the shared job queue', () => {
  it('refuses at once with queue_full past QUEUE_MAX_PENDING, with a Retry-After hint', () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 2 });
    queue.admit();
    queue.admit();
    const refused = (() => {
      try {
        queue.admit();
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(SttError);
    expect((refused as SttError).code).toBe('queue_full');
    // Before any job has run, each is assumed to take 5 s: two ahead, one at a time.
    expect((refused as SttError).retryAfterSec).toBe(10);
  });

  it('bases Retry-After on how long recent jobs took', async () => {
    let clock = 0;
    const queue = new JobQueue({ concurrency: 2, maxPending: 4, now: () => clock });
    // Ten jobs of 1 s each pull the moving average from 5 s towards 1 s.
    for (let i = 0; i < 10; i++) {
      await queue.admit().run(async () => void (clock += 1000), { durationSec: 3 });
    }
    for (let i = 0; i < 4; i++) queue.admit();
    const refused = (() => {
      try {
        queue.admit();
      } catch (error) {
        return error as SttError;
      }
    })();
    // Average 1 + 4 × 0.8^10 ≈ 1.43 s; four ahead over two at a time: ceil(2.86) = 3.
    expect(refused?.retryAfterSec).toBe(3);
  });

  it('a released ticket frees its place', () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 1 });
    queue.admit().release();
    expect(() => queue.admit()).not.toThrow();
  });

  it('runs voice notes before long files that came earlier, and tells each its place', async () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 10 });
    const order: string[] = [];
    const ahead: Record<string, number> = {};
    const blocker = gate();
    const running = queue.admit().run(blocker.task, { durationSec: 100 });
    const add = (name: string, durationSec: number) =>
      queue.admit().run(async () => void order.push(name), { durationSec, onQueued: (n) => (ahead[name] = n) });
    const jobs = [add('long-1', 290), add('note-1', 5), add('mid', 60), add('note-2', 12)];
    expect(ahead).toEqual({ 'long-1': 1, 'note-1': 1, mid: 2, 'note-2': 2 });
    blocker.open();
    await Promise.all([running, ...jobs]);
    expect(order).toEqual(['note-1', 'note-2', 'mid', 'long-1']);
  });

  it('serves people in turns within a class: ten notes from one person delay another person\'s one by at most one', async () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 20 });
    const order: string[] = [];
    const first = gate();
    const lan = [queue.admit({ owner: 'lan' }).run(async () => {
      order.push('lan-1');
      await first.task();
    }, { durationSec: 5 })];
    for (let i = 2; i <= 10; i++) lan.push(queue.admit({ owner: 'lan' }).run(async () => void order.push(`lan-${i}`), { durationSec: 5 }));
    const minh = queue.admit({ owner: 'minh' }).run(async () => void order.push('minh-1'), { durationSec: 5 });
    // A second note from Minh waits its turn behind Lan's second.
    const minh2 = queue.admit({ owner: 'minh' }).run(async () => void order.push('minh-2'), { durationSec: 5 });
    // A long file from someone new still comes after every voice note.
    const long = queue.admit({ owner: 'an' }).run(async () => void order.push('an-long'), { durationSec: 200 });
    first.open();
    await Promise.all([...lan, minh, minh2, long]);
    expect(order).toEqual(['lan-1', 'minh-1', 'lan-2', 'minh-2', 'lan-3', 'lan-4', 'lan-5', 'lan-6', 'lan-7', 'lan-8', 'lan-9', 'lan-10', 'an-long']);
  });

  it('tells a job nobody is ahead of it when a slot is free, even beside a running one', async () => {
    const queue = new JobQueue({ concurrency: 2, maxPending: 10 });
    const blocker = gate();
    const ahead: number[] = [];
    const running = queue.admit().run(blocker.task, { durationSec: 100, onQueued: (n) => ahead.push(n) });
    const second = queue.admit().run(blocker.task, { durationSec: 5, onQueued: (n) => ahead.push(n) });
    const third = queue.admit().run(async () => undefined, { durationSec: 5, onQueued: (n) => ahead.push(n) });
    expect(ahead).toEqual([0, 0, 2]);
    blocker.open();
    await Promise.all([running, second, third]);
  });

  it('a long job that has waited maxWaitMs goes ahead of newer voice notes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const queue = new JobQueue({ concurrency: 1, maxPending: 10, maxWaitMs: 30_000 });
    const order: string[] = [];
    const blocker = gate();
    const running = queue.admit().run(blocker.task, { durationSec: 5 });
    const long = queue.admit().run(async () => void order.push('long'), { durationSec: 250 });
    vi.advanceTimersByTime(30_000);
    vi.useRealTimers();
    const note = queue.admit().run(async () => void order.push('note'), { durationSec: 3 });
    blocker.open();
    await Promise.all([running, long, note]);
    expect(order).toEqual(['long', 'note']);
  });

  it('an aborted waiting job leaves the queue and frees its place', async () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 2 });
    const blocker = gate();
    const running = queue.admit().run(blocker.task, { durationSec: 5 });
    const controller = new AbortController();
    const waiting = queue.admit({ signal: controller.signal }).run(async () => 'ran', { durationSec: 5 });
    expect(queue.waiting).toBe(1);
    controller.abort();
    await expect(waiting).rejects.toThrow();
    expect(queue.waiting).toBe(0);
    blocker.open();
    await running;
  });

  it('drain refuses new work with shutting_down and waits for admitted jobs', async () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 5 });
    const blocker = gate();
    let finished = false;
    const running = queue.admit().run(async () => {
      await blocker.task();
      finished = true;
    }, { durationSec: 5 });
    const drained = queue.drain();
    expect(() => queue.admit()).toThrow(expect.objectContaining({ code: 'shutting_down' }));
    blocker.open();
    await drained;
    expect(finished).toBe(true);
    await running;
  });

  it('one Job carries id, source, owner, length and priority from admission; promotion raises that one priority', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const queue = new JobQueue({ concurrency: 1, maxPending: 10, maxWaitMs: 30_000 });
      const blocker = gate();
      const running = queue.admit({ source: 'telegram', owner: 'lan' });
      expect(running).toMatchObject({ source: 'telegram', owner: 'lan', state: 'admitted', priority: 0, progress: 0 });
      void running.run(blocker.task, { durationSec: 5 });
      expect(running.state).toBe('running');
      const long = queue.admit({ id: 'upload-7', source: 'http' });
      void long.run(async () => undefined, { durationSec: 250 });
      expect(long).toMatchObject({ id: 'upload-7', state: 'waiting', durationSec: 250, priority: -2000 });
      vi.advanceTimersByTime(29_999);
      expect(long.priority).toBe(-2000);
      vi.advanceTimersByTime(1);
      // Above every class: the pool reads this same number for the job's windows.
      expect(long.priority).toBe(1000);
      blocker.open();
    } finally {
      vi.useRealTimers();
    }
  });

  it('positions: jobs admitted before one still decoding, then those that run first once it is queued; null once it runs', async () => {
    let clock = 0;
    const queue = new JobQueue({ concurrency: 1, maxPending: 10, now: () => clock });
    const blocker = gate();
    const first = queue.admit();
    const second = queue.admit();
    const third = queue.admit();
    expect([first.position(), second.position(), third.position()]).toEqual([0, 1, 2]);
    const ran = first.run(async () => {
      await blocker.task();
      clock += 3000;
    }, { durationSec: 5 });
    expect(first.position()).toBeNull();
    // The third, a voice note, is decoded first: it goes before the second, a long file.
    const notes = [third.run(async () => undefined, { durationSec: 5 }), second.run(async () => undefined, { durationSec: 200 })];
    expect([third.position(), second.position()]).toEqual([1, 2]);
    // Before any job has run each is taken for 5 s: two ahead at one a time, then its own.
    expect(second.etaSec()).toBe(15);
    blocker.open();
    await Promise.all([ran, ...notes]);
    expect([first.state, second.state, third.state]).toEqual(['ended', 'ended', 'ended']);
    expect(second.position()).toBeNull();
    // 5 s moved a fifth of the way to 3 s, then towards 0 s twice.
    const next = queue.admit();
    expect(next.etaSec()).toBe(Math.ceil(4.6 * 0.8 * 0.8));
  });

  it('a cancelled Job leaves the queue with the reason it was cancelled with', async () => {
    const queue = new JobQueue({ concurrency: 1, maxPending: 3 });
    const blocker = gate();
    const running = queue.admit().run(blocker.task, { durationSec: 5 });
    const job = queue.admit();
    const waiting = job.run(async () => 'ran', { durationSec: 5 });
    job.cancel(new SttError('cancelled', 'The job was cancelled.'));
    await expect(waiting).rejects.toMatchObject({ code: 'cancelled', message: 'The job was cancelled.' });
    expect([queue.waiting, queue.running, job.state]).toEqual([0, 1, 'ended']);
    blocker.open();
    await running;
  });

  it.each([
    [3, 0],
    [30, 0],
    [31, -1],
    [120, -1],
    [121, -2],
  ])('priority of a %s s job is %s', (duration, priority) => {
    expect(priorityFor(duration)).toBe(priority);
  });
});
