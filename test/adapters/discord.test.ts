import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationCommandOptionType, GatewayIntentBits, GatewayOpcodes, ApplicationCommandType, InteractionResponseType, MessageFlags } from 'discord.js';
import { createDiscordBot, SETTINGS_COMMAND_NAME, TRANSCRIBE_COMMAND_NAME, type DiscordBot } from '../../adapters/discord.js';
import { openStore, type Store } from '../../src/store/index.js';
import { DISCORD_MESSAGE_LIMIT } from '../../adapters/shared.js';
import { errorReply, queuedReply, settingChanged, text, tooLargeReply } from '../../adapters/replies.js';
import type { Core } from '../../src/core/create-transcriber.js';
import type { Transcriber } from '../../src/core/types.js';
import { createLogger } from '../../src/logger.js';
import { speech } from '../support/audio.js';
import { testConfig, testCore } from '../support/core.js';
import { waitUntil } from '../support/server.js';
import { FakeDiscord, type CdnCall, type GatewayCall, type RecordedCall, type RestCall } from '../fakes/discord.js';
import { closeHarness } from '../support/bot-harness.js';

// A token shaped like a real one (user id . timestamp . HMAC); none of its parts may leak.
const TOKEN = 'MTA5ODc2NTQzMjEwOTg3NjU0Mw.GvQx7k.Zr3vQm8TtWkY2pLsN0aHc7dEfJxUuBiO5gRy1V';
const POST_MESSAGE = 'POST /channels/:id/messages';

interface Harness {
  fake: FakeDiscord;
  bot: DiscordBot;
  logs: string[];
  store: Store;
  dataDir: string;
}

let core: Core;
const audio: Record<string, Buffer> = {};
const running: Harness[] = [];

/** A fake Discord and a started bot on it; `env` is laid over the test config. */
async function startBot(
  env: Record<string, string> | ((fake: FakeDiscord) => Record<string, string>) = {},
  options: { transcriber?: Transcriber; settingsDeferMs?: number; storeFor?: (store: Store) => Store } = {},
): Promise<Harness> {
  const fake = await FakeDiscord.start({ token: TOKEN, heartbeatIntervalMs: 1_000 });
  const logs: string[] = [];
  // No secrets handed to the logger: whatever keeps the token out of the logs is the adapter's.
  const logger = createLogger({ level: 'trace' }, { write: (line: string) => void logs.push(line) });
  const config = testConfig({ DISCORD_BOT_TOKEN: TOKEN, DISCORD_API_ROOT: fake.apiRoot, ...(typeof env === 'function' ? env(fake) : env) });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'discord-store-'));
  const store = await openStore({ dataDir, historyDays: 30 });
  const bot = createDiscordBot({
    config,
    transcriber: options.transcriber ?? core.transcriber,
    store: options.storeFor?.(store) ?? store,
    logger,
    clientOptions: { rest: { offset: 0, timeout: 5_000, retries: 1 } },
    settingsDeferMs: options.settingsDeferMs,
  });
  const harness = { fake, bot, logs, store, dataDir };
  running.push(harness);
  await bot.start();
  return harness;
}

const isReplyTo = (messageId: string) => (call: RecordedCall): call is RestCall =>
  call.kind === 'rest' && call.route === POST_MESSAGE && call.status === 200 && call.message?.message_reference?.message_id === messageId;

/** Waits for the bot's first reply to `messageId` and returns it. */
async function replyTo(fake: FakeDiscord, messageId: string, timeoutMs = 8_000): Promise<RestCall> {
  return fake.waitFor<RestCall>(isReplyTo(messageId), timeoutMs);
}

function assertNoTokenLeak({ fake, logs }: Harness): void {
  const pieces = [TOKEN, ...TOKEN.split('.').filter((p) => p.length > 6)];
  const logText = logs.join('');
  const sent = JSON.stringify(fake.restCalls().map((c) => [c.body, c.message?.content]));
  for (const piece of pieces) {
    expect(logText).not.toContain(piece);
    expect(sent).not.toContain(piece);
  }
}

beforeAll(async () => {
  ({ core } = await testCore());
  const phrases = ['xin chào các bạn', 'tôi là người việt nam', 'hôm nay trời đẹp quá', 'cảm ơn rất nhiều'];
  const encoded = await Promise.all(phrases.map((p) => speech(p, 'ogg-opus')));
  phrases.forEach((p, i) => (audio[p] = encoded[i]));
});

afterEach(async () => {
  for (const harness of running.splice(0)) {
    await closeHarness(harness);
    assertNoTokenLeak(harness);
  }
});

afterAll(async () => {
  await core?.close();
});

describe('Discord bot against a fake Discord', () => {
  it('connects as discord.js does: gateway from /gateway/bot, v10 JSON, the intents it needs, and registers "Transcribe"', async () => {
    const { fake } = await startBot();
    const gatewayBot = fake.restCalls('GET /gateway/bot')[0];
    expect(gatewayBot).toMatchObject({ status: 200, authorized: true });
    const open = fake.calls.find((c) => c.kind === 'connection' && c.event === 'open');
    expect(open).toMatchObject({ path: '/gateway', query: { v: '10', encoding: 'json' } });
    const identify = fake.calls.find((c): c is GatewayCall => c.kind === 'gateway' && c.op === GatewayOpcodes.Identify);
    const intents = GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages | GatewayIntentBits.DirectMessages | GatewayIntentBits.MessageContent;
    expect(identify?.data).toMatchObject({ intents });
    expect(fake.registeredCommands()).toMatchObject([
      { name: TRANSCRIBE_COMMAND_NAME, type: ApplicationCommandType.Message },
      // Manage Channels (1 << 4), as a string bitfield.
      { name: SETTINGS_COMMAND_NAME, type: ApplicationCommandType.ChatInput, default_member_permissions: '16' },
    ]);
    const subcommands = fake.registeredCommands()[1].options ?? [];
    expect(subcommands.map((o) => [o.type, o.name])).toEqual(
      ['auto', 'language', 'timestamps', 'style', 'history', 'hotwords', 'search', 'forget'].map((name) => [ApplicationCommandOptionType.Subcommand, name]),
    );
    // Heartbeats are answered (op 1 → op 11): the connection is not a zombie.
    await fake.waitFor((c) => c.kind === 'gateway' && c.direction === 'sent' && c.op === GatewayOpcodes.HeartbeatAck, 3_000);
  });

  it('replies to a guild voice message with its exact transcript, typing while it works', async () => {
    const { fake } = await startBot();
    const voice = fake.injectVoiceMessage(audio['xin chào các bạn'], fake.textChannelId);
    const reply = await replyTo(fake, voice.id);
    expect(reply.path).toBe(`/channels/${fake.textChannelId}/messages`);
    expect(reply.message?.content).toBe('xin chào các bạn');
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual(['xin chào các bạn']);
    const typing = fake.restCalls('POST /channels/:id/typing').find((c) => c.path === `/channels/${fake.textChannelId}/typing`);
    expect(typing?.seq).toBeLessThan(reply.seq);
    // The CDN download carried no bot token (the fake would not know; the bot must not send it).
    expect(fake.calls.some((c) => c.kind === 'cdn' && c.status === 200)).toBe(true);
  });

  it('replies to a DM voice message', async () => {
    const { fake } = await startBot();
    const dm = fake.dmChannelFor();
    const voice = fake.injectVoiceMessage(audio['tôi là người việt nam'], dm);
    const reply = await replyTo(fake, voice.id);
    expect(reply.path).toBe(`/channels/${dm}/messages`);
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual(['tôi là người việt nam']);
  });

  it('ignores plain text and other bots: the only reply is to the voice message', async () => {
    const { fake } = await startBot();
    const text = fake.injectMessage({ channel_id: fake.textChannelId, content: 'xin chào' });
    const otherBot = { id: fake.snowflake(), username: 'khac', discriminator: '0', global_name: null, avatar: null, bot: true };
    const fromBot = fake.injectVoiceMessage(audio['cảm ơn rất nhiều'], fake.textChannelId, { author: otherBot });
    const voice = fake.injectVoiceMessage(audio['hôm nay trời đẹp quá'], fake.textChannelId);
    await replyTo(fake, voice.id);
    const posted = fake.restCalls(POST_MESSAGE);
    expect(posted.map((c) => c.message?.message_reference?.message_id)).toEqual([voice.id]);
    expect(fake.repliesTo(text.id)).toEqual([]);
    expect(fake.repliesTo(fromBot.id)).toEqual([]);
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual(['hôm nay trời đẹp quá']);
  });

  it('recognises audio attachments by file name and skips the others', async () => {
    const { fake } = await startBot();
    const image = fake.attachment(Buffer.from('not audio'), { filename: 'anh.png', contentType: 'image/png' });
    const memo = fake.attachment(await speech('cảm ơn rất nhiều', 'm4a'), { filename: 'ghi-am.m4a' });
    const message = fake.injectMessage({ channel_id: fake.textChannelId, content: 'nghe này', attachments: [image, memo] });
    await replyTo(fake, message.id);
    expect(fake.repliesTo(message.id).map((m) => m.content)).toEqual(['cảm ơn rất nhiều']);
    expect(fake.calls.filter((c): c is CdnCall => c.kind === 'cdn').map((c) => c.path)).toEqual([expect.stringContaining('ghi-am.m4a')]);
  });

  it.each([
    { name: 'a 4000 close', drop: { code: 4000 } },
    { name: 'a TCP cut', drop: { terminate: true } },
  ])('survives $name: RESUMEs, gets the missed voice message replayed and answers it, then the next', async ({ drop }) => {
    const { fake } = await startBot();
    const ready = fake.calls.find((c): c is GatewayCall => c.kind === 'gateway' && c.t === 'READY');
    const sessionId = (ready?.data as { session_id: string }).session_id;

    fake.dropConnection(drop);
    const missed = fake.injectVoiceMessage(audio['xin chào các bạn'], fake.textChannelId);
    const reply = await replyTo(fake, missed.id);
    expect(fake.repliesTo(missed.id).map((m) => m.content)).toEqual(['xin chào các bạn']);

    const resume = fake.calls.find((c): c is GatewayCall => c.kind === 'gateway' && c.op === GatewayOpcodes.Resume);
    expect(resume?.data).toMatchObject({ session_id: sessionId });
    const reopened = fake.calls.filter((c) => c.kind === 'connection' && c.event === 'open');
    expect(reopened.map((c) => c.kind === 'connection' && c.path)).toEqual(['/gateway', '/resume']);
    const replayed = fake.calls.find((c): c is GatewayCall => c.kind === 'gateway' && c.t === 'MESSAGE_CREATE' && c.replayed);
    expect((replayed?.data as { id: string }).id).toBe(missed.id);
    const resumed = fake.calls.find((c): c is GatewayCall => c.kind === 'gateway' && c.t === 'RESUMED');
    expect(resumed?.seq).toBeLessThan(reply.seq);
    // One IDENTIFY in all: it resumed, it did not start a new session.
    expect(fake.calls.filter((c) => c.kind === 'gateway' && c.op === GatewayOpcodes.Identify)).toHaveLength(1);

    const next = fake.injectVoiceMessage(audio['tôi là người việt nam'], fake.textChannelId);
    await replyTo(fake, next.id);
    expect(fake.repliesTo(next.id).map((m) => m.content)).toEqual(['tôi là người việt nam']);
  });

  it('waits out a 429 on the reply and sends it once, after retry_after', async () => {
    const { fake, logs } = await startBot();
    fake.failNext({ method: 'POST', path: `/channels/${fake.textChannelId}/messages`, retryAfter: 0.05 });
    const voice = fake.injectVoiceMessage(audio['hôm nay trời đẹp quá'], fake.textChannelId);
    const reply = await replyTo(fake, voice.id);
    const attempts = fake.restCalls(POST_MESSAGE);
    expect(attempts.map((c) => c.status)).toEqual([429, 200]);
    expect(attempts[0].body).toMatchObject({ content: 'hôm nay trời đẹp quá', message_reference: { message_id: voice.id } });
    expect(reply.at - attempts[0].at).toBeGreaterThanOrEqual(45);
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual(['hôm nay trời đẹp quá']);
    expect(logs.some((l) => l.includes('discord rate limited'))).toBe(true);
  });

  it('with DISCORD_CHANNEL_IDS, transcribes only those channels (and their threads) and DMs', async () => {
    const { fake } = await startBot((f) => ({ DISCORD_CHANNEL_IDS: f.textChannelId }));
    const outside = fake.injectVoiceMessage(audio['cảm ơn rất nhiều'], fake.otherChannelId);
    const inside = fake.injectVoiceMessage(audio['xin chào các bạn'], fake.textChannelId);
    const inThread = fake.injectVoiceMessage(audio['tôi là người việt nam'], fake.threadId);
    const inDm = fake.injectVoiceMessage(audio['hôm nay trời đẹp quá'], fake.dmChannelFor());
    await Promise.all([inside, inThread, inDm].map((m) => replyTo(fake, m.id)));
    expect(fake.repliesTo(inside.id).map((m) => m.content)).toEqual(['xin chào các bạn']);
    expect(fake.repliesTo(inThread.id).map((m) => m.content)).toEqual(['tôi là người việt nam']);
    expect(fake.repliesTo(inDm.id).map((m) => m.content)).toEqual(['hôm nay trời đẹp quá']);
    // Nothing at all happened for the channel outside the list: no reply, no typing, no download.
    expect(fake.repliesTo(outside.id)).toEqual([]);
    expect(fake.restCalls().filter((c) => c.path.startsWith(`/channels/${fake.otherChannelId}/`))).toEqual([]);
    expect(fake.calls.filter((c) => c.kind === 'cdn' && c.path.includes(`/${outside.attachments[0].id}/`))).toEqual([]);
  });

  it('splits a long transcript under 2000 characters without losing or repeating a word', async () => {
    const { fake } = await startBot();
    const words = ['xin', 'chào', 'các', 'bạn', 'tôi', 'là', 'người', 'việt', 'nam', 'hôm', 'nay', 'trời', 'đẹp', 'quá'];
    const text = Array.from({ length: 520 }, (_, i) => words[i % words.length]).join(' ');
    expect(text.length).toBeGreaterThan(DISCORD_MESSAGE_LIMIT);
    const wav = await speech(text, 'wav', { toneMs: 30, gapMs: 15 });
    const file = fake.attachment(wav, { filename: 'bai-noi.wav', contentType: 'audio/wav' });
    const message = fake.injectMessage({ channel_id: fake.textChannelId, attachments: [file] });
    await fake.waitFor(() => fake.repliesTo(message.id).reduce((n, m) => n + m.content.length + 1, -1) >= text.length, 15_000);
    const parts = fake.repliesTo(message.id).map((m) => m.content);
    expect(parts.length).toBeGreaterThanOrEqual(2);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(DISCORD_MESSAGE_LIMIT);
    expect(parts.join(' ')).toBe(text);
  });

  it('refuses an attachment over MAX_UPLOAD_MB from its declared size, before downloading', async () => {
    const { fake } = await startBot({ MAX_UPLOAD_MB: '1' });
    const file = fake.attachment(audio['xin chào các bạn'], { filename: 'to.ogg', contentType: 'audio/ogg', declaredSize: 5 * 1024 * 1024 });
    const message = fake.injectMessage({ channel_id: fake.textChannelId, attachments: [file] });
    await replyTo(fake, message.id);
    expect(fake.repliesTo(message.id).map((m) => m.content)).toEqual([tooLargeReply(1, 'both')]);
    expect(fake.calls.filter((c) => c.kind === 'cdn')).toEqual([]);
  });

  it('stops a download that passes MAX_UPLOAD_MB while it streams, whatever size was declared', async () => {
    const { fake } = await startBot({ MAX_UPLOAD_MB: '1' });
    const big = Buffer.alloc(32 * 1024 * 1024, 1);
    const file = fake.attachment(big, { filename: 'dai.ogg', contentType: 'audio/ogg', declaredSize: 1000, chunked: true });
    const message = fake.injectMessage({ channel_id: fake.textChannelId, attachments: [file] });
    await replyTo(fake, message.id);
    expect(fake.repliesTo(message.id).map((m) => m.content)).toEqual([tooLargeReply(1, 'both')]);
    const download = await fake.waitFor<CdnCall>((c) => c.kind === 'cdn', 5_000);
    expect(download.bytesSent).toBeLessThan(big.length);
  });

  it('edits the queue placeholder into the transcript', async () => {
    const inQueue: Transcriber = {
      status: () => core.transcriber.status(),
      // The real core, reporting two jobs ahead so the placeholder always shows.
      transcribe: (input, options) => core.transcriber.transcribe(input, { ...options, onQueued: (ahead) => options?.onQueued?.(ahead + 2) }),
    };
    const { fake } = await startBot({}, { transcriber: inQueue });
    const voice = fake.injectVoiceMessage(audio['cảm ơn rất nhiều'], fake.textChannelId);
    const placeholder = await replyTo(fake, voice.id);
    expect(placeholder.message?.content).toBe(queuedReply(2, 'both'));
    const edit = await fake.waitFor<RestCall>((c) => c.kind === 'rest' && c.route === 'PATCH /channels/:id/messages/:id' && c.status === 200);
    expect(edit.path).toBe(`/channels/${fake.textChannelId}/messages/${placeholder.message?.id}`);
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual(['cảm ơn rất nhiều']);
  });

  it('shows a long message\'s words as its windows finish in one reply, edited into the transcript', async () => {
    const windowed = await testCore({ CHUNK_SEC: '2', STRIDE_SEC: '0.4' });
    const h = await startBot({ PROGRESS_EDIT_SEC: '0.2' }, { transcriber: windowed.core.transcriber });
    try {
      const { fake } = h;
      const wav = await speech('xin chào các bạn tôi là người việt nam hôm nay trời đẹp quá', 'wav');
      const message = fake.injectMessage({ channel_id: fake.textChannelId, attachments: [fake.attachment(wav, { filename: 'dai.wav', contentType: 'audio/wav' })] });
      const first = await replyTo(fake, message.id);
      expect(first.message?.content).toMatch(/^✍️ .+ … \(1\/\d+\)$/);
      await fake.waitFor(() => !fake.repliesTo(message.id)[0]?.content.startsWith('✍️'), 15_000);
      // One reply, edited in place: the words so far, then the transcript.
      expect(fake.restCalls(POST_MESSAGE).filter((c) => c.message?.message_reference?.message_id === message.id)).toEqual([first]);
      const edits = fake.restCalls('PATCH /channels/:id/messages/:id').filter((c) => c.path.endsWith(`/${first.message?.id}`));
      expect(edits.every((c) => c.status === 200)).toBe(true);
      expect(fake.repliesTo(message.id).map((m) => m.content)).toEqual([edits.at(-1)?.message?.content]);
      expect(edits.at(-1)?.message?.content).not.toMatch(/^✍️/);
    } finally {
      // The bot lets go of the core before it closes; afterEach closes the rest.
      await h.bot.stop();
      await windowed.core.close();
    }
  });

  it('answers silence with the no-speech reply', async () => {
    const { fake } = await startBot();
    const silence = await speech('', 'ogg-opus', { padMs: 600 });
    const voice = fake.injectVoiceMessage(silence, fake.textChannelId);
    await replyTo(fake, voice.id);
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual([text('noSpeech', 'both')]);
  });

  it('limits each user to USER_RATE_LIMIT jobs per window', async () => {
    const { fake } = await startBot({ USER_RATE_LIMIT: '1', USER_RATE_WINDOW_SEC: '600' });
    const first = fake.injectVoiceMessage(audio['xin chào các bạn'], fake.textChannelId);
    const second = fake.injectVoiceMessage(audio['tôi là người việt nam'], fake.textChannelId);
    await replyTo(fake, first.id);
    await replyTo(fake, second.id);
    expect(fake.repliesTo(first.id).map((m) => m.content)).toEqual(['xin chào các bạn']);
    expect(fake.repliesTo(second.id).map((m) => m.content)).toEqual([text('rateLimited', 'both')]);
  });

  it('transcribes on demand with the "Transcribe" message command: defers, then edits the response', async () => {
    const { fake } = await startBot((f) => ({ DISCORD_CHANNEL_IDS: f.textChannelId }));
    const voice = fake.injectVoiceMessage(audio['hôm nay trời đẹp quá'], fake.otherChannelId);
    const interactionId = fake.injectMessageCommand(voice, TRANSCRIBE_COMMAND_NAME);
    const callback = await fake.waitFor<RestCall>((c) => c.kind === 'rest' && c.route === 'POST /interactions/:id/:token/callback');
    expect(callback.body).toMatchObject({ type: InteractionResponseType.DeferredChannelMessageWithSource });
    await fake.waitFor((c) => c.kind === 'rest' && c.route === 'PATCH /webhooks/:id/:token/messages/@original' && c.status === 200);
    expect(fake.interactionResponses(interactionId).map((m) => m.content)).toEqual(['hôm nay trời đẹp quá']);
    // Not auto-transcribed: the channel is outside DISCORD_CHANNEL_IDS.
    expect(fake.repliesTo(voice.id)).toEqual([]);
  });

  it('answers each audio file of a message "Transcribe" was used on in a message of its own: the response, then a follow-up', async () => {
    const inQueue: Transcriber = {
      status: () => core.transcriber.status(),
      // The real core, reporting jobs ahead so that each file's placeholder shows.
      transcribe: (input, options) => core.transcriber.transcribe(input, { ...options, onQueued: (ahead) => options?.onQueued?.(ahead + 2) }),
    };
    const { fake } = await startBot((f) => ({ DISCORD_CHANNEL_IDS: f.textChannelId }), { transcriber: inQueue });
    const files = [
      fake.attachment(audio['xin chào các bạn'], { filename: 'a.ogg', contentType: 'audio/ogg', channelId: fake.otherChannelId }),
      fake.attachment(audio['hôm nay trời đẹp quá'], { filename: 'b.ogg', contentType: 'audio/ogg', channelId: fake.otherChannelId }),
    ];
    const message = fake.injectMessage({ channel_id: fake.otherChannelId, attachments: files });
    const interactionId = fake.injectMessageCommand(message, TRANSCRIBE_COMMAND_NAME);
    const expected = ['🎧 a.ogg\nxin chào các bạn', '🎧 b.ogg\nhôm nay trời đẹp quá'];
    await fake.waitFor(() => JSON.stringify(fake.interactionResponses(interactionId).map((m) => m.content)) === JSON.stringify(expected), 8_000);
    // Whatever either showed while it worked, neither overwrote the other's transcript.
    const answers = fake.restCalls().filter((c) => c.status === 200 && c.route.startsWith('PATCH /webhooks/'));
    expect(answers.filter((c) => c.route.endsWith('@original')).every((c) => !String(c.message?.content).includes('b.ogg'))).toBe(true);
    expect(answers.filter((c) => !c.route.endsWith('@original')).every((c) => !String(c.message?.content).includes('a.ogg'))).toBe(true);
    expect(fake.repliesTo(message.id)).toEqual([]);
  });

  it('answers "Transcribe" as a reply to the voice message once the interaction\'s token has expired (a job that waited past 15 minutes)', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // The real core, holding the job until the token is made to expire.
    const held: Transcriber = {
      status: () => core.transcriber.status(),
      transcribe: async (input, options) => {
        await gate;
        return core.transcriber.transcribe(input, options);
      },
    };
    const { fake, logs } = await startBot((f) => ({ DISCORD_CHANNEL_IDS: f.textChannelId }), { transcriber: held });
    const voice = fake.injectVoiceMessage(audio['hôm nay trời đẹp quá'], fake.otherChannelId);
    const interactionId = fake.injectMessageCommand(voice, TRANSCRIBE_COMMAND_NAME);
    await fake.waitFor((c) => c.kind === 'rest' && c.route === 'POST /interactions/:id/:token/callback' && c.status === 204);
    fake.expireInteraction(interactionId);
    open();
    const reply = await replyTo(fake, voice.id);
    expect(reply.message?.content).toBe('hôm nay trời đẹp quá');
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual(['hôm nay trời đẹp quá']);
    expect(fake.restCalls().some((c) => c.route.startsWith('PATCH /webhooks/') && c.status === 401)).toBe(true);
    expect(logs.some((l) => l.includes('discord interaction token expired; answering in the channel'))).toBe(true);
  });

  it('still answers a voice message with one short reply when the channel\'s settings cannot be read', async () => {
    const { fake, store, logs } = await startBot();
    await store.close();
    const voice = fake.injectVoiceMessage(audio['xin chào các bạn'], fake.textChannelId);
    await replyTo(fake, voice.id);
    expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual([errorReply(new Error('the store is closed'), 'both', { maxUploadMb: 25, maxDurationSec: 300 })]);
    expect(logs.some((l) => l.includes('discord channel settings could not be read'))).toBe(true);
  });

  it('logs a failed download with its context, replies briefly, and never writes the token', async () => {
    const { fake, logs } = await startBot();
    const file = fake.attachment(audio['xin chào các bạn'], { filename: 'mat.ogg', contentType: 'audio/ogg' });
    const broken = { ...file, url: file.url.replace('/attachments/', '/attachments/gone/') };
    const message = fake.injectMessage({ channel_id: fake.textChannelId, attachments: [broken] });
    await replyTo(fake, message.id);
    expect(fake.repliesTo(message.id).map((m) => m.content)).toEqual([errorReply(new Error('download failed'), 'both', { maxUploadMb: 25, maxDurationSec: 300 })]);
    const failure = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'discord file download failed');
    expect(failure).toMatchObject({ messageId: message.id, channelId: fake.textChannelId, attachmentId: file.id, error: { type: 'DownloadError' } });
    expect(logs.some((l) => l.includes('discord bot ready'))).toBe(true);
    // assertNoTokenLeak runs after every test; here the logs also hold debug lines and an error.
  });

  it('refuses to start with a token Discord does not accept, saying so without the token', async () => {
    const fake = await FakeDiscord.start({ token: TOKEN, heartbeatIntervalMs: 1_000 });
    const wrong = `${TOKEN.slice(0, -6)}AAAAAA`;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'discord-store-'));
    const store = await openStore({ dataDir, historyDays: 30 });
    const bot = createDiscordBot({
      config: testConfig({ DISCORD_BOT_TOKEN: wrong, DISCORD_API_ROOT: fake.apiRoot }),
      transcriber: core.transcriber,
      store,
      logger: createLogger({ level: 'silent' }),
      clientOptions: { rest: { offset: 0, timeout: 5_000, retries: 0 } },
    });
    try {
      const error = (await bot.start().catch((e: unknown) => e)) as Error & { cause: Error };
      expect(error.message).toMatch(/^Discord login failed: /);
      expect(error.cause).toBeInstanceOf(Error);
      expect(JSON.stringify([error.message, error.cause.message, error.cause.stack, error.stack])).not.toContain(wrong.split('.')[2]);
    } finally {
      await bot.stop();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
      await fake.close();
    }
  });

  describe('/transcription: channel settings, search and forget', () => {
    const key = (channelId: string) => ({ platform: 'discord' as const, chatId: channelId });
    const sub = (name: string, options: Record<string, string> = {}) => [
      { type: ApplicationCommandOptionType.Subcommand as const, name, options: Object.entries(options).map(([n, value]) => ({ type: ApplicationCommandOptionType.String as const, name: n, value })) },
    ];

    /** Uses `/transcription <name>` and returns the interaction's (ephemeral) answer. */
    async function command(fake: FakeDiscord, channelId: string, name: string, options: Record<string, string> = {}, permissions?: string): Promise<RestCall> {
      const id = fake.injectSlashCommand(channelId, SETTINGS_COMMAND_NAME, sub(name, options), { permissions });
      return fake.waitFor<RestCall>((c) => c.kind === 'rest' && c.route === 'POST /interactions/:id/:token/callback' && c.path.includes(`/interactions/${id}/`));
    }

    const content = (call: RestCall): unknown => (call.body as { data?: { content?: string } }).data?.content;
    const flags = (call: RestCall): number => (call.body as { data?: { flags?: number } }).data?.flags ?? 0;

    it('turns auto-transcription off and on for a channel, answering ephemerally', async () => {
      const { fake, store } = await startBot();
      const off = await command(fake, fake.textChannelId, 'auto', { state: 'off' });
      expect(off.body).toMatchObject({ type: InteractionResponseType.ChannelMessageWithSource });
      expect(flags(off) & MessageFlags.Ephemeral).toBe(MessageFlags.Ephemeral);
      expect(content(off)).toBe(settingChanged('auto', { language: 'both', auto: false, timestamps: false, textStyle: 'written', history: false }, 'both'));
      expect(await store.getSettings(key(fake.textChannelId))).toEqual({ auto: false });
      const ignored = fake.injectVoiceMessage(audio['xin chào các bạn'], fake.textChannelId);
      await command(fake, fake.textChannelId, 'auto', { state: 'on' });
      const heard = fake.injectVoiceMessage(audio['cảm ơn rất nhiều'], fake.textChannelId);
      await replyTo(fake, heard.id);
      expect(fake.repliesTo(heard.id).map((m) => m.content)).toEqual(['cảm ơn rất nhiều']);
      expect(fake.repliesTo(ignored.id)).toEqual([]);
      expect(fake.calls.filter((c) => c.kind === 'cdn' && c.path.includes(`/${ignored.attachments[0].id}/`))).toEqual([]);
    });

    it('turns a channel outside DISCORD_CHANNEL_IDS on, and sets its language', async () => {
      const { fake, store } = await startBot((f) => ({ DISCORD_CHANNEL_IDS: f.textChannelId }));
      const language = await command(fake, fake.otherChannelId, 'language', { language: 'vi' });
      expect(content(language)).toBe(settingChanged('language', { language: 'vi', auto: false, timestamps: false, textStyle: 'written', history: false }, 'vi'));
      await command(fake, fake.otherChannelId, 'auto', { state: 'on' });
      expect(await store.getSettings(key(fake.otherChannelId))).toEqual({ language: 'vi', auto: true });
      const silence = await speech('', 'ogg-opus', { padMs: 600 });
      const voice = fake.injectVoiceMessage(silence, fake.otherChannelId);
      await replyTo(fake, voice.id);
      expect(fake.repliesTo(voice.id).map((m) => m.content)).toEqual([text('noSpeech', 'vi')]);
    });

    it('defers an answer the store is slow to give, then edits it in, still ephemeral', async () => {
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      // The real store, whose writes wait until the test has seen the deferral.
      const slowWrites = (store: Store): Store =>
        Object.assign(Object.create(store) as Store, { updateSettings: async (...args: Parameters<Store['updateSettings']>) => (await held, store.updateSettings(...args)) });
      const { fake, store } = await startBot({}, { settingsDeferMs: 50, storeFor: slowWrites });
      const deferred = await command(fake, fake.textChannelId, 'auto', { state: 'off' });
      expect(deferred.body).toEqual({ type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } });
      expect(await store.getSettings(key(fake.textChannelId))).toEqual({});
      release();
      const edited = await fake.waitFor<RestCall>((c) => c.kind === 'rest' && c.route === 'PATCH /webhooks/:id/:token/messages/@original' && c.status === 200);
      expect((edited.body as { content?: string }).content).toBe(
        settingChanged('auto', { language: 'both', auto: false, timestamps: false, textStyle: 'written', history: false }, 'both'),
      );
      expect(await store.getSettings(key(fake.textChannelId))).toEqual({ auto: false });
      // A quick answer is still given at once, not deferred.
      const quick = await command(fake, fake.textChannelId, 'timestamps', { state: 'on' });
      expect(quick.body).toMatchObject({ type: InteractionResponseType.ChannelMessageWithSource });
    });

    it('with settingsDeferMs 0 defers every answer at once and edits it in', async () => {
      const { fake, store } = await startBot({}, { settingsDeferMs: 0 });
      const deferred = await command(fake, fake.textChannelId, 'auto', { state: 'off' });
      expect(deferred.body).toEqual({ type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } });
      const edited = await fake.waitFor<RestCall>((c) => c.kind === 'rest' && c.route === 'PATCH /webhooks/:id/:token/messages/@original' && c.status === 200);
      expect(edited.seq).toBeGreaterThan(deferred.seq);
      expect((edited.body as { content?: string }).content).toBe(
        settingChanged('auto', { language: 'both', auto: false, timestamps: false, textStyle: 'written', history: false }, 'both'),
      );
      expect(await store.getSettings(key(fake.textChannelId))).toEqual({ auto: false });
    });

    it('refuses a member without Manage Channels, changing nothing', async () => {
      const { fake, store } = await startBot();
      const refused = await command(fake, fake.textChannelId, 'history', { state: 'on' }, '0');
      expect(content(refused)).toBe(text('adminsOnly', 'both'));
      expect(flags(refused) & MessageFlags.Ephemeral).toBe(MessageFlags.Ephemeral);
      expect(await store.getSettings(key(fake.textChannelId))).toEqual({});
    });

    it('with history on keeps transcripts and finds them (folded) with a link to the voice message, in this channel only; forget and leaving the guild delete them', async () => {
      const { fake, store } = await startBot();
      const before = fake.injectVoiceMessage(audio['tôi là người việt nam'], fake.textChannelId);
      await replyTo(fake, before.id);
      await command(fake, fake.textChannelId, 'history', { state: 'on' });
      const kept = fake.injectVoiceMessage(audio['hôm nay trời đẹp quá'], fake.textChannelId);
      await replyTo(fake, kept.id);
      await waitUntil(async () => ((await store.historySummary(key(fake.textChannelId))).count === 1 ? true : undefined), 5_000, 'the transcript kept');
      const found = await command(fake, fake.textChannelId, 'search', { words: 'troi dep' });
      expect(flags(found) & MessageFlags.Ephemeral).toBe(MessageFlags.Ephemeral);
      expect(String(content(found))).toMatch(
        new RegExp(`^🔎 <@${fake.user.id}> · <t:\\d+:f> · https://discord\\.com/channels/${fake.guildId}/${fake.textChannelId}/${kept.id}\\n> hôm nay «trời đẹp» quá$`),
      );
      // Kept while history was off: not at all.
      expect(content(await command(fake, fake.textChannelId, 'search', { words: 'viet nam' }))).toBe(text('searchNothing', 'both'));
      // Another channel never sees this one's words.
      expect(content(await command(fake, fake.otherChannelId, 'search', { words: 'troi dep' }))).toBe(text('searchHistoryOff', 'both'));
      expect(content(await command(fake, fake.textChannelId, 'forget'))).toBe(text('forgotten', 'both'));
      expect(await store.historySummary(key(fake.textChannelId))).toEqual({ count: 0 });
      expect(await store.getSettings(key(fake.textChannelId))).toEqual({});

      await command(fake, fake.otherChannelId, 'timestamps', { state: 'on' });
      expect(await store.getSettings(key(fake.otherChannelId))).toEqual({ timestamps: true });
      fake.removeFromGuild();
      await waitUntil(async () => (Object.keys(await store.getSettings(key(fake.otherChannelId))).length === 0 ? true : undefined), 5_000, 'the guild forgotten');
    });
  });
});
