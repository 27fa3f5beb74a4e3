import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Chat, Message, User } from 'telegraf/types';
import { createTelegramBot, type TelegramBot } from '../../adapters/telegram.js';
import type { Core } from '../../src/core/create-transcriber.js';
import type { Transcriber } from '../../src/core/types.js';
import { createLogger } from '../../src/logger.js';
import { QueueFront } from '../../src/queue/queue-front.js';
import { QueueTranscriber } from '../../src/queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import { openStore, type Store } from '../../src/store/index.js';
import { speech } from '../support/audio.js';
import { testConfig, testCore } from '../support/core.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { FakeBotApi, type RecordedCall } from '../fakes/telegram-bot-api.js';
import { closeHarness } from '../support/bot-harness.js';

// A chat's own hotwords on Telegram: the /hotwords command's replies, who may change them, and
// the whole path from a voice note to its transcript, embedded and through a shared queue.

const TOKEN = '7712345678:AAGx9vQm8TtWkY2pLsN0aHc7dEfJxUuBiO5';

const LAN: User = { id: 5001, is_bot: false, first_name: 'Lan', language_code: 'vi' };
const MINH: User = { id: 5002, is_bot: false, first_name: 'Minh', language_code: 'en' };
const PRIVATE: Chat.PrivateChat = { id: LAN.id, type: 'private', first_name: 'Lan' };
const PRIVATE_MINH: Chat.PrivateChat = { id: MINH.id, type: 'private', first_name: 'Minh' };
const GROUP: Chat.SupergroupChat = { id: -1001234567890, type: 'supergroup', title: 'Nhóm bán hàng' };

/**
 * The name "Lộc" said so that the tone model is unsure (its ộ carries 55% of its energy at ọ's
 * tone): greedy decoding hears "lọc", a hotword that knows the name puts the ộ back.
 */
const SAID = 'anh lộc gọi';
const GREEDY = 'anh lọc gọi';
const BLEND = { ộ: { with: 'ọ', share: 0.55 } };

interface Harness {
  fake: FakeBotApi;
  bot: TelegramBot;
  store: Store;
  dataDir: string;
}

let core: Core;
let note: Buffer;
const running: Harness[] = [];

async function startBot(transcriber: Transcriber = core.transcriber, env: Record<string, string> = {}): Promise<Harness> {
  const fake = await FakeBotApi.start({ token: TOKEN });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'telegram-hotwords-'));
  const store = await openStore({ dataDir, historyDays: 30 });
  const config = testConfig({ TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_ROOT: fake.url, ...env });
  const bot = createTelegramBot({ config, transcriber, store, logger: createLogger({ level: 'silent' }), retry: { baseDelayMs: 10, maxDelayMs: 40, wait: async () => {} } });
  const harness = { fake, bot, store, dataDir };
  running.push(harness);
  await bot.start();
  return harness;
}

const replyTarget = (call: RecordedCall): number | undefined => {
  const reply = call.params.reply_parameters;
  return typeof reply === 'object' && reply !== null && 'message_id' in reply ? Number(reply.message_id) : undefined;
};

/** The bot's first reply to `message`, as sent. */
async function replyTo(fake: FakeBotApi, message: Message): Promise<string> {
  const call = await fake.waitFor((c) => c.method === 'sendMessage' && c.status === 200 && c.params.chat_id === message.chat.id && replyTarget(c) === message.message_id, 8_000);
  return String(call.params.text);
}

/** Sends `text` in `chat` as `from` and returns the bot's reply. */
async function say(fake: FakeBotApi, chat: Chat, from: User, text: string): Promise<string> {
  return replyTo(fake, fake.sendUserMessage(chat, from, { text }));
}

/** Sends the blended voice note in `chat` and returns its transcript as the chat reads it. */
async function voiceNote(fake: FakeBotApi, chat: Chat, from: User): Promise<string> {
  const ref = fake.addFile(note, { folder: 'voice', ext: 'oga' });
  return replyTo(fake, fake.sendUserMessage(chat, from, { voice: { ...ref, duration: 2, mime_type: 'audio/ogg' } }));
}

const key = (chat: Chat) => ({ platform: 'telegram' as const, chatId: String(chat.id) });

beforeAll(async () => {
  [{ core }, note] = await Promise.all([testCore(), speech(SAID, 'ogg-opus', { blend: BLEND })]);
});

afterEach(async () => {
  for (const harness of running.splice(0)) await closeHarness(harness);
});

afterAll(async () => {
  await core?.close();
});

describe('/hotwords on Telegram', () => {
  it('shows, sets, shows again and clears the chat\'s hotwords, in the chat\'s language, keeping them in the store', async () => {
    const { fake, store } = await startBot();
    expect(await say(fake, PRIVATE, LAN, '/hotwords')).toBe('🏷️ Chưa có từ khoá riêng, đặt chúng bằng: /hotwords Lộc, Khánh Linh');
    expect(await say(fake, PRIVATE, LAN, '/hotwords Lộc, Khánh  Linh ,Techcombank, Lộc')).toBe('✅ Đã lưu 3 từ khoá: Lộc, Khánh Linh, Techcombank');
    expect(await store.getSettings(key(PRIVATE))).toEqual({ hotwords: ['Lộc', 'Khánh Linh', 'Techcombank'] });
    expect(await say(fake, PRIVATE, LAN, '/hotwords')).toBe('🏷️ Từ khoá của cuộc trò chuyện này: Lộc, Khánh Linh, Techcombank');
    // A new list replaces the old one.
    expect(await say(fake, PRIVATE, LAN, '/hotwords Vietcombank')).toBe('✅ Đã lưu 1 từ khoá: Vietcombank');
    expect(await say(fake, PRIVATE, LAN, '/hotwords clear')).toBe('🗑️ Đã xoá từ khoá của cuộc trò chuyện này.');
    expect(await store.getSettings(key(PRIVATE))).toEqual({});
    expect(await say(fake, PRIVATE, LAN, '/hotwords Lộc')).toBe('✅ Đã lưu 1 từ khoá: Lộc');
    expect(await say(fake, PRIVATE, LAN, '/hotwords -')).toBe('🗑️ Đã xoá từ khoá của cuộc trò chuyện này.');
    expect(await store.getSettings(key(PRIVATE))).toEqual({});
    // English for Minh, whose app is in English.
    expect(await say(fake, PRIVATE_MINH, MINH, '/hotwords Lộc, Khánh Linh')).toBe('✅ 2 hotwords saved: Lộc, Khánh Linh');
    expect(await say(fake, PRIVATE_MINH, MINH, '/hotwords')).toBe("🏷️ This chat's hotwords: Lộc, Khánh Linh");
    expect(await say(fake, PRIVATE_MINH, MINH, '/hotwords clear')).toBe("🗑️ This chat's hotwords are removed.");
  });

  it('refuses more than 100 or one over 64 characters, naming the limit, and keeps the list it had', async () => {
    const { fake, store } = await startBot();
    await say(fake, PRIVATE, LAN, '/hotwords Lộc');
    const many = Array.from({ length: 101 }, (_, i) => `tên${i}`).join(', ');
    expect(await say(fake, PRIVATE, LAN, `/hotwords ${many}`)).toBe('⚠️ Tối đa 100 từ khoá (đã gửi 101).');
    const long = 'Công ty trách nhiệm hữu hạn một thành viên thương mại dịch vụ Lộc Phát';
    expect(await say(fake, PRIVATE, LAN, `/hotwords Khánh Linh, ${long}`)).toBe('⚠️ Mỗi từ khoá tối đa 64 ký tự: "Công ty trách nhiệm…" dài hơn.');
    expect(await say(fake, PRIVATE_MINH, MINH, `/hotwords ${many}`)).toBe('⚠️ At most 100 hotwords (101 given).');
    expect(await store.getSettings(key(PRIVATE))).toEqual({ hotwords: ['Lộc'] });
    expect(await store.getSettings(key(PRIVATE_MINH))).toEqual({});
    // Exactly at the limits is fine: a hundred, one of 64 characters; the reply fits one message.
    const hundred = Array.from({ length: 100 }, (_, i) => (i === 0 ? 'x'.repeat(64) : `tên${i}`));
    const saved = await say(fake, PRIVATE, LAN, `/hotwords ${hundred.join(', ')}`);
    expect(saved).toBe(`✅ Đã lưu 100 từ khoá: ${hundred.join(', ')}`);
    expect((await store.getSettings(key(PRIVATE))).hotwords).toEqual(hundred);
  });

  it('in a group only administrators change them; anyone may see them', async () => {
    const { fake, store } = await startBot();
    fake.setMember(GROUP, LAN, 'administrator');
    expect(await say(fake, GROUP, MINH, '/hotwords Lộc')).toBe('🔒 Chỉ quản trị viên mới đổi được. (Only administrators can change this.)');
    expect(await store.getSettings(key(GROUP))).toEqual({});
    expect(await say(fake, GROUP, LAN, '/hotwords Lộc, Techcombank')).toBe('✅ Đã lưu 2 từ khoá (2 hotwords saved): Lộc, Techcombank');
    expect(await say(fake, GROUP, MINH, '/hotwords')).toBe("🏷️ Từ khoá của cuộc trò chuyện này (This chat's hotwords): Lộc, Techcombank");
    expect(await say(fake, GROUP, MINH, '/hotwords clear')).toBe('🔒 Chỉ quản trị viên mới đổi được. (Only administrators can change this.)');
    expect(await store.getSettings(key(GROUP))).toEqual({ hotwords: ['Lộc', 'Techcombank'] });
    // Too many from a member is refused as a member's, not as a list's.
    const many = Array.from({ length: 101 }, (_, i) => `tên${i}`).join(', ');
    expect(await say(fake, GROUP, MINH, `/hotwords ${many}`)).toBe('🔒 Chỉ quản trị viên mới đổi được. (Only administrators can change this.)');
    // /forget takes them with the rest of the chat's settings.
    expect(await say(fake, GROUP, LAN, '/forget')).toBe('🗑️ Đã xoá cài đặt và lịch sử của cuộc trò chuyện này. (This chat\'s settings and history are deleted.)');
    expect(await store.getSettings(key(GROUP))).toEqual({});
  });

  it('a voice note is heard greedily without them, with the name right after /hotwords Lộc, in this chat only', async () => {
    const { fake } = await startBot();
    expect(await voiceNote(fake, PRIVATE, LAN)).toBe(GREEDY);
    expect(await say(fake, PRIVATE, LAN, '/hotwords Lộc')).toBe('✅ Đã lưu 1 từ khoá: Lộc');
    expect(await voiceNote(fake, PRIVATE, LAN)).toBe(SAID);
    // Another chat has none of its own.
    expect(await voiceNote(fake, PRIVATE_MINH, MINH)).toBe(GREEDY);
    expect(await say(fake, PRIVATE, LAN, '/hotwords clear')).toBe('🗑️ Đã xoá từ khoá của cuộc trò chuyện này.');
    expect(await voiceNote(fake, PRIVATE, LAN)).toBe(GREEDY);
  });

  it('a voice note sent right after the command is decoded with the new list', async () => {
    const { fake } = await startBot();
    const command = fake.sendUserMessage(PRIVATE, LAN, { text: '/hotwords Lộc' });
    const heard = voiceNote(fake, PRIVATE, LAN);
    expect(await replyTo(fake, command)).toBe('✅ Đã lưu 1 từ khoá: Lộc');
    expect(await heard).toBe(SAID);
  });

  it('with HOTWORDS naming the name, a chat with other hotwords of its own still hears it right', async () => {
    const { core: configured } = await testCore({ HOTWORDS: 'lộc' });
    try {
      const { fake } = await startBot(configured.transcriber);
      await say(fake, PRIVATE, LAN, '/hotwords Techcombank');
      expect(await voiceNote(fake, PRIVATE, LAN)).toBe(SAID);
    } finally {
      await configured.close();
    }
  });

  it('with HOTWORDS set, the chat\'s own are added to them, as the HTTP field is', async () => {
    // HOTWORDS names another, so the beam search runs for every note; only the chat's list knows Lộc.
    const { core: configured } = await testCore({ HOTWORDS: 'Techcombank' });
    try {
      const { fake } = await startBot(configured.transcriber);
      expect(await voiceNote(fake, PRIVATE, LAN)).toBe(GREEDY);
      await say(fake, PRIVATE, LAN, '/hotwords Lộc');
      expect(await voiceNote(fake, PRIVATE, LAN)).toBe(SAID);
    } finally {
      await configured.close();
    }
  });
});

describe('/hotwords on Telegram with a shared queue (QUEUE_URL)', () => {
  let redis: TestRedis;
  let worker: QueueWorker;
  let front: QueueFront;
  let workerCore: Core;
  let transcriber: QueueTranscriber;
  const silent = createLogger({ level: 'silent' });

  beforeAll(async () => {
    redis = await startRedis();
    const started = await testCore({ QUEUE_URL: redis.url });
    workerCore = started.core;
    worker = await startQueueWorker({ url: redis.url, transcriber: workerCore.transcriber, concurrency: 1, failoverMs: 5000, logger: silent });
    front = await QueueFront.open({ url: redis.url, logger: silent, maxPending: 8, audioTtlMs: 60_000, keepFinishedSec: 60 });
    transcriber = new QueueTranscriber({ front, config: started.config, logger: silent, modelName: 'tone-model' });
  });

  afterAll(async () => {
    await front?.close();
    await worker?.close();
    await workerCore?.close();
    await redis?.close();
  });

  it('the chat\'s hotwords travel with the job to the worker', async () => {
    const { fake } = await startBot(transcriber);
    expect(await voiceNote(fake, PRIVATE, LAN)).toBe(GREEDY);
    await say(fake, PRIVATE, LAN, '/hotwords Lộc');
    expect(await voiceNote(fake, PRIVATE, LAN)).toBe(SAID);
  });
});
