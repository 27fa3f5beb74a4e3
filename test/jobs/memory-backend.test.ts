import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Core } from '../../src/core/create-transcriber.js';
import { encodeWav } from '../../src/core/wav.js';
import { CallbackSender } from '../../src/jobs/callback.js';
import { MemoryJobBackend } from '../../src/jobs/memory-backend.js';
import { createLogger } from '../../src/logger.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { testCore } from '../support/core.js';
import { ffmpegChildren } from '../support/server.js';

const logger = createLogger({ level: 'silent' });
const TTL_MS = 3_600_000;

describe('the embedded job backend', () => {
  let core: Core;
  beforeAll(async () => {
    ({ core } = await testCore({ QUEUE_CONCURRENCY: '1' }));
  });
  afterAll(async () => core.close());

  const backend = () =>
    new MemoryJobBackend({ transcriber: core.transcriber, ttlMs: TTL_MS, callbacks: new CallbackSender({ secret: undefined, allowedHosts: [], logger }), logger });

  it('keeps a result JOB_TTL_SEC after the job ended, then forgets it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const jobs = backend();
    try {
      vi.setSystemTime(new Date('2026-05-18T09:00:00Z'));
      const submitted = await jobs.submit(encodeWav(synthesizeSpeech('xin chào')), { source: 'http', filename: 'a.wav' });
      expect(submitted).toMatchObject({ status: 'queued', position: 0, progress: 0, createdAt: '2026-05-18T09:00:00.000Z', filename: 'a.wav' });
      const done = await jobs.settled(submitted.id);
      expect(done).toMatchObject({ id: submitted.id, status: 'done', position: null, progress: 1, transcript: { text: 'xin chào' } });
      vi.advanceTimersByTime(TTL_MS - 1);
      expect((await jobs.get(submitted.id))?.status).toBe('done');
      vi.advanceTimersByTime(1);
      expect(await jobs.get(submitted.id)).toBeUndefined();
      expect(await jobs.cancel(submitted.id)).toBeUndefined();
    } finally {
      await jobs.close();
      vi.useRealTimers();
    }
  });

  it('gives every job an unguessable id (a random UUID)', async () => {
    const jobs = backend();
    try {
      const audio = encodeWav(synthesizeSpeech('tốt'));
      const ids = await Promise.all([1, 2, 3].map(async () => (await jobs.submit(audio, { source: 'http' })).id));
      expect(new Set(ids).size).toBe(3);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      await Promise.all(ids.map((id) => jobs.settled(id)));
    } finally {
      await jobs.close();
    }
  });

  it('refuses as the core does when the queue is full: no job is kept', async () => {
    const { core: small } = await testCore({ QUEUE_CONCURRENCY: '1', QUEUE_MAX_PENDING: '1' });
    const jobs = new MemoryJobBackend({ transcriber: small.transcriber, ttlMs: TTL_MS, callbacks: new CallbackSender({ secret: undefined, allowedHosts: [], logger }), logger });
    try {
      const audio = encodeWav(synthesizeSpeech('một hai ba'));
      const first = await jobs.submit(audio, { source: 'http' });
      await expect(jobs.submit(audio, { source: 'http' })).rejects.toMatchObject({ code: 'queue_full', retryAfterSec: expect.any(Number) });
      expect((await jobs.settled(first.id))?.status).toBe('done');
      expect((await jobs.submit(audio, { source: 'http' })).status).toBe('queued');
    } finally {
      await jobs.close();
      await small.close();
    }
  });

  it('a failed job carries the catalogue error; close() cancels what is left and leaves no ffmpeg', async () => {
    const jobs = backend();
    const failed = await jobs.submit(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), { source: 'http' });
    expect(await jobs.settled(failed.id)).toMatchObject({ status: 'failed', error: { error: expect.stringMatching(/^(invalid_audio|unsupported_media_type)$/), message: expect.any(String) } });
    const long = encodeWav(synthesizeSpeech(Array.from({ length: 60 }, () => 'một hai ba').join(' ')));
    const left = await jobs.submit(long, { source: 'http' });
    await jobs.close();
    expect(await jobs.get(left.id)).toBeUndefined();
    expect(core.transcriber.status()).toMatchObject({ waiting: 0, running: 0 });
    expect(await ffmpegChildren()).toEqual([]);
    await expect(jobs.submit(long, { source: 'http' })).rejects.toMatchObject({ code: 'shutting_down' });
  });
});
