import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_FILE, openStore, type ChatKey } from '../../src/store/index.js';
import { chatSettings } from '../../src/store/migrations/0001-chat-settings.js';
import { transcripts } from '../../src/store/migrations/0002-transcripts.js';
import { rejection } from '../support/rejection.js';
import { useEngines, type StoreSite } from './engines.js';

const engines = useEngines();

const chat: ChatKey = { platform: 'telegram', chatId: '-100200300' };
const other: ChatKey = { platform: 'discord', chatId: '-100200300' };

describe.each(engines)('a chat\'s hotwords in the store on $name', (engine) => {
  let site: StoreSite;
  beforeEach(async () => {
    site = await engine.site();
  });
  afterEach(async () => {
    await site.dispose();
  });

  it('keeps the list as given beside the other settings, replaces it, and clears it with undefined or an empty list', async () => {
    const store = await site.open();
    expect(await store.updateSettings(chat, { hotwords: ['Lộc', 'Khánh Linh', 'Techcombank'] })).toEqual({ hotwords: ['Lộc', 'Khánh Linh', 'Techcombank'] });
    expect(await store.updateSettings(chat, { language: 'en' })).toEqual({ language: 'en', hotwords: ['Lộc', 'Khánh Linh', 'Techcombank'] });
    expect(await store.updateSettings(chat, { hotwords: ['Vietcombank'] })).toEqual({ language: 'en', hotwords: ['Vietcombank'] });
    expect(await store.getSettings(other)).toEqual({});
    expect(await store.updateSettings(chat, { hotwords: undefined })).toEqual({ language: 'en' });
    await store.updateSettings(chat, { hotwords: ['Lộc'] });
    expect(await store.updateSettings(chat, { hotwords: [] })).toEqual({ language: 'en' });
  });

  it('takes exactly the limits of the HTTP field: 100 words or phrases, 64 characters each', async () => {
    const store = await site.open();
    const hundred = Array.from({ length: 100 }, (_, i) => (i === 0 ? 'ộ'.repeat(64) : `tên ${i}`));
    expect((await store.updateSettings(chat, { hotwords: hundred })).hotwords).toEqual(hundred);
  });

  it('refuses a list past the limits or not a list of words, naming why, and writes nothing', async () => {
    const store = await site.open();
    const bad = [
      { hotwords: Array.from({ length: 101 }, (_, i) => `tên${i}`), message: 'Chat setting "hotwords": 101 hotwords are more than the 100 allowed' },
      { hotwords: ['x'.repeat(65)], message: `Chat setting "hotwords": "${'x'.repeat(20)}…" is longer than 64 characters` },
      { hotwords: 'Lộc', message: 'Chat setting "hotwords" must be a list of words and phrases' },
      { hotwords: ['Lộc', 7], message: 'Chat setting "hotwords" must be a list of words and phrases' },
      { hotwords: ['Lộc', ' '], message: 'Chat setting "hotwords" must be a list of words and phrases' },
    ];
    for (const { hotwords, message } of bad) {
      const error = await rejection(store.updateSettings(chat, { hotwords } as never));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toBe(message);
    }
    expect(await site.count('chat_settings')).toBe(0);
    expect(await store.updateSettings(chat, { hotwords: ['Lộc'] })).toEqual({ hotwords: ['Lộc'] });
  });

  it('survives a restart, is shared by two fronts, and goes with /forget', async () => {
    const first = await site.open();
    await first.updateSettings(chat, { hotwords: ['Lộc', 'Khánh Linh'] });
    await first.close();
    const [front1, front2] = await Promise.all([site.open(), site.open()]);
    expect(await front1.getSettings(chat)).toEqual({ hotwords: ['Lộc', 'Khánh Linh'] });
    await Promise.all([front1.updateSettings(chat, { history: true }), front2.updateSettings(chat, { hotwords: ['Techcombank'] })]);
    expect(await front1.getSettings(chat)).toEqual({ history: true, hotwords: ['Techcombank'] });
    await front2.forget(chat);
    expect(await front1.getSettings(chat)).toEqual({});
    expect(await site.count('chat_settings', chat)).toBe(0);
  });
});

describe('the hotwords migration on a database made before it', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stt-store-upgrade-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds the column and keeps every chat\'s settings as they were', async () => {
    const older: Record<string, Migration> = { '0001-chat-settings': chatSettings, '0002-transcripts': transcripts('sqlite') };
    const db = new Kysely<{ chat_settings: { platform: string; chat_id: string; language: string; updated_at: number } }>({
      dialect: new SqliteDialect({ database: new Database(path.join(dir, SQLITE_FILE)) }),
    });
    const { error } = await new Migrator({ db, provider: { getMigrations: async () => older } }).migrateToLatest();
    expect(error).toBeUndefined();
    await db.insertInto('chat_settings').values({ platform: chat.platform, chat_id: chat.chatId, language: 'vi', updated_at: Date.now() }).execute();
    await db.destroy();

    const store = await openStore({ dataDir: dir, historyDays: 30, purgeIntervalMs: 0 });
    try {
      expect(await store.getSettings(chat)).toEqual({ language: 'vi' });
      expect(await store.updateSettings(chat, { hotwords: ['Lộc'] })).toEqual({ language: 'vi', hotwords: ['Lộc'] });
    } finally {
      await store.close();
    }
  });
});
