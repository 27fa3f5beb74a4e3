import type { Kysely, Migration } from 'kysely';

/**
 * A chat's own hotwords: the names and terms its voice notes are decoded to favour, as a JSON
 * array of strings in one text column (NULL: none of its own), the same in both dialects.
 */
export const chatHotwords: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('chat_settings').addColumn('hotwords', 'text').execute();
  },
};
