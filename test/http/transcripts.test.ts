import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Core } from '../../src/core/create-transcriber.js';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { Metrics } from '../../src/core/metrics.js';
import { buildApp } from '../../src/http/app.js';
import { HTTP_CHAT } from '../../src/http/transcripts.js';
import { createLogger } from '../../src/logger.js';
import type { ChatKey, Store } from '../../src/store/index.js';
import { speech } from '../support/audio.js';
import { testConfig, testCore } from '../support/core.js';
import { postFile } from '../support/server.js';
import { useEngines, type StoreSite } from '../store/engines.js';

const engines = useEngines();
const [sqlite] = engines;

const MEETING = 'họp lúc chín giờ sáng mai';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const KEY = 'test-key-3f9a';

const log = createLogger({ level: 'silent' });
const metrics = new Metrics({ defaultMetrics: false });
/** One tone-model core for the file; each test builds its own app over it. */
let core: Core;
let config: Config;

beforeAll(async () => {
  ({ core, config } = await testCore({}, log, { metrics }));
});
afterAll(async () => {
  await core.close();
});

/** The service's app with `store` (or none), on a real port over the shared core. */
async function serve(store: Store | undefined, appConfig: Config = config) {
  const app = await buildApp({ config: appConfig, transcriber: core.transcriber, logger: log, metrics, store });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}
type Served = Awaited<ReturnType<typeof serve>>;

async function answer(response: Response): Promise<{ status: number; body: unknown }> {
  const text = await response.text();
  return { status: response.status, body: text === '' ? '' : (JSON.parse(text) as unknown) };
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return fetch(url, { headers }).then(answer);
}

function remove(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return fetch(url, { method: 'DELETE', headers }).then(answer);
}

/** POSTs the phrase as speech; returns the /wav2vec2 body. */
async function transcribe(served: Served, phrase: string, fields: Record<string, string> = {}, query = '', headers: Record<string, string> = {}) {
  const response = await postFile(`${served.url}/wav2vec2${query}`, await speech(phrase), 'voice.wav', fields, headers);
  expect(response.status).toBe(200);
  return (await response.json()) as { transcript: string; written: string; duration: number; history_id?: string };
}

function refusal(code: keyof typeof ERROR_CATALOGUE, message: string = ERROR_CATALOGUE[code].message) {
  return { status: ERROR_CATALOGUE[code].status, body: { status: 'error', error: code, message } };
}

const search = (served: Served, query: string) => `${served.url}/transcripts?${query}`;

describe.each(engines)('the HTTP transcript history on $name', (engine) => {
  let site: StoreSite;
  let store: Store;
  let served: Served;
  beforeEach(async () => {
    site = await engine.site();
    store = await site.open();
    served = await serve(store);
  });
  afterEach(async () => {
    await served.close();
    await site.dispose();
  });

  it('history=true keeps the transcript, found by its folded words and by digits, as one exact entry', async () => {
    const before = Date.now();
    const kept = await transcribe(served, MEETING, { history: 'true' });
    const after = Date.now();
    expect(kept).toMatchObject({ status: 'success', transcript: MEETING, written: 'họp lúc 9 giờ sáng mai', history_id: expect.stringMatching(/^[\w-]{22}$/) });
    const id = kept.history_id as string;
    const entry = { id, transcript: MEETING, written: 'họp lúc 9 giờ sáng mai', created_at: expect.stringMatching(ISO) as unknown, duration: kept.duration };

    const found = await get(search(served, 'q=hop+chin+gio'));
    expect(found).toEqual({ status: 200, body: { results: [{ ...entry, snippet: '«họp» lúc «chín giờ» sáng mai' }] } });
    const createdAt = Date.parse((found.body as { results: { created_at: string }[] }).results[0].created_at);
    expect(createdAt).toBeGreaterThanOrEqual(before);
    expect(createdAt).toBeLessThanOrEqual(after);
    // The written form is searched too: "9 giờ" finds what was said as "chín giờ".
    expect(await get(search(served, `q=${encodeURIComponent('"9 giờ"')}`))).toEqual({
      status: 200,
      body: { results: [{ ...entry, snippet: 'họp lúc «9 giờ» sáng mai' }] },
    });
    expect(await get(`${served.url}/transcripts/${id}`)).toEqual({ status: 200, body: entry });

    // Only the text, its time and length: no file name, no caller.
    expect(await store.getTranscript(HTTP_CHAT, id)).toMatchObject({ messageRef: '', authorId: '', transcript: MEETING });
    expect(await site.count('transcripts')).toBe(1);
  });

  it('without history=true (or with history=false) nothing is kept', async () => {
    const plain = await transcribe(served, MEETING);
    expect(plain).not.toHaveProperty('history_id');
    const refused = await transcribe(served, MEETING, { history: 'false' }, '?format=json');
    expect(refused).not.toHaveProperty('history_id');
    await transcribe(served, MEETING, {}, '?history=0');

    expect(await get(search(served, 'q=hop'))).toEqual({ status: 200, body: { results: [] } });
    expect(await store.search(HTTP_CHAT, 'hop')).toEqual({ results: [] });
    expect(await site.count('transcripts')).toBe(0);
    expect(await site.indexed(HTTP_CHAT)).toBe(0);
  });

  it('pages with limit and cursor, best first, in the store’s own order', async () => {
    const ids = [
      (await transcribe(served, 'họp nhóm', { history: 'true' })).history_id,
      (await transcribe(served, 'họp họp lúc chín giờ', {}, '?history=true')).history_id,
      (await transcribe(served, 'mai họp ở phòng lớn', { history: '1' })).history_id,
    ];
    await transcribe(served, 'họp không lưu');
    const ranked = (await store.search(HTTP_CHAT, 'hop', { limit: 50 })).results.map((hit) => hit.id);
    expect([...ranked].sort()).toEqual([...ids].sort());

    const first = await get(search(served, 'q=hop&limit=2'));
    expect(first.status).toBe(200);
    const page1 = first.body as { results: { id: string; snippet: string }[]; next_cursor: string };
    expect(page1.results.map((hit) => hit.id)).toEqual(ranked.slice(0, 2));
    expect(page1.next_cursor).toMatch(/^[\w-]+$/);

    const second = await get(search(served, `q=hop&limit=2&cursor=${page1.next_cursor}`));
    expect(second.status).toBe(200);
    const page2 = second.body as { results: { id: string; snippet: string }[] };
    expect(page2).not.toHaveProperty('next_cursor');
    expect(page2.results.map((hit) => hit.id)).toEqual(ranked.slice(2));
    expect(page2.results[0].snippet).toContain('«họp»');

    // A cursor belongs to its search.
    expect(await get(search(served, `q=phong&limit=2&cursor=${page1.next_cursor}`))).toEqual(
      refusal('bad_query', 'That cursor does not belong to this search: search again without it.'),
    );
  });

  it('DELETE /transcripts/<id> removes it (204), then it is 404 transcript_not_found', async () => {
    const id = (await transcribe(served, MEETING, { history: 'true' })).history_id as string;
    const other = (await transcribe(served, 'họp nhóm', { history: 'true' })).history_id as string;

    expect(await remove(`${served.url}/transcripts/${id}`)).toEqual({ status: 204, body: '' });
    expect(await get(`${served.url}/transcripts/${id}`)).toEqual(refusal('transcript_not_found'));
    expect(await remove(`${served.url}/transcripts/${id}`)).toEqual(refusal('transcript_not_found'));
    expect(await get(`${served.url}/transcripts/not-an-id`)).toEqual(refusal('transcript_not_found'));
    expect(await remove(`${served.url}/transcripts/${'A'.repeat(22)}`)).toEqual(refusal('transcript_not_found'));

    const left = await get(search(served, 'q=hop'));
    expect((left.body as { results: { id: string }[] }).results.map((hit) => hit.id)).toEqual([other]);
    expect(await site.count('transcripts')).toBe(1);
    expect(await site.indexed(HTTP_CHAT)).toBe(1);
  });

  it('never shows or deletes a chat’s history', async () => {
    const chat: ChatKey = { platform: 'telegram', chatId: '-100200300' };
    const theirs = await store.remember({
      chat,
      messageRef: '42',
      authorId: '7',
      transcript: MEETING,
      written: 'họp lúc 9 giờ sáng mai',
      duration: 2,
      createdAt: new Date(),
    });
    expect(await get(search(served, 'q=hop'))).toEqual({ status: 200, body: { results: [] } });
    expect(await get(`${served.url}/transcripts/${theirs}`)).toEqual(refusal('transcript_not_found'));
    expect(await remove(`${served.url}/transcripts/${theirs}`)).toEqual(refusal('transcript_not_found'));
    expect(await store.getTranscript(chat, theirs)).toMatchObject({ transcript: MEETING });
  });

  it('a search with no words, a bad limit or a bad cursor is 400 bad_query, and the next request works', async () => {
    const limit = 'limit must be a whole number from 1 to 50.';
    expect(await get(search(served, 'q='))).toEqual(refusal('bad_query'));
    expect(await get(search(served, `q=${encodeURIComponent('?! …')}`))).toEqual(refusal('bad_query'));
    expect(await get(`${served.url}/transcripts`)).toEqual(refusal('bad_query', 'Say what to look for: GET /transcripts?q=<words>.'));
    expect(await get(search(served, 'q=hop&limit=0'))).toEqual(refusal('bad_query', limit));
    expect(await get(search(served, 'q=hop&limit=51'))).toEqual(refusal('bad_query', limit));
    expect(await get(search(served, 'q=hop&limit=2x'))).toEqual(refusal('bad_query', limit));
    expect(await get(search(served, 'q=hop&limit='))).toEqual(refusal('bad_query', limit));
    expect(await get(search(served, 'q=hop&cursor=%2F%2E%2E'))).toEqual(refusal('bad_query', 'That cursor does not belong to this search: search again without it.'));
    expect(await get(search(served, 'q=hop&q=gio'))).toEqual(refusal('bad_request', 'The query gives "q" more than once.'));

    // A bad history value is refused before anything is decoded or kept.
    const form = await postFile(`${served.url}/wav2vec2`, await speech(MEETING), 'voice.wav', { history: 'yes' });
    expect(await answer(form)).toEqual(refusal('bad_request', 'The field "history" must be true or false.'));
    expect(await site.count('transcripts')).toBe(0);

    const id = (await transcribe(served, MEETING, { history: 'true' })).history_id;
    const found = await get(search(served, 'q=hop&limit=1'));
    expect((found.body as { results: { id: string }[] }).results.map((hit) => hit.id)).toEqual([id]);
  });
});

describe('the HTTP transcript history behind API_KEY', () => {
  let site: StoreSite;
  let store: Store;
  let served: Served;
  beforeAll(async () => {
    site = await sqlite.site();
    store = await site.open();
    served = await serve(store, testConfig({ API_KEY: KEY }));
  });
  afterAll(async () => {
    await served.close();
    await site.dispose();
  });
  const auth = { authorization: `Bearer ${KEY}` };

  it('answers 401 unauthorized without the key, on every history route, and keeps nothing', async () => {
    const id = (await transcribe(served, MEETING, { history: 'true' }, '', auth)).history_id as string;

    const noKey = await postFile(`${served.url}/wav2vec2`, await speech('họp nhóm'), 'voice.wav', { history: 'true' });
    expect(await answer(noKey)).toEqual(refusal('unauthorized'));
    expect(await get(search(served, 'q=hop'))).toEqual(refusal('unauthorized'));
    expect(await get(search(served, 'q=hop'), { authorization: 'Bearer wrong' })).toEqual(refusal('unauthorized'));
    expect(await get(`${served.url}/transcripts/${id}`)).toEqual(refusal('unauthorized'));
    expect(await remove(`${served.url}/transcripts/${id}`)).toEqual(refusal('unauthorized'));
    expect(await site.count('transcripts')).toBe(1);

    const found = await get(search(served, 'q=hop'), auth);
    expect(found.status).toBe(200);
    expect((found.body as { results: { id: string }[] }).results.map((hit) => hit.id)).toEqual([id]);
    expect(await get(`${served.url}/transcripts/${id}`, auth)).toMatchObject({ status: 200, body: { id, transcript: MEETING } });
    expect(await remove(`${served.url}/transcripts/${id}`, auth)).toEqual({ status: 204, body: '' });
    expect(await site.count('transcripts')).toBe(0);
    expect(await store.search(HTTP_CHAT, 'hop')).toEqual({ results: [] });
  });
});

describe('a server built without a store', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve(undefined);
  });
  afterAll(async () => {
    await served.close();
  });

  it('has no /transcripts routes and refuses history=true rather than drop it, then works as before', async () => {
    expect(await get(search(served, 'q=hop'))).toEqual(refusal('not_found', 'No route GET /transcripts.'));
    const asked = await postFile(`${served.url}/wav2vec2?history=true`, await speech(MEETING), 'voice.wav');
    expect(await answer(asked)).toEqual(refusal('bad_request', 'This server keeps no transcript history: send the request without history=true.'));
    expect(await transcribe(served, MEETING)).toMatchObject({ status: 'success', transcript: MEETING });
  });
});
