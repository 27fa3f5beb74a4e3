import OpenAI, { BadRequestError, NotFoundError, toFile } from 'openai';
import type { TranscriptionStreamEvent } from 'openai/resources/audio/transcriptions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/core/wav.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { speech } from '../support/audio.js';
import { postFile, startTestServer } from '../support/server.js';

type Server = Awaited<ReturnType<typeof startTestServer>>;

describe('the OpenAI-compatible API, through the official openai client', () => {
  let server: Server;
  let client: OpenAI;
  let audio: Buffer;
  beforeAll(async () => {
    server = await startTestServer({ API_KEY: 'sk-test-key' });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sk-test-key', maxRetries: 0 });
    audio = await speech('xin chào các bạn', 'mp3-44k-stereo');
  });
  afterAll(async () => server.close());

  const file = async (data: Uint8Array = audio, name = 'speech.mp3') => toFile(data, name);

  it('json (the default) is {"text"} with the audio duration as usage', async () => {
    const result = await client.audio.transcriptions.create({ model: 'whisper-1', file: await file() });
    expect(result).toEqual({ text: 'xin chào các bạn', usage: { type: 'duration', seconds: 3 } });
  });

  it('gives the written form people read: digits, money and times, in text, segments and subtitles', async () => {
    const spoken = 'chuyển khoản năm trăm nghìn đồng lúc chín giờ ba mươi';
    const money = await file(await speech(spoken), 'a.wav');
    expect((await client.audio.transcriptions.create({ model: 'wav2vec2', file: money })).text).toBe('chuyển khoản 500.000 đồng lúc 9 giờ 30');
    const verbose = await client.audio.transcriptions.create({
      model: 'wav2vec2',
      file: await file(await speech(spoken), 'a.wav'),
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    expect(verbose.segments?.map((s) => s.text)).toEqual(['chuyển khoản 500.000 đồng lúc 9 giờ 30']);
    expect(verbose.words?.map((w) => w.word)).toEqual(spoken.split(' '));
    const srt = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(await speech(spoken), 'a.wav'), response_format: 'srt' });
    expect(srt).toMatch(/\nchuyển khoản 500\.000 đồng lúc 9 giờ 30\n$/);
  });

  it('text, srt and vtt come as strings', async () => {
    expect(await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(), response_format: 'text' })).toBe('xin chào các bạn\n');
    expect(await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(), response_format: 'srt' })).toBe(
      '1\n00:00:00,200 --> 00:00:02,700\nxin chào các bạn\n',
    );
    expect(await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(), response_format: 'vtt' })).toBe(
      'WEBVTT\n\n00:00:00.200 --> 00:00:02.700\nxin chào các bạn\n',
    );
  });

  it('verbose_json: every field of TranscriptionSegment, segments by default and words only when asked', async () => {
    const verbose = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(), response_format: 'verbose_json', language: 'vi' });
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'vietnamese', text: 'xin chào các bạn', usage: { type: 'duration', seconds: 3 } });
    expect(verbose.words).toBeUndefined();
    expect(verbose.segments).toHaveLength(1);
    const [segment] = verbose.segments ?? [];
    expect(segment).toEqual({
      id: 0,
      seek: 20,
      start: 0.2,
      end: 2.7,
      text: 'xin chào các bạn',
      tokens: expect.any(Array),
      temperature: 0,
      avg_logprob: expect.any(Number),
      compression_ratio: expect.any(Number),
      no_speech_prob: expect.any(Number),
    });
    // The vocabulary ids of "xin|chào|các|bạn": 13 letters and 3 word delimiters.
    expect(segment.tokens).toHaveLength(16);
    expect(segment.tokens.every((id) => Number.isInteger(id) && id >= 0)).toBe(true);
    expect(segment.avg_logprob).toBeLessThanOrEqual(0);
    expect(segment.no_speech_prob).toBeGreaterThanOrEqual(0);
    expect(segment.no_speech_prob).toBeLessThan(1);
    expect(segment.compression_ratio).toBeGreaterThan(0);

    const words = await client.audio.transcriptions.create({
      model: 'wav2vec2',
      file: await file(),
      response_format: 'verbose_json',
      timestamp_granularities: ['word'],
    });
    expect(words.segments).toBeUndefined();
    expect(words.words?.map((w) => w.word)).toEqual(['xin', 'chào', 'các', 'bạn']);
    const both = await client.audio.transcriptions.create({
      model: 'wav2vec2',
      file: await file(),
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    expect(both.segments).toHaveLength(1);
    expect(both.words).toHaveLength(4);
  });

  it('segments are cut at pauses, not every few words', async () => {
    const sentence = await speech('hai cái xoong trong boong tàu');
    // The same words with a second of silence after "xoong" (and its word delimiter).
    const [before, after] = [synthesizeSpeech('hai cái xoong |'), synthesizeSpeech('trong boong tàu')];
    const samples = new Float32Array(before.length + 16_000 + after.length);
    samples.set(before);
    samples.set(after, before.length + 16_000);
    const pause = encodeWav(samples);
    const one = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(sentence, 'a.wav'), response_format: 'verbose_json' });
    expect(one.segments?.map((s) => s.text)).toEqual(['hai cái xoong trong boong tàu']);
    const apart = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(pause, 'b.wav'), response_format: 'verbose_json' });
    expect(apart.text).toBe('hai cái xoong trong boong tàu');
    expect(apart.segments?.map((s) => s.text)).toEqual(['hai cái xoong', 'trong boong tàu']);
  });

  it('stream: true sends text deltas as the windows of a 4-minute file finish, then the whole text', async () => {
    const vocabulary = 'một hai ba bốn năm sáu bảy tám chín mười xoong kem nhé ngoài trời'.split(' ');
    const text = Array.from({ length: 360 }, (_, i) => vocabulary[(i * 7) % vocabulary.length]).join(' ');
    const long = await speech(text, 'ogg-opus');
    const stream = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(long, 'long.ogg'), stream: true });
    const events: TranscriptionStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const deltas = events.filter((e) => e.type === 'transcript.text.delta');
    const done = events.filter((e) => e.type === 'transcript.text.done');
    // 4 minutes in 20 s windows with 4 s strides: 20 windows, each adding its words.
    expect(deltas.length).toBeGreaterThan(10);
    expect(deltas.map((e) => e.delta).join('')).toBe(text);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ text, usage: { type: 'duration', seconds: expect.any(Number) } });
    expect(events.at(-1)?.type).toBe('transcript.text.done');
  });

  it('streams the written form too, never taking back what it sent', async () => {
    const spoken = Array.from({ length: 12 }, (_, i) => `lần ${['một', 'hai', 'ba'][i % 3]} chuyển năm trăm hai mươi mốt nghìn đồng`).join(' ');
    const long = await speech(spoken, 'ogg-opus');
    const stream = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(long, 'money.ogg'), stream: true });
    const events: TranscriptionStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const deltas = events.flatMap((e) => (e.type === 'transcript.text.delta' ? [e.delta] : []));
    const done = events.find((e) => e.type === 'transcript.text.done');
    expect(done?.text).toBe(Array.from({ length: 12 }, (_, i) => `lần ${['một', 'hai', 'ba'][i % 3]} chuyển 521.000 đồng`).join(' '));
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.join('')).toBe(done?.text);
  });

  it('a file that cannot be read is an ordinary error, even with stream: true', async () => {
    const refused = client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(Buffer.from('not audio at all, just text'), 'a.ogg'), stream: true });
    await expect(refused).rejects.toMatchObject({ status: 400, code: 'invalid_audio' });
  });

  it('lists its one model, and says which it has when asked for another', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    expect(models).toEqual([{ id: 'wav2vec2', object: 'model', created: expect.any(Number), owned_by: 'tone-model' }]);
    expect(await client.models.retrieve('wav2vec2')).toMatchObject({ id: 'wav2vec2', object: 'model' });
    const missing = await client.models.retrieve('whisper-1').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).message).toContain('"wav2vec2"');
  });

  it.each<[string, Parameters<OpenAI['audio']['transcriptions']['create']>[0] extends infer P ? Partial<P> : never, string]>([
    ['a language other than Vietnamese', { language: 'en' }, 'language'],
    ['an unknown response_format', { response_format: 'diarized_json' }, 'response_format'],
    ['timestamp granularities without verbose_json', { timestamp_granularities: ['word'] }, 'timestamp_granularities'],
  ])('%s is a 400 that names the field', async (_name, params, param) => {
    const error = await client.audio.transcriptions.create({ model: 'wav2vec2', file: await file(), ...params } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, param, code: 'bad_request' });
  });

  it('translations are a clear 400: the model only transcribes Vietnamese', async () => {
    const error = await client.audio.translations.create({ model: 'wav2vec2', file: await file() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).message).toContain('/v1/audio/transcriptions');
  });

  it('errors come in OpenAI’s shape with a stable code', async () => {
    const unauthorized = await postFile(`${server.url}/v1/audio/transcriptions`, audio, 'a.mp3', { model: 'whisper-1' }, { authorization: 'Bearer nope' });
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
  });
});
