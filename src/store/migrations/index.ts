import type { Migration, MigrationProvider } from 'kysely';
import type { StoreDialect } from '../sql-store.js';
import { chatSettings } from './0001-chat-settings.js';
import { transcripts } from './0002-transcripts.js';
import { chatHotwords } from './0003-chat-hotwords.js';

/**
 * Every migration, by name, in the order they run. Listed here rather than found by scanning a
 * folder, so the same list runs under tsx (`.ts`) and from compiled JavaScript. A migration, once
 * released, is never edited: a change is a new entry.
 */
export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001-chat-settings': chatSettings,
    '0002-transcripts': transcripts(dialect),
    '0003-chat-hotwords': chatHotwords,
  };
  return { getMigrations: async () => migrations };
}
