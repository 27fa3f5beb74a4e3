import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Telegram } from 'telegraf';
import type { Chat, Message, User } from 'telegraf/types';
import {
  BOT_COMMANDS,
  DOCUMENT_AFTER_PARTS,
  TELEGRAM_WEBHOOK_PATH,
  WEBHOOK_SECRET_HEADER,
  createTelegramBot,
  mountTelegramWebhook,
  type RetryOptions,
  type TelegramBot,
} from '../../adapters/telegram.js';
import { fetchAudio, type FetchAudioOptions } from '../../adapters/telegram/media.js';
import { TELEGRAM_MESSAGE_LIMIT } from '../../adapters/shared.js';
import { errorReply, helpReply, historyReply, queuedReply, settingLabel, statusReply, text, type EffectiveSettings, type SettingName } from '../../adapters/replies.js';
import type { Core } from '../../src/core/create-transcriber.js';
import { SttError } from '../../src/core/errors.js';
import { Metrics } from '../../src/core/metrics.js';
import type { AudioInput, TranscribeOptions, Transcriber, Transcript } from '../../src/core/types.js';
import { buildApp } from '../../src/http/app.js';
import { openStore, type Store } from '../../src/store/index.js';
import { createLogger } from '../../src/logger.js';
import { ffmpegFile, speech } from '../support/audio.js';
import { testConfig, testCore } from '../support/core.js';
import { waitUntil } from '../support/server.js';
import { FakeBotApi, type MessageContent, type RecordedCall } from '../fakes/telegram-bot-api.js';
import { freePort } from '../../testkit/free-port.js';

// A token shaped like a real one (bot id : 35 characters); its secret part may never leak.
const TOKEN = '7712345678:AAGx9vQm8TtWkY2pLsN0aHc7dEfJxUuBiO5';
const TOKEN_SECRET = TOKEN.split(':')[1];

const LAN: User = { id: 5001, is_bot: false, first_name: 'Lan', language_code: 'vi' };
const MINH: User = { id: 5002, is_bot: false, first_name: 'Minh' };
const PRIVATE: Chat.PrivateChat = { id: LAN.id, type: 'private', first_name: 'Lan' };
const PRIVATE_MINH: Chat.PrivateChat = { id: MINH.id, type: 'private', first_name: 'Minh' };
const GROUP: Chat.SupergroupChat = { id: -1001234567890, type: 'supergroup', title: 'Nhóm tiếng Việt' };

/** The test config's limits, as replies quote them. */
const LIMITS = { maxUploadMb: 25, maxDurationSec: 300 };

const PHRASES = ['xin chào các bạn', 'tôi là người việt nam', 'hôm nay trời đẹp quá', 'cảm ơn rất nhiều', 'họp lúc chín giờ ba mươi'] as const;
type Phrase = (typeof PHRASES)[number];

interface Harness {
  fake: FakeBotApi;
  bot: TelegramBot;
  logs: string[];
  /** Every wait the retry layer asked for, in ms. */
  retryWaits: number[];
  app?: Awaited<ReturnType<typeof buildApp>>;
  after?: () => Promise<void>;
  /** The bot's SQLite store, in `dataDir`. */
  store: Store;
  dataDir: string;
  /** Whether the harness started the fake (and so closes it). */
  ownsFake: boolean;
}

interface StartOptions {
  transcriber?: Transcriber;
  fetch?: typeof fetch;
  /** Webhook mode: the service's HTTP app takes Telegram's calls. */
  webhook?: boolean;
  /** Leave the bot unstarted. */
  noStart?: boolean;
  stopGraceMs?: number;
  conflictRetryMs?: number;
  /** Runs once the bot has stopped (to close what the test built for it). */
  after?: () => Promise<void>;
  /** The store's folder, to start a bot again on what an earlier one kept. @defaultValue a new temporary folder */
  dataDir?: string;
  /** A fake Bot API already running (an earlier bot's, for a restart). */
  fake?: FakeBotApi;
}

/** The shared cores: `core` as configured by default, `narrow` with one running job and one waiting. */
let core: Core;
let narrow: Core;
const voice = {} as Record<Phrase, Buffer>;
const running: Harness[] = [];
/** Held jobs to let go before the bots stop (stop waits for every job). */
const holds: (() => void)[] = [];

/** A fake Bot API and a started bot on it; `env` is laid over the test config. */
async function startBot(env: Record<string, string> = {}, options: StartOptions = {}): Promise<Harness> {
  const fake = options.fake ?? (await FakeBotApi.start({ token: TOKEN }));
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'telegram-store-'));
  const store = await openStore({ dataDir, historyDays: 30 });
  const logs: string[] = [];
  // No secrets handed to the logger: whatever keeps the token out of the logs is the adapter's.
  const logger = createLogger({ level: 'trace' }, { write: (line: string) => void logs.push(line) });
  const port = options.webhook ? await freePort() : 0;
  const config = testConfig({
    TELEGRAM_BOT_TOKEN: TOKEN,
    TELEGRAM_API_ROOT: fake.url,
    ...(options.webhook ? { TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}` } : {}),
    ...env,
  });
  const retryWaits: number[] = [];
  const retry: Partial<RetryOptions> = {
    baseDelayMs: 10,
    maxDelayMs: 40,
    // The retry layer's clock: each wait is recorded and over at once, so no test sleeps through a retry_after.
    wait: async (ms) => {
      retryWaits.push(ms);
    },
  };
  const transcriber = options.transcriber ?? core.transcriber;
  let bot: TelegramBot;
  try {
    bot = createTelegramBot({ config, transcriber, store, logger, retry, fetch: options.fetch, stopGraceMs: options.stopGraceMs, conflictRetryMs: options.conflictRetryMs });
  } catch (error) {
    await store.close();
    await fake.close();
    throw error;
  }
  const harness: Harness = { fake, bot, logs, retryWaits, after: options.after, store, dataDir, ownsFake: !options.fake };
  running.push(harness);
  if (options.webhook) {
    const app = await buildApp({ config, transcriber, logger, metrics: new Metrics({ defaultMetrics: false }) });
    harness.app = app;
    expect(mountTelegramWebhook(app, bot)).toBe(true);
    await app.listen({ port, host: '127.0.0.1' });
  }
  if (!options.noStart) await bot.start();
  return harness;
}

type MediaKind = 'voice' | 'audio' | 'video_note' | 'document';

/** A user sends audio: the file is stored in the fake and the message refers to it as Telegram's would. */
function sendMedia(
  fake: FakeBotApi,
  chat: Chat,
  from: User,
  kind: MediaKind,
  data: Buffer | undefined,
  extra: { size?: number; durationSec?: number; fileName?: string; mimeType?: string } = {},
): Message {
  const folder = { voice: 'voice', audio: 'music', video_note: 'video_notes', document: 'documents' }[kind];
  const ext = extra.fileName ? path.extname(extra.fileName).slice(1) : { voice: 'oga', audio: 'mp3', video_note: 'mp4', document: 'dat' }[kind];
  const ref = fake.addFile(data, { size: extra.size, folder, ext });
  const duration = extra.durationSec ?? 3;
  const media: Record<MediaKind, MessageContent> = {
    voice: { voice: { ...ref, duration, mime_type: 'audio/ogg' } },
    audio: { audio: { ...ref, duration, mime_type: extra.mimeType ?? 'audio/mpeg', file_name: extra.fileName ?? 'ghi-am.mp3' } },
    video_note: { video_note: { ...ref, length: 240, duration } },
    document: { document: { ...ref, mime_type: extra.mimeType, file_name: extra.fileName } },
  };
  return fake.sendUserMessage(chat, from, media[kind]);
}

const replyTarget = (call: RecordedCall): number | undefined => {
  const reply = call.params.reply_parameters;
  return typeof reply === 'object' && reply !== null && 'message_id' in reply ? Number(reply.message_id) : undefined;
};

const isReply = (chat: Chat, message: Message) => (call: RecordedCall): boolean =>
  call.method === 'sendMessage' && call.status === 200 && call.params.chat_id === chat.id && replyTarget(call) === message.message_id;

/** Waits for the bot's first reply to `message` (as sent, before any edit). */
function replyTo(fake: FakeBotApi, chat: Chat, message: Message, timeoutMs = 8_000): Promise<RecordedCall> {
  return fake.waitFor(isReply(chat, message), timeoutMs);
}

/** The replies to `message` as the user sees them now: each sent text, or its last edit. */
function repliesTo(fake: FakeBotApi, chat: Chat, message: Message): string[] {
  return fake.calls.filter(isReply(chat, message)).map((sent) => {
    const id = (sent.result as Message.TextMessage).message_id;
    const edits = fake.calls.filter((c) => c.method === 'editMessageText' && c.status === 200 && c.params.chat_id === chat.id && c.params.message_id === id);
    return String((edits.at(-1) ?? sent).params.text);
  });
}

/** Every successful sendMessage to `chat`, in order: [reply target, text]. */
function sentIn(fake: FakeBotApi, chat: Chat): [number | undefined, string][] {
  return fake.calls.filter((c) => c.method === 'sendMessage' && c.status === 200 && c.params.chat_id === chat.id).map((c) => [replyTarget(c), String(c.params.text)]);
}

/** Whether `text` is the "… ahead of you" placeholder. */
function isPlaceholder(text: string): boolean {
  const ahead = /\d+/.exec(text)?.[0];
  return ahead !== undefined && (['vi', 'en', 'both'] as const).some((language) => text === queuedReply(Number(ahead), language));
}

/**
 * What the bot delivered to `chat`, in order: each reply's final text as it went out (a message,
 * or the edit of a placeholder), with the message it answers; placeholders themselves left out.
 */
function deliveredIn(fake: FakeBotApi, chat: Chat): [number | undefined, string][] {
  const targets = new Map<number, number | undefined>();
  const out: [number | undefined, string][] = [];
  for (const call of fake.calls) {
    if (call.status !== 200 || call.params.chat_id !== chat.id) continue;
    const text = String(call.params.text);
    if (call.method === 'sendMessage') {
      targets.set((call.result as Message.TextMessage).message_id, replyTarget(call));
      if (!isPlaceholder(text)) out.push([replyTarget(call), text]);
    } else if (call.method === 'editMessageText') {
      out.push([targets.get(Number(call.params.message_id)), text]);
    }
  }
  return out;
}

/** Stops the bot, which waits for every job to have replied: what was sent is then final. */
async function settle(harness: Harness): Promise<void> {
  await harness.bot.stop();
}

function assertNoTokenLeak({ fake, logs }: Harness): void {
  const logText = logs.join('');
  const sent = JSON.stringify(fake.calls.map((c) => [c.params, Object.values(c.files).map((f) => [f.filename, f.data.toString('utf8')])]));
  for (const piece of [TOKEN, TOKEN_SECRET]) {
    expect(logText).not.toContain(piece);
    expect(sent).not.toContain(piece);
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A job the core refused, and the voice note whose audio it was. */
interface Refusal {
  error: SttError;
  phrase: Phrase | undefined;
}

/** Which of the test phrases this downloaded audio is. */
function phraseOf(input: AudioInput): Phrase | undefined {
  return input.kind === 'buffer' ? PHRASES.find((p) => Buffer.from(input.data).equals(voice[p])) : undefined;
}

/**
 * The narrow core's transcriber, except that the first job, once transcribed, goes on holding
 * the queue's one running slot until released, as a long recording would. `refused` resolves on
 * the first job the core refuses.
 */
function holdFirstJob(target: Core): { transcriber: Transcriber; holding: Promise<void>; release: () => void; refused: Promise<Refusal> } {
  const holding = deferred();
  const released = deferred();
  const refused = deferred<Refusal>();
  holds.push(() => released.resolve());
  let first = true;
  const transcriber: Transcriber = {
    status: () => target.transcriber.status(),
    async transcribe(input: AudioInput, options?: TranscribeOptions): Promise<Transcript> {
      const isFirst = first;
      first = false;
      try {
        const transcript = await target.transcriber.transcribe(input, options);
        if (!isFirst) return transcript;
        const ticket = target.queue.admit();
        try {
          await ticket.run(
            async () => {
              holding.resolve();
              await released.promise;
            },
            { durationSec: transcript.duration },
          );
        } finally {
          ticket.release();
        }
        return transcript;
      } catch (error) {
        if (error instanceof SttError) refused.resolve({ error, phrase: phraseOf(input) });
        throw error;
      }
    },
  };
  return { transcriber, holding: holding.promise, release: () => released.resolve(), refused: refused.promise };
}

/** A Telegram video note: square H.264 video with AAC sound in MP4, as the apps record them. */
function videoNote(wav: Buffer): Promise<Buffer> {
  const picture = ['-f', 'lavfi', '-i', 'color=c=teal:s=240x240:r=10'];
  return ffmpegFile(wav, ['-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', '-f', 'mp4'], picture);
}

beforeAll(async () => {
  const [main, small, ...encoded] = await Promise.all([
    testCore(),
    testCore({ QUEUE_MAX_PENDING: '1', QUEUE_CONCURRENCY: '1' }),
    ...PHRASES.map((p) => speech(p, 'ogg-opus')),
  ]);
  core = main.core;
  narrow = small.core;
  PHRASES.forEach((p, i) => (voice[p] = encoded[i]));
});

afterEach(async () => {
  for (const release of holds.splice(0)) release();
  for (const harness of running.splice(0)) {
    await harness.bot.stop();
    await harness.app?.close();
    await harness.after?.();
    // A restart's first store was closed by its test already.
    await harness.store.close().catch(() => undefined);
    rmSync(harness.dataDir, { recursive: true, force: true });
    if (harness.ownsFake) await harness.fake.close();
    assertNoTokenLeak(harness);
  }
});

afterAll(async () => {
  await core?.close();
  await narrow?.close();
});

describe('Telegram bot (telegraf) against a fake Bot API', () => {
  it('answers a private voice note (OGG/Opus) with its exact transcript as a reply, typing while it works', async () => {
    const h = await startBot();
    const { fake } = h;
    expect(fake.callsOf('getMe')).toHaveLength(1);
    // The command menu: BOT_COMMANDS as they are, /help and /status among them.
    expect(fake.commands).toEqual(BOT_COMMANDS.map((c) => ({ ...c })));
    expect(fake.commands).toEqual(expect.arrayContaining([expect.objectContaining({ command: 'help' }), expect.objectContaining({ command: 'status' })]));
    // Long polling, for messages only.
    const poll = await fake.waitFor((c) => c.method === 'getUpdates');
    expect(poll.params).toMatchObject({ allowed_updates: ['message', 'callback_query', 'my_chat_member'], timeout: 50 });

    const message = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn']);
    const reply = await replyTo(fake, PRIVATE, message);
    expect(reply.params).toMatchObject({ chat_id: PRIVATE.id, text: 'xin chào các bạn', reply_parameters: { message_id: message.message_id } });
    const typing = fake.callsOf('sendChatAction').find((c) => c.params.chat_id === PRIVATE.id && c.params.action === 'typing');
    expect(typing?.seq).toBeLessThan(reply.seq);
    expect(fake.downloads).toEqual([{ filePath: expect.stringMatching(/^voice\//), status: 200 }]);
    await settle(h);
    expect(sentIn(fake, PRIVATE)).toEqual([[message.message_id, 'xin chào các bạn']]);
  });

  it('replies in written Vietnamese: numbers and times as people write them', async () => {
    const h = await startBot();
    const message = sendMedia(h.fake, PRIVATE, LAN, 'voice', voice['họp lúc chín giờ ba mươi']);
    const reply = await replyTo(h.fake, PRIVATE, message);
    expect(reply.params).toMatchObject({ text: 'họp lúc 9 giờ 30', reply_parameters: { message_id: message.message_id } });
    await settle(h);
  });

  it('answers /start and /help with the help text, and a private message without audio with the hint', async () => {
    const h = await startBot();
    const { fake } = h;
    const start = fake.sendUserMessage(PRIVATE, LAN, { text: '/start' });
    const helpCommand = fake.sendUserMessage(PRIVATE, LAN, { text: '/help' });
    const hello = fake.sendUserMessage(PRIVATE, LAN, { text: 'xin chào' });
    await Promise.all([start, helpCommand, hello].map((m) => replyTo(fake, PRIVATE, m)));
    await settle(h);
    const help = helpReply({ maxDurationSec: 300, maxFileMb: 25, groupMode: 'auto' }, 'vi');
    expect(repliesTo(fake, PRIVATE, start)).toEqual([help]);
    expect(repliesTo(fake, PRIVATE, helpCommand)).toEqual([help]);
    expect(repliesTo(fake, PRIVATE, hello)).toEqual([text('sendAudio', 'vi')]);
  });

  it('transcribes a group voice note by itself (TELEGRAM_GROUP_MODE=auto) and leaves plain text alone', async () => {
    const h = await startBot({ TELEGRAM_GROUP_MODE: 'auto' });
    const { fake } = h;
    const chatter = fake.sendUserMessage(GROUP, MINH, { text: 'chào cả nhà' });
    const message = sendMedia(fake, GROUP, LAN, 'voice', voice['tôi là người việt nam']);
    await replyTo(fake, GROUP, message);
    await settle(h);
    expect(sentIn(fake, GROUP)).toEqual([[message.message_id, 'tôi là người việt nam']]);
    expect(repliesTo(fake, GROUP, chatter)).toEqual([]);
  });

  it('in on-demand mode transcribes a group voice note only for a /transcribe that replies to it, answering the voice note', async () => {
    const h = await startBot({ TELEGRAM_GROUP_MODE: 'on-demand' });
    const { fake } = h;
    const message = sendMedia(fake, GROUP, LAN, 'voice', voice['hôm nay trời đẹp quá']);
    // A /transcribe that replies to nothing gets the usage hint; it also shows the voice note was seen and left alone.
    const bare = fake.sendUserMessage(GROUP, MINH, { text: '/transcribe' });
    await replyTo(fake, GROUP, bare);
    expect(fake.callsOf('getFile')).toEqual([]);
    expect(repliesTo(fake, GROUP, message)).toEqual([]);

    const command = fake.sendUserMessage(GROUP, MINH, { text: `/transcribe@${fake.me.username}`, reply_to_message: message });
    const reply = await replyTo(fake, GROUP, message);
    expect(reply.params).toMatchObject({ chat_id: GROUP.id, text: 'hôm nay trời đẹp quá' });
    await settle(h);
    expect(sentIn(fake, GROUP)).toEqual([
      [bare.message_id, text('transcribeUsage', 'both')],
      [message.message_id, 'hôm nay trời đẹp quá'],
    ]);
    expect(repliesTo(fake, GROUP, command)).toEqual([]);
  });

  it('transcribes an MP3 audio file, a video note (H.264/AAC MP4) and an audio document', async () => {
    const [mp3, mp4, wav] = await Promise.all([
      speech('cảm ơn rất nhiều', 'mp3-44k-stereo'),
      speech('xin chào các bạn').then(videoNote),
      speech('tôi là người việt nam', 'wav-8k'),
    ]);
    const h = await startBot();
    const { fake } = h;
    const audio = sendMedia(fake, PRIVATE, LAN, 'audio', mp3, { fileName: 'loi-cam-on.mp3' });
    const note = sendMedia(fake, PRIVATE, LAN, 'video_note', mp4);
    const document = sendMedia(fake, PRIVATE, LAN, 'document', wav, { mimeType: 'audio/x-wav', fileName: 'ghi-am.wav' });
    await Promise.all([audio, note, document].map((m) => replyTo(fake, PRIVATE, m)));
    await settle(h);
    expect(repliesTo(fake, PRIVATE, audio)).toEqual(['cảm ơn rất nhiều']);
    expect(repliesTo(fake, PRIVATE, note)).toEqual(['xin chào các bạn']);
    expect(repliesTo(fake, PRIVATE, document)).toEqual(['tôi là người việt nam']);
  });

  it('explains the Bot API 20 MB limit when getFile answers "file is too big"', async () => {
    const h = await startBot();
    const { fake } = h;
    // Known to the fake only by its size: 21 MB, under MAX_UPLOAD_MB (25) but over the Bot API's 20 MB.
    const message = sendMedia(fake, PRIVATE, LAN, 'audio', undefined, { size: 21 * 1024 * 1024, durationSec: 200 });
    await replyTo(fake, PRIVATE, message);
    await settle(h);
    expect(repliesTo(fake, PRIVATE, message)).toEqual([text('fileTooBig', 'vi')]);
    expect(text('fileTooBig', 'en')).toContain('TELEGRAM_API_ROOT');
    expect(fake.callsOf('getFile').map((c) => [c.status, c.description])).toEqual([[400, 'Bad Request: file is too big']]);
    expect(fake.downloads).toEqual([]);
  });

  it('refuses a file whose declared size is over MAX_UPLOAD_MB without fetching it', async () => {
    const h = await startBot({ MAX_UPLOAD_MB: '1' });
    const { fake } = h;
    const message = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn'], { size: 5 * 1024 * 1024 });
    await replyTo(fake, PRIVATE, message);
    await settle(h);
    const expected = errorReply(new SttError('payload_too_large'), 'vi', { maxUploadMb: 1, maxDurationSec: 300 });
    expect(expected).toBe('⚠️ Tệp lớn hơn giới hạn 1 MB.');
    expect(repliesTo(fake, PRIVATE, message)).toEqual([expected]);
    expect(fake.callsOf('getFile')).toEqual([]);
    expect(fake.downloads).toEqual([]);
  });

  it('rides out a 429 burst and 5xx answers: retry_after honoured, the transcript sent exactly once, polling goes on', async () => {
    const h = await startBot();
    const { fake } = h;
    const firstPoll = await fake.waitFor((c) => c.method === 'getUpdates');
    fake.failNext('getUpdates', 1, { status: 502 });
    fake.failNext('getFile', 1, { status: 503 });
    fake.failNext('sendMessage', 2, { status: 429, retryAfter: 1 });

    const first = sendMedia(fake, PRIVATE, LAN, 'voice', voice['cảm ơn rất nhiều']);
    const reply = await replyTo(fake, PRIVATE, first);
    expect(reply.params.text).toBe('cảm ơn rất nhiều');
    const attempts = fake.callsOf('sendMessage');
    expect(attempts.map((c) => [c.status, c.params.text, replyTarget(c)])).toEqual([
      [429, 'cảm ơn rất nhiều', first.message_id],
      [429, 'cảm ơn rất nhiều', first.message_id],
      [200, 'cảm ơn rất nhiều', first.message_id],
    ]);
    expect(fake.callsOf('getFile').map((c) => c.status)).toEqual([503, 200]);
    // getUpdates answered 502 after delivering the first update: the bot's retry polls again
    // after the short backoff (not telegraf's five-second pause), confirming it.
    await fake.waitFor((c) => c.method === 'getUpdates' && c.status === 502);
    await fake.waitFor((c) => c.method === 'getUpdates' && c.seq > firstPoll.seq && c.status === 200);
    // retry_after waited in full; each 5xx after the short test backoff.
    expect([...h.retryWaits].sort((a, b) => a - b)).toEqual([10, 10, 1_000, 1_000]);

    // The next voice note is answered too.
    const second = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn']);
    await replyTo(fake, PRIVATE, second);
    await settle(h);
    const polls = fake.callsOf('getUpdates').filter((c) => c.seq > firstPoll.seq);
    expect(polls[0].status).toBe(502);
    // The poll after the 502 asks again from past the first update: it is neither lost nor delivered twice.
    expect(polls[1].params.offset).toBe(polls[0].params.offset);
    expect(Number(polls[0].params.offset)).toBeGreaterThan(Number(firstPoll.params.offset ?? 0));
    expect(sentIn(fake, PRIVATE)).toEqual([
      [first.message_id, 'cảm ơn rất nhiều'],
      [second.message_id, 'xin chào các bạn'],
    ]);
    expect(h.logs.some((l) => l.includes('telegram api call failed, retrying'))).toBe(true);
    expect(h.logs.some((l) => l.includes('long polling stopped on an error'))).toBe(false);
  });

  it('polls again after another poller with its token ended its long poll (409 Conflict), and answers the next voice note', async () => {
    const h = await startBot({}, { conflictRetryMs: 100 });
    const { fake } = h;
    await fake.waitFor((c) => c.method === 'getUpdates' && c.status === 200);
    // Another instance polls once with the same token, as in a deploy's overlap: Telegram ends
    // the bot's waiting getUpdates with 409.
    const other = await fetch(`${fake.url}/bot${TOKEN}/getUpdates`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeout: 0 }) });
    expect(other.status).toBe(200);
    const note = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn']);
    expect((await replyTo(fake, PRIVATE, note)).params.text).toBe('xin chào các bạn');
    expect(h.logs.some((l) => l.includes('telegram long polling met another poller or a webhook for this bot (409); polling again later'))).toBe(true);
    expect(h.logs.some((l) => l.includes('long polling stopped on an error'))).toBe(false);
  });

  it('refuses a job when the queue is full (queue_full reply) and answers the others exactly', async () => {
    // One job runs and one may wait (QUEUE_CONCURRENCY=1, QUEUE_MAX_PENDING=1).
    const held = holdFirstJob(narrow);
    const h = await startBot({}, { transcriber: held.transcriber });
    const { fake } = h;
    const first = sendMedia(fake, PRIVATE_MINH, MINH, 'voice', voice['xin chào các bạn']);
    await held.holding;
    // While it runs, two voice notes at once: one takes the waiting place, the other finds the queue full.
    const both = (['tôi là người việt nam', 'hôm nay trời đẹp quá'] as const).map((p) => ({ phrase: p, message: sendMedia(fake, PRIVATE, LAN, 'voice', voice[p]) }));
    const refusal = await held.refused;
    expect(refusal.error.code).toBe('queue_full');
    const refused = both.find((b) => b.phrase === refusal.phrase);
    const waited = both.find((b) => b.phrase !== refusal.phrase);
    if (!refused || !waited) throw new Error(`the refused job was not one of the two voice notes: ${refusal.phrase}`);
    held.release();
    await settle(h);
    expect(repliesTo(fake, PRIVATE_MINH, first)).toEqual(['xin chào các bạn']);
    expect(repliesTo(fake, PRIVATE, refused.message)).toEqual([errorReply(new SttError('queue_full'), 'vi', LIMITS)]);
    // The one that waited shows its transcript (its "ahead of you" placeholder edited).
    expect(repliesTo(fake, PRIVATE, waited.message)).toEqual([waited.phrase]);
  });

  it('answers from outside TELEGRAM_ALLOWED_CHAT_IDS with the refusal only, and serves the allowed chat', async () => {
    const h = await startBot({ TELEGRAM_ALLOWED_CHAT_IDS: String(PRIVATE.id) });
    const { fake } = h;
    const outside = sendMedia(fake, PRIVATE_MINH, MINH, 'voice', voice['cảm ơn rất nhiều']);
    const inside = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn']);
    await Promise.all([replyTo(fake, PRIVATE_MINH, outside), replyTo(fake, PRIVATE, inside)]);
    await settle(h);
    expect(repliesTo(fake, PRIVATE_MINH, outside)).toEqual([text('notAllowed', 'both')]);
    expect(repliesTo(fake, PRIVATE, inside)).toEqual(['xin chào các bạn']);
    // Nothing was fetched or transcribed for the chat outside the list.
    const outsideFile = (outside as Message.VoiceMessage).voice.file_id;
    expect(fake.callsOf('getFile').map((c) => c.params.file_id)).toEqual([(inside as Message.VoiceMessage).voice.file_id]);
    expect(fake.callsOf('getFile').some((c) => c.params.file_id === outsideFile)).toBe(false);
    expect(fake.callsOf('sendChatAction').filter((c) => c.params.chat_id === PRIVATE_MINH.id)).toEqual([]);
    expect(fake.downloads).toHaveLength(1);
  });

  it('splits a long transcript on word boundaries under 4096 characters, and sends it whole as a .txt past DOCUMENT_AFTER_PARTS', async () => {
    const words = ['xin', 'chào', 'các', 'bạn', 'tôi', 'là', 'người', 'việt', 'nam', 'hôm', 'nay', 'trời', 'đẹp', 'quá', 'cảm', 'ơn', 'rất', 'nhiều'];
    let text = '';
    for (let i = 0; text.length <= DOCUMENT_AFTER_PARTS * TELEGRAM_MESSAGE_LIMIT; i++) text += (text ? ' ' : '') + words[i % words.length];
    const wav = await speech(text, 'wav', { toneMs: 30, gapMs: 15, padMs: 100 });
    // Over 9 minutes of speech: a core (and a bot) that take that much.
    const long = await testCore({ MAX_DURATION_SEC: '900' });
    const h = await startBot({ MAX_DURATION_SEC: '900' }, { transcriber: long.core.transcriber, after: () => long.core.close() });
    const { fake } = h;
    const message = sendMedia(fake, PRIVATE, LAN, 'document', wav, { mimeType: 'audio/wav', fileName: 'bai-giang.wav' });
    const document = await fake.waitFor((c) => c.method === 'sendDocument' && c.status === 200, 20_000);
    await settle(h);
    const parts = repliesTo(fake, PRIVATE, message);
    expect(parts.length).toBeGreaterThan(DOCUMENT_AFTER_PARTS);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(TELEGRAM_MESSAGE_LIMIT);
      expect(part).toBe(part.trim());
    }
    // No word cut or repeated: the parts joined with spaces give the text back.
    expect(parts.join(' ')).toBe(text);
    expect(document.params).toMatchObject({ chat_id: PRIVATE.id, reply_parameters: { message_id: message.message_id } });
    expect(document.files.document.filename).toMatch(/\.txt$/);
    expect(document.files.document.data.toString('utf8').trim()).toBe(text);
    const lastPart = fake.calls.filter(isReply(PRIVATE, message)).at(-1);
    expect(document.seq).toBeGreaterThan(lastPart?.seq ?? Infinity);
  });

  it('shows a "… ahead of you" placeholder while a job waits, then edits it into the exact transcript', async () => {
    const held = holdFirstJob(narrow);
    const h = await startBot({}, { transcriber: held.transcriber });
    const { fake } = h;
    const first = sendMedia(fake, PRIVATE_MINH, MINH, 'voice', voice['cảm ơn rất nhiều']);
    await held.holding;
    const waiting = sendMedia(fake, PRIVATE, LAN, 'voice', voice['hôm nay trời đẹp quá']);
    const placeholder = await replyTo(fake, PRIVATE, waiting);
    expect(placeholder.params.text).toBe(queuedReply(1, 'vi'));
    held.release();
    const placeholderId = (placeholder.result as Message.TextMessage).message_id;
    const edit = await fake.waitFor((c) => c.method === 'editMessageText' && c.status === 200);
    expect(edit.params).toMatchObject({ chat_id: PRIVATE.id, message_id: placeholderId, text: 'hôm nay trời đẹp quá' });
    await settle(h);
    expect(repliesTo(fake, PRIVATE, waiting)).toEqual(['hôm nay trời đẹp quá']);
    expect(sentIn(fake, PRIVATE)).toEqual([[waiting.message_id, queuedReply(1, 'vi')]]);
    expect(repliesTo(fake, PRIVATE_MINH, first)).toEqual(['cảm ơn rất nhiều']);
  });

  it('shows a long note\'s words as its windows finish, edits at most once per PROGRESS_EDIT_SEC, and ends with the transcript in the same message', async () => {
    const phrase = 'xin chào các bạn tôi là người việt nam hôm nay trời đẹp quá cảm ơn rất nhiều';
    const wav = await speech(phrase, 'wav');
    // Two-second windows: the note takes several, each reporting the words so far.
    const windowed = await testCore({ CHUNK_SEC: '2', STRIDE_SEC: '0.4' });
    let shown: string | undefined;
    const api = deferred<FakeBotApi>();
    const transcriber: Transcriber = {
      status: () => windowed.core.transcriber.status(),
      async transcribe(input, options) {
        const transcript = await windowed.core.transcriber.transcribe(input, options);
        // The transcript waits until the words so far have been shown by an edit.
        await (await api.promise).waitFor((c) => c.method === 'editMessageText' && c.status === 200 && String(c.params.text).startsWith('✍️'));
        shown = transcript.text;
        return transcript;
      },
    };
    const h = await startBot({ PROGRESS_EDIT_SEC: '0.5' }, { transcriber, after: () => windowed.core.close() });
    const { fake } = h;
    api.resolve(fake);
    const message = sendMedia(fake, PRIVATE, LAN, 'document', wav, { mimeType: 'audio/wav', fileName: 'dai.wav' });
    const placeholder = await replyTo(fake, PRIVATE, message);
    await settle(h);
    const id = (placeholder.result as Message.TextMessage).message_id;
    expect(String(placeholder.params.text)).toMatch(/^✍️ .+ … \(1\/\d+\)$/);
    // One message for the note: the placeholder, edited; nothing else was sent to it.
    expect(fake.calls.filter(isReply(PRIVATE, message))).toEqual([placeholder]);
    const edits = fake.callsOf('editMessageText').filter((c) => c.params.chat_id === PRIVATE.id);
    expect(edits.map((c) => [c.status, c.params.message_id])).toEqual(edits.map(() => [200, id]));
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits.slice(0, -1).every((c) => /^✍️ .+ … \(\d+\/\d+\)$/.test(String(c.params.text)))).toBe(true);
    expect(edits.at(-1)?.params.text).toBe(shown);
    // The progress edits kept the chat's pace (the final text does not wait for it); the times
    // are when the fake answered, so a little of the pace can go in the requests' travel.
    const times = [placeholder, ...edits.slice(0, -1)].map((c) => c.at);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(400);
  });

  it('waits out a 429 on the edit into the transcript (retry_after) and still shows it in the placeholder', async () => {
    const held = holdFirstJob(narrow);
    const h = await startBot({}, { transcriber: held.transcriber });
    const { fake } = h;
    sendMedia(fake, PRIVATE_MINH, MINH, 'voice', voice['cảm ơn rất nhiều']);
    await held.holding;
    const waiting = sendMedia(fake, PRIVATE, LAN, 'voice', voice['hôm nay trời đẹp quá']);
    const placeholder = await replyTo(fake, PRIVATE, waiting);
    fake.failNext('editMessageText', 1, { status: 429, retryAfter: 7 });
    held.release();
    await settle(h);
    const id = (placeholder.result as Message.TextMessage).message_id;
    expect(fake.callsOf('editMessageText').map((c) => [c.status, c.params.message_id, c.params.text])).toEqual([
      [429, id, 'hôm nay trời đẹp quá'],
      [200, id, 'hôm nay trời đẹp quá'],
    ]);
    expect(h.retryWaits).toEqual([7_000]);
    expect(repliesTo(fake, PRIVATE, waiting)).toEqual(['hôm nay trời đẹp quá']);
  });

  it('answers silence with the no-speech reply', async () => {
    const h = await startBot();
    const { fake } = h;
    const silence = await speech('', 'ogg-opus', { padMs: 600 });
    const message = sendMedia(fake, PRIVATE, LAN, 'voice', silence, { durationSec: 1 });
    await replyTo(fake, PRIVATE, message);
    await settle(h);
    expect(repliesTo(fake, PRIVATE, message)).toEqual([text('noSpeech', 'vi')]);
  });

  it('ten notes forwarded at once are all answered in order, and another person\'s note waits behind at most one of them', async () => {
    const { core: single } = await testCore({ QUEUE_CONCURRENCY: '1', QUEUE_MAX_PENDING: '20' });
    // The real core, one job at a time; recorded: when each job joined the queue and finished.
    const events: string[] = [];
    const transcriber: Transcriber = {
      status: () => single.transcriber.status(),
      async transcribe(input, options) {
        const owner = String(options?.owner);
        const transcript = await single.transcriber.transcribe(input, {
          ...options,
          onQueued: (ahead) => {
            events.push(`queued ${owner}`);
            options?.onQueued?.(ahead);
          },
        });
        events.push(`done ${owner}`);
        return transcript;
      },
    };
    const h = await startBot({}, { transcriber, after: () => single.close() });
    const { fake } = h;
    const forwarded = Array.from({ length: 10 }, (_, i) => PHRASES[i % 4]);
    const lan = forwarded.map((p) => sendMedia(fake, PRIVATE, LAN, 'voice', voice[p]));
    const minh = sendMedia(fake, PRIVATE_MINH, MINH, 'voice', voice['cảm ơn rất nhiều']);
    await replyTo(fake, PRIVATE_MINH, minh);
    await settle(h);
    expect(deliveredIn(fake, PRIVATE)).toEqual(lan.map((m, i) => [m.message_id, forwarded[i]]));
    expect(deliveredIn(fake, PRIVATE_MINH)).toEqual([[minh.message_id, 'cảm ơn rất nhiều']]);
    expect(events.filter((e) => e === `done telegram:${LAN.id}`)).toHaveLength(10);
    // Once Minh's note is in the queue, at most one of Lan's (the one running) finishes before it.
    const queued = events.indexOf(`queued telegram:${MINH.id}`);
    const done = events.indexOf(`done telegram:${MINH.id}`);
    expect(queued).toBeGreaterThanOrEqual(0);
    expect(events.slice(queued, done).filter((e) => e === `done telegram:${LAN.id}`).length).toBeLessThanOrEqual(1);
  });

  it('answers three voice notes sent at once in their order of arrival, even when the first finishes last', async () => {
    const finished = new Map<string, Deferred<void>>(PHRASES.map((p) => [p, deferred()]));
    const transcriber: Transcriber = {
      status: () => core.transcriber.status(),
      async transcribe(input, options) {
        const transcript = await core.transcriber.transcribe(input, options);
        const phrase = phraseOf(input);
        // The first voice note's transcript is held back until the two after it are done.
        if (phrase === 'xin chào các bạn') await Promise.all([finished.get('tôi là người việt nam')?.promise, finished.get('hôm nay trời đẹp quá')?.promise]);
        if (phrase) finished.get(phrase)?.resolve();
        return transcript;
      },
    };
    const h = await startBot({}, { transcriber });
    const { fake } = h;
    const sent = (['xin chào các bạn', 'tôi là người việt nam', 'hôm nay trời đẹp quá'] as const).map((p) => sendMedia(fake, PRIVATE, LAN, 'voice', voice[p]));
    await replyTo(fake, PRIVATE, sent[2]);
    await settle(h);
    // A job that waited behind another may have shown a placeholder first: what counts is what it became.
    expect(deliveredIn(fake, PRIVATE)).toEqual([
      [sent[0].message_id, 'xin chào các bạn'],
      [sent[1].message_id, 'tôi là người việt nam'],
      [sent[2].message_id, 'hôm nay trời đẹp quá'],
    ]);
  });

  it('keeps polling while a job runs: /status is answered while a transcription is held', async () => {
    const held = holdFirstJob(narrow);
    const h = await startBot({}, { transcriber: held.transcriber });
    const { fake } = h;
    const message = sendMedia(fake, PRIVATE, LAN, 'voice', voice['tôi là người việt nam']);
    await held.holding;
    const status = fake.sendUserMessage(PRIVATE, LAN, { text: '/status' });
    const answer = await replyTo(fake, PRIVATE, status);
    expect(answer.params.text).toBe(statusReply({ ...narrow.transcriber.status(), waiting: 0, running: 1 }, 'vi'));
    expect(repliesTo(fake, PRIVATE, message)).toEqual([]);
    held.release();
    await replyTo(fake, PRIVATE, message);
    await settle(h);
    expect(sentIn(fake, PRIVATE)).toEqual([
      [status.message_id, answer.params.text],
      [message.message_id, 'tôi là người việt nam'],
    ]);
  });

  it('on stop, lets running jobs reply; one still waiting after the grace is cancelled and told the service restarts', async () => {
    const held = holdFirstJob(narrow);
    const h = await startBot({}, { transcriber: held.transcriber, stopGraceMs: 300 });
    const { fake } = h;
    const first = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn']);
    await held.holding;
    const second = sendMedia(fake, PRIVATE, LAN, 'voice', voice['tôi là người việt nam']);
    await fake.waitFor((c) => isReply(PRIVATE, second)(c) && isPlaceholder(String(c.params.text)), 8_000);
    const stopped = h.bot.stop();
    // After the grace the waiting job is cancelled; its reply keeps the chat's order, after the first's.
    await waitUntil(async () => (h.logs.some((l) => l.includes('"code":"shutting_down"')) ? true : undefined), 8_000, 'the grace to end');
    held.release();
    await stopped;
    expect(repliesTo(fake, PRIVATE, first)).toEqual(['xin chào các bạn']);
    expect(repliesTo(fake, PRIVATE, second)).toEqual([errorReply(new SttError('shutting_down'), 'vi', LIMITS)]);
  });

  it('in webhook mode takes updates on the service app with the secret token, refuses a wrong one with 401, and replies', async () => {
    const h = await startBot({}, { webhook: true });
    const { fake, bot, app } = h;
    expect(bot.mode).toBe('webhook');
    const url = new URL(TELEGRAM_WEBHOOK_PATH, `http://127.0.0.1:${(app?.server.address() as net.AddressInfo).port}`).toString();
    const setWebhook = fake.callsOf('setWebhook');
    expect(setWebhook.map((c) => c.params)).toEqual([expect.objectContaining({ url, secret_token: bot.webhookSecret, allowed_updates: ['message', 'callback_query', 'my_chat_member'] })]);
    expect(bot.webhookSecret).not.toContain(TOKEN_SECRET);

    const stray = { update_id: 1, message: { message_id: 999, date: 0, chat: PRIVATE, from: LAN, text: '/help', entities: [{ type: 'bot_command', offset: 0, length: 5 }] } };
    const wrongSecrets: Record<string, string>[] = [{ [WEBHOOK_SECRET_HEADER]: 'sai-bi-mat' }, { [WEBHOOK_SECRET_HEADER]: `${bot.webhookSecret}x` }, {}];
    for (const headers of wrongSecrets) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(stray) });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        status: 'error',
        error: 'unauthorized',
        message: 'The x-telegram-bot-api-secret-token header is missing or wrong.',
      });
    }

    const message = sendMedia(fake, PRIVATE, LAN, 'voice', voice['hôm nay trời đẹp quá']);
    await replyTo(fake, PRIVATE, message);
    await settle(h);
    expect(sentIn(fake, PRIVATE)).toEqual([[message.message_id, 'hôm nay trời đẹp quá']]);
    await fake.deliveriesSettled();
    expect(fake.webhookDeliveries).toEqual([{ updateId: expect.any(Number), status: 200 }]);
    expect(fake.callsOf('getUpdates')).toEqual([]);
  });

  it.each(['getMe', 'deleteWebhook'])('stops for good when stop() comes while start() waits on %s', async (method) => {
    const h = await startBot({}, { noStart: true });
    const { fake, bot } = h;
    const starting = bot.start();
    await fake.waitFor((c) => c.method === method);
    // Both settle (stop() used to fail with "Bot is not running!" here, or to return while
    // start() went on to launch polling that nothing would stop).
    await Promise.all([starting, bot.stop()]);
    const methods = fake.calls.map((c) => c.method);
    if (method === 'getMe') {
      expect(methods).not.toContain('deleteWebhook');
      expect(methods).not.toContain('getUpdates');
    } else {
      // Polling had started: stop() ended it (telegraf confirms the offset with a last, short getUpdates).
      expect(fake.callsOf('getUpdates').at(-1)?.params).toMatchObject({ limit: 1 });
    }
  });

  it('never writes the token: a failed download and a fetch error quoting the file URL are logged and answered without it', async () => {
    const urls: string[] = [];
    // The first download fails as node-fetch would, quoting the URL (which holds the token).
    const leakyFetch: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      urls.push(url);
      if (urls.length === 1) throw new TypeError(`request to ${url} failed, reason: socket hang up`);
      return fetch(input, init);
    };
    const h = await startBot({}, { fetch: leakyFetch });
    const { fake, logs } = h;
    const thrown = sendMedia(fake, PRIVATE, LAN, 'voice', voice['xin chào các bạn']);
    await replyTo(fake, PRIVATE, thrown);
    fake.failDownloads(1, 500);
    const failed = sendMedia(fake, PRIVATE, LAN, 'voice', voice['cảm ơn rất nhiều']);
    await replyTo(fake, PRIVATE, failed);
    const ok = sendMedia(fake, PRIVATE, LAN, 'voice', voice['tôi là người việt nam']);
    await replyTo(fake, PRIVATE, ok);
    await settle(h);
    const brief = errorReply(new Error('download failed'), 'vi', LIMITS);
    expect(sentIn(fake, PRIVATE)).toEqual([
      [thrown.message_id, brief],
      [failed.message_id, brief],
      [ok.message_id, 'tôi là người việt nam'],
    ]);
    // The token was in play (the file URLs hold it) ...
    expect(urls).toHaveLength(3);
    for (const url of urls) expect(url).toContain(TOKEN);
    // ... and the failures were logged with their context, without it (assertNoTokenLeak checks every line).
    const failures = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'telegram file download failed');
    expect(failures).toEqual([
      expect.objectContaining({ chatId: PRIVATE.id, messageId: thrown.message_id, error: expect.objectContaining({ type: 'DownloadError' }) }),
      expect.objectContaining({ chatId: PRIVATE.id, messageId: failed.message_id, error: expect.objectContaining({ type: 'DownloadError' }) }),
    ]);
    assertNoTokenLeak(h);
  });
});

describe('Telegram chat settings and history, kept in the store', () => {
  const DEFAULTS = { language: 'both', auto: true, timestamps: false, textStyle: 'written', history: false } as const;
  const key = (chat: Chat) => ({ platform: 'telegram' as const, chatId: String(chat.id) });

  /** Sends /settings and returns the bot's keyboard message. */
  async function openSettings(fake: FakeBotApi, chat: Chat, from: User): Promise<Message.TextMessage> {
    const command = fake.sendUserMessage(chat, from, { text: '/settings' });
    const reply = await replyTo(fake, chat, command);
    return reply.result as Message.TextMessage;
  }

  /** Presses a button of `message` and waits for the bot to answer the press. */
  async function press(fake: FakeBotApi, message: Message, from: User, data: string): Promise<RecordedCall> {
    const id = fake.pressButton(message, from, data);
    return fake.waitFor((c) => c.method === 'answerCallbackQuery' && c.params.callback_query_id === id);
  }

  /** The keyboard /settings shows for these settings. */
  function keyboard(settings: EffectiveSettings, names: readonly SettingName[]): unknown {
    return { inline_keyboard: names.map((name) => [{ text: settingLabel(name, settings, settings.language), callback_data: `set:${name}` }]) };
  }

  it('/settings toggles the reply language in place: the same message edited, the press answered, the next reply in the new language', async () => {
    const h = await startBot();
    const { fake } = h;
    // Minh's app has no language: REPLY_LANGUAGE (both) applies.
    const shown = await openSettings(fake, PRIVATE_MINH, MINH);
    const names: SettingName[] = ['language', 'timestamps', 'textStyle', 'history'];
    expect(shown.text).toBe(text('settingsTitle', 'both'));
    expect(shown.reply_markup).toEqual(keyboard(DEFAULTS, names));
    const answer = await press(fake, shown, MINH, 'set:language');
    expect(answer.status).toBe(200);
    const edit = fake.callsOf('editMessageText').at(-1);
    expect(edit?.params).toMatchObject({ chat_id: PRIVATE_MINH.id, message_id: shown.message_id, text: text('settingsTitle', 'vi') });
    expect(fake.messageNow(PRIVATE_MINH.id, shown.message_id)).toMatchObject({ text: text('settingsTitle', 'vi'), reply_markup: keyboard({ ...DEFAULTS, language: 'vi' }, names) });
    expect(await h.store.getSettings(key(PRIVATE_MINH))).toEqual({ language: 'vi' });
    // Round the three: vi → en → both.
    await press(fake, shown, MINH, 'set:language');
    expect(await h.store.getSettings(key(PRIVATE_MINH))).toEqual({ language: 'en' });
    const help = fake.sendUserMessage(PRIVATE_MINH, MINH, { text: '/help' });
    expect((await replyTo(fake, PRIVATE_MINH, help)).params.text).toBe(helpReply({ maxDurationSec: 300, maxFileMb: 25, groupMode: 'auto' }, 'en'));
    // One message in all for the settings: edited, never sent again.
    expect(sentIn(fake, PRIVATE_MINH).filter(([, t]) => t.startsWith('⚙️'))).toHaveLength(1);
  });

  it('registers /settings, /hotwords and /forget for private chats and group administrators, not for everyone', async () => {
    const { fake } = await startBot();
    const names = (scope: string): unknown[] => (fake.commandsByScope[scope] as { command: string }[]).map((c) => c.command);
    expect(names('default')).toEqual(['help', 'status', 'transcribe', 'search', 'history']);
    expect(names('all_private_chats')).toEqual(['help', 'status', 'transcribe', 'search', 'history', 'settings', 'hotwords', 'forget']);
    expect(names('all_chat_administrators')).toEqual(['help', 'status', 'transcribe', 'search', 'history', 'settings', 'hotwords', 'forget']);
  });

  it('in a group only administrators change a setting: a member is refused in the press\'s answer, and nothing changes', async () => {
    const h = await startBot();
    const { fake } = h;
    fake.setMember(GROUP, LAN, 'administrator');
    const shown = await openSettings(fake, GROUP, MINH);
    expect(shown.reply_markup).toEqual(keyboard(DEFAULTS, ['language', 'auto', 'timestamps', 'textStyle', 'history']));
    const refused = await press(fake, shown, MINH, 'set:history');
    expect(refused.params.text).toBe(text('adminsOnly', 'both'));
    expect(fake.callsOf('editMessageText')).toEqual([]);
    expect(await h.store.getSettings(key(GROUP))).toEqual({});
    const allowed = await press(fake, shown, LAN, 'set:history');
    expect(allowed.params.text).toBeUndefined();
    expect(await h.store.getSettings(key(GROUP))).toEqual({ history: true });
    expect(fake.callsOf('getChatMember').map((c) => [c.params.user_id, (c.result as { status: string }).status])).toEqual([
      [MINH.id, 'member'],
      [LAN.id, 'administrator'],
    ]);
    // /forget is theirs too.
    const forget = fake.sendUserMessage(GROUP, MINH, { text: '/forget' });
    expect((await replyTo(fake, GROUP, forget)).params.text).toBe(text('adminsOnly', 'both'));
    expect(await h.store.getSettings(key(GROUP))).toEqual({ history: true });
  });

  it('auto-transcription off in a group: its voice notes are left alone, /transcribe still answers', async () => {
    const h = await startBot();
    const { fake } = h;
    fake.setMember(GROUP, LAN, 'creator');
    const shown = await openSettings(fake, GROUP, LAN);
    await press(fake, shown, LAN, 'set:auto');
    expect(await h.store.getSettings(key(GROUP))).toEqual({ auto: false });
    const note = sendMedia(fake, GROUP, MINH, 'voice', voice['xin chào các bạn']);
    const asked = sendMedia(fake, GROUP, MINH, 'voice', voice['cảm ơn rất nhiều']);
    fake.sendUserMessage(GROUP, LAN, { text: '/transcribe', reply_to_message: asked });
    await replyTo(fake, GROUP, asked);
    await settle(h);
    expect(repliesTo(fake, GROUP, note)).toEqual([]);
    expect(repliesTo(fake, GROUP, asked)).toEqual(['cảm ơn rất nhiều']);
  });

  it('credits a note transcribed on someone else\'s /transcribe to the one who spoke it, in history and in search', async () => {
    const h = await startBot();
    const { fake } = h;
    fake.setMember(GROUP, LAN, 'creator');
    const shown = await openSettings(fake, GROUP, LAN);
    await press(fake, shown, LAN, 'set:auto');
    await press(fake, shown, LAN, 'set:history');
    const note = sendMedia(fake, GROUP, MINH, 'voice', voice['họp lúc chín giờ ba mươi']);
    fake.sendUserMessage(GROUP, LAN, { text: '/transcribe', reply_to_message: note });
    await replyTo(fake, GROUP, note);
    await waitUntil(async () => ((await h.store.historySummary(key(GROUP))).count === 1 ? true : undefined), 5_000, 'the transcript kept');
    expect((await h.store.search(key(GROUP), 'hop')).results.map((hit) => hit.authorId)).toEqual([String(MINH.id)]);
    const search = fake.sendUserMessage(GROUP, LAN, { text: '/search hop' });
    const hit = await fake.waitFor((c) => c.method === 'sendMessage' && c.status === 200 && String(c.params.text).startsWith('🔎 ') && replyTarget(c) === note.message_id);
    expect(String(hit.params.text)).toMatch(/^🔎 Minh · /);
    await settle(h);
    expect(repliesTo(fake, GROUP, search)).toEqual([]);
  });

  it('with timestamps on and the raw style, answers the words as heard, each segment after its time', async () => {
    const h = await startBot();
    const { fake } = h;
    const shown = await openSettings(fake, PRIVATE, LAN);
    await press(fake, shown, LAN, 'set:timestamps');
    await press(fake, shown, LAN, 'set:textStyle');
    expect(await h.store.getSettings(key(PRIVATE))).toEqual({ timestamps: true, textStyle: 'raw' });
    const message = sendMedia(fake, PRIVATE, LAN, 'voice', voice['họp lúc chín giờ ba mươi']);
    const reply = await replyTo(fake, PRIVATE, message);
    expect(reply.params.text).toMatch(/^\[0:00\] họp lúc chín giờ ba mươi$/);
  });

  it('keeps its settings across a restart on the same SQLite folder', async () => {
    const first = await startBot();
    const shown = await openSettings(first.fake, PRIVATE_MINH, MINH);
    await press(first.fake, shown, MINH, 'set:language');
    await press(first.fake, shown, MINH, 'set:timestamps');
    await first.bot.stop();
    await first.store.close();
    const second = await startBot({}, { fake: first.fake, dataDir: first.dataDir });
    const again = await openSettings(second.fake, PRIVATE_MINH, MINH);
    expect(again.text).toBe(text('settingsTitle', 'vi'));
    expect(again.reply_markup).toEqual(keyboard({ ...DEFAULTS, language: 'vi', timestamps: true }, ['language', 'timestamps', 'textStyle', 'history']));
  });

  it('history off keeps nothing; on, each transcript is kept and found by a folded query, as a reply to its voice note', async () => {
    const h = await startBot();
    const { fake } = h;
    const unkept = sendMedia(fake, PRIVATE, LAN, 'voice', voice['họp lúc chín giờ ba mươi']);
    await replyTo(fake, PRIVATE, unkept);
    const before = fake.sendUserMessage(PRIVATE, LAN, { text: '/search hop' });
    expect((await replyTo(fake, PRIVATE, before)).params.text).toBe(text('searchHistoryOff', 'vi'));
    const on = h;
    await press(fake, await openSettings(fake, PRIVATE, LAN), LAN, 'set:history');
    const kept = sendMedia(fake, PRIVATE, LAN, 'voice', voice['họp lúc chín giờ ba mươi']);
    await replyTo(fake, PRIVATE, kept);
    // Another chat's words, kept too: never found from Lan's chat.
    await press(fake, await openSettings(fake, PRIVATE_MINH, MINH), MINH, 'set:history');
    const other = sendMedia(fake, PRIVATE_MINH, MINH, 'voice', voice['hôm nay trời đẹp quá']);
    await replyTo(fake, PRIVATE_MINH, other);
    await waitUntil(async () => ((await on.store.historySummary(key(PRIVATE_MINH))).count === 1 ? true : undefined), 5_000, 'the second chat\'s transcript kept');
    // One kept: the note sent while history was off is not.
    expect((await on.store.historySummary(key(PRIVATE))).count).toBe(1);

    const search = fake.sendUserMessage(PRIVATE, LAN, { text: '/search hop chin gio' });
    const hit = await fake.waitFor((c) => c.method === 'sendMessage' && c.status === 200 && String(c.params.text).startsWith('🔎 ') && replyTarget(c) === kept.message_id);
    expect(String(hit.params.text)).toMatch(/^🔎 Lan · \d{4}-\d\d-\d\d \d\d:\d\d UTC\n.*«họp».*$/);
    const elsewhere = fake.sendUserMessage(PRIVATE, LAN, { text: '/search troi dep' });
    expect((await replyTo(fake, PRIVATE, elsewhere)).params.text).toBe(text('searchNothing', 'vi'));
    const fromMinh = fake.sendUserMessage(PRIVATE_MINH, MINH, { text: '/search hop' });
    expect((await replyTo(fake, PRIVATE_MINH, fromMinh)).params.text).toBe(text('searchNothing', 'both'));
    const bare = fake.sendUserMessage(PRIVATE, LAN, { text: '/search' });
    expect((await replyTo(fake, PRIVATE, bare)).params.text).toBe(text('searchUsage', 'vi'));
    const history = fake.sendUserMessage(PRIVATE, LAN, { text: '/history' });
    const { oldest } = await on.store.historySummary(key(PRIVATE));
    expect((await replyTo(fake, PRIVATE, history)).params.text).toBe(historyReply({ on: true, count: 1, days: 30, oldest }, 'vi'));

    // /forget: the settings and the history go at once.
    const forget = fake.sendUserMessage(PRIVATE, LAN, { text: '/forget' });
    expect((await replyTo(fake, PRIVATE, forget)).params.text).toBe(text('forgotten', 'vi'));
    expect(await on.store.getSettings(key(PRIVATE))).toEqual({});
    expect(await on.store.historySummary(key(PRIVATE))).toEqual({ count: 0 });
    expect((await on.store.search(key(PRIVATE), 'hop')).results).toEqual([]);
    expect((await on.store.historySummary(key(PRIVATE_MINH))).count).toBe(1);
    await settle(on);
    expect(repliesTo(fake, PRIVATE, search)).toEqual([]);
  });

  it('being removed from a group deletes what the group kept', async () => {
    const h = await startBot();
    const { fake } = h;
    fake.setMember(GROUP, LAN, 'administrator');
    await press(fake, await openSettings(fake, GROUP, LAN), LAN, 'set:language');
    expect(await h.store.getSettings(key(GROUP))).toEqual({ language: 'vi' });
    fake.removeBot(GROUP, LAN, 'kicked');
    await waitUntil(async () => (Object.keys(await h.store.getSettings(key(GROUP))).length === 0 ? true : undefined), 5_000, 'the group forgotten');
    expect(h.logs.some((l) => l.includes('its settings and history are deleted'))).toBe(true);
  });

  it('pages a search: five matches, then a "more results" button that gives the rest', async () => {
    const h = await startBot();
    const { fake } = h;
    await press(fake, await openSettings(fake, PRIVATE, LAN), LAN, 'set:history');
    const notes = Array.from({ length: 6 }, () => sendMedia(fake, PRIVATE, LAN, 'voice', voice['cảm ơn rất nhiều']));
    await replyTo(fake, PRIVATE, notes[5]);
    await waitUntil(async () => ((await h.store.historySummary(key(PRIVATE))).count === 6 ? true : undefined), 5_000, 'six transcripts kept');
    const hits = (): RecordedCall[] => fake.calls.filter((c) => c.method === 'sendMessage' && c.status === 200 && String(c.params.text).startsWith('🔎 Lan'));
    const search = fake.sendUserMessage(PRIVATE, LAN, { text: '/search cam on' });
    const more = await replyTo(fake, PRIVATE, search);
    expect(more.params.text).toBe(text('searchMore', 'vi'));
    expect(hits()).toHaveLength(5);
    const answered = await press(fake, more.result as Message, LAN, (more.params.reply_markup as { inline_keyboard: { callback_data: string }[][] }).inline_keyboard[0][0].callback_data);
    expect(answered.status).toBe(200);
    await waitUntil(async () => (hits().length === 6 ? true : undefined), 5_000, 'the sixth match');
    // Each match answers its own voice note: all six, once each.
    expect(hits().map(replyTarget).sort((a, b) => Number(a) - Number(b))).toEqual(notes.map((n) => n.message_id));
  });
});

describe('fetchAudio from a local Bot API server (--local: file_path is a path on this machine)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bot${TOKEN}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Options whose getFile answers `filePath`. */
  const local = (filePath: string, extra: Partial<FetchAudioOptions> = {}): FetchAudioOptions => ({
    telegram: { getFile: async () => ({ file_id: 'f', file_unique_id: 'u', file_path: filePath }) } as unknown as Telegram,
    token: TOKEN,
    apiRoot: 'http://127.0.0.1:1',
    maxBytes: 1000,
    maxMb: 0.001,
    idleMs: 5_000,
    deadlineMs: 60_000,
    minBytesPerSec: 8192,
    ...extra,
  });
  const ref = { kind: 'voice', fileId: 'f' } as const;

  it('reads the file in place, exactly', async () => {
    const file = path.join(dir, 'voice.oga');
    writeFileSync(file, Buffer.alloc(600, 7));
    expect(await fetchAudio(ref, local(file))).toEqual({ kind: 'buffer', data: Buffer.alloc(600, 7) });
  });

  it('refuses a file over the cap by its size, before reading it', async () => {
    const file = path.join(dir, 'big.oga');
    writeFileSync(file, Buffer.alloc(1001));
    await expect(fetchAudio(ref, local(file))).rejects.toEqual(new SttError('payload_too_large', 'The file is larger than the 0.001 MB limit.'));
  });

  it('stops a file that passes the cap while it streams, whatever its size said', async () => {
    // A character device has size 0 and no end.
    await expect(fetchAudio(ref, local('/dev/zero'))).rejects.toEqual(new SttError('payload_too_large', 'The file is larger than the 0.001 MB limit.'));
  });

  it('names a missing file by its error code only: the path holds the token', async () => {
    const error = (await fetchAudio(ref, local(path.join(dir, 'gone.oga'))).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('the local Bot API file could not be read (ENOENT)');
    expect(JSON.stringify([error.message, error.stack, String(error.cause)])).not.toContain(TOKEN_SECRET);
  });
});
