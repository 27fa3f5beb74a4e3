import { sql, type Kysely, type Migration } from 'kysely';
import type { StoreDialect } from '../sql-store.js';

/**
 * Remembered transcripts (the `history` setting) and their full-text index. The table is the
 * same in both dialects but for its key; the index is each engine's own:
 *
 * - SQLite: a contentless FTS5 table (the folded words are not stored a second time; snippets are
 *   cut from the row's own text) whose rowid is the row's `seq`, emptied by a trigger whenever a
 *   row goes, however it goes. The `ascii` tokenizer splits only on ASCII spaces and
 *   punctuation: the words arrive already folded and split by src/text/fold.ts, and every
 *   non-ASCII letter of another script stays part of its word.
 * - PostgreSQL: a tsvector column built from the same folded words (with their positions, so
 *   phrases work) and a GIN index over it. Folding in the service rather than with the `unaccent`
 *   extension needs no extension or superuser, and makes both engines see exactly the same words.
 *
 * Each chat's entries are told apart inside the index itself (a token of the chat's in PostgreSQL,
 * a prefix on every word in SQLite), so a search walks its own chat's postings instead of ranking
 * every chat's matches and throwing most away. The written form is indexed only where it differs
 * from the spoken one.
 */
export function transcripts(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('transcripts')
        .$call((table) =>
          dialect === 'sqlite'
            ? table.addColumn('seq', 'integer', (c) => c.primaryKey()).addColumn('id', 'text', (c) => c.notNull().unique())
            : table.addColumn('id', 'text', (c) => c.primaryKey()),
        )
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('chat_id', 'text', (c) => c.notNull())
        .addColumn('message_ref', 'text', (c) => c.notNull())
        .addColumn('author_id', 'text', (c) => c.notNull())
        .addColumn('transcript', 'text', (c) => c.notNull())
        .addColumn('written', 'text', (c) => c.notNull())
        .addColumn('duration', 'double precision', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('transcripts_chat').on('transcripts').columns(['platform', 'chat_id', 'created_at']).execute();
      await db.schema.createIndex('transcripts_created_at').on('transcripts').column('created_at').execute();

      if (dialect === 'sqlite') {
        await sql`CREATE VIRTUAL TABLE transcripts_fts USING fts5(spoken, written, content='', contentless_delete=1, tokenize='ascii')`.execute(db);
        await sql`INSERT INTO transcripts_fts (transcripts_fts, rank) VALUES ('rank', 'bm25(1.0, 1.0)')`.execute(db);
        await sql`CREATE TRIGGER transcripts_fts_delete AFTER DELETE ON transcripts BEGIN DELETE FROM transcripts_fts WHERE rowid = old.seq; END`.execute(db);
      } else {
        await sql`ALTER TABLE transcripts ADD COLUMN search tsvector NOT NULL`.execute(db);
        await sql`CREATE INDEX transcripts_search ON transcripts USING gin (search)`.execute(db);
      }
    },
  };
}
