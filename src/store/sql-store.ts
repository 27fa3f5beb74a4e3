import { randomBytes } from 'node:crypto';
import { Migrator, sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { hotwordProblem } from '../core/beam-hotwords.js';
import type { Logger } from '../logger.js';
import type { ChatKey, ChatSettings, HistoryEntry, Platform, SearchHit, SearchPage, Store, StoredTranscript } from './index.js';
import { migrationProvider } from './migrations/index.js';
import type { ChatSettingsTable, StoreDatabase, TranscriptsTable } from './schema.js';
import { makeSnippet } from './snippet.js';
import {
  decodeCursor,
  encodeCursor,
  fts5Match,
  fts5Words,
  indexWords,
  pageLimit,
  parseSearchQuery,
  tsQueries,
  tsVectorLiteral,
  writtenWords,
  type SearchQuery,
} from './search-query.js';

export type StoreDialect = 'sqlite' | 'postgres';

const DAY_MS = 24 * 60 * 60 * 1000;
/** 16 random bytes in base64url: what `remember` hands out, and the only shape the lookups accept. */
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** Each setting and its column; the one place a new setting is added on the store's side. */
const SETTING_COLUMNS = {
  auto: { column: 'auto', values: 'flag' },
  language: { column: 'language', values: ['vi', 'en', 'both'] },
  timestamps: { column: 'timestamps', values: 'flag' },
  textStyle: { column: 'text_style', values: ['written', 'raw'] },
  history: { column: 'history', values: 'flag' },
  hotwords: { column: 'hotwords', values: 'hotwords' },
} as const satisfies Record<keyof ChatSettings, { column: keyof ChatSettingsTable; values: 'flag' | 'hotwords' | readonly string[] }>;

type SettingKey = keyof typeof SETTING_COLUMNS;
type SettingColumn = (typeof SETTING_COLUMNS)[SettingKey]['column'];
type SettingValues = Partial<Pick<Insertable<ChatSettingsTable>, SettingColumn>>;

/** The columns a patch writes, checked: a typo'd key or a value outside its set is a caller's bug, told at once. */
function settingValues(patch: ChatSettings): SettingValues {
  const values: Record<string, number | string | null> = {};
  for (const [key, value] of Object.entries(patch) as [string, unknown][]) {
    if (!Object.hasOwn(SETTING_COLUMNS, key)) throw new TypeError(`Unknown chat setting "${key}"`);
    const { column, values: allowed } = SETTING_COLUMNS[key as SettingKey];
    if (value === undefined) values[column] = null;
    else if (allowed === 'hotwords') values[column] = hotwordsValue(value);
    else if (allowed === 'flag') {
      if (typeof value !== 'boolean') throw new TypeError(`Chat setting "${key}" must be true or false`);
      values[column] = value ? 1 : 0;
    } else {
      if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new TypeError(`Chat setting "${key}" must be one of ${allowed.join(', ')}`);
      values[column] = value;
    }
  }
  return values as SettingValues;
}

/** A list of hotwords as its column holds it: JSON, NULL for none; checked against the request limits. */
function hotwordsValue(value: unknown): string | null {
  if (!Array.isArray(value) || !value.every((word) => typeof word === 'string' && word.trim() !== '')) {
    throw new TypeError('Chat setting "hotwords" must be a list of words and phrases');
  }
  const problem = hotwordProblem(value);
  if (problem) throw new TypeError(`Chat setting "hotwords": ${problem}`);
  return value.length === 0 ? null : JSON.stringify(value);
}

/** The hotwords a column holds; anything but a JSON list of strings reads as none. */
function hotwordsOf(value: string): string[] | undefined {
  try {
    const list: unknown = JSON.parse(value);
    if (Array.isArray(list) && list.length > 0 && list.every((word) => typeof word === 'string')) return list as string[];
  } catch {
    // not ours
  }
  return undefined;
}

function settingsOf(row: Selectable<ChatSettingsTable> | undefined): ChatSettings {
  const settings: Record<string, boolean | string | string[]> = {};
  if (!row) return settings;
  for (const [key, { column, values }] of Object.entries(SETTING_COLUMNS)) {
    const value = row[column];
    if (value === null || value === undefined) continue;
    if (values === 'hotwords') {
      const hotwords = hotwordsOf(String(value));
      if (hotwords) settings[key] = hotwords;
    } else settings[key] = values === 'flag' ? Boolean(value) : String(value);
  }
  return settings as ChatSettings;
}

type TranscriptRow = Omit<Selectable<TranscriptsTable>, 'search'>;

function transcriptOf(row: TranscriptRow): StoredTranscript {
  return {
    id: row.id,
    chat: { platform: row.platform as Platform, chatId: row.chat_id },
    messageRef: row.message_ref,
    authorId: row.author_id,
    transcript: row.transcript,
    written: row.written,
    duration: Number(row.duration),
    createdAt: new Date(Number(row.created_at)),
  };
}

/** The snippet from the written form, unless the match shows only in the spoken one. */
function hitOf(row: TranscriptRow, query: SearchQuery): SearchHit {
  const written = makeSnippet(row.written, query.groups);
  const spoken = makeSnippet(row.transcript, query.groups);
  return { ...transcriptOf(row), snippet: spoken.matches > written.matches ? spoken.snippet : written.snippet };
}

const TRANSCRIPT_COLUMNS = ['id', 'platform', 'chat_id', 'message_ref', 'author_id', 'transcript', 'written', 'duration', 'created_at'] as const;

/** The Store over Kysely: one implementation for both dialects, which differ only in the search index. */
export class SqlStore implements Store {
  private purgeTimer: NodeJS.Timeout | undefined;
  private purging: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Kysely<StoreDatabase>,
    readonly dialect: StoreDialect,
    private readonly options: { historyDays: number; logger: Logger | undefined; purgeIntervalMs: number },
  ) {}

  /** Runs pending migrations, deletes what expired while the service was down, and starts the hourly purge. */
  async start(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect) });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw new Error(`The ${this.dialect} store could not be opened and migrated`, { cause: error });
    const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    this.options.logger?.info({ dialect: this.dialect, migrationsApplied: applied }, 'store ready');
    await this.purgeExpired();
    if (this.options.purgeIntervalMs > 0) {
      this.purgeTimer = setInterval(() => {
        this.purgeExpired().catch((err: unknown) => this.options.logger?.error({ err }, 'deleting expired transcripts failed'));
      }, this.options.purgeIntervalMs);
      this.purgeTimer.unref();
    }
  }

  async getSettings(chat: ChatKey): Promise<ChatSettings> {
    const row = await this.db
      .selectFrom('chat_settings')
      .selectAll()
      .where('platform', '=', chat.platform)
      .where('chat_id', '=', chat.chatId)
      .executeTakeFirst();
    return settingsOf(row);
  }

  async updateSettings(chat: ChatKey, patch: ChatSettings): Promise<ChatSettings> {
    const values = settingValues(patch);
    if (Object.keys(values).length === 0) return this.getSettings(chat);
    const now = Date.now();
    // One upsert that writes only the patched columns, so two fronts changing different settings
    // of one chat at once both keep their change.
    await this.db
      .insertInto('chat_settings')
      .values({ platform: chat.platform, chat_id: chat.chatId, ...values, updated_at: now })
      .onConflict((conflict) => conflict.columns(['platform', 'chat_id']).doUpdateSet({ ...values, updated_at: now }))
      .execute();
    return this.getSettings(chat);
  }

  async remember(entry: HistoryEntry): Promise<string> {
    const createdAt = entry.createdAt.getTime();
    if (!Number.isFinite(createdAt)) throw new RangeError('createdAt is not a valid date');
    if (!Number.isFinite(entry.duration) || entry.duration < 0) throw new RangeError('duration must be a number of seconds, 0 or more');
    const id = randomBytes(16).toString('base64url');
    const spoken = indexWords(entry.transcript);
    const written = indexWords(entry.written);
    const row = {
      id,
      platform: entry.chat.platform,
      chat_id: entry.chat.chatId,
      message_ref: entry.messageRef,
      author_id: entry.authorId,
      transcript: entry.transcript,
      written: entry.written,
      duration: entry.duration,
      created_at: createdAt,
    };
    if (this.dialect === 'postgres') {
      await this.db
        .insertInto('transcripts')
        .values({ ...row, search: sql<string>`${tsVectorLiteral(entry.chat, spoken, written)}::tsvector` })
        .execute();
      return id;
    }
    await this.db.transaction().execute(async (trx) => {
      const { insertId } = await trx.insertInto('transcripts').values(row).executeTakeFirstOrThrow();
      // Without the row's seq the index entry would take a rowid of its own and point at nothing.
      if (insertId === undefined) throw new Error('SQLite returned no rowid for the remembered transcript');
      await sql`INSERT INTO transcripts_fts (rowid, spoken, written) VALUES (${insertId}, ${fts5Words(entry.chat, spoken)}, ${fts5Words(entry.chat, writtenWords(spoken, written))})`.execute(trx);
    });
    return id;
  }

  async search(chat: ChatKey, query: string, page: { limit?: number; cursor?: string } = {}): Promise<SearchPage> {
    const parsed = parseSearchQuery(query);
    const limit = pageLimit(page.limit);
    const offset = page.cursor === undefined ? 0 : decodeCursor(chat, parsed, page.cursor);
    // One more than the page: whether it exists says whether there is a next page.
    const rows = this.dialect === 'sqlite' ? await this.searchSqlite(chat, parsed, limit + 1, offset) : await this.searchPostgres(chat, parsed, limit + 1, offset);
    const results = rows.slice(0, limit).map((row) => hitOf(row, parsed));
    return rows.length > limit ? { results, nextCursor: encodeCursor(chat, parsed, offset + limit) } : { results };
  }

  private async searchSqlite(chat: ChatKey, query: SearchQuery, limit: number, offset: number): Promise<TranscriptRow[]> {
    // The page is chosen inside the FTS5 table (rank is bm25; lower is better; among equals the
    // later remembered first), and only its rows are looked up. The platform and chat_id test
    // repeats what the words' chat prefix already selects, so that isolation never rests on the
    // index alone.
    const { rows } = await sql<TranscriptRow>`
      SELECT t.id, t.platform, t.chat_id, t.message_ref, t.author_id, t.transcript, t.written, t.duration, t.created_at
      FROM (
        SELECT rowid AS seq, rank FROM transcripts_fts WHERE transcripts_fts MATCH ${fts5Match(chat, query)}
        ORDER BY rank, rowid DESC LIMIT ${limit} OFFSET ${offset}
      ) AS hits
      JOIN transcripts t ON t.seq = hits.seq
      WHERE t.platform = ${chat.platform} AND t.chat_id = ${chat.chatId}
      ORDER BY hits.rank, hits.seq DESC`.execute(this.db);
    return rows;
  }

  private async searchPostgres(chat: ChatKey, query: SearchQuery, limit: number, offset: number): Promise<TranscriptRow[]> {
    const { terms, filter } = tsQueries(chat, query);
    const { rows } = await sql<TranscriptRow>`
      SELECT id, platform, chat_id, message_ref, author_id, transcript, written, duration, created_at
      FROM transcripts
      WHERE search @@ ${filter}::tsquery AND platform = ${chat.platform} AND chat_id = ${chat.chatId}
      ORDER BY ts_rank(search, ${terms}::tsquery) DESC, created_at DESC, id
      LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
    return rows;
  }

  async getTranscript(chat: ChatKey, id: string): Promise<StoredTranscript | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    const row = await this.db
      .selectFrom('transcripts')
      .select(TRANSCRIPT_COLUMNS)
      .where('id', '=', id)
      .where('platform', '=', chat.platform)
      .where('chat_id', '=', chat.chatId)
      .executeTakeFirst();
    return row ? transcriptOf(row) : undefined;
  }

  async deleteTranscript(chat: ChatKey, id: string): Promise<boolean> {
    if (!ID_PATTERN.test(id)) return false;
    const result = await this.db
      .deleteFrom('transcripts')
      .where('id', '=', id)
      .where('platform', '=', chat.platform)
      .where('chat_id', '=', chat.chatId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async historySummary(chat: ChatKey): Promise<{ count: number; oldest?: Date }> {
    const row = await this.db
      .selectFrom('transcripts')
      .select((eb) => [eb.fn.countAll<number | string>().as('count'), eb.fn.min('created_at').as('oldest')])
      .where('platform', '=', chat.platform)
      .where('chat_id', '=', chat.chatId)
      .executeTakeFirstOrThrow();
    const count = Number(row.count);
    return row.oldest === null || row.oldest === undefined ? { count } : { count, oldest: new Date(Number(row.oldest)) };
  }

  async forget(chat: ChatKey): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('chat_settings').where('platform', '=', chat.platform).where('chat_id', '=', chat.chatId).execute();
      await trx.deleteFrom('transcripts').where('platform', '=', chat.platform).where('chat_id', '=', chat.chatId).execute();
    });
  }

  purgeExpired(now: Date = new Date()): Promise<number> {
    const cutoff = now.getTime() - this.options.historyDays * DAY_MS;
    const run = this.purging.then(async () => {
      const result = await this.db.deleteFrom('transcripts').where('created_at', '<', cutoff).executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      if (deleted > 0) this.options.logger?.info({ deleted, historyDays: this.options.historyDays }, 'expired transcripts deleted');
      return deleted;
    });
    this.purging = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.purging;
    await this.db.destroy();
  }
}
