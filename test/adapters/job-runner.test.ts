import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobRunner, type JobRequest, type ReplyAddress, type ReplyPlatform, type ReplyRecord, type ReplyTarget } from '../../adapters/job-runner.js';
import { errorReply, progressReply, queuedReply, text, tooLargeReply, tooLongReply } from '../../adapters/replies.js';
import { SttError } from '../../src/core/errors.js';
import type { AudioInput, TranscribeOptions, Transcriber, Transcript } from '../../src/core/types.js';
import { createLogger } from '../../src/logger.js';
import type { Store } from '../../src/store/index.js';

/** What a chat saw, in order, with the (fake) time of each call. */
interface Seen {
  at: number;
  call: 'placeholder' | 'edit' | 'send' | 'document';
  text: string;
}

/** A reply target that keeps what it was asked to show; `failEdits` edits fail first. */
function chatTarget(seen: Seen[], failEdits = 0): ReplyTarget {
  let failures = failEdits;
  const at = (): number => Date.now();
  return {
    placeholder: async (t) => void seen.push({ at: at(), call: 'placeholder', text: t }),
    edit: async (t) => {
      if (failures-- > 0) throw new Error('Too Many Requests: retry after 3');
      seen.push({ at: at(), call: 'edit', text: t });
    },
    send: async (t) => void seen.push({ at: at(), call: 'send', text: t }),
    sendDocument: async (name, t) => void seen.push({ at: at(), call: 'document', text: `${name}:${t}` }),
  };
}

/** One job the scripted core holds: the test tells it what happens next. */
interface Held {
  options: TranscribeOptions;
  finish(text: string): void;
  fail(error: unknown): void;
}

/** A transcriber that runs nothing: each job waits for the test to drive it. */
function scriptedCore(): { transcriber: Transcriber; jobs: Held[]; next: () => Promise<Held> } {
  const jobs: Held[] = [];
  const waiters: ((job: Held) => void)[] = [];
  const transcriber: Transcriber = {
    status: () => ({ model: 'scripted', device: 'cpu', waiting: 0, running: 0, maxPending: 10, maxDurationSec: 300, maxUploadMb: 25 }),
    transcribe: (_input: AudioInput, options: TranscribeOptions = {}) =>
      new Promise<Transcript>((resolve, reject) => {
        const job: Held = {
          options,
          finish: (t) => resolve({ text: t, words: [], segments: [], duration: 60, processingMs: 1, inferenceMs: 1, device: 'cpu' }),
          fail: reject,
        };
        jobs.push(job);
        waiters.shift()?.(job);
      }),
  };
  let taken = 0;
  const next = (): Promise<Held> => {
    const index = taken++;
    if (jobs[index]) return Promise.resolve(jobs[index]);
    return new Promise((resolve) => waiters.push(resolve));
  };
  return { transcriber, jobs, next };
}

const LIMITS = { maxDurationSec: 300, maxUploadMb: 25, maxUploadBytes: 25 * 1024 * 1024 };

function runner(transcriber: Transcriber, extra: { rateLimit?: number; paceMs?: number } = {}): JobRunner {
  return new JobRunner({
    transcriber,
    source: 'test',
    limits: LIMITS,
    rateLimit: { count: extra.rateLimit ?? 0, windowSec: 60 },
    progressEditMs: extra.paceMs ?? 2_000,
    logger: createLogger({ level: 'silent' }),
    describeError: (error) => String(error),
  });
}

function job(seen: Seen[], overrides: Partial<JobRequest> = {}): JobRequest {
  return {
    id: 'job-1',
    chat: 'chat-1',
    owner: 'lan',
    media: { size: 1000, duration: 3, download: async () => ({ kind: 'buffer', data: new Uint8Array(8) }) },
    reply: chatTarget(seen),
    language: 'vi',
    messageLimit: 4096,
    context: {},
    ...overrides,
  };
}

/** Lets promise callbacks run without moving the fake clock. */
const settle = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

describe('JobRunner', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('shows a long note\'s words as its windows finish, at most one edit per 2 s, then the transcript in the same message', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const done = runner(core.transcriber).submit(job(seen));
    const held = await core.next();
    const partial = (words: string, windowsDone: number): void => held.options.onPartial?.({ text: words, windowsDone, windows: 5 });
    partial('xin chào', 1);
    await settle();
    await vi.advanceTimersByTimeAsync(500);
    partial('xin chào các bạn', 2);
    await vi.advanceTimersByTimeAsync(500);
    partial('xin chào các bạn tôi là', 3);
    await vi.advanceTimersByTimeAsync(1_500);
    partial('xin chào các bạn tôi là người việt', 4);
    await vi.advanceTimersByTimeAsync(300);
    held.finish('xin chào các bạn tôi là người việt nam');
    await done;
    expect(seen).toEqual([
      { at: 0, call: 'placeholder', text: progressReply('xin chào', 1, 5, 4096) },
      // The two partials within the first 2 s make one edit, with the newer words.
      { at: 2_000, call: 'edit', text: progressReply('xin chào các bạn tôi là', 3, 5, 4096) },
      // The last partial waits for 4 s; the transcript comes first and takes its place.
      { at: 2_800, call: 'edit', text: 'xin chào các bạn tôi là người việt nam' },
    ]);
  });

  it('paces edits per chat: another job of the chat waits, a job of another chat does not', async () => {
    const core = scriptedCore();
    const seen: Record<string, Seen[]> = { a1: [], a2: [], b: [] };
    const bot = runner(core.transcriber);
    const jobs = [
      bot.submit(job(seen.a1, { id: 'a1', reply: chatTarget(seen.a1) })),
      bot.submit(job(seen.a2, { id: 'a2', reply: chatTarget(seen.a2) })),
      bot.submit(job(seen.b, { id: 'b', chat: 'chat-2', reply: chatTarget(seen.b) })),
    ];
    const [a1, a2, b] = [await core.next(), await core.next(), await core.next()];
    for (const held of [a1, a2, b]) held.options.onPartial?.({ text: 'một', windowsDone: 1, windows: 3 });
    await settle();
    await vi.advanceTimersByTimeAsync(100);
    for (const held of [a1, a2, b]) held.options.onPartial?.({ text: 'một hai', windowsDone: 2, windows: 3 });
    await vi.advanceTimersByTimeAsync(4_000);
    for (const [held, words] of [[a1, 'một hai ba'], [a2, 'bốn năm sáu'], [b, 'bảy tám']] as const) held.finish(words);
    await Promise.all(jobs);
    const edits = (s: Seen[]): number[] => s.filter((x) => x.call === 'edit' && x.text.startsWith('✍️')).map((x) => x.at);
    // Chat 1: its two jobs' progress edits are 2 s apart; chat 2 edits on its own pace.
    expect(edits(seen.a1)).toEqual([2_000]);
    expect(edits(seen.a2)).toEqual([4_000]);
    expect(edits(seen.b)).toEqual([2_000]);
    expect(seen.a2.at(-1)).toEqual({ at: 4_100, call: 'edit', text: 'bốn năm sáu' });
  });

  it('edits a queue placeholder into the transcript, and leaves it alone when the text is the same', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const done = runner(core.transcriber).submit(job(seen, { render: { final: () => queuedReply(2, 'vi'), partial: (w) => w } }));
    const held = await core.next();
    held.options.onQueued?.(2);
    held.finish('anything');
    await done;
    // Telegram answers "message is not modified" to an edit that changes nothing: none is sent.
    expect(seen).toEqual([{ at: 0, call: 'placeholder', text: queuedReply(2, 'vi') }]);
  });

  it('never loses the final text: when the edit fails it comes as a message of its own', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const done = runner(core.transcriber).submit(job(seen, { reply: chatTarget(seen, 1) }));
    const held = await core.next();
    held.options.onQueued?.(1);
    await settle();
    held.finish('cảm ơn rất nhiều');
    await done;
    expect(seen).toEqual([
      { at: 0, call: 'placeholder', text: queuedReply(1, 'vi') },
      { at: 0, call: 'send', text: 'cảm ơn rất nhiều' },
    ]);
  });

  it('delivers in the chat\'s order of arrival, whatever order the jobs finish in', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const bot = runner(core.transcriber);
    const done = ['j1', 'j2', 'j3'].map((id) => bot.submit(job(seen, { id })));
    const held = [await core.next(), await core.next(), await core.next()];
    held[2].finish('ba');
    held[1].finish('hai');
    await settle();
    expect(seen).toEqual([]);
    held[0].finish('một');
    await Promise.all(done);
    expect(seen.map((s) => s.text)).toEqual(['một', 'hai', 'ba']);
  });

  it('answers the declared limits and the rate limit at once, without a download', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const bot = runner(core.transcriber, { rateLimit: 1 });
    const download = vi.fn(async () => ({ kind: 'buffer' as const, data: new Uint8Array(8) }));
    await bot.submit(job(seen, { media: { duration: 301, download } }));
    await bot.submit(job(seen, { media: { size: LIMITS.maxUploadBytes + 1, download }, language: 'en' }));
    const first = bot.submit(job(seen, { media: { duration: 3, download } }));
    await bot.submit(job(seen, { media: { duration: 3, download }, language: 'both' }));
    (await core.next()).finish('xin chào');
    await first;
    expect(seen.map((s) => s.text)).toEqual([tooLongReply(300, 'vi'), tooLargeReply(25, 'en'), text('rateLimited', 'both'), 'xin chào']);
    expect(download).toHaveBeenCalledTimes(1);
  });

  it('answers a failed job briefly in the chat\'s language, and splits a long transcript with a document after it', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const bot = runner(core.transcriber);
    const failed = bot.submit(job(seen, { id: 'fails', language: 'en' }));
    (await core.next()).fail(new SttError('invalid_audio'));
    await failed;
    const long = bot.submit(job(seen, { id: 'long', messageLimit: 10, documentAfterParts: 1, documentName: 't.txt' }));
    (await core.next()).finish('xin chào các bạn nhé');
    await long;
    expect(seen.map((s) => [s.call, s.text])).toEqual([
      ['send', errorReply(new SttError('invalid_audio'), 'en', LIMITS)],
      ['send', 'xin chào'],
      ['send', 'các bạn'],
      ['send', 'nhé'],
      ['document', 't.txt:xin chào các bạn nhé\n'],
    ]);
  });

  it('on stop, lets a job finish within the grace and tells one still running after it that the service restarts', async () => {
    const core = scriptedCore();
    const seen: Seen[] = [];
    const bot = new JobRunner({
      transcriber: {
        ...core.transcriber,
        // As the core does: an aborted job rejects.
        transcribe: (input, options) =>
          new Promise((resolve, reject) => {
            options?.signal?.addEventListener('abort', () => reject(new SttError('cancelled')));
            core.transcriber.transcribe(input, options).then(resolve, reject);
          }),
      },
      source: 'test',
      limits: LIMITS,
      rateLimit: { count: 0, windowSec: 60 },
      progressEditMs: 2_000,
      logger: createLogger({ level: 'silent' }),
      describeError: String,
      stopGraceMs: 1_000,
    });
    void bot.submit(job(seen, { id: 'quick' }));
    void bot.submit(job(seen, { id: 'slow', chat: 'chat-2' }));
    const [quick] = [await core.next(), await core.next()];
    const stopped = bot.stop();
    quick.finish('kịp');
    await vi.advanceTimersByTimeAsync(1_000);
    await stopped;
    expect(seen.map((s) => s.text)).toEqual(['kịp', errorReply(new SttError('shutting_down'), 'vi', LIMITS)]);
  });
});

/** A platform's address as a handed-over record carries it: a chat, the audio's message, the placeholder that front sent. */
interface TestAddress extends ReplyAddress {
  platform: 'test';
  chatId: number;
  messageId: number;
  placeholderId?: number;
}

/** A record another front handed over, as JSON read back from the queue gives it. */
function handedOver(overrides: Partial<ReplyRecord<TestAddress>> = {}): ReplyRecord<TestAddress> {
  return JSON.parse(
    JSON.stringify({
      id: 'test-7-42',
      chat: 'test:7',
      address: { platform: 'test', chatId: 7, messageId: 42, placeholderId: 43 },
      language: 'vi',
      messageLimit: 4096,
      style: { textStyle: 'written', timestamps: false },
      history: { chat: { platform: 'test', chatId: '7' }, messageRef: '42', authorId: '5' },
      context: { chatId: 7 },
      ...overrides,
    }),
  ) as ReplyRecord<TestAddress>;
}

describe('JobRunner.adopt: the answer of a job whose front is gone', () => {
  const transcript: Transcript = { text: 'chín giờ', words: [], segments: [], duration: 2, processingMs: 1, inferenceMs: 1, device: 'cpu' };

  function platform(seen: Seen[], targets: TestAddress[], remembered: string[]): ReplyPlatform<TestAddress> {
    const store = {
      remember: async (entry: { written: string }) => {
        remembered.push(entry.written);
        return 'kept';
      },
    } as unknown as Store;
    return {
      isAddress: (address): address is TestAddress => address.platform === 'test' && typeof (address as Partial<TestAddress>).chatId === 'number',
      target: (address) => {
        targets.push(address);
        return chatTarget(seen);
      },
      store,
    };
  }

  it('edits the placeholder the other front left into the transcript, once, and keeps it in the history; a second hand-over of the record is not answered again', async () => {
    const seen: Seen[] = [];
    const targets: TestAddress[] = [];
    const remembered: string[] = [];
    const bot = runner(scriptedCore().transcriber);
    await bot.adopt(handedOver(), { ok: true, transcript }, platform(seen, targets, remembered));
    expect(targets).toEqual([{ platform: 'test', chatId: 7, messageId: 42, placeholderId: 43 }]);
    // As the chat reads it (written form), in the placeholder: no second message.
    expect(seen.map((s) => [s.call, s.text])).toEqual([['edit', '9 giờ']]);
    expect(remembered).toEqual(['9 giờ']);

    await bot.adopt(handedOver(), { ok: true, transcript }, platform(seen, targets, remembered));
    expect(seen).toHaveLength(1);
    expect(remembered).toHaveLength(1);
  });

  it('replies to the audio when no placeholder was sent, and answers a failed job briefly in the chat\'s language', async () => {
    const seen: Seen[] = [];
    const bot = runner(scriptedCore().transcriber);
    const noPlaceholder = { platform: 'test' as const, chatId: 7, messageId: 50 };
    await bot.adopt(handedOver({ id: 'test-7-50', address: noPlaceholder, history: undefined }), { ok: true, transcript }, platform(seen, [], []));
    await bot.adopt(handedOver({ id: 'test-7-51', address: { ...noPlaceholder, messageId: 51 }, language: 'en' }), { ok: false, error: new SttError('invalid_audio') }, platform(seen, [], []));
    expect(seen.map((s) => [s.call, s.text])).toEqual([
      ['send', '9 giờ'],
      ['send', errorReply(new SttError('invalid_audio'), 'en', LIMITS)],
    ]);
  });

  it('refuses a record that is not this platform\'s, and sends nothing', async () => {
    const seen: Seen[] = [];
    const bot = runner(scriptedCore().transcriber);
    const foreign = handedOver({ address: { platform: 'discord', channelId: '1', messageId: '2' } as unknown as TestAddress });
    await expect(bot.adopt(foreign, { ok: true, transcript }, platform(seen, [], []))).rejects.toThrow('not a test reply record');
    await expect(bot.adopt({ nothing: true }, { ok: true, transcript }, platform(seen, [], []))).rejects.toThrow('not a test reply record');
    expect(seen).toEqual([]);
  });
});
