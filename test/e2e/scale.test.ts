import os from 'node:os';
import path from 'node:path';
import { GatewayOpcodes } from 'discord.js';
import { Redis } from 'ioredis';
import type { Chat, User } from 'telegraf/types';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queuedReply } from '../../adapters/replies.js';
import type { QueuedJobData } from '../../src/queue/queued-job.js';
import { toWritten } from '../../src/text/written.js';
import { FakeDiscord, type GatewayCall } from '../fakes/discord.js';
import { FakeBotApi, type RecordedCall } from '../fakes/telegram-bot-api.js';
import { speech } from '../support/audio.js';
import { TONE_MODEL_DIR } from '../support/core.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';
import { postFile, waitUntil } from '../support/server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

// Past one machine, as it runs in production: fronts and workers are separate `npm start`
// processes (ROLE=front, ROLE=worker) sharing a real redis-server the test starts.

const PHRASES = ['xin chào các bạn', 'tôi là người việt nam', 'hôm nay trời đẹp quá', 'một hai ba bốn năm'];
const TELEGRAM_TOKEN = '7123456789:AAHk3Jx9QeVt1mZrBq8WcYp2LsD4fGnUo0E';
const chat: Chat.PrivateChat = { id: 5550001, type: 'private', first_name: 'Lan' };
const lan: User = { id: 5550001, is_bot: false, first_name: 'Lan', language_code: 'vi' };
// Shaped like a real one (user id . timestamp . HMAC).
const DISCORD_TOKEN = 'MTA5ODc2NTQzMjEwOTg3NjU0Mw.GvQx7k.Zr3vQm8TtWkY2pLsN0aHc7dEfJxUuBiO5gRy1V';

let redis: TestRedis;
let client: Redis;
const audio: Record<string, Buffer> = {};
const started: ServiceProcess[] = [];
/** Several `npm start`s at once on a small shared machine: each gets its time to load. */
const START_TIMEOUT_MS = 90_000;
/** A test here starts three or four processes and waits on failovers. */
const TEST_TIMEOUT_MS = 240_000;
/** FAILOVER_SEC for every process: a lease outlives its holder's last renewal by this much. */
const FAILOVER_MS = 2000;
const fakes: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  const encoded = await Promise.all(PHRASES.map((p) => speech(p, 'ogg-opus')));
  PHRASES.forEach((p, i) => (audio[p] = encoded[i]));
});

afterEach(async () => {
  // Every process a test started is gone after it, whatever the test did.
  await Promise.all(started.splice(0).map((service) => kill(service, 'SIGKILL')));
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  await client.flushall();
});

afterAll(async () => {
  client?.disconnect();
  await redis?.close();
});

async function kill(service: ServiceProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill(signal);
  return service.exit;
}

/** A front or a worker, started as `npm start` starts it. */
async function start(role: 'front' | 'worker', env: Record<string, string> = {}): Promise<ServiceProcess> {
  const service = await startServiceProcess({
    MODEL_DIR: TONE_MODEL_DIR,
    QUEUE_URL: redis.url,
    ROLE: role,
    QUEUE_CONCURRENCY: '1',
    INFERENCE_THREADS: '1',
    FAILOVER_SEC: String(FAILOVER_MS / 1000),
    ...env,
  }, START_TIMEOUT_MS);
  started.push(service);
  return service;
}

const transcribed = (service: ServiceProcess): number => service.logs.filter((l) => l.msg === 'transcribed').length;

describe('one front, two workers', { timeout: TEST_TIMEOUT_MS }, () => {
  it('answers twelve uploads sent at once, each with its exact transcript, the work shared by both workers', async () => {
    const [front, one, two] = await Promise.all([start('front'), start('worker'), start('worker')]);
    const sent = Array.from({ length: 12 }, (_, i) => PHRASES[i % PHRASES.length]);
    const answers = await Promise.all(sent.map((phrase, i) => postFile(`${front.url}/wav2vec2`, audio[phrase], `note-${i}.ogg`)));
    const bodies = await Promise.all(answers.map(async (a) => ({ status: a.status, body: (await a.json()) as { transcript: string; path: string } })));
    expect(bodies.map((b) => b.status)).toEqual(sent.map(() => 200));
    expect(bodies.map((b) => b.body.transcript)).toEqual(sent);
    expect(bodies.map((b) => b.body.path)).toEqual(sent.map((_, i) => `note-${i}.ogg`));
    expect(transcribed(one) + transcribed(two)).toBe(12);
    expect(transcribed(one)).toBeGreaterThan(0);
    expect(transcribed(two)).toBeGreaterThan(0);
    // A front loads no model; a worker serves nothing but its health and metrics.
    expect(front.logs.some((l) => l.msg === 'ffmpeg' || l.msg === 'inference pool started')).toBe(false);
    const refused = await postFile(`${one.url}/wav2vec2`, audio[PHRASES[0]], 'a.ogg');
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ error: 'not_found' });
    expect(await (await fetch(`${one.url}/healthz`)).json()).toMatchObject({ status: 'ok', role: 'worker' });
    // Nothing is left in Redis of the jobs' audio.
    expect(await client.keys('viet-stt:audio:*')).toEqual([]);
  });

  it('a worker killed with kill -9 mid-job: another worker finishes the job and its author gets one answer', async () => {
    const front = await start('front');
    const doomed = await start('worker', { CHUNK_SEC: '2', STRIDE_SEC: '0.5' });
    const long = Array.from({ length: 24 }, () => PHRASES[3]).join(' ');
    const answer = postFile(`${front.url}/wav2vec2`, await speech(long), 'long.wav');
    // Killed once it has reported progress: the job is under way on it.
    await waitUntil(async () => {
      const [id] = await client.lrange('bull:viet-stt:active', 0, 0);
      return id && (await client.hget(`bull:viet-stt:${id}`, 'progress')) ? true : undefined;
    }, 20_000, 'the job to be under way on the first worker');
    expect(await kill(doomed, 'SIGKILL')).toBeNull();
    expect(transcribed(doomed)).toBe(0);
    const rescuer = await start('worker', { CHUNK_SEC: '2', STRIDE_SEC: '0.5' });
    const response = await answer;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { transcript: string }).transcript).toBe(long);
    expect(transcribed(rescuer)).toBe(1);
  });
});

describe('async jobs outlive the front that took them', { timeout: TEST_TIMEOUT_MS }, () => {
  it('a front killed with jobs outstanding: another front answers GET /jobs/<id> with the result', async () => {
    const [first, second] = await Promise.all([start('front'), start('front')]);
    const ids: string[] = [];
    for (const phrase of PHRASES) {
      const accepted = await postFile(`${first.url}/jobs`, audio[phrase], 'note.ogg');
      expect(accepted.status).toBe(202);
      ids.push(((await accepted.json()) as { id: string }).id);
    }
    expect(await kill(first, 'SIGKILL')).toBeNull();
    // No worker yet: they are queued, in Redis, whoever asks.
    const queued = (await (await fetch(`${second.url}/jobs/${ids[3]}`)).json()) as { status: string; position: number };
    expect(queued).toMatchObject({ status: 'queued', position: 3 });
    await start('worker');
    const results = await Promise.all(
      ids.map((id) =>
        waitUntil(async () => {
          const body = (await (await fetch(`${second.url}/jobs/${id}`)).json()) as { status: string; result?: { transcript: string } };
          return body.status === 'done' ? body : undefined;
        }, 20_000, `job ${id} to be done`),
      ),
    );
    expect(results.map((r) => r.result?.transcript)).toEqual(PHRASES);
    const unknown = await fetch(`${second.url}/jobs/00000000-0000-4000-8000-000000000000`);
    expect(unknown.status).toBe(404);
  });
});

describe('Telegram long polling: one front polls, another stands by', { timeout: TEST_TIMEOUT_MS }, () => {
  it('takes over within seconds when the polling front is killed, losing no update and doubling no reply', async () => {
    const telegram = await FakeBotApi.start({ token: TELEGRAM_TOKEN });
    fakes.push(telegram);
    const bots = { TELEGRAM_BOT_TOKEN: TELEGRAM_TOKEN, TELEGRAM_API_ROOT: telegram.url, DATA_DIR: path.join(os.tmpdir(), 'scale-store') };
    await start('worker');
    const first = await start('front', bots);
    await waitUntil(async () => (first.logs.some((l) => l.msg === 'telegram bot started') ? true : undefined), 10_000, 'the first front to poll');
    const second = await start('front', bots);
    await waitUntil(async () => (second.logs.some((l) => l.msg === 'bots') ? true : undefined), 10_000, 'the second front to start');
    expect(second.logs.find((l) => l.msg === 'bots')).toMatchObject({ telegram: 'standby (another front holds its lease)' });

    const say = (phrase: string) => {
      const file = telegram.addFile(audio[phrase], { folder: 'voice', ext: 'oga' });
      return telegram.sendUserMessage(chat, lan, { voice: { ...file, duration: 2, mime_type: 'audio/ogg' } });
    };
    const before = say(PHRASES[0]);
    expect((await finalAnswer(telegram, before.message_id)).params.text).toBe(toWritten(PHRASES[0]));

    const killedAt = performance.now();
    expect(await kill(first, 'SIGKILL')).toBeNull();
    // Sent while nobody polls: Telegram keeps them until the next poller asks.
    const during = [say(PHRASES[1]), say(PHRASES[2])];
    const replies = await Promise.all(during.map((m) => finalAnswer(telegram, m.message_id)));
    expect(replies.map((r) => r.params.text)).toEqual([toWritten(PHRASES[1]), toWritten(PHRASES[2])]);
    expect(performance.now() - killedAt).toBeLessThan(10_000);
    expect(second.logs.some((l) => l.msg === 'lease taken')).toBe(true);

    const after = say(PHRASES[3]);
    // The bots answer in written Vietnamese: "một hai ba bốn năm" reads "12345".
    expect((await finalAnswer(telegram, after.message_id)).params.text).toBe(toWritten(PHRASES[3]));
    // Each note was answered once, and two pollers never overlapped (Telegram would have said 409).
    const notes = [before, ...during, after];
    expect(notes.map((note) => telegram.calls.filter((c) => isTranscriptOf(telegram, c, note.message_id)).length)).toEqual([1, 1, 1, 1]);
    expect(telegram.calls.filter((c) => c.method === 'getUpdates' && c.status === 409)).toEqual([]);
  });
});

describe('Discord gateway: one front holds the connection, another stands by', { timeout: TEST_TIMEOUT_MS }, () => {
  it('connects from the standby within the lease\'s bound when the connected front is killed, and answers the next voice message once', async () => {
    const discord = await FakeDiscord.start({ token: DISCORD_TOKEN, heartbeatIntervalMs: 1_000 });
    fakes.push(discord);
    const bots = { DISCORD_BOT_TOKEN: DISCORD_TOKEN, DISCORD_API_ROOT: discord.apiRoot, DATA_DIR: path.join(os.tmpdir(), 'scale-store') };
    await start('worker');
    const first = await start('front', bots);
    await waitUntil(async () => (first.logs.some((l) => l.msg === 'discord bot ready') ? true : undefined), 20_000, 'the first front to connect');
    const second = await start('front', bots);
    await waitUntil(async () => (second.logs.some((l) => l.msg === 'bots') ? true : undefined), 10_000, 'the second front to start');
    expect(second.logs.find((l) => l.msg === 'bots')).toMatchObject({ discord: 'standby (another front holds its lease)' });
    // One connection, one session: the standby asks Discord nothing, not even where the gateway is.
    const opened = () => discord.calls.filter((c) => c.kind === 'connection' && c.event === 'open');
    const identified = () => discord.calls.filter((c): c is GatewayCall => c.kind === 'gateway' && c.op === GatewayOpcodes.Identify);
    expect(opened()).toHaveLength(1);
    expect(identified()).toHaveLength(1);
    expect(discord.restCalls('GET /gateway/bot')).toHaveLength(1);

    const before = discord.injectVoiceMessage(audio[PHRASES[0]], discord.textChannelId);
    expect(await discordAnswer(discord, before.id)).toBe(toWritten(PHRASES[0]));

    const killedAt = Date.now();
    expect(await kill(first, 'SIGKILL')).toBeNull();
    // The lease lapses at most FAILOVER_SEC after the dead front's last renewal, and the standby
    // looks three times per FAILOVER_SEC; then discord.js connects. The slack is for a loaded machine.
    const leaseBoundMs = FAILOVER_MS + FAILOVER_MS / 3;
    const taken = await waitUntil(async () => second.logs.find((l) => l.msg === 'lease taken' && l.lease === 'discord-gateway'), 15_000, 'the standby to take the lease');
    expect(Number(taken.time) - killedAt).toBeLessThan(leaseBoundMs + 1500);
    const session = await discord.waitFor<GatewayCall>((c) => c.kind === 'gateway' && c.t === 'READY' && c.connection > identified()[0].connection, 15_000);
    expect(session.at - killedAt).toBeLessThan(leaseBoundMs + 4000);
    // A new session (IDENTIFY, not RESUME: the dead front's session was its own), on a second connection.
    expect(opened().map((c) => c.kind === 'connection' && c.path)).toEqual(['/gateway', '/gateway']);
    expect(identified()).toHaveLength(2);
    expect(discord.calls.filter((c) => c.kind === 'gateway' && c.op === GatewayOpcodes.Resume)).toEqual([]);
    await waitUntil(async () => (second.logs.some((l) => l.msg === 'discord bot ready') ? true : undefined), 10_000, 'the second front to be ready');

    const after = discord.injectVoiceMessage(audio[PHRASES[3]], discord.textChannelId);
    // The bots answer in written Vietnamese: "một hai ba bốn năm" reads "12345".
    expect(await discordAnswer(discord, after.id)).toBe(toWritten(PHRASES[3]));
    // Answered once each: nothing is left to deliver, and nothing more was sent.
    await waitUntil(async () => ((await client.zcard('viet-stt:replies:discord')) === 0 ? true : undefined), 10_000, 'the replies to leave the list');
    expect(discord.repliesTo(before.id).map((m) => m.content)).toEqual([toWritten(PHRASES[0])]);
    expect(discord.repliesTo(after.id).map((m) => m.content)).toEqual([toWritten(PHRASES[3])]);
  });
});

describe('a bot reply outlives the front that took the message', { timeout: TEST_TIMEOUT_MS }, () => {
  it('a polling front killed with kill -9 while a voice note waits: the front that takes the lease edits its placeholder into the transcript, once', async () => {
    const telegram = await FakeBotApi.start({ token: TELEGRAM_TOKEN });
    fakes.push(telegram);
    const bots = { TELEGRAM_BOT_TOKEN: TELEGRAM_TOKEN, TELEGRAM_API_ROOT: telegram.url, DATA_DIR: path.join(os.tmpdir(), 'scale-store') };
    const first = await start('front', bots);
    await waitUntil(async () => (first.logs.some((l) => l.msg === 'telegram bot started') ? true : undefined), 10_000, 'the first front to poll');
    const second = await start('front', bots);
    await waitUntil(async () => (second.logs.some((l) => l.msg === 'bots') ? true : undefined), 10_000, 'the second front to start');

    // No worker until the first front is dead: an upload goes first, so that the note waits
    // behind it (however fast the machine) and gets its "⏳" placeholder from the first front.
    const upload = await postFile(`${first.url}/jobs`, audio[PHRASES[0]], 'first.ogg');
    expect(upload.status).toBe(202);
    const file = telegram.addFile(audio[PHRASES[2]], { folder: 'voice', ext: 'oga' });
    const note = telegram.sendUserMessage(chat, lan, { voice: { ...file, duration: 2, mime_type: 'audio/ogg' } });
    const placeholder = await telegram.waitFor((c) => repliesTo(c, note.message_id), 30_000);
    expect(placeholder.params.text).toBe(queuedReply(1, 'vi'));
    const placeholderId = (placeholder.result as { message_id: number }).message_id;
    // The job carries its reply, the placeholder included, and Telegram holds no update for the next poller.
    const job = await waitUntil(async () => {
      for (const id of await client.zrange('bull:viet-stt:prioritized', 0, -1)) {
        const data = JSON.parse((await client.hget(`bull:viet-stt:${id}`, 'data')) ?? '{}') as QueuedJobData;
        const address = (data.reply?.record as { address?: { placeholderId?: number } } | undefined)?.address;
        if (address?.placeholderId === placeholderId) return { id, data };
      }
      return undefined;
    }, 10_000, 'the placeholder to be recorded with the job');
    expect(job.data.reply?.platform).toBe('telegram');
    expect(job.data.reply?.record).toMatchObject({ address: { platform: 'telegram', chatId: chat.id, messageId: note.message_id, placeholderId }, language: 'vi' });
    await waitUntil(async () => (telegram.unconfirmedUpdates === 0 ? true : undefined), 10_000, 'the note to be confirmed by the first front');

    expect(await kill(first, 'SIGKILL')).toBeNull();
    await start('worker');
    const expected = toWritten(PHRASES[2]);
    const final = await telegram.waitFor((c) => c.params.text === expected, 60_000);
    expect(final).toMatchObject({ method: 'editMessageText', status: 200, params: { chat_id: chat.id, message_id: placeholderId, text: expected } });
    expect(second.logs.some((l) => l.msg === 'lease taken')).toBe(true);
    expect(second.logs.find((l) => l.msg === 'delivering the answer of a job whose front is gone')).toMatchObject({ queueJobId: job.id, ok: true });
    // Delivered once: the list of replies to deliver is empty, and nothing more is sent for it.
    await waitUntil(async () => ((await client.zcard('viet-stt:replies:telegram')) === 0 ? true : undefined), 10_000, 'the reply to leave the list');
    expect(await client.get(`viet-stt:delivery:${job.id}`)).not.toBeNull();
    expect(telegram.calls.filter((c) => c.params.text === expected)).toHaveLength(1);
    expect(telegram.calls.filter((c) => repliesTo(c, note.message_id))).toEqual([placeholder]);
    // The upload, queued by the same dead front, is done too.
    const uploadId = ((await upload.json()) as { id: string }).id;
    const done = await waitUntil(async () => {
      const body = (await (await fetch(`${second.url}/jobs/${uploadId}`)).json()) as { status: string; result?: { transcript: string } };
      return body.status === 'done' ? body : undefined;
    }, 20_000, 'the upload to be done');
    expect(done.result?.transcript).toBe(PHRASES[0]);
  });
});

describe('Redis going away', { timeout: TEST_TIMEOUT_MS }, () => {
  it('answers 503 queue_unavailable at once while Redis is down (and /healthz says so), and works again by itself when it is back', async () => {
    const [front] = await Promise.all([start('front'), start('worker')]);
    const ok = await postFile(`${front.url}/wav2vec2`, audio[PHRASES[0]], 'a.ogg');
    expect(ok.status).toBe(200);

    await redis.stop();
    const sentAt = performance.now();
    const refused = await postFile(`${front.url}/wav2vec2`, audio[PHRASES[0]], 'a.ogg');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toEqual({ status: 'error', error: 'queue_unavailable', message: 'The job queue cannot be reached just now. Try again shortly.' });
    expect(performance.now() - sentAt).toBeLessThan(2000);
    const health = await fetch(`${front.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'queue_unavailable' });

    await redis.start();
    await waitUntil(async () => ((await fetch(`${front.url}/healthz`)).status === 200 ? true : undefined), 15_000, 'the front to see Redis back');
    const again = await waitUntil(async () => {
      const response = await postFile(`${front.url}/wav2vec2`, audio[PHRASES[1]], 'b.ogg');
      return response.status === 200 ? response : undefined;
    }, 15_000, 'a job to go through again');
    expect(((await again.json()) as { transcript: string }).transcript).toBe(PHRASES[1]);
  });
});

describe('roles', { timeout: TEST_TIMEOUT_MS }, () => {
  it('ROLE=front without QUEUE_URL refuses to start, saying so in one line', async () => {
    const failed = await startServiceProcess({ MODEL_DIR: TONE_MODEL_DIR, ROLE: 'front' }).then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failed).toContain('exited with 1 before listening');
    expect(failed).toContain(
      'viet-stt could not start: ROLE=front needs a queue: set QUEUE_URL to a Redis (redis://host:6379), or leave ROLE unset to run everything in one process\n',
    );
  });
});

const repliesTo = (call: RecordedCall, messageId: number): boolean =>
  call.method === 'sendMessage' && call.status === 200 && (call.params.reply_parameters as { message_id?: number } | undefined)?.message_id === messageId;

/** The "⏳ … ahead of you" placeholder a note got while it waited, if it got one. */
function placeholderOf(api: FakeBotApi, messageId: number): number | undefined {
  const placeholder = api.calls.find((c) => repliesTo(c, messageId) && String(c.params.text).startsWith('⏳'));
  return (placeholder?.result as { message_id?: number } | undefined)?.message_id;
}

/** Whether `call` gave the note its transcript: a reply to it, or the edit of its placeholder. */
function isTranscriptOf(api: FakeBotApi, call: RecordedCall, messageId: number): boolean {
  if (String(call.params.text).startsWith('⏳')) return false;
  return repliesTo(call, messageId) || (call.method === 'editMessageText' && call.status === 200 && call.params.message_id === placeholderOf(api, messageId));
}

/** Waits for the text a note finally got. */
function finalAnswer(api: FakeBotApi, messageId: number): Promise<RecordedCall> {
  return api.waitFor((c) => isTranscriptOf(api, c, messageId), 30_000);
}

/** Waits for the text a Discord message finally got: the bot's reply, or its placeholder once edited. */
function discordAnswer(fake: FakeDiscord, messageId: string): Promise<string> {
  return waitUntil(async () => fake.repliesTo(messageId).find((m) => !m.content.startsWith('⏳'))?.content, 30_000, `the answer to Discord message ${messageId}`);
}
