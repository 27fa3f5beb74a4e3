import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { StoreDatabase } from './schema.js';
import { SqlStore } from './sql-store.js';

export type Platform = 'telegram' | 'discord' | 'http';
/** A chat, group or channel: where settings and history belong. HTTP uses `{ platform: 'http', chatId: <API key id or 'default'> }`. */
export interface ChatKey {
  platform: Platform;
  chatId: string;
}
export type ReplyLanguage = 'vi' | 'en' | 'both';
export type TextStyle = 'written' | 'raw';

/**
 * What a chat has set; a missing key means "not set here, use the default". In a patch to
 * `updateSettings`, a key given with the value `undefined` is cleared back to the default.
 */
export interface ChatSettings {
  auto?: boolean;
  language?: ReplyLanguage;
  timestamps?: boolean;
  textStyle?: TextStyle;
  history?: boolean;
  /**
   * The chat's own hotwords (names and terms its voice notes are decoded to favour, on top of
   * HOTWORDS): at most 100, each at most 64 characters, as the HTTP `hotwords` field. An empty
   * list in a patch clears it, as `undefined` does.
   */
  hotwords?: readonly string[];
}

/** What is remembered of one transcript when a chat has `history` on: the text, never the audio. */
export interface HistoryEntry {
  chat: ChatKey;
  /** The platform's message id or link data, opaque to the store. */
  messageRef: string;
  authorId: string;
  /** The spoken form, as the model heard it. */
  transcript: string;
  /** The written form (numbers as digits and the like). */
  written: string;
  /** Seconds of audio. */
  duration: number;
  createdAt: Date;
}

export interface StoredTranscript extends HistoryEntry {
  id: string;
}

export interface SearchHit extends StoredTranscript {
  /**
   * The matching words in context, from the written form unless the spoken form shows more of
   * them ("chín giờ" matches only the spoken form of "9 giờ"):
   * up to 20 words, each run of matching words wrapped in « and », "…" where the text was cut.
   */
  snippet: string;
}

export interface SearchPage {
  results: SearchHit[];
  /** Present when there are more results: pass it back as `cursor` for the next page. */
  nextCursor?: string;
}

/** Settings and history, in SQLite (embedded) or PostgreSQL (shared by every front). */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  getSettings(chat: ChatKey): Promise<ChatSettings>;
  /** Changes the given keys only; returns the whole stored set after the change. */
  updateSettings(chat: ChatKey, patch: ChatSettings): Promise<ChatSettings>;
  /**
   * Keeps a transcript for `historyDays`; returns its id, random and unguessable (it appears in
   * URLs). The caller decides whether the chat has `history` on.
   */
  remember(entry: HistoryEntry): Promise<string>;
  /**
   * This chat's transcripts that hold every word and phrase of the query, best first (bm25 on
   * SQLite, ts_rank on PostgreSQL; among equals the newer first: by `createdAt` on PostgreSQL, the
   * later remembered on SQLite). Folded, so "hop" finds "họp"; both the spoken and the written
   * form are searched. `limit` is 5 unless given, at most 50. An empty or punctuation-only
   * query, a bad limit or a cursor from another search is `bad_query`.
   */
  search(chat: ChatKey, query: string, page?: { limit?: number; cursor?: string }): Promise<SearchPage>;
  getTranscript(chat: ChatKey, id: string): Promise<StoredTranscript | undefined>;
  /** False when this chat holds no transcript with that id. */
  deleteTranscript(chat: ChatKey, id: string): Promise<boolean>;
  historySummary(chat: ChatKey): Promise<{ count: number; oldest?: Date }>;
  /** Deletes the chat's settings and its whole history, in one transaction. */
  forget(chat: ChatKey): Promise<void>;
  /** Deletes every transcript older than `historyDays` before `now`; returns how many. */
  purgeExpired(now?: Date): Promise<number>;
  /** Waits for a purge in progress, then closes the database (the pool, for PostgreSQL). */
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Where the SQLite file `viet-stt.sqlite` lives (created if missing); unused with `databaseUrl`. */
  dataDir: string;
  /** A postgres:// URL: the store is PostgreSQL, shared by every front that uses the same URL. */
  databaseUrl?: string;
  /** Transcripts older than this many days are deleted. */
  historyDays: number;
  logger?: Logger;
  /**
   * How often expired transcripts are deleted, in ms; default an hour, 0 for never (the caller
   * then calls `purgeExpired`). A purge also runs at open, so a service that was down deletes
   * what expired meanwhile before it serves.
   */
  purgeIntervalMs?: number;
}

/** The SQLite file's name inside DATA_DIR. */
export const SQLITE_FILE = 'viet-stt.sqlite';

/** Opens the store and runs its pending migrations; PostgreSQL when `databaseUrl` is set, else SQLite. */
export async function openStore(options: StoreOptions): Promise<Store> {
  if (!Number.isFinite(options.historyDays) || options.historyDays <= 0) throw new RangeError('historyDays must be a positive number');
  const db = options.databaseUrl ? postgres(options.databaseUrl, options.logger) : await sqlite(options.dataDir);
  const store = new SqlStore(db, options.databaseUrl ? 'postgres' : 'sqlite', {
    historyDays: options.historyDays,
    logger: options.logger,
    purgeIntervalMs: options.purgeIntervalMs ?? 60 * 60 * 1000,
  });
  try {
    await store.start();
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
  return store;
}

async function sqlite(dataDir: string): Promise<Kysely<StoreDatabase>> {
  let database: Database.Database;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    database = new Database(path.join(dataDir, SQLITE_FILE));
  } catch (error) {
    throw new Error('The sqlite store could not be opened: DATA_DIR must be a folder the service may write to', { cause: error });
  }
  // WAL: readers never wait for the writer; NORMAL is durable in WAL mode but for the last
  // commits on power loss, and spares an fsync per remembered transcript.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  return new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database }) });
}

function postgres(connectionString: string, logger: Logger | undefined): Kysely<StoreDatabase> {
  const pool = new pg.Pool({ connectionString, max: 10, connectionTimeoutMillis: 10_000 });
  // An idle client whose server went away emits here; unhandled, it would end the process.
  // pg's messages name the host at most, never the password.
  pool.on('error', (error) => logger?.warn({ err: error }, 'PostgreSQL connection lost; the pool reconnects'));
  return new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool }) });
}
