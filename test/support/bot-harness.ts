import { rmSync } from 'node:fs';

/** What a bot test starts: the bot, its store in a folder of its own, and its platform's fake server. */
export interface BotHarness {
  bot: { stop(): Promise<void> };
  store: { close(): Promise<void> };
  dataDir: string;
  fake: { close(): Promise<void> };
}

/** Stops what a bot test started: the bot first (it still talks to the fake), its store and folder, then the fake. */
export async function closeHarness(harness: BotHarness): Promise<void> {
  await harness.bot.stop();
  await harness.store.close();
  rmSync(harness.dataDir, { recursive: true, force: true });
  await harness.fake.close();
}
