import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/core/metrics.js';
import { encodeWav } from '../../src/core/wav.js';
import { buildApp } from '../../src/http/app.js';
import { MemoryJobBackend } from '../../src/jobs/memory-backend.js';
import type { JobBackend } from '../../src/jobs/types.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/index.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { speech } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { ffmpegChildren, postFile, startJobServer, waitUntil } from '../support/server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type JobServer = Awaited<ReturnType<typeof startJobServer>>;

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

async function submit(server: JobServer, audio: Uint8Array, name = 'a.wav', fields: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const response = await postFile(`${server.url}/jobs`, audio, name, fields);
  expect(response.status).toBe(202);
  const body = await json(response);
  expect(response.headers.get('location')).toBe(`/jobs/${String(body.id)}`);
  return body;
}

async function view(server: JobServer, id: unknown): Promise<Record<string, unknown>> {
  return json(await fetch(`${server.url}/jobs/${String(id)}`));
}

/** Polls the job until it has ended (bounded), returning every view seen on the way. */
async function untilEnded(server: JobServer, id: unknown, timeoutMs = 30_000): Promise<Record<string, unknown>[]> {
  const seen: Record<string, unknown>[] = [];
  await waitUntil(
    async () => {
      const body = await view(server, id);
      seen.push(body);
      return ['done', 'failed', 'cancelled'].includes(body.status as string) ? true : undefined;
    },
    timeoutMs,
    `job ${String(id)} to end`,
  );
  return seen;
}

/** About four minutes of the tone model's speech, as a WAV (many windows). */
function longWav(): Uint8Array {
  const words = 'một hai ba bốn năm sáu bảy tám chín mười'.split(' ');
  return encodeWav(synthesizeSpeech(Array.from({ length: 360 }, (_, i) => words[(i * 7) % words.length]).join(' ')));
}

describe('async jobs: POST /jobs, GET and DELETE /jobs/<id>', () => {
  let server: JobServer;
  beforeAll(async () => {
    server = await startJobServer({ QUEUE_CONCURRENCY: '1' });
  });
  afterAll(async () => server.close());

  it('answers 202 with where the job stands, then the same result /wav2vec2 gives, and srt, vtt and txt', async () => {
    const audio = await speech('xin chào các bạn', 'ogg-opus');
    const accepted = await submit(server, audio, 'voice.ogg');
    // Nothing ahead, and before any job has run each is taken for 5 s.
    expect(accepted).toEqual({ id: expect.stringMatching(UUID), status: 'queued', position: 0, eta_sec: 5 });
    await untilEnded(server, accepted.id);
    const done = await view(server, accepted.id);
    const direct = await json(await postFile(`${server.url}/wav2vec2`, audio, 'voice.ogg'));
    expect(done).toEqual({ id: accepted.id, status: 'done', position: null, progress: 1, result: { ...direct, processing_ms: expect.any(Number) } });
    expect((done.result as Record<string, unknown>).transcript).toBe('xin chào các bạn');

    const srt = await fetch(`${server.url}/jobs/${String(accepted.id)}?format=srt`);
    expect(srt.headers.get('content-type')).toContain('application/x-subrip');
    expect(await srt.text()).toMatch(/^1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\nxin chào các bạn\n$/);
    const vtt = await fetch(`${server.url}/jobs/${String(accepted.id)}?format=vtt`);
    expect(await vtt.text()).toMatch(/^WEBVTT\n\n00:00:00\.\d{3} --> 00:00:0\d\.\d{3}\nxin chào các bạn\n$/);
    const txt = await fetch(`${server.url}/jobs/${String(accepted.id)}?format=txt`);
    expect([txt.headers.get('content-type'), await txt.text()]).toEqual(['text/plain; charset=utf-8', 'xin chào các bạn\n']);
  });

  it('the second of two jobs at concurrency 1 has one ahead; it runs once the first is done', async () => {
    const first = await submit(server, longWav(), 'long.wav');
    await waitUntil(async () => ((await view(server, first.id)).status === 'running' ? true : undefined), 30_000, 'the first to run');
    const second = await submit(server, await speech('một hai ba'), 'short.wav');
    expect(second).toEqual({ id: expect.stringMatching(UUID), status: 'queued', position: 1, eta_sec: expect.any(Number) });
    expect(first.id).not.toBe(second.id);
    // Still decoding or waiting its turn: either way one job is ahead of it.
    expect(await view(server, second.id)).toEqual({ id: second.id, status: 'queued', position: 1, progress: 0 });
    const seen = await untilEnded(server, second.id, 60_000);
    expect(seen.at(-1)).toMatchObject({ status: 'done', result: { transcript: 'một hai ba', path: 'short.wav' } });
    expect((await view(server, first.id)).status).toBe('done');
  });

  it('progress rises window by window on a long file', async () => {
    const { id } = await submit(server, longWav(), 'long.wav');
    const seen = await untilEnded(server, id, 60_000);
    const progress = seen.map((v) => v.progress as number);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ status: 'done', progress: 1 });
  });

  it('DELETE of a running job cancels it at its next window, and the queue goes on', async () => {
    const { id } = await submit(server, longWav(), 'long.wav');
    await waitUntil(
      async () => {
        const body = await view(server, id);
        return body.status === 'running' && (body.progress as number) > 0 ? true : undefined;
      },
      30_000,
      'the long job to be running',
    );
    const cancelled = await fetch(`${server.url}/jobs/${String(id)}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    const body = await json(cancelled);
    expect(body).toEqual({
      id,
      status: 'cancelled',
      position: null,
      progress: expect.any(Number),
      error: { error: 'cancelled', message: 'The job was cancelled.' },
    });
    const next = await submit(server, await speech('tốt'), 'next.wav');
    expect((await untilEnded(server, next.id)).at(-1)).toMatchObject({ status: 'done', result: { transcript: 'tốt' } });
    const after = await view(server, id);
    expect(after.status).toBe('cancelled');
    expect(after.progress as number).toBeLessThan(1);
    const health = (await json(await fetch(`${server.url}/healthz`))) as { queue: { waiting: number; running: number } };
    expect(health.queue).toMatchObject({ waiting: 0, running: 0 });
    // Cancelling again, or an ended job, changes nothing.
    expect(await json(await fetch(`${server.url}/jobs/${String(id)}`, { method: 'DELETE' }))).toEqual(after);
  });

  it('DELETE of a queued job takes it out of the queue', async () => {
    const first = await submit(server, longWav(), 'long.wav');
    const second = await submit(server, await speech('một hai ba'), 'short.wav');
    const cancelled = await json(await fetch(`${server.url}/jobs/${String(second.id)}`, { method: 'DELETE' }));
    expect(cancelled).toEqual({ id: second.id, status: 'cancelled', position: null, progress: 0, error: { error: 'cancelled', message: 'The job was cancelled.' } });
    await untilEnded(server, first.id, 60_000);
    expect((await view(server, second.id)).status).toBe('cancelled');
  });

  it.each([
    ['no file', () => fetch(`${URL_OF()}/jobs`, { method: 'POST' }), 400, 'no_audio'],
    ['an unknown id', () => fetch(`${URL_OF()}/jobs/00000000-0000-4000-8000-000000000000`), 404, 'job_not_found'],
    ['DELETE of an unknown id', () => fetch(`${URL_OF()}/jobs/nope`, { method: 'DELETE' }), 404, 'job_not_found'],
    ['a bad format', () => fetch(`${URL_OF()}/jobs/nope?format=docx`), 400, 'bad_request'],
    ['a callback_url while CALLBACK_SECRET is unset', async () => postFile(`${URL_OF()}/jobs`, await speech('tốt'), 'a.wav', { callback_url: 'http://127.0.0.1:9/' }), 400, 'callback_not_allowed'],
    ['history that is not a boolean', async () => postFile(`${URL_OF()}/jobs`, await speech('tốt'), 'a.wav', { history: 'maybe' }), 400, 'bad_request'],
    ['history=true on a server that keeps none', async () => postFile(`${URL_OF()}/jobs`, await speech('tốt'), 'a.wav', { history: 'true' }), 400, 'bad_request'],
  ])('%s gets a clear error, and the next job works', async (what, send, status, code) => {
    const response = await send();
    expect(response.status).toBe(status);
    const body = await json(response);
    expect(body).toEqual({ status: 'error', error: code, message: expect.any(String) });
    if (what.startsWith('history=true')) expect(body.message).toBe('This server keeps no transcript history: send the request without history=true.');
    const next = await submit(server, await speech('tốt'), 'ok.wav');
    expect((await untilEnded(server, next.id)).at(-1)).toMatchObject({ status: 'done', result: { transcript: 'tốt' } });
    expect(await ffmpegChildren()).toEqual([]);
  });

  it('a format before the job is done is 409 job_not_done', async () => {
    const first = await submit(server, longWav(), 'long.wav');
    const response = await fetch(`${server.url}/jobs/${String(first.id)}?format=srt`);
    expect(response.status).toBe(409);
    expect(await json(response)).toEqual({ status: 'error', error: 'job_not_done', message: expect.stringMatching(/^The job is (queued|running): \?format=srt is there once its status is done\.$/) });
    await fetch(`${server.url}/jobs/${String(first.id)}`, { method: 'DELETE' });
  });

  /** The running server's URL, for the table above (built before the server starts). */
  function URL_OF(): string {
    return server.url;
  }
});

describe('async jobs: results kept JOB_TTL_SEC, the API key, callbacks', () => {
  it('a result is forgotten after JOB_TTL_SEC: then 404 job_not_found', async () => {
    const server = await startJobServer({ JOB_TTL_SEC: '0.05' });
    try {
      const { id } = await submit(server, await speech('tốt'));
      expect((await server.jobs.settled(id as string))?.status).toBe('done');
      const gone = await waitUntil(async () => {
        const response = await fetch(`${server.url}/jobs/${String(id)}`);
        return response.status === 404 ? json(response) : undefined;
      });
      expect(gone).toEqual({ status: 'error', error: 'job_not_found', message: 'No such job: it never existed, or it ended longer ago than results are kept.' });
    } finally {
      await server.close();
    }
  });

  it('history=true keeps the done job\'s transcript in the store, as /wav2vec2 does: result.history_id', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'stt-jobs-store-'));
    const store = await openStore({ dataDir, historyDays: 30, purgeIntervalMs: 0 });
    const server = await startJobServer({}, store);
    try {
      const kept = await submit(server, await speech('xin chào'), 'hi.wav', { history: 'true' });
      const plain = await submit(server, await speech('tốt'), 'ok.wav');
      await Promise.all([server.jobs.settled(kept.id as string), server.jobs.settled(plain.id as string)]);
      const result = (await view(server, kept.id)).result as Record<string, unknown>;
      expect(result).toMatchObject({ status: 'success', transcript: 'xin chào', history_id: expect.any(String) });
      const stored = await fetch(`${server.url}/transcripts/${String(result.history_id)}`);
      expect(stored.status).toBe(200);
      expect(JSON.stringify(await stored.json())).toContain('xin chào');
      expect((await view(server, plain.id)).result).not.toHaveProperty('history_id');
    } finally {
      await server.close();
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('API_KEY guards every /jobs route', async () => {
    const server = await startJobServer({ API_KEY: 'k-123456' });
    try {
      for (const [method, path] of [['POST', '/jobs'], ['GET', '/jobs/x'], ['DELETE', '/jobs/x']]) {
        const response = await fetch(`${server.url}${path}`, { method });
        expect(response.status, `${method} ${path}`).toBe(401);
      }
      const accepted = await postFile(`${server.url}/jobs`, await speech('tốt'), 'a.wav', {}, { authorization: 'Bearer k-123456' });
      expect(accepted.status).toBe(202);
    } finally {
      await server.close();
    }
  });

  it('POSTs the finished job, signed, to an allowed callback_url; refuses another host at submit and calls nothing there', async () => {
    const received: { body: string; signature: string | undefined }[] = [];
    let arrived!: () => void;
    const delivered = new Promise<void>((resolve) => (arrived = resolve));
    const receiver = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ body, signature: request.headers['x-viet-stt-signature'] as string | undefined });
        response.end();
        arrived();
      });
    });
    const stranger: string[] = [];
    const other = http.createServer((request, response) => {
      stranger.push(request.url ?? '');
      response.end();
    });
    await Promise.all([new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r)), new Promise<void>((r) => other.listen(0, '127.0.0.1', r))]);
    const host = `127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const otherHost = `127.0.0.1:${(other.address() as AddressInfo).port}`;
    const secret = 'shared-callback-secret';
    const server = await startJobServer({ CALLBACK_SECRET: secret, CALLBACK_ALLOWED_HOSTS: `${host}, example.org` });
    try {
      for (const url of [`http://${otherHost}/hook`, `http://localhost:${host.split(':')[1]}/hook`, 'file:///etc/passwd']) {
        const refused = await postFile(`${server.url}/jobs`, await speech('tốt'), 'a.wav', { callback_url: url });
        expect(refused.status, url).toBe(400);
        expect((await json(refused)).error).toBe('callback_not_allowed');
      }
      const { id } = await submit(server, await speech('xin chào'), 'hi.wav', { callback_url: `http://${host}/hook?team=7`, history: 'false' });
      await delivered;
      const final = await view(server, id);
      expect(final.status).toBe('done');
      expect(received).toHaveLength(1);
      expect(JSON.parse(received[0].body)).toEqual(final);
      expect(received[0].signature).toBe(`sha256=${createHmac('sha256', secret).update(received[0].body).digest('hex')}`);
      expect(stranger).toEqual([]);
    } finally {
      await server.close();
      await Promise.all([new Promise((r) => receiver.close(r)), new Promise((r) => other.close(r))]);
    }
  });
});

describe('GET /jobs/<id>/events for a client that leaves at once', () => {
  it('follows nothing once the client is gone, even when it left before the job was first looked up', async () => {
    const log = createLogger({ level: 'silent' });
    const metrics = new Metrics({ defaultMetrics: false });
    const { core, config } = await testCore({ CHUNK_SEC: '2', STRIDE_SEC: '0.4' }, log, { metrics });
    const inner = MemoryJobBackend.fromConfig(config, core.transcriber, log);
    // The real backend, with its first lookup for the stream held until the test lets it go
    // (as a lookup in Redis may take a while), and counting what the stream asks of it.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const lookedUp = new Promise<void>((resolve) => (entered = resolve));
    const asked = { gets: 0, watches: 0 };
    const jobs: JobBackend = {
      submit: (audio, request) => inner.submit(audio, request),
      cancel: (id) => inner.cancel(id),
      close: () => inner.close(),
      async get(id) {
        asked.gets++;
        entered();
        await held;
        return inner.get(id);
      },
      watch(id, onChange) {
        asked.watches++;
        return inner.watch(id, onChange);
      },
    };
    const app = await buildApp({ config, transcriber: core.transcriber, logger: log, metrics, jobs });
    const left = new Promise<void>((resolve) =>
      app.addHook('onRequestAbort', (_request, done) => {
        resolve();
        done();
      }),
    );
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { id } = await inner.submit(longWav(), { source: 'http' });
      const client = new AbortController();
      const stream = fetch(`${url}/jobs/${id}/events`, { signal: client.signal }).catch((error: unknown) => error);
      await lookedUp;
      client.abort();
      await stream;
      await left;
      release();
      await waitUntil(async () => ((await inner.get(id))?.status === 'done' ? true : undefined), 60_000, 'the job to end');
      expect(asked).toEqual({ gets: 1, watches: 0 });
    } finally {
      await app.close();
      await inner.close();
      await core.close();
    }
  });
});
