import type { Kysely, Migration } from 'kysely';

/** Per-chat settings: what a chat or channel has changed from the service's defaults. */
export const chatSettings: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('chat_settings')
      .addColumn('platform', 'text', (c) => c.notNull())
      .addColumn('chat_id', 'text', (c) => c.notNull())
      .addColumn('auto', 'boolean')
      .addColumn('language', 'text')
      .addColumn('timestamps', 'boolean')
      .addColumn('text_style', 'text')
      .addColumn('history', 'boolean')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('chat_settings_pkey', ['platform', 'chat_id'])
      .execute();
  },
};
