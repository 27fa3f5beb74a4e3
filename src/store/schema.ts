import type { ColumnType } from 'kysely';

/**
 * A flag column: SQLite hands back 0/1, PostgreSQL true/false. Both take 0/1 in (better-sqlite3
 * binds no booleans; PostgreSQL reads '1' and '0' as booleans), so one write path serves both.
 */
type Flag = ColumnType<number | boolean | null, number | null, number | null>;

/**
 * Milliseconds since the epoch in a BIGINT: a number from SQLite, a string from pg (which does not
 * turn int8 into a JS number on its own). Comparing integers is the same SQL in both dialects.
 */
type EpochMs = ColumnType<number | string, number, number>;

/** One row per chat or channel that has set anything; a NULL column is a setting left at its default. */
export interface ChatSettingsTable {
  platform: string;
  chat_id: string;
  auto: Flag;
  language: string | null;
  timestamps: Flag;
  text_style: string | null;
  history: Flag;
  /** The chat's hotwords as a JSON array of strings; NULL: none of its own. */
  hotwords: string | null;
  updated_at: EpochMs;
}

/**
 * One remembered transcript. The search index lives beside it: in SQLite an FTS5 table keyed by
 * the row's `seq` (an INTEGER PRIMARY KEY, so VACUUM keeps it), in PostgreSQL the `search`
 * tsvector column, written with the row and never read back.
 */
export interface TranscriptsTable {
  id: string;
  platform: string;
  chat_id: string;
  message_ref: string;
  author_id: string;
  transcript: string;
  written: string;
  duration: number;
  created_at: EpochMs;
  search: ColumnType<never, string | undefined, never>;
}

export interface StoreDatabase {
  chat_settings: ChatSettingsTable;
  transcripts: TranscriptsTable;
}
