import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/core/wav.js';
import { createLogger } from '../../src/logger.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { testCore } from '../support/core.js';
import { CRASH_SAMPLES, MODEL_BROKEN_ENV } from '../support/crash.js';
import { ffmpegChildren, waitUntil } from '../support/server.js';

const run = promisify(execFile);

describe('faults inside the core fail one job cleanly and the next one works', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stt-faults-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('ffmpeg killed mid-decode: the job fails as internal, nothing is left, the next succeeds', async () => {
    const { core } = await testCore();
    try {
      // A FIFO keeps ffmpeg reading until the test has killed it.
      const fifo = path.join(dir, 'stalled.wav');
      await run('mkfifo', [fifo]);
      const job = core.transcriber.transcribe({ kind: 'file', path: fifo });
      const writer = await open(fifo, 'w');
      await writer.write(encodeWav(synthesizeSpeech('xin chào')).subarray(0, 10_000));
      const [pid] = await waitUntil(async () => ((await ffmpegChildren()).length === 1 ? ffmpegChildren() : undefined), 5000, 'ffmpeg to start');
      process.kill(pid, 'SIGKILL');
      await expect(job).rejects.toMatchObject({ code: 'internal' });
      await writer.close();
      expect(await ffmpegChildren()).toEqual([]);
      const next = await core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(synthesizeSpeech('tốt')) });
      expect(next.text).toBe('tốt');
    } finally {
      await core.close();
    }
  });

  it('an inference worker that dies: the pool replaces it, the job fails as internal, the next succeeds', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const { core } = await testCore({}, logger, { workerUrl: new URL('../support/crashing-worker.ts', import.meta.url) });
    try {
      const doomed = new Float32Array(CRASH_SAMPLES);
      doomed.set(synthesizeSpeech('chết').subarray(0, CRASH_SAMPLES));
      await expect(core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(doomed) }, { jobId: 'job-crash' })).rejects.toMatchObject({
        code: 'internal',
      });
      const next = await core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(synthesizeSpeech('sống')) });
      expect(next.text).toBe('sống');
      const failure = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'transcription failed');
      expect(failure).toMatchObject({ jobId: 'job-crash', level: 50 });
      expect(lines.some((l) => l.includes('inference worker died'))).toBe(true);
    } finally {
      await core.close();
    }
  });

  it('a worker that dies and cannot be replaced: jobs fail at once with model_unavailable, never hang, until a restart works', async () => {
    const broken = path.join(dir, 'model-broken');
    process.env[MODEL_BROKEN_ENV] = broken;
    const lines: string[] = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const { core } = await testCore({}, logger, { workerUrl: new URL('../support/crashing-worker.ts', import.meta.url), restartDelayMs: 200 });
    try {
      await writeFile(broken, '');
      const doomed = new Float32Array(CRASH_SAMPLES);
      doomed.set(synthesizeSpeech('chết').subarray(0, CRASH_SAMPLES));
      await expect(core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(doomed) })).rejects.toMatchObject({ code: 'internal' });
      await waitUntil(async () => (lines.some((l) => l.includes('could not restart the inference worker')) ? true : undefined), 10_000, 'a failed restart');
      await expect(core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(synthesizeSpeech('chờ')) })).rejects.toMatchObject({
        code: 'model_unavailable',
        status: 503,
      });

      await rm(broken);
      const back = await waitUntil(
        () => core.transcriber.transcribe({ kind: 'buffer', data: encodeWav(synthesizeSpeech('sống')) }).then((t) => t.text, () => undefined),
        10_000,
        'a worker to load again',
      );
      expect(back).toBe('sống');
      expect(lines.some((l) => l.includes('inference worker running again'))).toBe(true);
    } finally {
      delete process.env[MODEL_BROKEN_ENV];
      await core.close();
    }
  });

  it('a job cancelled while it waits or runs frees its place and leaves no ffmpeg', async () => {
    const { core } = await testCore({ QUEUE_CONCURRENCY: '1' });
    try {
      const long = encodeWav(synthesizeSpeech(Array.from({ length: 40 }, () => 'một hai ba').join(' ')));
      const controller = new AbortController();
      const first = core.transcriber.transcribe({ kind: 'buffer', data: long });
      const second = core.transcriber.transcribe({ kind: 'buffer', data: long }, { signal: controller.signal, onQueued: () => controller.abort() });
      await expect(second).rejects.toMatchObject({ code: 'cancelled' });
      expect((await first).text.split(' ').length).toBe(120);
      expect(core.queue.waiting).toBe(0);
      expect(await ffmpegChildren()).toEqual([]);
    } finally {
      await core.close();
    }
  });
});
