import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/core/wav.js';
import { createLogger } from '../../src/logger.js';
import { speech, type Format } from '../support/audio.js';
import { ffmpegChildren, postFile, serviceTempFiles, startTestServer, streamUpload } from '../support/server.js';

const PHRASE = 'xin chào các bạn hôm nay trời đẹp quá';
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

describe('POST /wav2vec2 transcribes what users send', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server.close());

  it.each<[Format, string]>([
    ['ogg-opus', 'voice.ogg'],
    ['mp3-44k-stereo', 'song.mp3'],
    ['m4a', 'memo.m4a'],
    ['wav-8k', 'phone.wav'],
    ['ogg-vorbis', 'vorbis.ogg'],
    ['webm-opus', 'browser.webm'],
  ])('%s as a multipart upload', async (format, name) => {
    const response = await postFile(`${server.url}/wav2vec2`, await speech(PHRASE, format), name);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body).toMatchObject({ status: 'success', transcript: PHRASE, path: name, device: 'cpu' });
    expect((body.words as { word: string }[]).map((w) => w.word)).toEqual(PHRASE.split(' '));
  });

  it('a raw audio/ogg body', async () => {
    const response = await fetch(`${server.url}/wav2vec2`, {
      method: 'POST',
      headers: { 'content-type': 'audio/ogg' },
      body: new Uint8Array(await speech('một hai ba', 'ogg-opus')),
    });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ status: 'success', transcript: 'một hai ba' });
  });

  it('returns words with times, duration and processing time', async () => {
    const response = await postFile(`${server.url}/wav2vec2`, await speech('xin chào'), 'a.wav');
    const body = await json(response);
    expect(body.words).toEqual([
      { word: 'xin', start: 0.2, end: 0.62, confidence: expect.closeTo(1, 1) },
      { word: 'chào', start: 0.84, end: 1.42, confidence: expect.closeTo(1, 1) },
    ]);
    expect(body.duration).toBe(1.62);
    expect(typeof body.processing_ms).toBe('number');
  });

  it('a 4-minute file through overlapping windows: no word lost or doubled at the edges', async () => {
    const numbers = 'một hai ba bốn năm sáu bảy tám chín mười'.split(' ');
    // Doubled letters ("oo", "ee") and repeated words make a lost or doubled frame at a seam visible.
    const vocabulary = [...numbers, 'xoong', 'kem', 'nhé', 'ngoài', 'trời', 'ee'];
    const words = Array.from({ length: 360 }, (_, i) => vocabulary[(i * 7) % vocabulary.length]);
    const text = words.join(' ');
    const audio = await speech(text, 'ogg-opus');
    const response = await postFile(`${server.url}/wav2vec2`, audio, 'long.ogg');
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.duration).toBeGreaterThan(240);
    expect(body.transcript).toBe(text);
  });

  it('?format=srt, vtt and txt', async () => {
    const audio = await speech('xin chào');
    const srt = await postFile(`${server.url}/wav2vec2?format=srt`, audio, 'a.wav');
    expect(srt.headers.get('content-type')).toContain('application/x-subrip');
    expect(await srt.text()).toBe('1\n00:00:00,200 --> 00:00:01,420\nxin chào\n');
    const vtt = await postFile(`${server.url}/wav2vec2?format=vtt`, audio, 'a.wav');
    expect(await vtt.text()).toBe('WEBVTT\n\n00:00:00.200 --> 00:00:01.420\nxin chào\n');
    const txt = await postFile(`${server.url}/wav2vec2`, audio, 'a.wav', { format: 'txt' });
    expect(await txt.text()).toBe('xin chào\n');
  });

  it('keeps `transcript` as the model heard it and adds `written` (also ?text=written for txt, srt and vtt)', async () => {
    const audio = await speech('chuyển khoản năm trăm nghìn đồng lúc chín giờ ba mươi');
    const body = await json(await postFile(`${server.url}/wav2vec2`, audio, 'a.wav'));
    expect(body).toMatchObject({
      transcript: 'chuyển khoản năm trăm nghìn đồng lúc chín giờ ba mươi',
      written: 'chuyển khoản 500.000 đồng lúc 9 giờ 30',
    });
    // Word timings stay on the spoken words.
    expect((body.words as { word: string }[]).map((w) => w.word)).toEqual('chuyển khoản năm trăm nghìn đồng lúc chín giờ ba mươi'.split(' '));
    expect(await (await postFile(`${server.url}/wav2vec2?format=txt&text=written`, audio, 'a.wav')).text()).toBe('chuyển khoản 500.000 đồng lúc 9 giờ 30\n');
    expect(await (await postFile(`${server.url}/wav2vec2?format=txt`, audio, 'a.wav')).text()).toBe('chuyển khoản năm trăm nghìn đồng lúc chín giờ ba mươi\n');
    expect(await (await postFile(`${server.url}/wav2vec2?format=vtt&text=written`, audio, 'a.wav')).text()).toMatch(/\nchuyển khoản 500\.000 đồng lúc 9 giờ 30\n$/);
    const unknown = await postFile(`${server.url}/wav2vec2?text=fancy`, audio, 'a.wav');
    expect(unknown.status).toBe(400);
  });

  it('10 s of silence is a success with an empty transcript', async () => {
    const response = await postFile(`${server.url}/wav2vec2`, encodeWav(new Float32Array(160_000)), 'silence.wav');
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ status: 'success', transcript: '', words: [], duration: 10 });
    const next = await postFile(`${server.url}/wav2vec2`, await speech('tốt'), 'ok.wav');
    expect((await json(next)).transcript).toBe('tốt');
    expect(await ffmpegChildren()).toEqual([]);
  });
});

describe('bad input gets a clear error and breaks nothing', () => {
  let server: Server;
  let audioDir: string;
  let outside: string;
  beforeAll(async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'stt-http-test-'));
    audioDir = path.join(root, 'audio');
    outside = path.join(root, 'secret');
    await mkdir(path.join(audioDir, 'calls'), { recursive: true });
    await mkdir(outside);
    await writeFile(path.join(audioDir, 'calls', 'hello.wav'), await speech('xin chào'));
    await writeFile(path.join(audioDir, '..intro.wav'), await speech('tốt'));
    await writeFile(path.join(outside, 'private.wav'), await speech('bí mật'));
    await symlink(path.join(outside, 'private.wav'), path.join(audioDir, 'escape.wav'));
    // Playlists that would have ffmpeg open a file outside AUDIO_DIR, or a URL.
    const hls = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0', '#EXTINF:2.0,'];
    await writeFile(path.join(audioDir, 'playlist.m3u8'), [...hls, '../secret/private.wav', '#EXT-X-ENDLIST', ''].join('\n'));
    await writeFile(path.join(audioDir, 'list.ffconcat'), `ffconcat version 1.0\nfile '${path.join(outside, 'private.wav')}'\n`);
    server = await startTestServer({ AUDIO_DIR: audioDir, MAX_DURATION_SEC: '30', MAX_UPLOAD_MB: '1' });
  });
  afterAll(async () => {
    await server.close();
    await rm(path.dirname(audioDir), { recursive: true, force: true });
  });

  afterEach(async () => {
    // After every refusal the next good request works and nothing is left behind.
    const response = await postFile(`${server.url}/wav2vec2`, await speech('tốt'), 'ok.wav');
    expect(response.status).toBe(200);
    expect((await json(response)).transcript).toBe('tốt');
    expect(await ffmpegChildren()).toEqual([]);
    expect(await serviceTempFiles()).toEqual([]);
  });

  const cases: [string, () => Promise<Response>, number, string][] = [
    ['an empty body', () => fetch(`${server.url}/wav2vec2`, { method: 'POST' }), 400, 'no_audio'],
    ['a GET with no path', () => fetch(`${server.url}/wav2vec2`), 400, 'no_audio'],
    [
      'an empty raw body',
      () => fetch(`${server.url}/wav2vec2`, { method: 'POST', headers: { 'content-type': 'audio/ogg' }, body: new Uint8Array(0) }),
      400,
      'no_audio',
    ],
    [
      'a form with no file field',
      () => {
        const form = new FormData();
        form.append('note', 'hello');
        return fetch(`${server.url}/wav2vec2`, { method: 'POST', body: form });
      },
      400,
      'no_audio',
    ],
    [
      'a multipart body with no boundary',
      () => fetch(`${server.url}/wav2vec2`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'file=x' }),
      400,
      'bad_request',
    ],
    [
      'a multipart body cut off inside its file part',
      () =>
        fetch(`${server.url}/wav2vec2`, {
          method: 'POST',
          headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
          body: '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.ogg"\r\nContent-Type: audio/ogg\r\n\r\nOggS partial',
        }),
      400,
      'bad_request',
    ],
    [
      'two files in one form',
      async () => {
        const form = new FormData();
        const audio = new Blob([new Uint8Array(await speech('a'))]);
        form.append('file', audio, 'one.wav');
        form.append('file', audio, 'two.wav');
        return fetch(`${server.url}/wav2vec2`, { method: 'POST', body: form });
      },
      400,
      'bad_request',
    ],
    ['a PNG', () => postFile(`${server.url}/wav2vec2`, PNG, 'photo.ogg'), 415, 'unsupported_media_type'],
    [
      'a raw image/png body',
      () => fetch(`${server.url}/wav2vec2`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: PNG }),
      415,
      'unsupported_media_type',
    ],
    [
      'random bytes named .ogg',
      () => postFile(`${server.url}/wav2vec2`, Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919 + 13) % 251)), 'voice.ogg'),
      400,
      'invalid_audio',
    ],
    [
      'an OGG cut inside its headers',
      async () => postFile(`${server.url}/wav2vec2`, (await speech('xin chào', 'ogg-opus')).subarray(0, 300), 'cut.ogg'),
      400,
      'invalid_audio',
    ],
    ['50 ms of audio', () => postFile(`${server.url}/wav2vec2`, encodeWav(new Float32Array(800).fill(0.1)), 'blip.wav'), 400, 'audio_too_short'],
    [
      'audio longer than MAX_DURATION_SEC',
      () => postFile(`${server.url}/wav2vec2`, encodeWav(new Float32Array(16_000 * 31)), 'long.wav'),
      413,
      'audio_too_long',
    ],
    [
      'an upload larger than MAX_UPLOAD_MB',
      () => postFile(`${server.url}/wav2vec2`, encodeWav(new Float32Array(16_000 * 40)), 'big.wav'),
      413,
      'payload_too_large',
    ],
    [
      'a raw body larger than MAX_UPLOAD_MB',
      () =>
        fetch(`${server.url}/wav2vec2`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: new Uint8Array(encodeWav(new Float32Array(16_000 * 40))),
        }),
      413,
      'payload_too_large',
    ],
    ['a path with ..', () => fetch(`${server.url}/wav2vec2?path=../secret/private.wav`), 403, 'path_forbidden'],
    ['an absolute path', () => fetch(`${server.url}/wav2vec2?path=${encodeURIComponent('/etc/passwd')}`), 403, 'path_forbidden'],
    ['an absolute path inside AUDIO_DIR', () => fetch(`${server.url}/wav2vec2?path=${encodeURIComponent(path.join(audioDir, 'calls', 'hello.wav'))}`), 403, 'path_forbidden'],
    ['a symlink out of AUDIO_DIR', () => fetch(`${server.url}/wav2vec2?path=escape.wav`), 404, 'file_not_found'],
    [
      'a path in a form body',
      () =>
        fetch(`${server.url}/wav2vec2`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'path=..%2F..%2Fetc%2Fpasswd',
        }),
      403,
      'path_forbidden',
    ],
    ['a playlist in AUDIO_DIR pointing outside it', () => fetch(`${server.url}/wav2vec2?path=playlist.m3u8`), 415, 'unsupported_media_type'],
    ['a concat list in AUDIO_DIR pointing outside it', () => fetch(`${server.url}/wav2vec2?path=list.ffconcat`), 415, 'unsupported_media_type'],
    [
      'an uploaded playlist pointing at a URL',
      () => postFile(`${server.url}/wav2vec2`, Buffer.from(`#EXTM3U\n#EXTINF:2,\n${server.url}/healthz\n#EXT-X-ENDLIST\n`), 'list.m3u8'),
      400,
      'invalid_audio',
    ],
    ['a missing file', () => fetch(`${server.url}/wav2vec2?path=nope.wav`), 404, 'file_not_found'],
    ['an unknown format', async () => postFile(`${server.url}/wav2vec2?format=doc`, await speech('a'), 'a.wav'), 400, 'bad_request'],
    ['an unknown route', () => fetch(`${server.url}/transcribe`), 404, 'not_found'],
    // A misspelt route with a file: what is wrong is the route, whatever the body's size.
    ['a file posted to an unknown route', async () => postFile(`${server.url}/wav2vec`, await speech('xin chào các bạn hôm nay trời đẹp quá'), 'a.wav'), 404, 'not_found'],
  ];

  it.each(cases)('%s', async (_name, send, status, code) => {
    const response = await send();
    expect(response.status).toBe(status);
    const body = await json(response);
    expect(body).toEqual({ status: 'error', error: code, message: expect.any(String) });
    expect(body.message).not.toMatch(/\/tmp|stt-http-test|at .*\.ts|Error:/);
  });

  it('an OGG cut mid-stream gives the words that arrived', async () => {
    const full = await speech('xin chào các bạn hôm nay', 'ogg-opus');
    const response = await postFile(`${server.url}/wav2vec2`, full.subarray(0, Math.floor(full.length / 2)), 'cut.ogg');
    expect(response.status).toBe(200);
    const words = ((await json(response)).transcript as string).split(' ');
    // The first half of the audio holds at least its first two words; the last one heard may be cut.
    expect(words.slice(0, 2)).toEqual(['xin', 'chào']);
    expect(words.length).toBeLessThan(5);
    expect('xin chào các bạn hôm nay'.split(' ').slice(0, words.length - 1)).toEqual(words.slice(0, -1));
  });

  it('a path inside AUDIO_DIR, by GET and by form', async () => {
    const get = await fetch(`${server.url}/wav2vec2?path=calls/hello.wav`);
    expect(await json(get)).toMatchObject({ status: 'success', transcript: 'xin chào', path: 'calls/hello.wav' });
    const form = new FormData();
    form.append('path', 'calls/hello.wav');
    const post = await fetch(`${server.url}/wav2vec2`, { method: 'POST', body: form });
    expect(await json(post)).toMatchObject({ status: 'success', transcript: 'xin chào' });
  });

  it('a file whose name starts with two dots is a file like any other, not a way out', async () => {
    const get = await fetch(`${server.url}/wav2vec2?path=..intro.wav`);
    expect(await json(get)).toMatchObject({ status: 'success', transcript: 'tốt', path: '..intro.wav' });
  });
});

describe('paths, keys and the queue', () => {
  it('refuses every path when AUDIO_DIR is unset', async () => {
    const server = await startTestServer();
    try {
      const response = await fetch(`${server.url}/wav2vec2?path=hello.wav`);
      expect(response.status).toBe(403);
      expect((await json(response)).error).toBe('path_disabled');
    } finally {
      await server.close();
    }
  });

  it('API_KEY guards every route but /healthz', async () => {
    const server = await startTestServer({ API_KEY: 'k3y-for-tests' });
    try {
      const audio = await speech('xin chào');
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'k3y-for-tests' }] as Record<string, string>[]) {
        const response = await postFile(`${server.url}/wav2vec2`, audio, 'a.wav', {}, headers);
        expect(response.status).toBe(401);
        expect(await json(response)).toEqual({ status: 'error', error: 'unauthorized', message: expect.any(String) });
      }
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const ok = await postFile(`${server.url}/wav2vec2`, audio, 'a.wav', {}, { authorization: 'Bearer k3y-for-tests' });
      expect(ok.status).toBe(200);
      expect((await json(ok)).transcript).toBe('xin chào');
      expect(await ffmpegChildren()).toEqual([]);
      expect(await serviceTempFiles()).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('refuses at once with 503 and Retry-After when the queue is full, and takes work again once it has room', async () => {
    const server = await startTestServer({ QUEUE_MAX_PENDING: '1' });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stt-fifo-'));
    try {
      // A job that holds the one place: its decode reads a FIFO that the test fills later.
      const fifo = path.join(dir, 'held.wav');
      execFileSync('mkfifo', [fifo]);
      const held = server.core.transcriber.transcribe({ kind: 'file', path: fifo });
      const audio = await speech('một hai ba');
      const busy = await postFile(`${server.url}/wav2vec2`, audio, 'b.wav');
      expect(busy.status).toBe(503);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await json(busy)).toEqual({ status: 'error', error: 'queue_full', message: expect.any(String) });

      await writeFile(fifo, audio);
      expect((await held).text).toBe('một hai ba');
      const next = await postFile(`${server.url}/wav2vec2`, audio, 'c.wav');
      expect((await json(next)).transcript).toBe('một hai ba');
      expect(await ffmpegChildren()).toEqual([]);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a stalled upload', () => {
  it('is answered 408 upload_timeout after UPLOAD_IDLE_SEC, gives its upload slot back, and the next request works', async () => {
    // No minimum rate here: a body that sends nothing more would be too slow as well as idle.
    const server = await startTestServer({ UPLOAD_IDLE_SEC: '0.5', UPLOAD_MIN_RATE_KBPS: '0', QUEUE_MAX_PENDING: '1' });
    try {
      const audio = await speech('một hai ba');
      const { request: stalled, answer } = streamUpload(`${server.url}/wav2vec2`, audio.length);
      stalled.write(audio.subarray(0, 1000));
      const { status, body } = await answer;
      expect(status).toBe(408);
      expect(JSON.parse(body)).toEqual({ status: 'error', error: 'upload_timeout', message: 'The upload stalled: no data arrived for too long.' });
      stalled.destroy();
      const health = await json(await fetch(`${server.url}/healthz`));
      expect(health.queue).toMatchObject({ waiting: 0 });
      expect(health.uploads).toMatchObject({ uploading: 0 });
      const next = await postFile(`${server.url}/wav2vec2`, audio, 'next.wav');
      expect((await json(next)).transcript).toBe('một hai ba');
    } finally {
      await server.close();
    }
  });
});

describe('health, metrics and the debug copy', () => {
  it('/healthz names the model and device; /metrics counts requests and audio', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stt-wav-test-'));
    const server = await startTestServer({ SAVE_NORMALIZED_WAV: path.join(dir, 'run.wav') });
    try {
      const health = await json(await fetch(`${server.url}/healthz`));
      expect(health).toEqual({
        status: 'ok',
        model: 'tone-model',
        device: 'cpu',
        queue: { waiting: 0, running: 0, max: 32 },
        uploads: { uploading: 0, max: 16 },
        limits: { max_upload_mb: 25, max_duration_sec: 300 },
      });
      await postFile(`${server.url}/wav2vec2`, await speech('xin chào', 'ogg-opus'), 'a.ogg');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('stt_requests_total{source="http",outcome="ok"} 1');
      expect(metrics).toContain('stt_audio_seconds_total{source="http"} 1.62');
      expect(metrics).toContain('stt_real_time_factor_count 1');
      expect(metrics).toContain('stt_jobs_waiting 0');
      expect(metrics).toContain('stt_jobs_running 0');
      expect(metrics).toContain('stt_uploading 0');
      // The debug copy is the normalised 16 kHz input: a WAV the service itself transcribes the same.
      const again = await fetch(`${server.url}/wav2vec2`, {
        method: 'POST',
        headers: { 'content-type': 'audio/wav' },
        body: new Uint8Array(await readFile(path.join(dir, 'run.wav'))),
      });
      expect((await json(again)).transcript).toBe('xin chào');
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('logs', () => {
  it('carry the request id from the request through the job to the response, and no key, audio, transcript or query string', async () => {
    const lines: string[] = [];
    // No secrets handed to the logger: keeping the key out is the service's own doing.
    const logger = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const key = 'sk-viet-stt-4f9a1c2e7b';
    const server = await startTestServer({ API_KEY: key }, logger);
    try {
      const audio = await speech(PHRASE, 'ogg-opus');
      const response = await postFile(`${server.url}/wav2vec2`, audio, 'private-meeting.ogg', {}, { authorization: `Bearer ${key}` });
      expect((await json(response)).transcript).toBe(PHRASE);
      // A query can hold what must not be logged (a callback URL's secret path, search words).
      expect((await fetch(`${server.url}/healthz?callback_url=https%3A%2F%2Fhooks.example%2FSECRETPATH`)).status).toBe(200);
      await server.close();

      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.filter((e) => e.msg === 'incoming request').map((e) => (e.req as { url: string }).url)).toEqual(['/wav2vec2', '/healthz']);
      expect(lines.join('')).not.toContain('SECRETPATH');
      const transcribed = entries.find((e) => e.msg === 'transcribed');
      expect(transcribed).toMatchObject({ source: 'http', duration: expect.any(Number), words: PHRASE.split(' ').length });
      const id = transcribed?.jobId;
      expect(typeof id).toBe('string');
      const ofRequest = entries.filter((e) => e.reqId === id || e.jobId === id).map((e) => e.msg);
      expect(ofRequest).toEqual(['incoming request', 'transcribed', 'request completed']);

      const text = lines.join('');
      expect(text).not.toContain(key);
      expect(text).not.toContain(PHRASE.split(' ').slice(0, 3).join(' '));
      expect(text).not.toContain(audio.subarray(0, 64).toString('base64'));
      expect(text).not.toContain('OggS');
    } finally {
      await server.close();
    }
  });
});
