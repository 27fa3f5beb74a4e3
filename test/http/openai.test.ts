import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speech } from '../support/audio.js';
import { postFile, startTestServer } from '../support/server.js';

type Server = Awaited<ReturnType<typeof startTestServer>>;

describe('POST /v1/audio/transcriptions speaks the OpenAI form', () => {
  let server: Server;
  let audio: Buffer;
  beforeAll(async () => {
    server = await startTestServer({ API_KEY: 'sk-test-key' });
    audio = await speech('xin chào các bạn', 'mp3-44k-stereo');
  });
  afterAll(async () => server.close());

  const post = (fields: Record<string, string>, headers: Record<string, string> = { authorization: 'Bearer sk-test-key' }) =>
    postFile(`${server.url}/v1/audio/transcriptions`, audio, 'speech.mp3', { model: 'whisper-1', ...fields }, headers);

  it('json (the default) is {"text"}', async () => {
    const response = await post({});
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ text: 'xin chào các bạn' });
  });

  it('text is the plain transcript', async () => {
    expect(await (await post({ response_format: 'text' })).text()).toBe('xin chào các bạn\n');
  });

  it('srt and vtt are subtitles', async () => {
    expect(await (await post({ response_format: 'srt' })).text()).toBe('1\n00:00:00,200 --> 00:00:02,700\nxin chào các bạn\n');
    expect(await (await post({ response_format: 'vtt' })).text()).toBe('WEBVTT\n\n00:00:00.200 --> 00:00:02.700\nxin chào các bạn\n');
  });

  it('verbose_json has duration, segments and words', async () => {
    const body = (await (await post({ response_format: 'verbose_json' })).json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      task: 'transcribe',
      language: 'vietnamese',
      text: 'xin chào các bạn',
      segments: [{ id: 0, start: 0.2, end: 2.7, text: 'xin chào các bạn' }],
    });
    expect((body.words as { word: string }[]).map((w) => w.word)).toEqual(['xin', 'chào', 'các', 'bạn']);
    expect(body.duration).toBeCloseTo(2.9, 1);
  });

  it('errors come in OpenAI’s shape with a stable code', async () => {
    const unauthorized = await post({}, { authorization: 'Bearer nope' });
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'unauthorized' },
    });

    const form = new FormData();
    form.append('model', 'whisper-1');
    const missing = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: { authorization: 'Bearer sk-test-key' } });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      error: { message: 'Send the audio as the multipart field "file".', type: 'invalid_request_error', param: null, code: 'no_audio' },
    });

    const badFormat = await post({ response_format: 'docx' });
    expect(badFormat.status).toBe(400);
    expect(((await badFormat.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });
});
