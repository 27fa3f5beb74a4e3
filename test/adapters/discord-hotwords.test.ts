import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationCommandOptionType, MessageFlags } from 'discord.js';
import { createDiscordBot, SETTINGS_COMMAND_NAME, type DiscordBot } from '../../adapters/discord.js';
import type { Core } from '../../src/core/create-transcriber.js';
import { createLogger } from '../../src/logger.js';
import { openStore, type Store } from '../../src/store/index.js';
import { speech } from '../support/audio.js';
import { testConfig, testCore } from '../support/core.js';
import { FakeDiscord, type RecordedCall, type RestCall } from '../fakes/discord.js';
import { closeHarness } from '../support/bot-harness.js';

// A channel's own hotwords on Discord: `/transcription hotwords`, who may change them, and a
// voice message's transcript before and after.

const TOKEN = 'MTA5ODc2NTQzMjEwOTg3NjU0Mw.GvQx7k.Zr3vQm8TtWkY2pLsN0aHc7dEfJxUuBiO5gRy1V';

/** The name "Lộc" said so that greedy decoding of the tone model hears "lọc" (see test/http/hotwords.test.ts). */
const SAID = 'anh lộc gọi';
const GREEDY = 'anh lọc gọi';
const BLEND = { ộ: { with: 'ọ', share: 0.55 } };

/** Manage Channels is missing from this member's permissions. */
const NO_PERMISSIONS = '0';

interface Harness {
  fake: FakeDiscord;
  bot: DiscordBot;
  store: Store;
  dataDir: string;
}

let core: Core;
let note: Buffer;
const running: Harness[] = [];

async function startBot(env: Record<string, string> = {}): Promise<Harness> {
  const fake = await FakeDiscord.start({ token: TOKEN, heartbeatIntervalMs: 1_000 });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'discord-hotwords-'));
  const store = await openStore({ dataDir, historyDays: 30 });
  const config = testConfig({ DISCORD_BOT_TOKEN: TOKEN, DISCORD_API_ROOT: fake.apiRoot, ...env });
  const bot = createDiscordBot({ config, transcriber: core.transcriber, store, logger: createLogger({ level: 'silent' }), clientOptions: { rest: { offset: 0, timeout: 5_000, retries: 1 } } });
  const harness = { fake, bot, store, dataDir };
  running.push(harness);
  await bot.start();
  return harness;
}

/** Uses `/transcription hotwords [words:…]` in `channelId` and returns the (ephemeral) answer's text. */
async function hotwords(fake: FakeDiscord, channelId: string, words?: string, permissions?: string): Promise<string> {
  const options = words === undefined ? [] : [{ type: ApplicationCommandOptionType.String as const, name: 'words', value: words }];
  const id = fake.injectSlashCommand(channelId, SETTINGS_COMMAND_NAME, [{ type: ApplicationCommandOptionType.Subcommand as const, name: 'hotwords', options }], { permissions });
  const call = await fake.waitFor<RestCall>((c) => c.kind === 'rest' && c.route === 'POST /interactions/:id/:token/callback' && c.path.includes(`/interactions/${id}/`));
  const data = (call.body as { data?: { content?: string; flags?: number } }).data;
  expect((data?.flags ?? 0) & MessageFlags.Ephemeral).toBe(MessageFlags.Ephemeral);
  return String(data?.content);
}

/** Sends the blended voice message in `channelId` and returns the bot's reply to it. */
async function voiceMessage(fake: FakeDiscord, channelId: string): Promise<string> {
  const voice = fake.injectVoiceMessage(note, channelId, { durationSecs: 2 });
  const reply = await fake.waitFor<RestCall>(
    (c: RecordedCall) => c.kind === 'rest' && c.route === 'POST /channels/:id/messages' && c.status === 200 && c.message?.message_reference?.message_id === voice.id,
    8_000,
  );
  return String(reply.message?.content);
}

const key = (channelId: string) => ({ platform: 'discord' as const, chatId: channelId });

beforeAll(async () => {
  [{ core }, note] = await Promise.all([testCore(), speech(SAID, 'ogg-opus', { blend: BLEND })]);
});

afterEach(async () => {
  for (const harness of running.splice(0)) await closeHarness(harness);
});

afterAll(async () => {
  await core?.close();
});

describe('/transcription hotwords on Discord', () => {
  it('registers the subcommand with an optional words option', async () => {
    const { fake } = await startBot();
    const sub = fake.registeredCommands()[1].options?.find((o) => o.name === 'hotwords');
    expect(sub).toMatchObject({ type: ApplicationCommandOptionType.Subcommand, options: [{ type: ApplicationCommandOptionType.String, name: 'words', required: false }] });
  });

  it('shows, sets and clears the channel\'s hotwords in its language, keeping them in the store', async () => {
    const { fake, store } = await startBot({ REPLY_LANGUAGE: 'en' });
    const channel = fake.textChannelId;
    expect(await hotwords(fake, channel)).toBe('🏷️ No hotwords yet, set them with: /transcription hotwords words: Lộc, Khánh Linh');
    expect(await hotwords(fake, channel, 'Lộc, Khánh Linh, Techcombank')).toBe('✅ 3 hotwords saved: Lộc, Khánh Linh, Techcombank');
    expect(await store.getSettings(key(channel))).toEqual({ hotwords: ['Lộc', 'Khánh Linh', 'Techcombank'] });
    expect(await hotwords(fake, channel)).toBe("🏷️ This chat's hotwords: Lộc, Khánh Linh, Techcombank");
    expect(await hotwords(fake, channel, 'clear')).toBe("🗑️ This chat's hotwords are removed.");
    expect(await store.getSettings(key(channel))).toEqual({});
    expect(await hotwords(fake, channel, 'Lộc')).toBe('✅ 1 hotword saved: Lộc');
    expect(await hotwords(fake, channel, '-')).toBe("🗑️ This chat's hotwords are removed.");
    expect(await store.getSettings(key(channel))).toEqual({});
  });

  it('refuses more than 100 or one over 64 characters, naming the limit, and keeps what it had', async () => {
    const { fake, store } = await startBot();
    const channel = fake.textChannelId;
    await hotwords(fake, channel, 'Lộc');
    const many = Array.from({ length: 101 }, (_, i) => `tên${i}`).join(',');
    expect(await hotwords(fake, channel, many)).toBe('⚠️ Tối đa 100 từ khoá (đã gửi 101). (At most 100 hotwords (101 given).)');
    expect(await hotwords(fake, channel, `Khánh Linh, ${'Lộc Phát '.repeat(8)}`)).toBe(
      '⚠️ Mỗi từ khoá tối đa 64 ký tự: "Lộc Phát Lộc Phát Lộ…" dài hơn. (Each hotword has at most 64 characters: "Lộc Phát Lộc Phát Lộ…" is longer.)',
    );
    expect(await store.getSettings(key(channel))).toEqual({ hotwords: ['Lộc'] });
  });

  it('refuses a change by a member without Manage Channels; showing needs no permission', async () => {
    const { fake, store } = await startBot();
    const channel = fake.textChannelId;
    expect(await hotwords(fake, channel, 'Lộc', NO_PERMISSIONS)).toBe('🔒 Chỉ quản trị viên mới đổi được. (Only administrators can change this.)');
    expect(await hotwords(fake, channel, 'clear', NO_PERMISSIONS)).toBe('🔒 Chỉ quản trị viên mới đổi được. (Only administrators can change this.)');
    expect(await store.getSettings(key(channel))).toEqual({});
    await hotwords(fake, channel, 'Lộc');
    expect(await hotwords(fake, channel, undefined, NO_PERMISSIONS)).toBe("🏷️ Từ khoá của cuộc trò chuyện này (This chat's hotwords): Lộc");
  });

  it('a voice message is heard greedily without them and with the name right after setting Lộc, in this channel and its threads only', async () => {
    const { fake } = await startBot({ REPLY_LANGUAGE: 'vi' });
    expect(await voiceMessage(fake, fake.textChannelId)).toBe(GREEDY);
    expect(await hotwords(fake, fake.textChannelId, 'Lộc')).toBe('✅ Đã lưu 1 từ khoá: Lộc');
    expect(await voiceMessage(fake, fake.textChannelId)).toBe(SAID);
    // A thread follows its channel's settings; another channel has none of its own.
    expect(await voiceMessage(fake, fake.threadId)).toBe(SAID);
    expect(await voiceMessage(fake, fake.otherChannelId)).toBe(GREEDY);
    await hotwords(fake, fake.textChannelId, 'clear');
    expect(await voiceMessage(fake, fake.textChannelId)).toBe(GREEDY);
  });
});
