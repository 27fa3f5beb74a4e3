import { Telegraf, type Context } from 'telegraf';
import type { Chat, Message, Update, User } from 'telegraf/types';
import type { Config } from '../../src/config.js';
import { SttError, fileTooLarge } from '../../src/core/errors.js';
import { toWritten } from '../../src/text/written.js';
import type { Transcriber } from '../../src/core/types.js';
import type { Logger } from '../../src/logger.js';
import {
  BOT_STOP_GRACE_MS,
  DownloadError,
  NO_SPEECH_REPLY,
  RATE_LIMITED_REPLY,
  TELEGRAM_MESSAGE_LIMIT,
  UserRateLimiter,
  errorReply,
  queuedReply,
  splitMessage,
} from '../shared.js';
import { FileTooBigError, loggableError } from './errors.js';
import { audioOf, fetchAudio, type AnyMessage, type AudioRef } from './media.js';
import {
  BOT_API_DOWNLOAD_LIMIT_BYTES,
  BOT_COMMANDS,
  DOCUMENT_AFTER_PARTS,
  FILE_TOO_BIG_REPLY,
  NOT_ALLOWED_REPLY,
  SEND_AUDIO_REPLY,
  TRANSCRIBE_USAGE_REPLY,
  helpReply,
  statusReply,
} from './replies.js';
import { DEFAULT_RETRY, installRetry, type RetryOptions } from './retry.js';
import { webhookSecretFor, webhookUrlFor } from './webhook.js';

/** What {@link createTelegramBot} needs. */
export interface TelegramBotOptions {
  /** The service's config: `telegram.*` (the token must be set), `limits`, `userRateLimit`. */
  config: Config;
  /** The core's transcriber: every job goes through its one queue. */
  transcriber: Transcriber;
  logger: Logger;
  /**
   * Extra options for `new Telegraf`. `telegram.apiRoot` defaults to `config.telegram.apiRoot`.
   * @defaultValue none
   */
  telegrafOptions?: Partial<Telegraf.Options<Context>>;
  /**
   * How 429 and 5xx answers of the Bot API are retried.
   * @defaultValue {@link DEFAULT_RETRY}: 5 attempts, `retry_after` honoured up to 120 s, 5xx backoff from 500 ms
   */
  retry?: Partial<RetryOptions>;
  /**
   * The fetch used for file downloads.
   * @defaultValue the global fetch
   */
  fetch?: typeof fetch;
  /**
   * How long `stop()` lets jobs in flight finish before it cancels them (their authors then
   * get the "restarting" reply).
   * @defaultValue {@link BOT_STOP_GRACE_MS}
   */
  stopGraceMs?: number;
}

/** A Telegram bot wired to the transcriber. Build it with {@link createTelegramBot}. */
export interface TelegramBot {
  /** The telegraf instance (its `telegram.callApi` retries 429 and 5xx). */
  readonly bot: Telegraf;
  /** `webhook` when `TELEGRAM_WEBHOOK_URL` is set, else long polling. */
  readonly mode: 'polling' | 'webhook';
  /** The token Telegram must send in `X-Telegram-Bot-Api-Secret-Token` (webhook mode). */
  readonly webhookSecret: string;
  /** False once `stop()` was called: webhook updates are then refused with 503. */
  readonly accepting: boolean;
  /**
   * Checks the token (getMe), registers the commands (setMyCommands), then starts long polling
   * (resolving once the first getUpdates is under way) or calls setWebhook.
   */
  start(): Promise<void>;
  /**
   * Stops polling (webhook mode: stops taking updates), then waits for every job to reply; jobs
   * still running after `stopGraceMs` are cancelled and answered with the "restarting" reply.
   * Called while start() is under way, it lets start() launch nothing more (or stops what it
   * launched).
   */
  stop(): Promise<void>;
  /** Handles one update from the webhook; returns once its handlers have (transcriptions go on). */
  handleWebhook(update: Update): Promise<void>;
}

/** A transcription's result as it is delivered. */
type Outcome = { ok: true; text: string } | { ok: false; error: unknown };

/** One message to transcribe, from acceptance to its reply. */
interface Job {
  chatId: number;
  /** The message with the audio: every reply is a reply to it. */
  messageId: number;
  userId: number | undefined;
  audio: AudioRef;
  jobId: string;
  /** Resolves when every earlier job of this chat has delivered its reply. */
  turn: Promise<void>;
  /** Lets the next job of this chat deliver. */
  done: () => void;
}

/** Where an error happened, for the log and for the brief reply. */
interface Where {
  stage: string;
  chatId?: number;
  messageId?: number;
  updateId?: number;
  jobId?: string;
  /** The reply was (partly) sent already: an error then gets no second reply. */
  replied?: boolean;
}

const TYPING_EVERY_MS = 4_500;
const PUBLIC_API_HOST = 'api.telegram.org';

/**
 * Builds the Telegram bot (not started): private chats get every voice note, audio file, video
 * note and audio document transcribed and answered as a reply; groups per `TELEGRAM_GROUP_MODE`;
 * /start, /help, /status, /transcribe. Handlers never wait for a transcription: they enqueue it
 * and return, and the reply is sent when it is done, in order of arrival within each chat.
 */
export function createTelegramBot(options: TelegramBotOptions): TelegramBot {
  return new TelegramTranscriptionBot(options);
}

class TelegramTranscriptionBot implements TelegramBot {
  readonly bot: Telegraf;
  readonly mode: 'polling' | 'webhook';
  readonly webhookSecret: string;
  private readonly token: string;
  private readonly config: Config;
  private readonly transcriber: Transcriber;
  private readonly log: Logger;
  private readonly fetch: typeof fetch | undefined;
  private readonly stopGraceMs: number;
  /** Aborted when stop()'s grace is over: cancels downloads and transcriptions still running. */
  private readonly shutdown = new AbortController();
  private readonly rateLimiter: UserRateLimiter;
  private readonly allowed: Set<string> | undefined;
  /** Everything running in the background: jobs, replies, chat actions. */
  private readonly inflight = new Set<Promise<void>>();
  /** Per chat, the promise of the last accepted job's delivery. */
  private readonly chatTails = new Map<number, Promise<void>>();
  private polling: Promise<void> | undefined;
  private firstPoll: (() => void) | undefined;
  private state: 'new' | 'running' | 'stopping' = 'new';
  private stopped: Promise<void> | undefined;
  private starting: Promise<void> | undefined;

  constructor(options: TelegramBotOptions) {
    const { config } = options;
    const token = config.telegram.token;
    if (!token) throw new Error('TELEGRAM_BOT_TOKEN is not set: the Telegram bot cannot start');
    this.token = token;
    this.config = config;
    this.transcriber = options.transcriber;
    this.log = options.logger.child({ component: 'telegram' });
    this.fetch = options.fetch;
    this.stopGraceMs = options.stopGraceMs ?? BOT_STOP_GRACE_MS;
    this.mode = config.telegram.webhookUrl ? 'webhook' : 'polling';
    this.webhookSecret = webhookSecretFor(token, config.telegram.webhookSecret);
    this.rateLimiter = new UserRateLimiter(config.userRateLimit.count, config.userRateLimit.windowSec * 1000);
    this.allowed = config.telegram.allowedChatIds.length > 0 ? new Set(config.telegram.allowedChatIds) : undefined;

    const telegrafOptions = options.telegrafOptions ?? {};
    this.bot = new Telegraf(token, {
      ...telegrafOptions,
      telegram: { apiRoot: config.telegram.apiRoot, ...telegrafOptions.telegram },
    });
    installRetry(
      this.bot.telegram,
      { ...DEFAULT_RETRY, ...options.retry },
      {
        onRetry: (event) => this.log.warn(event, 'telegram api call failed, retrying'),
        onCall: (method) => {
          if (method === 'getUpdates') this.firstPoll?.();
        },
      },
    );
    this.register();
  }

  get accepting(): boolean {
    return this.state !== 'stopping';
  }

  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error('the Telegram bot was started already'));
    this.state = 'running';
    this.starting = this.launch();
    return this.starting;
  }

  /** start()'s work; it launches nothing more once stop() was called. */
  private async launch(): Promise<void> {
    try {
      this.bot.botInfo = await this.bot.telegram.getMe();
    } catch (error) {
      throw new Error('Telegram did not accept the bot (getMe failed): check TELEGRAM_BOT_TOKEN and TELEGRAM_API_ROOT', {
        cause: loggableError(error, [this.token]),
      });
    }
    try {
      await this.bot.telegram.setMyCommands(BOT_COMMANDS.map((c) => ({ ...c })));
    } catch (error) {
      this.log.warn({ error: this.loggable(error) }, 'setMyCommands failed; the bot works without its command menu');
    }
    if (!this.accepting) return;
    const username = this.bot.botInfo.username;
    if (this.mode === 'webhook') {
      const url = webhookUrlFor(this.config.telegram.webhookUrl as string);
      await this.bot.telegram.setWebhook(url, { secret_token: this.webhookSecret, allowed_updates: ['message'] });
      this.log.info({ username, mode: this.mode, url }, 'telegram bot started');
      return;
    }
    const polling = new Promise<void>((resolve) => (this.firstPoll = resolve));
    this.polling = this.bot.launch({ allowedUpdates: ['message'] }).catch((error: unknown) => {
      this.log.error({ error: this.loggable(error) }, 'telegram long polling stopped on an error');
      throw error;
    });
    // start() resolves once polling runs (so that stop() can stop it) or fails if it never does.
    await Promise.race([polling, this.polling.then(() => Promise.reject(new Error('telegram long polling ended before it started')))]);
    this.polling = this.polling.catch(() => undefined);
    this.log.info({ username, mode: this.mode }, 'telegram bot started');
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.state = 'stopping';
      // A start() under way goes on until polling runs (or launches nothing more), so that
      // what it started is stopped here rather than left running.
      await this.starting?.catch(() => undefined);
      if (this.polling) {
        try {
          this.bot.stop('stop');
        } catch {
          // Polling never started (start() failed): nothing to stop.
        }
        await this.polling.catch(() => undefined);
      }
      const grace = setTimeout(() => this.shutdown.abort(new SttError('shutting_down')), this.stopGraceMs);
      try {
        while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      } finally {
        clearTimeout(grace);
      }
      this.log.info('telegram bot stopped');
    })();
    return this.stopped;
  }

  async handleWebhook(update: Update): Promise<void> {
    if (this.mode !== 'webhook') throw new Error('the Telegram bot runs in polling mode');
    await this.bot.handleUpdate(update);
  }

  /** The middleware: allowlist first, then commands, then audio. */
  private register(): void {
    const { bot } = this;
    bot.use((ctx, next) => (this.isAllowed(ctx) ? next() : this.refuse(ctx)));
    bot.start((ctx) => this.replyLater(ctx.message, this.help(), 'start'));
    bot.help((ctx) => this.replyLater(ctx.message, this.help(), 'help'));
    bot.command('status', (ctx) => this.replyLater(ctx.message, statusReply(this.transcriber.status()), 'status'));
    bot.command('transcribe', (ctx) => {
      const target = ctx.message.reply_to_message;
      const audio = target ? audioOf(target) : undefined;
      if (!target || !audio) return this.replyLater(ctx.message, TRANSCRIBE_USAGE_REPLY, 'transcribe');
      this.accept(target, audio, ctx.from);
    });
    bot.on('message', (ctx) => this.onMessage(ctx.message));
    bot.catch((error, ctx) => this.fail(error, { stage: 'update', updateId: ctx.update.update_id, chatId: ctx.chat?.id, messageId: ctx.msgId }));
  }

  private onMessage(message: Message): void {
    const audio = audioOf(message);
    if (message.chat.type === 'private') {
      if (audio) this.accept(message, audio, message.from);
      else this.replyLater(message, SEND_AUDIO_REPLY, 'hint');
      return;
    }
    if (audio && this.autoTranscribes(message.chat, audio)) this.accept(message, audio, message.from);
  }

  /** Groups in auto mode transcribe voice and video notes by themselves; other audio on demand. */
  private autoTranscribes(chat: Chat, audio: AudioRef): boolean {
    if (chat.type === 'private') return true;
    return this.config.telegram.groupMode === 'auto' && (audio.kind === 'voice' || audio.kind === 'video_note');
  }

  private isAllowed(ctx: Context): boolean {
    const chat = ctx.chat;
    return !this.allowed || !chat || this.allowed.has(String(chat.id));
  }

  /** Outside the allowlist: a polite refusal where the bot was addressed, silence otherwise. */
  private refuse(ctx: Context): void {
    const message = ctx.message;
    if (!message || !ctx.chat) return;
    const audio = audioOf(message);
    const addressed =
      ctx.chat.type === 'private' || this.isCommandForMe(message) || (audio !== undefined && this.autoTranscribes(ctx.chat, audio));
    this.log.info({ chatId: ctx.chat.id, chatType: ctx.chat.type, addressed }, 'message from a chat outside TELEGRAM_ALLOWED_CHAT_IDS');
    if (addressed) this.replyLater(message, NOT_ALLOWED_REPLY, 'allowlist');
  }

  private isCommandForMe(message: Message): boolean {
    if (!('text' in message)) return false;
    const entity = message.entities?.[0];
    if (entity?.type !== 'bot_command' || entity.offset !== 0) return false;
    const to = message.text.slice(0, entity.length).split('@')[1];
    return !to || to.toLowerCase() === this.bot.botInfo?.username.toLowerCase();
  }

  private help(): string {
    const { limits, telegram } = this.config;
    const publicApi = new URL(telegram.apiRoot).hostname === PUBLIC_API_HOST;
    const maxFileMb = publicApi ? Math.min(limits.maxUploadMb, BOT_API_DOWNLOAD_LIMIT_BYTES / 1024 / 1024) : limits.maxUploadMb;
    return helpReply({ maxDurationSec: limits.maxDurationSec, maxFileMb, groupMode: telegram.groupMode });
  }

  /**
   * Takes a message's audio in: the checks that need no download (duration, size, rate limit)
   * answer at once; otherwise the job is queued behind this chat's earlier ones and runs in the
   * background.
   */
  private accept(message: AnyMessage, audio: AudioRef, from: User | undefined): void {
    const { limits } = this.config;
    if (audio.duration !== undefined && audio.duration > limits.maxDurationSec) {
      const error = new SttError('audio_too_long', `The audio is longer than the ${limits.maxDurationSec} s limit.`);
      return this.replyLater(message, errorReply(error), 'duration');
    }
    if (audio.fileSize !== undefined && audio.fileSize > limits.maxUploadBytes) {
      const error = fileTooLarge(limits.maxUploadMb);
      return this.replyLater(message, errorReply(error), 'size');
    }
    if (from && !this.rateLimiter.take(String(from.id))) {
      this.log.info({ userId: from.id, chatId: message.chat.id }, 'telegram user over the rate limit');
      return this.replyLater(message, RATE_LIMITED_REPLY, 'rate-limit');
    }
    const chatId = message.chat.id;
    const previous = this.chatTails.get(chatId) ?? Promise.resolve();
    let done!: () => void;
    const delivered = new Promise<void>((resolve) => (done = resolve));
    const tail = previous.then(() => delivered);
    this.chatTails.set(chatId, tail);
    const job: Job = {
      chatId,
      messageId: message.message_id,
      userId: from?.id,
      audio,
      jobId: `telegram-${chatId}-${message.message_id}`,
      turn: previous,
      done: () => {
        done();
        if (this.chatTails.get(chatId) === tail) this.chatTails.delete(chatId);
      },
    };
    this.log.debug({ jobId: job.jobId, kind: audio.kind, duration: audio.duration, fileSize: audio.fileSize }, 'telegram job accepted');
    this.spawn({ stage: 'job', chatId, messageId: job.messageId, jobId: job.jobId }, (where) => this.run(job, where));
  }

  private async run(job: Job, where: Where): Promise<void> {
    const typing = this.keepTyping(job.chatId);
    let placeholder: Promise<number | undefined> | undefined;
    let outcome: Outcome;
    try {
      const input = await fetchAudio(job.audio, {
        telegram: this.bot.telegram,
        token: this.token,
        apiRoot: this.config.telegram.apiRoot,
        maxBytes: this.config.limits.maxUploadBytes,
        maxMb: this.config.limits.maxUploadMb,
        idleMs: this.config.limits.uploadIdleMs,
        deadlineMs: this.config.limits.uploadDeadlineMs,
        minBytesPerSec: this.config.limits.uploadMinBytesPerSec,
        signal: this.shutdown.signal,
        fetch: this.fetch,
      });
      const transcript = await this.transcriber.transcribe(input, {
        jobId: job.jobId,
        source: 'telegram',
        signal: this.shutdown.signal,
        // People take turns in the queue: one person's batch does not hold up another's note.
        owner: job.userId === undefined ? undefined : `telegram:${job.userId}`,
        onQueued: (ahead) => {
          if (ahead > 0) placeholder = this.sendPlaceholder(job, ahead);
        },
      });
      // People read the reply: the written form (digits, dates, money), not the spoken words.
      outcome = { ok: true, text: toWritten(transcript.text).trim() };
      this.log.info({ jobId: job.jobId, duration: transcript.duration, processingMs: transcript.processingMs, chars: outcome.text.length }, 'telegram message transcribed');
    } catch (error) {
      // A job cut short by stop() is told the service is restarting, whatever layer saw the abort.
      const failure = this.shutdown.signal.aborted ? new SttError('shutting_down', undefined, { cause: error }) : error;
      outcome = { ok: false, error: failure };
      this.logFailure(failure, where);
    } finally {
      typing.stop();
    }
    try {
      await job.turn;
      await this.deliver(job, outcome, placeholder, where);
    } finally {
      job.done();
    }
  }

  /** Sends the transcript (or the error's reply) as replies to the job's message. */
  private async deliver(job: Job, outcome: Outcome, placeholder: Promise<number | undefined> | undefined, where: Where): Promise<void> {
    const texts = !outcome.ok ? [this.replyFor(outcome.error)] : outcome.text ? splitMessage(outcome.text, TELEGRAM_MESSAGE_LIMIT) : [NO_SPEECH_REPLY];
    const placeholderId = await placeholder;
    for (const [index, text] of texts.entries()) {
      if (index === 0 && placeholderId !== undefined && (await this.edit(job.chatId, placeholderId, text))) {
        where.replied = true;
        continue;
      }
      await this.send(job.chatId, job.messageId, text);
      where.replied = true;
    }
    if (outcome.ok && texts.length > DOCUMENT_AFTER_PARTS) {
      await this.bot.telegram.sendDocument(
        job.chatId,
        { source: Buffer.from(`${outcome.text}\n`, 'utf8'), filename: `transcript-${job.messageId}.txt` },
        { reply_parameters: { message_id: job.messageId, allow_sending_without_reply: true } },
      );
    }
  }

  private sendPlaceholder(job: Job, ahead: number): Promise<number | undefined> {
    return this.send(job.chatId, job.messageId, queuedReply(ahead)).then(
      (message) => message.message_id,
      (error: unknown) => {
        this.log.warn({ error: this.loggable(error), jobId: job.jobId }, 'could not send the queue placeholder');
        return undefined;
      },
    );
  }

  /** Edits the placeholder into `text`; false (and a fresh message instead) if that fails. */
  private async edit(chatId: number, messageId: number, text: string): Promise<boolean> {
    try {
      await this.bot.telegram.editMessageText(chatId, messageId, undefined, text);
      return true;
    } catch (error) {
      this.log.warn({ error: this.loggable(error), chatId, messageId }, 'could not edit the placeholder; sending the text instead');
      return false;
    }
  }

  private send(chatId: number, replyTo: number, text: string): Promise<Message.TextMessage> {
    return this.bot.telegram.sendMessage(chatId, text, { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } });
  }

  /** Replies in the background: the handler returns at once. */
  private replyLater(message: AnyMessage, text: string, stage: string): void {
    const where: Where = { stage, chatId: message.chat.id, messageId: message.message_id };
    this.spawn(where, async () => {
      await this.send(message.chat.id, message.message_id, text);
      where.replied = true;
    });
  }

  /** "typing…" now and every few seconds until stopped (Telegram shows it for 5 s). */
  private keepTyping(chatId: number): { stop(): void } {
    const send = (): void =>
      this.spawn({ stage: 'chat-action', chatId }, async () => {
        try {
          await this.bot.telegram.sendChatAction(chatId, 'typing');
        } catch (error) {
          this.log.debug({ error: this.loggable(error), chatId }, 'sendChatAction failed');
        }
      });
    send();
    const timer = setInterval(send, TYPING_EVERY_MS);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  /** Runs a task in the background, tracked for stop(), with the error boundary around it. */
  private spawn(where: Where, task: (where: Where) => Promise<void>): void {
    const running: Promise<void> = task(where)
      .catch((error: unknown) => this.fail(error, where))
      .finally(() => this.inflight.delete(running));
    this.inflight.add(running);
  }

  /**
   * The one error boundary: every unexpected error is logged with its context and, unless a
   * reply went out already, answered with a brief message (whose own failure is logged too).
   */
  private fail(error: unknown, where: Where): void {
    this.logFailure(error, where);
    if (where.replied || where.chatId === undefined || where.messageId === undefined) return;
    const { chatId, messageId } = where;
    where.replied = true;
    this.spawn({ ...where, stage: `${where.stage}-error-reply`, replied: true }, async () => {
      try {
        await this.send(chatId, messageId, this.replyFor(error));
      } catch (replyError) {
        this.log.error({ error: this.loggable(replyError), chatId, messageId }, 'could not send the error reply');
      }
    });
  }

  /** User-caused errors (too long, too big, queue full…) at info, the rest as warnings or errors. */
  private logFailure(error: unknown, where: Where): void {
    const context = { ...where, error: this.loggable(error) };
    if (error instanceof FileTooBigError) this.log.info(context, 'telegram file over the Bot API download limit');
    else if (error instanceof SttError && error.code !== 'internal') this.log.info({ ...context, code: error.code }, 'telegram job refused');
    else if (error instanceof DownloadError) this.log.warn(context, 'telegram file download failed');
    else this.log.error(context, 'telegram job failed');
  }

  private replyFor(error: unknown): string {
    return error instanceof FileTooBigError ? FILE_TOO_BIG_REPLY : errorReply(error);
  }

  private loggable(error: unknown): ReturnType<typeof loggableError> {
    return loggableError(error, [this.token]);
  }
}
