import type { Chat, User } from 'telegraf/types';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord, type RestCall } from '../fakes/discord.js';
import { FakeBotApi, type RecordedCall } from '../fakes/telegram-bot-api.js';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';
import { postFile, waitUntil } from '../support/server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

// `npm start` as users run it: one process serving HTTP and both bots, each bot talking to a
// protocol-faithful fake of its platform on 127.0.0.1, all through the one queue.

const TELEGRAM_TOKEN = '7123456789:AAHk3Jx9QeVt1mZrBq8WcYp2LsD4fGnUo0E';
const DISCORD_TOKEN = 'MTA5ODc2NTQzMjEwOTg3NjU0Mw.GvQx7k.Zr3vQm8TtWkY2pLsN0aHc7dEfJxUuBiO5gRy1V';
const PHRASES = ['xin chào các bạn', 'tôi là người việt nam', 'hôm nay trời đẹp quá'];

const chat: Chat.PrivateChat = { id: 5550001, type: 'private', first_name: 'Lan' };
const lan: User = { id: 5550001, is_bot: false, first_name: 'Lan', language_code: 'vi' };

const voice: Record<string, Buffer> = {};
const running: { service?: ServiceProcess; telegram?: FakeBotApi; discord?: FakeDiscord }[] = [];
/** The service's DATA_DIR (its SQLite store), never the working tree's `data/`. */
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'bots-e2e-data-'));
  const encoded = await Promise.all(PHRASES.map((p) => speech(p, 'ogg-opus')));
  PHRASES.forEach((p, i) => (voice[p] = encoded[i]));
});

afterEach(async () => {
  for (const { service, telegram, discord } of running.splice(0)) {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await service.exit;
    }
    await telegram?.close();
    await discord?.close();
  }
});

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const repliesTo = (call: RecordedCall, messageId: number): boolean =>
  call.method === 'sendMessage' && call.status === 200 && (call.params.reply_parameters as { message_id?: number } | undefined)?.message_id === messageId;

/**
 * Waits for the text a note finally got: a reply to it, or, when it waited in the queue, the
 * edit of its "⏳ … ahead of you" placeholder into the transcript.
 */
function finalAnswer(api: FakeBotApi, messageId: number): Promise<RecordedCall> {
  const placeholderId = (): number | undefined => {
    const placeholder = api.calls.find((c) => repliesTo(c, messageId) && String(c.params.text).startsWith('⏳'));
    return (placeholder?.result as { message_id?: number } | undefined)?.message_id;
  };
  return api.waitFor(
    (c) =>
      (repliesTo(c, messageId) && !String(c.params.text).startsWith('⏳')) ||
      (c.method === 'editMessageText' && c.status === 200 && c.params.message_id === placeholderId()),
    20_000,
  );
}

describe('npm start with both bots', () => {
  it('serves HTTP, Telegram and Discord from one process and one queue; three voice notes at once are answered in order of arrival', async () => {
    const telegram = await FakeBotApi.start({ token: TELEGRAM_TOKEN });
    const discord = await FakeDiscord.start({ token: DISCORD_TOKEN, heartbeatIntervalMs: 1_000 });
    const slot: (typeof running)[number] = { telegram, discord };
    running.push(slot);
    const service = await startServiceProcess({
      MODEL_DIR: TONE_MODEL_DIR,
      DATA_DIR: dataDir,
      QUEUE_CONCURRENCY: '1',
      TELEGRAM_BOT_TOKEN: TELEGRAM_TOKEN,
      TELEGRAM_API_ROOT: telegram.url,
      DISCORD_BOT_TOKEN: DISCORD_TOKEN,
      DISCORD_API_ROOT: discord.apiRoot,
    });
    slot.service = service;
    await waitUntil(async () => (service.logs.some((l) => l.msg === 'bots') ? true : undefined), 20_000, 'both bots to start');
    expect(service.logs.find((l) => l.msg === 'bots')).toMatchObject({ telegram: 'polling', discord: 'on' });

    // Three voice notes in one Telegram chat at once, a Discord voice message and an HTTP upload.
    const notes = PHRASES.map((phrase, i) => {
      const file = telegram.addFile(voice[phrase], { folder: 'voice', ext: 'oga' });
      return telegram.sendUserMessage(chat, lan, { voice: { ...file, duration: 3 + i, mime_type: 'audio/ogg' } });
    });
    const discordVoice = discord.injectVoiceMessage(voice['tôi là người việt nam'], discord.textChannelId);
    const http = postFile(`${service.url}/wav2vec2`, voice['hôm nay trời đẹp quá'], 'note.ogg');

    const replies = await Promise.all(notes.map((note) => finalAnswer(telegram, note.message_id)));
    expect(replies.map((r) => r.params.text)).toEqual(PHRASES);
    expect(replies.map((r) => r.params.chat_id)).toEqual([chat.id, chat.id, chat.id]);
    // In order of arrival: each reply went out after the one to the note before it.
    expect(replies.map((r) => r.seq)).toEqual([...replies.map((r) => r.seq)].sort((a, b) => a - b));

    const discordReply = await discord.waitFor<RestCall>(
      (c) => c.kind === 'rest' && c.route === 'POST /channels/:id/messages' && c.status === 200 && c.message?.message_reference?.message_id === discordVoice.id,
      20_000,
    );
    expect(discordReply.message?.content).toBe('tôi là người việt nam');

    const answer = await http;
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { transcript: string }).transcript).toBe('hôm nay trời đẹp quá');

    // Every source went through the one core: five jobs transcribed, by three sources.
    const transcribed = service.logs.filter((l) => l.msg === 'transcribed');
    expect(transcribed.map((l) => l.source).sort()).toEqual(['discord', 'http', 'telegram', 'telegram', 'telegram']);

    service.child.kill('SIGTERM');
    expect(await service.exit).toBe(0);
    const output = service.output();
    for (const secret of [TELEGRAM_TOKEN, TELEGRAM_TOKEN.split(':')[1], DISCORD_TOKEN, ...DISCORD_TOKEN.split('.').slice(1)]) {
      expect(output).not.toContain(secret);
    }
  });

  it('with no tokens, serves HTTP and says that both bots are off', async () => {
    const slot: (typeof running)[number] = {};
    running.push(slot);
    const service = await startServiceProcess({ MODEL_DIR: TONE_MODEL_DIR, DATA_DIR: dataDir });
    slot.service = service;
    await waitUntil(async () => (service.logs.some((l) => l.msg === 'bots') ? true : undefined), 10_000, 'the bots line');
    expect(service.logs.find((l) => l.msg === 'bots')).toMatchObject({
      telegram: 'off (TELEGRAM_BOT_TOKEN is unset)',
      discord: 'off (DISCORD_BOT_TOKEN is unset)',
    });
    // The start-up ends with one line a person reads, after the JSON log lines.
    const ready = await waitUntil(async () => service.output().split('\n').find((line) => line.startsWith('viet-stt is ready')), 10_000, 'the ready line');
    expect(ready).toBe(`viet-stt is ready: the page is at ${service.url}/ (Telegram off, Discord off).`);
    const answer = await postFile(`${service.url}/wav2vec2`, voice['xin chào các bạn'], 'a.ogg');
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { transcript: string }).transcript).toBe('xin chào các bạn');
  });
});
