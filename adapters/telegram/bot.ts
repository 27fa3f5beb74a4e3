import { Telegraf, TelegramError, type Context } from 'telegraf';
import type { CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update, User } from 'telegraf/types';
import type { Config } from '../../src/config.js';
import { SttError } from '../../src/core/errors.js';
import type { Transcriber } from '../../src/core/types.js';
import type { Logger } from '../../src/logger.js';
import type { HandedOverOutcome } from '../../src/queue/reply-handover.js';
import type { ChatKey, Store } from '../../src/store/index.js';
import { BASE_DEFAULTS, answerFrom, effectiveSettings, hotwordsCommand, toggle } from '../chat-settings.js';
import { JobRunner, type MediaRef, type ReplyAddress, type ReplyRecord, type ReplyTarget } from '../job-runner.js';
import {
  errorReply,
  helpReply,
  historyReply,
  searchHitReply,
  settingLabel,
  statusReply,
  text,
  type EffectiveSettings,
  type ReplyLanguage,
  type SettingName,
} from '../replies.js';
import { BOT_STOP_GRACE_MS, TELEGRAM_MESSAGE_LIMIT, downloadLimits } from '../shared.js';
import { FileTooBigError, loggableError } from './errors.js';
import { audioOf, fetchAudio, type AnyMessage, type AudioRef } from './media.js';
import { BOT_API_DOWNLOAD_LIMIT_BYTES, BOT_COMMANDS, DOCUMENT_AFTER_PARTS, KEEPER_MENU } from './replies.js';
import { DEFAULT_RETRY, installRetry, type RetryOptions } from './retry.js';
import { webhookSecretFor, webhookUrlFor } from './webhook.js';

/** What {@link createTelegramBot} needs. */
export interface TelegramBotOptions {
  /** The service's config: `telegram.*` (the token must be set), `limits`, `userRateLimit`, `replyLanguage`, `progressEditMs`. */
  config: Config;
  /** The core's transcriber: every job goes through its one queue. */
  transcriber: Transcriber;
  /** Where each chat's settings and (when it turns history on) its transcripts are kept. */
  store: Store;
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
  /**
   * How long after a 409 Conflict from getUpdates long polling starts again.
   * @defaultValue {@link CONFLICT_RETRY_MS}
   */
  conflictRetryMs?: number;
}

/**
 * Telegram answers getUpdates 409 Conflict while another process polls with the same token (a
 * deploy's old and new instance, for a moment) or a webhook is set for it. telegraf then stops
 * polling; the bot polls again after this long, so that it is not left deaf once the other has
 * gone, and says so in a warning each time. With QUEUE_URL, a front whose polling lease was
 * taken over stops its bot when its next renewal fails, within this time at the default
 * FAILOVER_SEC, so that two fronts do not take turns.
 */
export const CONFLICT_RETRY_MS = 10_000;

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
  /**
   * Delivers the answer of a job another front took (and can no longer answer), from the record
   * that travelled with it: the placeholder that front sent edited into the transcript, or a
   * reply to the audio.
   */
  adopt(record: object, outcome: HandedOverOutcome): Promise<void>;
}

/** Where a Telegram job answers: the chat, the audio's message (replied to), and the placeholder once sent. */
export interface TelegramReplyAddress extends ReplyAddress {
  platform: 'telegram';
  chatId: number;
  messageId: number;
  placeholderId?: number;
}

function isTelegramAddress(address: ReplyAddress): address is TelegramReplyAddress {
  const { platform, chatId, messageId, placeholderId } = address as Partial<TelegramReplyAddress>;
  return platform === 'telegram' && typeof chatId === 'number' && typeof messageId === 'number' && (placeholderId === undefined || typeof placeholderId === 'number');
}

/** Where an error happened, for the log and for the brief reply. */
interface Where {
  stage: string;
  chatId?: number;
  messageId?: number;
  updateId?: number;
  /** The reply was sent already: an error then gets no second reply. */
  replied?: boolean;
}

/** The updates the bot asks for: messages, button presses, and its own membership (to forget a chat it left). */
const ALLOWED_UPDATES = ['message', 'callback_query', 'my_chat_member'] as const;

/** The settings the /settings keyboard shows, in order; `auto` only in groups. */
const KEYBOARD: readonly SettingName[] = ['language', 'auto', 'timestamps', 'textStyle', 'history'];

/** Search results per page. */
const SEARCH_PAGE = 5;

/** "More results" buttons remembered at once (their cursors do not fit in callback data); the oldest go first. */
const SEARCH_PAGES_KEPT = 500;

/** What a "more results" button continues. */
interface SearchPageRef {
  chat: ChatKey;
  chatId: number;
  query: string;
  cursor: string;
}

const TYPING_EVERY_MS = 4_500;
const PUBLIC_API_HOST = 'api.telegram.org';

/**
 * Builds the Telegram bot (not started): private chats get every voice note, audio file, video
 * note and audio document transcribed and answered as a reply; groups per `TELEGRAM_GROUP_MODE`;
 * /start, /help, /status, /transcribe. Handlers never wait for a transcription: they hand it to
 * the job runner and return, and the reply is sent when it is done, in order of arrival within
 * each chat.
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
  private readonly runner: JobRunner;
  private readonly store: Store;
  private readonly allowed: Set<string> | undefined;
  /** The "more results" buttons out there, by the number in their callback data. */
  private readonly searchPages = new Map<number, SearchPageRef>();
  private searchPageSeq = 0;
  private polling: Promise<void> | undefined;
  private firstPoll: (() => void) | undefined;
  private readonly conflictRetryMs: number;
  /** Ends the wait before polling again after a conflict (stop() calls it). */
  private wake: (() => void) | undefined;
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
    this.store = options.store;
    this.log = options.logger.child({ component: 'telegram' });
    this.fetch = options.fetch;
    this.conflictRetryMs = options.conflictRetryMs ?? CONFLICT_RETRY_MS;
    this.mode = config.telegram.webhookUrl ? 'webhook' : 'polling';
    this.webhookSecret = webhookSecretFor(token, config.telegram.webhookSecret);
    this.allowed = config.telegram.allowedChatIds.length > 0 ? new Set(config.telegram.allowedChatIds) : undefined;
    this.runner = new JobRunner({
      transcriber: options.transcriber,
      source: 'telegram',
      limits: config.limits,
      rateLimit: config.userRateLimit,
      progressEditMs: config.progressEditMs,
      logger: this.log,
      describeError: (error) => this.loggable(error),
      replyFor: (error, language) => (error instanceof FileTooBigError ? text('fileTooBig', language) : undefined),
      stopGraceMs: options.stopGraceMs ?? BOT_STOP_GRACE_MS,
    });

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
      // Everyone sees the default menu; private chats (where the user is in charge) and group
      // administrators also see the commands that change or delete what the chat keeps.
      await this.bot.telegram.setMyCommands(BOT_COMMANDS.map((c) => ({ ...c })));
      await this.bot.telegram.setMyCommands(KEEPER_MENU.map((c) => ({ ...c })), { scope: { type: 'all_private_chats' } });
      await this.bot.telegram.setMyCommands(KEEPER_MENU.map((c) => ({ ...c })), { scope: { type: 'all_chat_administrators' } });
    } catch (error) {
      this.log.warn({ error: this.loggable(error) }, 'setMyCommands failed; the bot works without its command menu');
    }
    if (!this.accepting) return;
    const username = this.bot.botInfo.username;
    if (this.mode === 'webhook') {
      const url = webhookUrlFor(this.config.telegram.webhookUrl as string);
      await this.bot.telegram.setWebhook(url, { secret_token: this.webhookSecret, allowed_updates: [...ALLOWED_UPDATES] });
      this.log.info({ username, mode: this.mode, url }, 'telegram bot started');
      return;
    }
    const polling = new Promise<void>((resolve) => (this.firstPoll = resolve));
    this.polling = this.pollUntilStopped().catch((error: unknown) => {
      this.log.error({ error: this.loggable(error) }, 'telegram long polling stopped on an error');
      throw error;
    });
    // start() resolves once polling runs (so that stop() can stop it) or fails if it never does.
    await Promise.race([polling, this.polling.then(() => Promise.reject(new Error('telegram long polling ended before it started')))]);
    this.polling = this.polling.catch(() => undefined);
    this.log.info({ username, mode: this.mode }, 'telegram bot started');
  }

  /** Long polling until stop(), polling again {@link CONFLICT_RETRY_MS} after each 409 Conflict. */
  private async pollUntilStopped(): Promise<void> {
    for (;;) {
      try {
        await this.bot.launch({ allowedUpdates: [...ALLOWED_UPDATES] });
        return;
      } catch (error) {
        if (!(error instanceof TelegramError && error.code === 409) || !this.accepting) throw error;
        this.log.warn(
          { error: this.loggable(error), retryInMs: this.conflictRetryMs },
          'telegram long polling met another poller or a webhook for this bot (409); polling again later',
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.conflictRetryMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        if (!this.accepting) return;
      }
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.state = 'stopping';
      this.wake?.();
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
      await this.runner.stop();
      this.log.info('telegram bot stopped');
    })();
    return this.stopped;
  }

  async handleWebhook(update: Update): Promise<void> {
    if (this.mode !== 'webhook') throw new Error('the Telegram bot runs in polling mode');
    await this.bot.handleUpdate(update);
  }

  adopt(record: object, outcome: HandedOverOutcome): Promise<void> {
    return this.runner.adopt(record, outcome, { isAddress: isTelegramAddress, target: (address) => this.target(address), store: this.store });
  }

  /** The middleware: allowlist first, then commands, then audio. */
  private register(): void {
    const { bot } = this;
    bot.use((ctx, next) => (this.isAllowed(ctx) ? next() : this.refuse(ctx)));
    bot.start((ctx) => this.replyLater(ctx.message, (language) => this.help(language), 'start'));
    bot.help((ctx) => this.replyLater(ctx.message, (language) => this.help(language), 'help'));
    bot.command('status', (ctx) => this.replyLater(ctx.message, (language) => statusReply(this.transcriber.status(), language), 'status'));
    bot.command('transcribe', (ctx) => {
      const target = ctx.message.reply_to_message;
      const audio = target ? audioOf(target) : undefined;
      if (!target || !audio) return this.replyLater(ctx.message, (language) => text('transcribeUsage', language), 'transcribe');
      this.accept(target, audio, ctx.from, true);
    });
    bot.command('settings', (ctx) => this.background({ stage: 'settings', chatId: ctx.chat.id, messageId: ctx.message.message_id }, () => this.showSettings(ctx.message)));
    bot.command('forget', (ctx) => this.background({ stage: 'forget', chatId: ctx.chat.id, messageId: ctx.message.message_id }, () => this.forget(ctx.message)));
    bot.command('history', (ctx) => this.background({ stage: 'history', chatId: ctx.chat.id, messageId: ctx.message.message_id }, () => this.history(ctx.message)));
    bot.command('search', (ctx) =>
      this.background({ stage: 'search', chatId: ctx.chat.id, messageId: ctx.message.message_id }, () => this.search(ctx.message, ctx.payload.trim())),
    );
    bot.command('hotwords', (ctx) => {
      const where: Where = { stage: 'hotwords', chatId: ctx.chat.id, messageId: ctx.message.message_id };
      const { message, payload } = ctx;
      // In the chat's order: a voice note sent after the command is decoded with the new list.
      void this.runner.inOrder(this.chatKey(ctx.chat.id), () => this.hotwords(message, payload).catch((error: unknown) => this.fail(error, where)));
    });
    bot.on('callback_query', (ctx) => this.background({ stage: 'button', chatId: ctx.chat?.id, replied: true }, () => this.onButton(ctx.callbackQuery)));
    bot.on('my_chat_member', (ctx) => {
      const { chat, new_chat_member: member } = ctx.myChatMember;
      if (member.status !== 'left' && member.status !== 'kicked') return;
      // Removed from a group (or blocked in a private chat): what it kept of the chat goes.
      this.background({ stage: 'removed', chatId: chat.id, replied: true }, async () => {
        await this.store.forget(this.storeKey(chat.id));
        this.log.info({ chatId: chat.id, status: member.status }, 'telegram bot removed from a chat; its settings and history are deleted');
      });
    });
    bot.on('message', (ctx) => this.onMessage(ctx.message));
    bot.catch((error, ctx) => this.fail(error, { stage: 'update', updateId: ctx.update.update_id, chatId: ctx.chat?.id, messageId: ctx.msgId }));
  }

  private onMessage(message: Message): void {
    const audio = audioOf(message);
    if (message.chat.type === 'private') {
      if (audio) this.accept(message, audio, message.from, true);
      else this.replyLater(message, (language) => text('sendAudio', language), 'hint');
      return;
    }
    if (audio && this.transcribesByItself(audio)) this.accept(message, audio, message.from, false);
  }

  /** Voice and video notes may be transcribed by themselves in groups; other audio only on demand. */
  private transcribesByItself(audio: AudioRef): boolean {
    return audio.kind === 'voice' || audio.kind === 'video_note';
  }

  /** The chat's settings as they apply (what it set, else the defaults). */
  private async settingsOf(chat: Chat, from: User | undefined): Promise<EffectiveSettings> {
    return effectiveSettings(await this.store.getSettings(this.storeKey(chat.id)), this.defaultsFor(chat, from));
  }

  /**
   * What a chat has before it sets anything: a private chat speaks its user's language
   * (Vietnamese for `vi`, else English) and always transcribes; a group follows
   * REPLY_LANGUAGE and TELEGRAM_GROUP_MODE.
   */
  private defaultsFor(chat: Chat, from: User | undefined): EffectiveSettings {
    const own = chat.type === 'private' && from?.language_code ? (from.language_code.toLowerCase().startsWith('vi') ? 'vi' : 'en') : undefined;
    return {
      ...BASE_DEFAULTS,
      language: own ?? this.config.replyLanguage,
      auto: chat.type === 'private' || this.config.telegram.groupMode === 'auto',
    };
  }

  /** The language to answer in: the chat's choice, else a private user's own, else REPLY_LANGUAGE. */
  private async languageFor(chat: Chat, from: User | undefined): Promise<ReplyLanguage> {
    return (await this.settingsOf(chat, from)).language;
  }

  private storeKey(chatId: number): ChatKey {
    return { platform: 'telegram', chatId: String(chatId) };
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
      ctx.chat.type === 'private' ||
      this.isCommandForMe(message) ||
      (audio !== undefined && this.config.telegram.groupMode === 'auto' && this.transcribesByItself(audio));
    this.log.info({ chatId: ctx.chat.id, chatType: ctx.chat.type, addressed }, 'message from a chat outside TELEGRAM_ALLOWED_CHAT_IDS');
    if (addressed) this.replyLater(message, (language) => text('notAllowed', language), 'allowlist');
  }

  private isCommandForMe(message: Message): boolean {
    if (!('text' in message)) return false;
    const entity = message.entities?.[0];
    if (entity?.type !== 'bot_command' || entity.offset !== 0) return false;
    const to = message.text.slice(0, entity.length).split('@')[1];
    return !to || to.toLowerCase() === this.bot.botInfo?.username.toLowerCase();
  }

  private help(language: ReplyLanguage): string {
    const { limits, telegram } = this.config;
    const publicApi = new URL(telegram.apiRoot).hostname === PUBLIC_API_HOST;
    const maxFileMb = publicApi ? Math.min(limits.maxUploadMb, BOT_API_DOWNLOAD_LIMIT_BYTES / 1024 / 1024) : limits.maxUploadMb;
    return helpReply({ maxDurationSec: limits.maxDurationSec, maxFileMb, groupMode: telegram.groupMode }, language);
  }

  /**
   * Hands a message's audio to the job runner, after this chat's earlier messages; `asked`
   * is false for a group's voice note that only auto-transcription would take. `from` asked for
   * it (the job's owner in the queue's turns and the rate limit); history credits the message's
   * own sender, who spoke it.
   */
  private accept(message: AnyMessage, audio: AudioRef, from: User | undefined, asked: boolean): void {
    const chat = message.chat;
    const where: Where = { stage: 'job', chatId: chat.id, messageId: message.message_id };
    void this.runner.inOrder(this.chatKey(chat.id), async () => {
      try {
        const settings = await this.settingsOf(chat, from);
        if (!asked && !settings.auto) return;
        const record: ReplyRecord<TelegramReplyAddress> = {
          id: `telegram-${chat.id}-${message.message_id}`,
          chat: this.chatKey(chat.id),
          address: { platform: 'telegram', chatId: chat.id, messageId: message.message_id },
          language: settings.language,
          style: { textStyle: settings.textStyle, timestamps: settings.timestamps },
          history: settings.history ? { chat: this.storeKey(chat.id), messageRef: String(message.message_id), authorId: String(message.from?.id ?? chat.id) } : undefined,
          messageLimit: TELEGRAM_MESSAGE_LIMIT,
          documentAfterParts: DOCUMENT_AFTER_PARTS,
          documentName: `transcript-${message.message_id}.txt`,
          context: { chatId: chat.id, messageId: message.message_id, kind: audio.kind },
        };
        void this.runner.submit({
          ...answerFrom(record, this.target(record.address), this.store),
          owner: from ? `telegram:${from.id}` : undefined,
          media: this.media(audio),
          typing: () => this.keepTyping(chat.id),
          record,
          hotwords: settings.hotwords,
        });
      } catch (error) {
        this.fail(error, where);
      }
    });
  }

  private chatKey(chatId: number): string {
    return `telegram:${chatId}`;
  }

  /** A Telegram file as the job runner sees it: declared size and length, and a capped fetch. */
  private media(audio: AudioRef): MediaRef {
    const { limits } = this.config;
    return {
      size: audio.fileSize,
      duration: audio.duration,
      download: (signal) =>
        fetchAudio(audio, {
          telegram: this.bot.telegram,
          token: this.token,
          apiRoot: this.config.telegram.apiRoot,
          ...downloadLimits(limits),
          signal,
          fetch: this.fetch,
        }),
    };
  }

  /**
   * Replies to the address's message: the placeholder and the parts as replies, the placeholder
   * edited in place. Built from ids only, so that any front can rebuild it from a job's record.
   */
  private target(address: TelegramReplyAddress): ReplyTarget {
    const { chatId, messageId } = address;
    let placeholderId = address.placeholderId;
    return {
      placeholder: async (content) => {
        placeholderId = (await this.send(chatId, messageId, content)).message_id;
      },
      edit: async (content) => {
        if (placeholderId === undefined) throw new Error('there is no placeholder to edit');
        await this.bot.telegram.editMessageText(chatId, placeholderId, undefined, content);
      },
      address: () => ({ ...address, placeholderId }),
      send: async (content) => {
        await this.send(chatId, messageId, content);
      },
      sendDocument: async (name, content) => {
        await this.bot.telegram.sendDocument(
          chatId,
          { source: Buffer.from(content, 'utf8'), filename: name },
          { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } },
        );
      },
    };
  }

  private send(chatId: number, replyTo: number, content: string): Promise<Message.TextMessage> {
    return this.bot.telegram.sendMessage(chatId, content, { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } });
  }

  /** Replies in the background, in the chat's language: the handler returns at once. */
  private replyLater(message: AnyMessage, reply: (language: ReplyLanguage) => string, stage: string): void {
    const where: Where = { stage, chatId: message.chat.id, messageId: message.message_id };
    void this.runner.track(
      (async () => {
        try {
          const language = await this.languageFor(message.chat, message.from);
          await this.send(message.chat.id, message.message_id, reply(language));
          where.replied = true;
        } catch (error) {
          this.fail(error, where);
        }
      })(),
    );
  }

  /** Runs a command's work in the background, with the error boundary around it. */
  private background(where: Where, task: () => Promise<void>): void {
    void this.runner.track(
      task().catch((error: unknown) => {
        this.fail(error, where);
      }),
    );
  }

  /** Whether `user` may change what this chat keeps: anyone in a private chat, administrators in groups. */
  private async mayChange(chat: Chat, user: User | undefined): Promise<boolean> {
    if (chat.type === 'private') return true;
    if (!user) return false;
    const member = await this.bot.telegram.getChatMember(chat.id, user.id);
    return member.status === 'creator' || member.status === 'administrator';
  }

  /** The /settings message's keyboard: one button a setting, each showing its value. */
  private keyboard(chat: Chat, settings: EffectiveSettings): InlineKeyboardMarkup {
    const names = KEYBOARD.filter((name) => name !== 'auto' || chat.type !== 'private');
    return { inline_keyboard: names.map((name) => [{ text: settingLabel(name, settings, settings.language), callback_data: `set:${name}` }]) };
  }

  private async showSettings(message: Message): Promise<void> {
    const settings = await this.settingsOf(message.chat, message.from);
    await this.bot.telegram.sendMessage(message.chat.id, text('settingsTitle', settings.language), {
      reply_parameters: { message_id: message.message_id, allow_sending_without_reply: true },
      reply_markup: this.keyboard(message.chat, settings),
    });
  }

  /** A button pressed: a setting toggled in place (administrators only, in groups), or the next page of a search. */
  private async onButton(query: CallbackQuery): Promise<void> {
    const data = 'data' in query ? query.data : undefined;
    const message = query.message;
    if (!data || !message || !('chat' in message)) {
      await this.bot.telegram.answerCbQuery(query.id);
      return;
    }
    const chat = message.chat;
    const more = /^more:(\d+)$/.exec(data);
    if (more) {
      const page = this.searchPages.get(Number(more[1]));
      if (!page || page.chatId !== chat.id) {
        await this.bot.telegram.answerCbQuery(query.id, text('settingsExpired', await this.languageFor(chat, query.from)));
        return;
      }
      await this.bot.telegram.answerCbQuery(query.id);
      this.searchPages.delete(Number(more[1]));
      await this.searchPage(chat, message.message_id, page.query, page.cursor, query.from);
      return;
    }
    const name = /^set:(\w+)$/.exec(data)?.[1] as SettingName | undefined;
    const before = await this.settingsOf(chat, query.from);
    if (!name || !KEYBOARD.includes(name)) {
      await this.bot.telegram.answerCbQuery(query.id, text('settingsExpired', before.language));
      return;
    }
    if (!(await this.mayChange(chat, query.from))) {
      await this.bot.telegram.answerCbQuery(query.id, text('adminsOnly', before.language));
      return;
    }
    await this.store.updateSettings(this.storeKey(chat.id), toggle(name, before));
    const after = await this.settingsOf(chat, query.from);
    try {
      await this.bot.telegram.editMessageText(chat.id, message.message_id, undefined, text('settingsTitle', after.language), {
        reply_markup: this.keyboard(chat, after),
      });
    } finally {
      // Answered whatever the edit did (two quick presses can leave it "not modified"): the app stops its spinner.
      await this.bot.telegram.answerCbQuery(query.id);
    }
    this.log.info({ chatId: chat.id, userId: query.from.id, setting: name }, 'telegram chat setting changed');
  }

  private async forget(message: Message): Promise<void> {
    const language = await this.languageFor(message.chat, message.from);
    if (!(await this.mayChange(message.chat, message.from))) {
      await this.send(message.chat.id, message.message_id, text('adminsOnly', language));
      return;
    }
    await this.store.forget(this.storeKey(message.chat.id));
    this.log.info({ chatId: message.chat.id }, 'telegram chat forgotten on request');
    await this.send(message.chat.id, message.message_id, text('forgotten', language));
  }

  /** `/hotwords [list | clear]`: shows, sets or clears the chat's own hotwords (administrators only change them, in groups). */
  private async hotwords(message: Message, argument: string): Promise<void> {
    const { chat } = message;
    const { reply, changed } = await hotwordsCommand(this.store, this.storeKey(chat.id), argument, {
      settings: await this.settingsOf(chat, message.from),
      usage: '/hotwords Lộc, Khánh Linh',
      messageLimit: TELEGRAM_MESSAGE_LIMIT,
      mayChange: () => this.mayChange(chat, message.from),
    });
    if (changed) this.log.info({ chatId: chat.id, userId: message.from?.id }, 'telegram chat hotwords changed');
    await this.send(chat.id, message.message_id, reply);
  }

  private async history(message: Message): Promise<void> {
    const settings = await this.settingsOf(message.chat, message.from);
    const summary = await this.store.historySummary(this.storeKey(message.chat.id));
    const reply = historyReply({ on: settings.history, count: summary.count, oldest: summary.oldest, days: this.config.store.historyDays }, settings.language);
    await this.send(message.chat.id, message.message_id, reply);
  }

  private async search(message: Message, query: string): Promise<void> {
    if (!query) {
      await this.send(message.chat.id, message.message_id, text('searchUsage', await this.languageFor(message.chat, message.from)));
      return;
    }
    await this.searchPage(message.chat, message.message_id, query, undefined, message.from);
  }

  /**
   * One page of a search in this chat only: each match as a reply to its voice message (who,
   * when, the matching words), then a "more results" button when there are more.
   */
  private async searchPage(chat: Chat, answerTo: number, query: string, cursor: string | undefined, from: User | undefined): Promise<void> {
    const settings = await this.settingsOf(chat, from);
    const key = this.storeKey(chat.id);
    let page;
    try {
      page = await this.store.search(key, query, { limit: SEARCH_PAGE, cursor });
    } catch (error) {
      if (error instanceof SttError && error.code === 'bad_query') {
        await this.send(chat.id, answerTo, text('searchUsage', settings.language));
        return;
      }
      throw error;
    }
    if (page.results.length === 0) {
      await this.send(chat.id, answerTo, text(settings.history ? 'searchNothing' : 'searchHistoryOff', settings.language));
      return;
    }
    const names = new Map<string, string>();
    for (const hit of page.results) {
      names.set(hit.authorId, names.get(hit.authorId) ?? (await this.nameOf(chat.id, hit.authorId)));
      await this.send(chat.id, Number(hit.messageRef), searchHitReply({ author: names.get(hit.authorId) ?? hit.authorId, createdAt: hit.createdAt, snippet: hit.snippet }));
    }
    if (page.nextCursor) {
      const id = ++this.searchPageSeq;
      this.searchPages.set(id, { chat: key, chatId: chat.id, query, cursor: page.nextCursor });
      if (this.searchPages.size > SEARCH_PAGES_KEPT) this.searchPages.delete(this.searchPages.keys().next().value as number);
      await this.bot.telegram.sendMessage(chat.id, text('searchMore', settings.language), {
        reply_parameters: { message_id: answerTo, allow_sending_without_reply: true },
        reply_markup: { inline_keyboard: [[{ text: text('searchMore', settings.language), callback_data: `more:${id}` }]] },
      });
    }
  }

  /** A member's name as the chat shows it; their id when Telegram no longer knows them there. */
  private async nameOf(chatId: number, userId: string): Promise<string> {
    try {
      const { user } = await this.bot.telegram.getChatMember(chatId, Number(userId));
      return [user.first_name, user.last_name].filter(Boolean).join(' ');
    } catch {
      return `#${userId}`;
    }
  }

  /** "typing…" now and every few seconds until stopped (Telegram shows it for 5 s). */
  private keepTyping(chatId: number): () => void {
    const send = (): void => {
      void this.runner.track(
        this.bot.telegram.sendChatAction(chatId, 'typing').then(
          () => undefined,
          (error: unknown) => this.log.debug({ error: this.loggable(error), chatId }, 'sendChatAction failed'),
        ),
      );
    };
    send();
    const timer = setInterval(send, TYPING_EVERY_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * The error boundary of what runs beside the jobs (the jobs have the runner's): every
   * unexpected error is logged with its context and, unless a reply went out already, answered
   * with a brief message (whose own failure is logged too).
   */
  private fail(error: unknown, where: Where): void {
    this.log.error({ ...where, error: this.loggable(error) }, 'telegram update failed');
    if (where.replied || where.chatId === undefined || where.messageId === undefined) return;
    const { chatId, messageId } = where;
    where.replied = true;
    void this.runner.track(
      this.send(chatId, messageId, errorReply(error, this.config.replyLanguage, this.config.limits)).then(
        () => undefined,
        (replyError: unknown) => this.log.error({ error: this.loggable(replyError), chatId, messageId }, 'could not send the error reply'),
      ),
    );
  }

  private loggable(error: unknown): ReturnType<typeof loggableError> {
    return loggableError(error, [this.token]);
  }
}
