import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { SQLITE_FILE, openStore, type ChatKey, type Store, type StoreOptions } from '../../src/store/index.js';
import { chatToken } from '../../src/store/search-query.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** One empty store location: a fresh SQLite folder or a fresh PostgreSQL database. */
export interface StoreSite {
  /** Opens a Store here; as many as a test likes (a restart, a second front). */
  open(options?: Partial<StoreOptions>): Promise<Store>;
  /** Rows of a table, counted with the engine's own client rather than through the Store. */
  count(table: 'chat_settings' | 'transcripts', chat?: ChatKey): Promise<number>;
  /** Entries of a chat in the search index itself (the FTS5 table, or the tsvector column). */
  indexed(chat: ChatKey): Promise<number>;
  /** The migrations the database records as run, oldest first. */
  migrations(): Promise<{ name: string; timestamp: string }[]>;
  /** Closes what this site opened and removes its files. */
  dispose(): Promise<void>;
}

export interface Engine {
  name: 'sqlite' | 'postgres';
  site(): Promise<StoreSite>;
}

/** Runs a query with the engine's own driver and returns its rows. */
type RawQuery = (text: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

function siteOver(open: StoreSite['open'], raw: RawQuery, indexQuery: string, opened: Store[], cleanup: () => Promise<void>): StoreSite {
  return {
    async open(options) {
      const store = await open(options);
      opened.push(store);
      return store;
    },
    async count(table, chat) {
      const where = chat ? ' WHERE platform = $1 AND chat_id = $2' : '';
      const [row] = await raw(`SELECT count(*) AS n FROM ${table}${where}`, chat ? [chat.platform, chat.chatId] : []);
      return Number(row.n);
    },
    async indexed(chat) {
      const [row] = await raw(indexQuery, [chatToken(chat)]);
      return Number(row.n);
    },
    async migrations() {
      const rows = await raw('SELECT name, timestamp FROM kysely_migration ORDER BY name', []);
      return rows.map((row) => ({ name: String(row.name), timestamp: String(row.timestamp) }));
    },
    async dispose() {
      await Promise.all(opened.splice(0).map((store) => store.close().catch(() => undefined)));
      await cleanup();
    },
  };
}

const sqlite: Engine = {
  name: 'sqlite',
  async site() {
    const dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'stt-store-')), 'data');
    const opened: Store[] = [];
    const raw: RawQuery = async (text, params) => {
      const db = new Database(path.join(dataDir, SQLITE_FILE), { readonly: true });
      try {
        return db.prepare(text.replace(/\$\d+/g, '?')).all(...params) as Record<string, unknown>[];
      } finally {
        db.close();
      }
    };
    return siteOver(
      (options) => openStore({ dataDir, historyDays: 30, purgeIntervalMs: 0, ...options }),
      raw,
      // Every word the chat indexes starts with its token: a prefix query finds all its entries.
      `SELECT count(*) AS n FROM transcripts_fts WHERE transcripts_fts MATCH '"' || $1 || '" *'`,
      opened,
      () => rm(path.dirname(dataDir), { recursive: true, force: true }),
    );
  },
};

let server: TestPostgres | undefined;

const postgres: Engine = {
  name: 'postgres',
  async site() {
    if (!server) throw new Error('PostgreSQL was not started: call useEngines() at the top of the test file');
    const databaseUrl = await server.createDatabase();
    const opened: Store[] = [];
    const raw: RawQuery = async (text, params) => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        return (await client.query(text, params)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    };
    // A DATA_DIR that does not exist: PostgreSQL must not create it.
    const dataDir = path.join(os.tmpdir(), 'stt-store-unused');
    return siteOver(
      (options) => openStore({ dataDir, databaseUrl, historyDays: 30, purgeIntervalMs: 0, ...options }),
      raw,
      'SELECT count(*) AS n FROM transcripts WHERE search @@ $1::tsquery',
      opened,
      async () => {},
    );
  },
};

/**
 * Both engines, for describe.each. Starts one PostgreSQL for the test file (each test takes a
 * database of its own from it) and stops it afterwards.
 */
export function useEngines(): Engine[] {
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
    server = undefined;
  });
  return [sqlite, postgres];
}
