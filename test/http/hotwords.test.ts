import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildArpa } from '../../src/text/kneser-ney.js';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';
import { postFile, startJobServer, startTestServer } from '../support/server.js';

/**
 * The team's name "Lộc" said so that the tone model is unsure: its ộ carries 55% of its energy
 * at ọ's tone, so greedy decoding hears "lọc". A hotword or a language model that knows the
 * name puts the ộ back.
 */
const SAID = 'anh lộc gọi';
const GREEDY = 'anh lọc gọi';
const BLEND = { ộ: { with: 'ọ', share: 0.55 } };

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function transcript(server: Server, fields: Record<string, string> = {}): Promise<string> {
  const response = await postFile(`${server.url}/wav2vec2`, await speech(SAID, 'wav', { blend: BLEND }), 'note.wav', fields);
  expect(response.status).toBe(200);
  return ((await response.json()) as { transcript: string }).transcript;
}

describe('hotwords and a language model on the whole path', () => {
  let greedy: Server;
  beforeAll(async () => {
    greedy = await startTestServer();
  });
  afterAll(async () => greedy.close());

  it('decodes greedily when nothing is configured: the blended ộ is heard as ọ', async () => {
    expect(await transcript(greedy)).toBe(GREEDY);
  });

  it('a per-request hotwords field on /wav2vec2 spells the name right, and the next request is greedy again', async () => {
    expect(await transcript(greedy, { hotwords: 'lộc' })).toBe(SAID);
    expect(await transcript(greedy)).toBe(GREEDY);
  });

  it('refuses more than 100 hotwords with 400 bad_hotwords, and the next request works', async () => {
    const many = Array.from({ length: 101 }, (_, i) => `từ${i}`).join(',');
    const response = await postFile(`${greedy.url}/wav2vec2`, await speech(SAID, 'wav', { blend: BLEND }), 'note.wav', { hotwords: many });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      status: 'error',
      error: 'bad_hotwords',
      message: 'Bad hotwords: 101 hotwords are more than the 100 allowed. Give at most 100 words or phrases of up to 64 characters, separated by commas.',
    });
    expect(await transcript(greedy)).toBe(GREEDY);
  });

  it('POST /jobs takes the same hotwords field, and its result has the name right', async () => {
    const server = await startJobServer();
    try {
      const submitted = await postFile(`${server.url}/jobs`, await speech(SAID, 'wav', { blend: BLEND }), 'note.wav', { hotwords: 'lộc' });
      expect(submitted.status).toBe(202);
      const { id } = (await submitted.json()) as { id: string };
      // The job's events end with its final state.
      const events = await (await fetch(`${server.url}/jobs/${id}/events`, { signal: AbortSignal.timeout(20_000) })).text();
      const last = JSON.parse(events.trim().split('\n').filter((line) => line.startsWith('data: ')).at(-1)!.slice(6)) as { status: string; result: { transcript: string } };
      expect(last.status).toBe('done');
      expect(last.result.transcript).toBe(SAID);
    } finally {
      await server.close();
    }
  });

  it("the OpenAI route's prompt feeds the hotwords (the real openai client)", async () => {
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${greedy.url}/v1` });
    const audio = await toFile(await speech(SAID, 'wav', { blend: BLEND }), 'note.wav');
    const plain = await client.audio.transcriptions.create({ file: audio, model: 'wav2vec2' });
    expect(plain.text).toBe(GREEDY);
    const hinted = await client.audio.transcriptions.create({ file: await toFile(await speech(SAID, 'wav', { blend: BLEND }), 'note.wav'), model: 'wav2vec2', prompt: 'lộc' });
    expect(hinted.text).toBe(SAID);
    // A prompt written as a sentence, as clients written for Whisper send it, gives its words.
    const sentence = 'Cuộc gọi hôm nay với anh lộc về hợp đồng quý bốn của phòng kinh doanh miền bắc';
    const fromSentence = await client.audio.transcriptions.create({ file: await toFile(await speech(SAID, 'wav', { blend: BLEND }), 'note.wav'), model: 'wav2vec2', prompt: sentence });
    expect(fromSentence.text).toBe(SAID);
  });

  it('HOTWORDS in the settings favours the name for every request', async () => {
    const server = await startTestServer({ HOTWORDS: 'lộc' });
    try {
      expect(await transcript(server)).toBe(SAID);
    } finally {
      await server.close();
    }
  });

  it('lm.arpa in the model folder, built from the team text, spells the name right', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lm-model-'));
    try {
      for (const name of await readdir(TONE_MODEL_DIR)) await symlink(path.join(TONE_MODEL_DIR, name), path.join(dir, name));
      await writeFile(path.join(dir, 'lm.arpa'), buildArpa(['anh lộc gọi', 'anh lộc gọi lại', 'chị lộc gọi anh'], 2));
      const server = await startTestServer({ MODEL_DIR: dir });
      try {
        expect(await transcript(server)).toBe(SAID);
      } finally {
        await server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
