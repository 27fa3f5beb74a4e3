import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ERROR_CATALOGUE, SttError } from '../../src/core/errors.js';
import { createLogger } from '../../src/logger.js';
import { openStore, type ChatKey, type HistoryEntry, type Store } from '../../src/store/index.js';
import { freePort } from '../../testkit/free-port.js';
import { rejection } from '../support/rejection.js';
import { useEngines, type StoreSite } from './engines.js';

const engines = useEngines();

const chatA: ChatKey = { platform: 'telegram', chatId: '-100200300' };
const chatB: ChatKey = { platform: 'telegram', chatId: '-100999888' };
/** The same id on another platform is another chat. */
const chatAOnDiscord: ChatKey = { platform: 'discord', chatId: '-100200300' };

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-20T09:00:00Z');
let clock = 0;

/** An entry in `chat`; each one a minute newer than the last, so "newer first" is known. */
function entry(chat: ChatKey, transcript: string, written = transcript, extra: Partial<HistoryEntry> = {}): HistoryEntry {
  clock += 1;
  return {
    chat,
    messageRef: `msg-${clock}`,
    authorId: `user-${clock % 3}`,
    transcript,
    written,
    duration: 2.5,
    createdAt: new Date(NOW.getTime() - DAY + clock * 60_000),
    ...extra,
  };
}

async function ids(store: Store, chat: ChatKey, query: string): Promise<string[]> {
  return (await store.search(chat, query, { limit: 50 })).results.map((hit) => hit.id);
}

describe.each(engines)('the store on $name', (engine) => {
  let site: StoreSite;
  beforeEach(async () => {
    site = await engine.site();
  });
  afterEach(async () => {
    await site.dispose();
  });

  describe('settings', () => {
    it('starts with nothing set, changes only the keys given, and clears a key given as undefined', async () => {
      const store = await site.open();
      expect(store.dialect).toBe(engine.name);
      expect(await store.getSettings(chatA)).toEqual({});
      expect(await store.updateSettings(chatA, { auto: false })).toEqual({ auto: false });
      expect(await store.updateSettings(chatA, { language: 'en', timestamps: true })).toEqual({ auto: false, language: 'en', timestamps: true });
      expect(await store.updateSettings(chatA, { textStyle: 'raw', history: true })).toEqual({
        auto: false,
        language: 'en',
        timestamps: true,
        textStyle: 'raw',
        history: true,
      });
      expect(await store.updateSettings(chatA, { language: undefined, auto: true })).toEqual({ auto: true, timestamps: true, textStyle: 'raw', history: true });
      expect(await store.updateSettings(chatA, {})).toEqual({ auto: true, timestamps: true, textStyle: 'raw', history: true });
      expect(await store.getSettings(chatA)).toEqual({ auto: true, timestamps: true, textStyle: 'raw', history: true });
      // Another chat, and the same id on another platform, have nothing set.
      expect(await store.getSettings(chatB)).toEqual({});
      expect(await store.getSettings(chatAOnDiscord)).toEqual({});
      expect(await site.count('chat_settings')).toBe(1);
    });

    it('refuses a value outside its set or an unknown key, naming it, and works after', async () => {
      const store = await site.open();
      const bad = [
        { patch: { language: 'fr' }, message: 'Chat setting "language" must be one of vi, en, both' },
        { patch: { textStyle: 'fancy' }, message: 'Chat setting "textStyle" must be one of written, raw' },
        { patch: { auto: 'yes' }, message: 'Chat setting "auto" must be true or false' },
        { patch: { lang: 'vi' }, message: 'Unknown chat setting "lang"' },
      ];
      for (const { patch, message } of bad) {
        const error = await rejection(store.updateSettings(chatA, patch as never));
        expect(error).toBeInstanceOf(TypeError);
        expect(error.message).toBe(message);
      }
      expect(await site.count('chat_settings')).toBe(0);
      expect(await store.updateSettings(chatA, { language: 'vi' })).toEqual({ language: 'vi' });
    });

    it('survives a restart', async () => {
      const first = await site.open();
      await first.updateSettings(chatA, { auto: false, language: 'vi' });
      await first.updateSettings(chatB, { history: true });
      await first.close();
      const second = await site.open();
      expect(await second.getSettings(chatA)).toEqual({ auto: false, language: 'vi' });
      expect(await second.getSettings(chatB)).toEqual({ history: true });
    });

    it('is shared by two fronts open at once, each keeping its own change to one chat', async () => {
      const [front1, front2] = await Promise.all([site.open(), site.open()]);
      await front1.updateSettings(chatA, { language: 'en' });
      expect(await front2.getSettings(chatA)).toEqual({ language: 'en' });
      await Promise.all([front1.updateSettings(chatA, { auto: false }), front2.updateSettings(chatA, { timestamps: true })]);
      expect(await front1.getSettings(chatA)).toEqual({ language: 'en', auto: false, timestamps: true });
      expect(await front2.getSettings(chatA)).toEqual({ language: 'en', auto: false, timestamps: true });
    });
  });

  describe('migrations', () => {
    it('run once at the first open, are recorded, and are not run again on reopening', async () => {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      });
      const logger = createLogger({ level: 'info' }, destination);
      const ready = () => lines.map((line) => JSON.parse(line) as { msg: string; migrationsApplied?: string[] }).filter((line) => line.msg === 'store ready');

      await (await site.open({ logger })).close();
      const recorded = await site.migrations();
      expect(recorded.map((m) => m.name)).toEqual(['0001-chat-settings', '0002-transcripts', '0003-chat-hotwords']);
      await (await site.open({ logger })).close();
      expect(await site.migrations()).toEqual(recorded);
      expect(ready().map((line) => line.migrationsApplied)).toEqual([['0001-chat-settings', '0002-transcripts', '0003-chat-hotwords'], []]);
      if (engine.name === 'postgres') expect(existsSync(`${process.env.TMPDIR}/stt-store-unused`)).toBe(false);
    });
  });

  describe('history', () => {
    let store: Store;
    const remembered: Record<string, string> = {};
    beforeEach(async () => {
      store = await site.open();
      const corpus: Record<string, HistoryEntry> = {
        meeting: entry(chatA, 'chúng ta họp lúc chín giờ sáng mai', 'chúng ta họp lúc 9 giờ sáng mai'),
        invoice: entry(chatA, 'gửi hóa đơn số ba trăm cho chị lan', 'gửi hóa đơn số 300 cho chị Lan'),
        waiting: entry(chatA, 'giờ này chín người đang chờ', 'giờ này 9 người đang chờ'),
        otherChat: entry(chatB, 'bên này cũng họp lúc chín giờ'),
        otherPlatform: entry(chatAOnDiscord, 'họp ở discord lúc chín giờ'),
      };
      for (const [name, value] of Object.entries(corpus)) remembered[name] = await store.remember(value);
    });

    it('hands out random ids and gives back exactly what was remembered', async () => {
      const all = Object.values(remembered);
      for (const id of all) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(new Set(all).size).toBe(all.length);
      const kept = entry(chatA, 'một hai ba', '1 2 3', { duration: 12.75, messageRef: '{"chat":-100200300,"message":77}', authorId: '4242' });
      const id = await store.remember(kept);
      expect(await store.getTranscript(chatA, id)).toEqual({ ...kept, id });
      expect(await store.getTranscript(chatB, id)).toBeUndefined();
      expect(await store.getTranscript(chatA, 'not-an-id')).toBeUndefined();
    });

    it.each([
      ['hop', ['meeting']],
      ['HỌP', ['meeting']],
      ['họp', ['meeting']],
      ['chin gio', ['meeting', 'waiting']],
      ['chín giờ', ['meeting', 'waiting']],
      ['"chin gio"', ['meeting']],
      ['"chín giờ"', ['meeting']],
      ['"9 giờ"', ['meeting']],
      ['9 gio', ['meeting', 'waiting']],
      ['"giờ chín"', []],
      ['hoa don 300', ['invoice']],
      ['hóa đơn ba trăm', ['invoice']],
      ['"hóa đơn" lan', ['invoice']],
      ['hoa don ba tram'.normalize('NFD'), ['invoice']],
      ['HÓA ĐƠN'.normalize('NFD'), ['invoice']],
      ['ho', []],
      ['hop xyz', []],
      ['discord', []],
    ])('%j finds %j in this chat only', async (query, expected) => {
      const found = await ids(store, chatA, query);
      expect([...found].sort()).toEqual(expected.map((name) => remembered[name]).sort());
    });

    it('answers with who, when, the message and the matching words in context', async () => {
      const page = await store.search(chatA, 'hop');
      expect(page).toEqual({
        results: [
          {
            id: remembered.meeting,
            chat: chatA,
            messageRef: expect.stringMatching(/^msg-\d+$/),
            authorId: expect.stringMatching(/^user-\d$/),
            transcript: 'chúng ta họp lúc chín giờ sáng mai',
            written: 'chúng ta họp lúc 9 giờ sáng mai',
            duration: 2.5,
            createdAt: expect.any(Date),
            snippet: 'chúng ta «họp» lúc 9 giờ sáng mai',
          },
        ],
      });
      const [spoken] = (await store.search(chatA, '"chin gio"')).results;
      expect(spoken.snippet).toBe('chúng ta họp lúc «chín giờ» sáng mai');
      const [written] = (await store.search(chatA, '"9 giờ"')).results;
      expect(written.snippet).toBe('chúng ta họp lúc «9 giờ» sáng mai');
      const [invoice] = (await store.search(chatA, 'lan 300')).results;
      expect(invoice.snippet).toBe('gửi hóa đơn số «300» cho chị «Lan»');
    });

    it('keeps each chat to itself', async () => {
      expect(await ids(store, chatB, 'hop chin gio')).toEqual([remembered.otherChat]);
      expect(await ids(store, chatAOnDiscord, 'hop')).toEqual([remembered.otherPlatform]);
      expect(await ids(store, { platform: 'http', chatId: 'default' }, 'hop')).toEqual([]);
      expect(await store.deleteTranscript(chatA, remembered.otherChat)).toBe(false);
      expect(await store.getTranscript(chatA, remembered.otherChat)).toBeUndefined();
      expect(await ids(store, chatB, 'hop')).toEqual([remembered.otherChat]);
    });

    it('ranks more occurrences first, and newer first among equals', async () => {
      const chat: ChatKey = { platform: 'discord', chatId: 'ranking' };
      const once = await store.remember(entry(chat, 'hôm nay chúng ta có một cuộc họp với khách hàng'));
      const thrice = await store.remember(entry(chat, 'họp họp họp cả ngày'));
      const twice = await store.remember(entry(chat, 'họp xong rồi lại họp tiếp'));
      await store.remember(entry(chat, 'không có gì để nói'));
      expect(await ids(store, chat, 'hop')).toEqual([thrice, twice, once]);
      const older = await store.remember(entry(chat, 'gặp khách ở quán', 'gặp khách ở quán', { createdAt: new Date(NOW.getTime() - 2 * DAY) }));
      const newer = await store.remember(entry(chat, 'gặp khách ở quán'));
      expect(await ids(store, chat, 'gap khach')).toEqual([newer, older]);
    });

    it('takes FTS and tsquery syntax as plain words', async () => {
      for (const query of ['hop OR xyz', 'hop NOT gio', 'chat:abc', 'hop & !gio | x:*', "'; DROP TABLE transcripts; --", 'NEAR(hop gio)', '{spoken}: hop', 'hop AND']) {
        expect(await ids(store, chatA, query), query).toEqual([]);
      }
      expect(await ids(store, chatA, 'hop^ (chin) -gio-')).toEqual([remembered.meeting]);
      expect(await ids(store, chatA, '"hop')).toEqual([remembered.meeting]);
      expect(await ids(store, chatA, 'hop*')).toEqual([remembered.meeting]);
      expect(await site.count('transcripts')).toBe(5);
    });

    it('refuses a query with no words as bad_query, and the next search works', async () => {
      for (const query of ['', '   ', '?!… — ,,', '""', '" "', 'x'.repeat(301)]) {
        const error = await rejection(store.search(chatA, query));
        expect(error).toBeInstanceOf(SttError);
        expect((error as SttError).code).toBe('bad_query');
        expect((error as SttError).status).toBe(400);
      }
      expect((await rejection(store.search(chatA, ''))).message).toBe(ERROR_CATALOGUE.bad_query.message);
      expect((await rejection(store.search(chatA, 'x'.repeat(301)))).message).toBe('The search is too long: at most 300 characters.');
      expect(await ids(store, chatA, 'hop')).toEqual([remembered.meeting]);
    });

    it('pages with an opaque cursor: every result once, in order, and no cursor after the last page', async () => {
      const chat: ChatKey = { platform: 'http', chatId: 'default' };
      const made: string[] = [];
      for (let i = 1; i <= 12; i++) made.push(await store.remember(entry(chat, `báo cáo tuần số ${i}`)));
      const newestFirst = [...made].reverse();

      const first = await store.search(chat, 'bao cao');
      expect(first.results.map((hit) => hit.id)).toEqual(newestFirst.slice(0, 5));
      expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
      const second = await store.search(chat, 'bao cao', { cursor: first.nextCursor });
      expect(second.results.map((hit) => hit.id)).toEqual(newestFirst.slice(5, 10));
      const third = await store.search(chat, 'bao cao', { cursor: second.nextCursor });
      expect(third.results.map((hit) => hit.id)).toEqual(newestFirst.slice(10));
      expect(third.nextCursor).toBeUndefined();
      // The same cursor gives the same page again.
      expect((await store.search(chat, 'bao cao', { cursor: first.nextCursor })).results.map((hit) => hit.id)).toEqual(newestFirst.slice(5, 10));

      const big = await store.search(chat, 'bao cao', { limit: 50 });
      expect(big.results).toHaveLength(12);
      expect(big.nextCursor).toBeUndefined();

      const refusals: [Promise<unknown>, string][] = [
        [store.search(chat, 'tuan', { cursor: first.nextCursor }), 'That cursor does not belong to this search: search again without it.'],
        [store.search(chatA, 'bao cao', { cursor: first.nextCursor }), 'That cursor does not belong to this search: search again without it.'],
        [store.search(chat, 'bao cao', { cursor: 'bm90IGEgY3Vyc29y' }), 'That cursor does not belong to this search: search again without it.'],
        [store.search(chat, 'bao cao', { cursor: '../../etc' }), 'That cursor does not belong to this search: search again without it.'],
        [store.search(chat, 'bao cao', { limit: 51 }), 'limit must be a whole number from 1 to 50.'],
        [store.search(chat, 'bao cao', { limit: 0 }), 'limit must be a whole number from 1 to 50.'],
        [store.search(chat, 'bao cao', { limit: 2.5 }), 'limit must be a whole number from 1 to 50.'],
      ];
      for (const [promise, message] of refusals) {
        const error = await rejection(promise);
        expect((error as SttError).code).toBe('bad_query');
        expect(error.message).toBe(message);
      }
    });

    it('deletes one transcript, from the search too', async () => {
      expect(await store.deleteTranscript(chatA, remembered.meeting)).toBe(true);
      expect(await site.indexed(chatA)).toBe(2);
      expect(await store.getTranscript(chatA, remembered.meeting)).toBeUndefined();
      expect(await ids(store, chatA, 'hop')).toEqual([]);
      expect(await ids(store, chatA, 'chin gio')).toEqual([remembered.waiting]);
      expect(await store.deleteTranscript(chatA, remembered.meeting)).toBe(false);
      expect(await store.deleteTranscript(chatA, 'nonsense')).toBe(false);
      expect(await site.count('transcripts', chatA)).toBe(2);
    });

    it('summarises what a chat keeps', async () => {
      const summary = await store.historySummary(chatA);
      const meeting = await store.getTranscript(chatA, remembered.meeting);
      expect(summary).toEqual({ count: 3, oldest: meeting?.createdAt });
      expect(await store.historySummary({ platform: 'http', chatId: 'nobody' })).toEqual({ count: 0 });
    });

    it('forgets a chat: its settings and its whole history, and nobody else’s', async () => {
      await store.updateSettings(chatA, { history: true, language: 'vi' });
      await store.updateSettings(chatB, { history: true });
      expect(await site.indexed(chatA)).toBe(3);
      await store.forget(chatA);
      expect(await site.count('transcripts', chatA)).toBe(0);
      expect(await site.indexed(chatA)).toBe(0);
      expect(await site.indexed(chatB)).toBe(1);
      expect(await site.count('chat_settings', chatA)).toBe(0);
      expect(await store.getSettings(chatA)).toEqual({});
      expect(await ids(store, chatA, 'hop')).toEqual([]);
      expect(await store.historySummary(chatA)).toEqual({ count: 0 });
      expect(await site.count('transcripts', chatB)).toBe(1);
      expect(await site.count('chat_settings', chatB)).toBe(1);
      expect(await ids(store, chatB, 'hop')).toEqual([remembered.otherChat]);
      expect(await ids(store, chatAOnDiscord, 'hop')).toEqual([remembered.otherPlatform]);
    });

    it('purges entries older than historyDays only', async () => {
      const chat: ChatKey = { platform: 'telegram', chatId: 'purge' };
      const now = new Date('2026-12-01T00:00:00Z');
      const old = await store.remember(entry(chat, 'cũ quá rồi', undefined, { createdAt: new Date(now.getTime() - 30 * DAY - 1) }));
      const edge = await store.remember(entry(chat, 'vừa đúng hạn', undefined, { createdAt: new Date(now.getTime() - 30 * DAY) }));
      const fresh = await store.remember(entry(chat, 'mới hôm qua', undefined, { createdAt: new Date(now.getTime() - DAY) }));
      const before = await site.count('transcripts');
      expect(await site.indexed(chat)).toBe(3);
      expect(await store.purgeExpired(now)).toBe(1);
      expect(await site.indexed(chat)).toBe(2);
      expect(await site.count('transcripts')).toBe(before - 1);
      expect(await store.getTranscript(chat, old)).toBeUndefined();
      expect((await store.getTranscript(chat, edge))?.transcript).toBe('vừa đúng hạn');
      expect(await store.historySummary(chat)).toEqual({ count: 2, oldest: new Date(now.getTime() - 30 * DAY) });
      expect(await ids(store, chat, 'vua dung han')).toEqual([edge]);
      expect(await ids(store, chat, 'moi')).toEqual([fresh]);
      expect(await ids(store, chat, 'cu qua')).toEqual([]);
      expect(await store.purgeExpired(now)).toBe(0);
    });
  });

  it('purges at open and then every purgeIntervalMs', async () => {
    const chat: ChatKey = { platform: 'discord', chatId: 'expiring' };
    const first = await site.open();
    await first.remember(entry(chat, 'đã hết hạn', undefined, { createdAt: new Date(Date.now() - 31 * DAY) }));
    await first.close();
    expect(await site.count('transcripts')).toBe(1);

    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const store = await site.open({ purgeIntervalMs: 60_000 });
      expect(await site.count('transcripts')).toBe(0);
      await store.remember(entry(chat, 'sắp hết hạn', undefined, { createdAt: new Date(Date.now() - 31 * DAY) }));
      vi.advanceTimersByTime(59_999);
      expect(await store.historySummary(chat)).toEqual({ count: 1, oldest: expect.any(Date) });
      vi.advanceTimersByTime(1);
      await vi.waitFor(async () => expect(await store.historySummary(chat)).toEqual({ count: 0 }), { timeout: 5_000 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses an entry with an invalid date or duration, and keeps nothing of it', async () => {
    const store = await site.open();
    expect((await rejection(store.remember(entry(chatA, 'x', 'x', { createdAt: new Date('nonsense') })))).message).toBe('createdAt is not a valid date');
    expect((await rejection(store.remember(entry(chatA, 'x', 'x', { duration: -1 })))).message).toBe('duration must be a number of seconds, 0 or more');
    expect(await site.count('transcripts')).toBe(0);
  });
});

describe('opening a store that cannot be opened', () => {
  it('says so for a PostgreSQL that does not answer, without the password', async () => {
    const port = await freePort();
    const error = await rejection(openStore({ dataDir: 'unused', databaseUrl: `postgres://bot:s3cret-pass@127.0.0.1:${port}/stt`, historyDays: 30 }));
    expect(error.message).toBe('The postgres store could not be opened and migrated');
    expect(String((error.cause as Error).message)).not.toContain('s3cret-pass');
  });

  it('says so for a DATA_DIR that is a file', async () => {
    const file = path.join(os.tmpdir(), 'not-a-folder');
    await writeFile(file, 'x');
    const error = await rejection(openStore({ dataDir: file, historyDays: 30 }));
    expect(error.message).toBe('The sqlite store could not be opened: DATA_DIR must be a folder the service may write to');
    expect(await readFile(file, 'utf8')).toBe('x');
  });
});
