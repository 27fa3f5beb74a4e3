import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTelegramBot } from '../../adapters/telegram.js';
import { mountTelegramWebhook, WEBHOOK_SECRET_HEADER } from '../../adapters/telegram/webhook.js';
import { buildApp } from '../../src/http/app.js';
import { Metrics } from '../../src/core/metrics.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/index.js';
import { speech, type Format } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { ffmpegChildren, postFile, serviceTempFiles, startTestServer, streamUpload, waitUntil } from '../support/server.js';

type Server = Awaited<ReturnType<typeof startTestServer>>;
type Json = Record<string, unknown>;

async function health(server: { url: string }): Promise<{ queue: { waiting: number }; uploads: { uploading: number } }> {
  return (await (await fetch(`${server.url}/healthz`)).json()) as { queue: { waiting: number }; uploads: { uploading: number } };
}

/** A client that sends `headers`, then whatever the test writes, and resolves with the answer it gets. */
function openRequest(url: string, method: string, headers: Record<string, string | number>) {
  const request = http.request(url, { method, headers });
  request.on('error', () => undefined);
  const answer = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Json }>((resolve, reject) => {
    request.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Json }));
      res.on('error', reject);
    });
  });
  request.flushHeaders();
  return { request, answer };
}

/** Sends bytes on a bare TCP connection and returns what comes back before the server closes it. */
function rawExchange(url: string, bytes: string): Promise<{ status: number; body: Json }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, body] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body: JSON.parse(body) as Json });
    });
  });
}

/** Writes one byte every `everyMs` until stopped: a client on a link that barely moves. */
function trickle(request: http.ClientRequest, data: Uint8Array, everyMs: number): () => void {
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < data.length && !request.destroyed) request.write(data.subarray(sent, ++sent));
  }, everyMs);
  return () => clearInterval(timer);
}

async function expectNextRequestWorks(server: { url: string }): Promise<void> {
  const response = await postFile(`${server.url}/wav2vec2`, await speech('tốt'), 'ok.wav');
  expect(response.status).toBe(200);
  expect(((await response.json()) as Json).transcript).toBe('tốt');
  expect(await ffmpegChildren()).toEqual([]);
  expect(await serviceTempFiles()).toEqual([]);
}

describe('an upload holds a place in the queue only once its audio is in', () => {
  it('four clients trickling a byte at a time fill no place: good requests are answered meanwhile, and each trickle is refused once too slow', async () => {
    const server = await startTestServer({ QUEUE_MAX_PENDING: '4', UPLOAD_IDLE_SEC: '1.5', UPLOAD_MIN_RATE_KBPS: '1' });
    const stops: (() => void)[] = [];
    try {
      const audio = await speech('một hai ba');
      const slow = Array.from({ length: 4 }, () => streamUpload(`${server.url}/wav2vec2`, audio.length));
      for (const { request } of slow) stops.push(trickle(request, audio, 100));
      await waitUntil(async () => ((await health(server)).uploads.uploading === 4 ? true : undefined), 5000, 'four uploads arriving');
      expect((await health(server)).queue.waiting).toBe(0);

      const good = await postFile(`${server.url}/wav2vec2`, audio, 'good.wav');
      expect(good.status).toBe(200);
      expect(((await good.json()) as Json).transcript).toBe('một hai ba');

      for (const { answer } of slow) {
        const { status, body } = await answer;
        expect(status).toBe(408);
        expect(JSON.parse(body)).toEqual({ status: 'error', error: 'upload_timeout', message: 'The upload arrived too slowly (under 1 KB/s).' });
      }
      expect((await health(server)).uploads.uploading).toBe(0);
      await expectNextRequestWorks(server);
    } finally {
      for (const stop of stops) stop();
      await server.close();
    }
  });

  it('a body that keeps a fair rate but not the deadline is answered 408 at UPLOAD_DEADLINE_SEC', async () => {
    const server = await startTestServer({ UPLOAD_DEADLINE_SEC: '1', UPLOAD_IDLE_SEC: '0.5', UPLOAD_MIN_RATE_KBPS: '0' });
    let stop = (): void => undefined;
    try {
      const audio = await speech('một hai ba bốn năm sáu bảy tám chín mười');
      const { request, answer } = streamUpload(`${server.url}/wav2vec2`, audio.length);
      request.on('error', () => undefined);
      stop = trickle(request, audio, 20);
      const { status, body } = await answer;
      expect(status).toBe(408);
      expect(JSON.parse(body)).toEqual({ status: 'error', error: 'upload_timeout', message: 'The upload took longer than 1 s.' });
      stop();
      await expectNextRequestWorks(server);
    } finally {
      stop();
      await server.close();
    }
  });

  it.each<[string, Record<string, string>, string]>([
    ['a multipart form', { 'content-type': 'multipart/form-data; boundary=XyZ' }, '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.ogg"\r\n\r\nOggS'],
    ['a JSON body', { 'content-type': 'application/json' }, '{"path": "a'],
    ['a URL-encoded form', { 'content-type': 'application/x-www-form-urlencoded' }, 'path=a'],
    ['a chunked raw body', { 'content-type': 'audio/ogg', 'transfer-encoding': 'chunked' }, 'OggS'],
  ])('%s that stalls is answered 408 upload_timeout and keeps nothing', async (_name, headers, start) => {
    // No minimum rate here: a body that sends nothing would be too slow as well as idle.
    const server = await startTestServer({ UPLOAD_IDLE_SEC: '0.5', UPLOAD_MIN_RATE_KBPS: '0' });
    try {
      const declared = headers['content-type'].startsWith('multipart/') ? 20 * 1024 * 1024 : 1000;
      const length: Record<string, number> = headers['transfer-encoding'] ? {} : { 'content-length': declared };
      const { request, answer } = openRequest(`${server.url}/wav2vec2`, 'POST', { ...headers, ...length });
      request.write(start);
      const { status, body } = await answer;
      expect(status).toBe(408);
      expect(body).toEqual({ status: 'error', error: 'upload_timeout', message: 'The upload stalled: no data arrived for too long.' });
      request.destroy();
      expect((await health(server)).uploads.uploading).toBe(0);
      await expectNextRequestWorks(server);
    } finally {
      await server.close();
    }
  });

  it('past MAX_UPLOADS_IN_FLIGHT a new upload is refused at once with 503 too_many_uploads and Retry-After, and taken once a slot frees', async () => {
    const server = await startTestServer({ MAX_UPLOADS_IN_FLIGHT: '2' });
    try {
      const audio = await speech('một hai ba');
      const held = [streamUpload(`${server.url}/wav2vec2`, audio.length), streamUpload(`${server.url}/wav2vec2`, audio.length)];
      for (const { request, answer } of held) {
        answer.catch(() => undefined);
        request.write(audio.subarray(0, 100));
      }
      await waitUntil(async () => ((await health(server)).uploads.uploading === 2 ? true : undefined), 5000, 'two uploads arriving');

      const refused = await postFile(`${server.url}/wav2vec2`, audio, 'third.wav');
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toEqual({ status: 'error', error: 'too_many_uploads', message: expect.any(String) });

      held[0].request.destroy();
      await waitUntil(async () => ((await health(server)).uploads.uploading === 1 ? true : undefined), 5000, 'a slot to free');
      const taken = await postFile(`${server.url}/wav2vec2`, audio, 'fourth.wav');
      expect(((await taken.json()) as Json).transcript).toBe('một hai ba');
      held[1].request.end(audio.subarray(100));
      expect(JSON.parse((await held[1].answer).body).transcript).toBe('một hai ba');
      await expectNextRequestWorks(server);
    } finally {
      await server.close();
    }
  });
});

describe('unauthenticated requests cost nothing', () => {
  it('a request without the API key is answered 401 before its body is read', async () => {
    const server = await startTestServer({ API_KEY: 'k3y-for-tests' });
    try {
      const { request, answer } = openRequest(`${server.url}/wav2vec2`, 'POST', { 'content-type': 'application/json', 'content-length': 24 * 1024 * 1024 });
      request.write('{"path": "');
      // The answer comes while 24 MB are still unsent.
      const { status, body, headers } = await answer;
      expect(status).toBe(401);
      expect(body).toMatchObject({ error: 'unauthorized' });
      expect(headers.connection).toBe('close');
      request.destroy();
      const ok = await postFile(`${server.url}/wav2vec2`, await speech('tốt'), 'a.wav', {}, { authorization: 'Bearer k3y-for-tests' });
      expect(((await ok.json()) as Json).transcript).toBe('tốt');
    } finally {
      await server.close();
    }
  });

  describe('the Telegram webhook', () => {
    let url: string;
    let close: () => Promise<void>;
    const secret = 'webhook-secret-for-tests';
    beforeAll(async () => {
      const logger = createLogger({ level: 'silent' });
      const { core, config } = await testCore(
        { TELEGRAM_BOT_TOKEN: '123:abc', TELEGRAM_WEBHOOK_URL: 'https://stt.example.com', TELEGRAM_WEBHOOK_SECRET: secret },
        logger,
      );
      const app = await buildApp({ config, transcriber: core.transcriber, logger, metrics: new Metrics({ defaultMetrics: false }) });
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hostile-store-'));
      const store = await openStore({ dataDir, historyDays: 30 });
      expect(mountTelegramWebhook(app, createTelegramBot({ config, transcriber: core.transcriber, store, logger }))).toBe(true);
      url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/telegram/webhook`;
      close = async () => {
        await app.close();
        await core.close();
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      };
    });
    afterAll(() => close());

    it('checks the secret before the body is read: a 24 MB update without it is answered 401 at once', async () => {
      const { request, answer } = openRequest(url, 'POST', { 'content-type': 'application/json', 'content-length': 24 * 1024 * 1024 });
      request.write('{"update_id": 1, "message": {"text": "');
      const { status, body } = await answer;
      expect(status).toBe(401);
      expect(body).toMatchObject({ error: 'unauthorized' });
      request.destroy();
    });

    const update = `{"update_id": 1, "message": {"text": "${'a'.repeat(2 * 1024 * 1024)}"}}`;
    it.each([
      ['declared', { 'content-length': Buffer.byteLength(update) }],
      ['chunked', { 'transfer-encoding': 'chunked' }],
    ])('caps an update at 1 MiB, even with the secret (%s length)', async (_name, length) => {
      const { request, answer } = openRequest(url, 'POST', { 'content-type': 'application/json', [WEBHOOK_SECRET_HEADER]: secret, ...length });
      request.write(update);
      const { status, body } = await answer;
      expect(status).toBe(413);
      expect(body).toMatchObject({ status: 'error', error: 'payload_too_large' });
      request.destroy();
    });
  });

  it('a JSON or URL-encoded body on a transcription route carries fields only: a large one is not parsed', async () => {
    const server = await startTestServer();
    try {
      const big = JSON.stringify({ path: 'a.wav', pad: 'x'.repeat(1024 * 1024) });
      const response = await fetch(`${server.url}/wav2vec2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ error: 'unsupported_media_type' });
      await expectNextRequestWorks(server);
    } finally {
      await server.close();
    }
  });
});

describe('clients people actually use', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());
  afterEach(() => expectNextRequestWorks(server));

  it("Python requests' file part, which has no Content-Type, is transcribed", async () => {
    const audio = await speech('xin chào');
    const head = '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="voice.wav"\r\n\r\n';
    const body = Buffer.concat([Buffer.from(head), audio, Buffer.from('\r\n--b0undary--\r\n')]);
    const response = await fetch(`${server.url}/wav2vec2`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b0undary' }, body });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ transcript: 'xin chào', path: 'voice.wav' });
  });

  it.each<[string, Format]>([
    ['application/ogg', 'ogg-opus'],
    ['application/mp4', 'm4a'],
    ['video/webm', 'webm-opus'],
    ['application/x-matroska', 'webm-opus'],
    ['application/x-unknown', 'mp3-44k-stereo'],
  ])('a raw body labelled %s is transcribed by what it is', async (type, format) => {
    const response = await fetch(`${server.url}/wav2vec2`, { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(await speech('xin chào', format)) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as Json).transcript).toBe('xin chào');
  });

  it.each<[string, Record<string, string>, () => Promise<Uint8Array<ArrayBuffer> | string>]>([
    ['raw text/plain', { 'content-type': 'text/plain' }, async () => 'xin chào'],
    ['a JSON body with no path', { 'content-type': 'application/json' }, async () => '{"file": "voice.ogg"}'],
    // curl --data-binary @voice.ogg with no -H: the audio arrives labelled as a URL-encoded form.
    ['audio sent as a URL-encoded form', { 'content-type': 'application/x-www-form-urlencoded' }, async () => new Uint8Array(await speech('xin chào', 'ogg-opus'))],
  ])('%s is 415 unsupported_media_type, and the message says how to send a file', async (_name, headers, body) => {
    const response = await fetch(`${server.url}/wav2vec2`, { method: 'POST', headers, body: await body() });
    expect(response.status).toBe(415);
    const answer = (await response.json()) as Json;
    expect(answer).toMatchObject({ status: 'error', error: 'unsupported_media_type' });
    expect(answer.message).toContain('curl -F file=@voice.ogg');
    expect(answer.message).toContain("-H 'Content-Type: audio/ogg'");
  });

  it.each(['format=srt&format=vtt', 'path=a.wav&path=b.wav'])('a query that repeats a parameter (%s) is 400 bad_request', async (query) => {
    const response = await postFile(`${server.url}/wav2vec2?${query}`, await speech('a'), 'a.wav');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ status: 'error', error: 'bad_request', message: expect.stringContaining('more than once') });
  });

  it.each([
    ['a malformed request line', 'NOT HTTP AT ALL\r\n\r\n', 400, 'bad_request'],
    ['bad chunked encoding', 'POST /wav2vec2 HTTP/1.1\r\nHost: x\r\nContent-Type: audio/ogg\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nOggS\r\n', 400, 'bad_request'],
    ['an oversized header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
  ])('%s is answered in the catalogue shape', async (_name, bytes, status, code) => {
    const answer = await rawExchange(server.url, bytes);
    expect(answer).toEqual({ status, body: { status: 'error', error: code, message: expect.any(String) } });
  });
});

describe('AUDIO_DIR is checked on what is actually read', () => {
  let server: Server;
  let root: string;
  let audioDir: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'stt-audiodir-'));
    audioDir = path.join(root, 'audio');
    await mkdir(audioDir);
    await mkdir(path.join(root, 'outside'));
    await writeFile(path.join(root, 'outside', 'private.wav'), await speech('bí mật'));
    await symlink(path.join(root, 'outside'), path.join(audioDir, 'linked'));
    server = await startTestServer({ AUDIO_DIR: audioDir });
  });
  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });
  afterEach(() => expectNextRequestWorks(server));

  it('a file swapped for a symlink out of the folder while requests run is never read', async () => {
    const good = path.join(audioDir, 'good.tmp');
    const link = path.join(audioDir, 'link.tmp');
    const target = path.join(audioDir, 'race.wav');
    const okAudio = await speech('tốt');
    await writeFile(target, okAudio);
    let swapping = true;
    const swapper = (async () => {
      for (let i = 0; swapping; i++) {
        if (i % 2 === 0) {
          await symlink(path.join(root, 'outside', 'private.wav'), link);
          await rename(link, target);
        } else {
          await writeFile(good, okAudio);
          await rename(good, target);
        }
      }
    })();
    const answers: string[] = [];
    try {
      for (let round = 0; round < 10; round++) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const response = await fetch(`${server.url}/wav2vec2?path=race.wav`);
            const body = (await response.json()) as Json;
            return `${response.status} ${String(body.transcript ?? body.error)}`;
          }),
        );
        answers.push(...batch);
      }
    } finally {
      swapping = false;
      await swapper;
    }
    expect(answers).toHaveLength(100);
    expect(answers.filter((a) => a !== '200 tốt' && a !== '404 file_not_found')).toEqual([]);
  });

  it('a FIFO is refused at once, not waited on', async () => {
    execFileSync('mkfifo', [path.join(audioDir, 'pipe.wav')]);
    const response = await fetch(`${server.url}/wav2vec2?path=pipe.wav`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'file_not_found' });
  });

  it('behind a symlinked folder, a file that exists outside and one that does not get the same answer', async () => {
    const existing = await fetch(`${server.url}/wav2vec2?path=linked/private.wav`);
    const missing = await fetch(`${server.url}/wav2vec2?path=linked/nope.wav`);
    expect([existing.status, missing.status]).toEqual([404, 404]);
    expect(await existing.json()).toEqual(await missing.json());
  });
});
