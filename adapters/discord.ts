import {
  ApplicationCommandType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  HTTPError,
  MessageFlags,
  Partials,
  RESTEvents,
  escapeMarkdown,
  type Attachment,
  type ClientOptions,
  type Message,
  type MessageContextMenuCommandInteraction,
  type MessageReplyOptions,
  type RESTPutAPIApplicationCommandsJSONBody,
  type TextBasedChannel,
} from 'discord.js';
import type { Config } from '../src/config.js';
import { SttError, fileTooLarge, toSttError } from '../src/core/errors.js';
import { toWritten } from '../src/text/written.js';
import type { Transcriber } from '../src/core/types.js';
import { redactSecrets, type Logger } from '../src/logger.js';
import {
  BOT_STOP_GRACE_MS,
  DISCORD_MESSAGE_LIMIT,
  NO_SPEECH_REPLY,
  RATE_LIMITED_REPLY,
  UserRateLimiter,
  downloadCapped,
  errorReply,
  queuedReply,
  splitMessage,
} from './shared.js';

/**
 * The Discord bot: voice messages and audio attachments in, transcripts out, as replies to the
 * message they came in. discord.js owns the connection: its REST client waits out 429s and its
 * gateway shard resumes after a disconnect, so this module only handles messages.
 *
 * `DISCORD_API_ROOT` is handed to discord.js as `rest.api`; @discordjs/rest builds every URL as
 * `${api}/v${version}${route}` (version 10), so the root is given WITHOUT the version: the default
 * is `https://discord.com/api`, and a fake or proxy at `http://127.0.0.1:PORT/api` must answer
 * under `/api/v10/...`. The gateway URL is not configured: it comes from that API's
 * `GET /gateway/bot`, and resuming uses the `resume_gateway_url` of READY.
 */

/** The name of the message context-menu command ("Apps → Transcribe" on a message). */
export const TRANSCRIBE_COMMAND_NAME = 'Transcribe';

/** The application commands the bot registers (PUT, replacing any others) once it is ready. */
export const DISCORD_COMMANDS: RESTPutAPIApplicationCommandsJSONBody = [
  { name: TRANSCRIBE_COMMAND_NAME, name_localizations: { vi: 'Chuyển thành văn bản' }, type: ApplicationCommandType.Message },
];

/** File names taken as audio when Discord sends no audio/* content type. */
const AUDIO_FILE_NAME = /\.(ogg|oga|opus|mp3|m4a|wav|webm)$/i;

/** Discord shows "typing…" for 10 s after each call; repeat a little sooner while a job runs. */
const TYPING_REFRESH_MS = 8_000;

/** Replies never ping anyone: a transcript is not a mention. */
const NO_PINGS: MessageReplyOptions['allowedMentions'] = { parse: [], repliedUser: false };

/** What `createDiscordBot` needs. */
export interface DiscordBotOptions {
  /** The service's config; `discord.token` must be set (main.ts starts the bot only then). */
  config: Config;
  /** The shared core; every job goes through its one queue. */
  transcriber: Transcriber;
  logger: Logger;
  /**
   * discord.js client options laid over the bot's own (intents, partials, `rest.api` from
   * config). `rest` is merged key by key, so tests can shorten `rest.timeout` or set
   * `rest.offset: 0` and keep the API root.
   * @defaultValue none
   */
  clientOptions?: Partial<ClientOptions>;
  /**
   * The fetch used to download attachments from Discord's CDN (never sent the bot token).
   * @defaultValue the global fetch
   */
  fetch?: typeof fetch;
  /**
   * How long `stop()` lets transcriptions in flight finish before it cancels them (their
   * authors then get the "restarting" reply).
   * @defaultValue {@link BOT_STOP_GRACE_MS}
   */
  stopGraceMs?: number;
}

/** A built, not yet connected, Discord bot. */
export interface DiscordBot {
  /** The discord.js client (for tests and status; the bot owns its lifecycle). */
  readonly client: Client;
  /**
   * Logs in, waits for the gateway's READY and the guilds, then registers the "Transcribe"
   * command (a failure there is logged, not thrown). Rejects if login fails.
   */
  start(): Promise<void>;
  /** Stops taking messages, lets jobs in flight reply (bounded by `stopGraceMs`), disconnects. */
  stop(): Promise<void>;
}

/** Where a job's answer goes: replies to a message, or the response of an interaction. */
interface ReplyTarget {
  /** Shows the "N ahead of you" placeholder, later replaced by the first `send`. */
  placeholder(text: string): void;
  /** Sends the parts in order; the first replaces the placeholder if there is one. */
  send(parts: readonly string[]): Promise<void>;
}

type LogContext = Record<string, string | number | undefined>;

/** Whether an attachment is audio: by content type, else by file name. */
export function isAudioAttachment(attachment: Pick<Attachment, 'contentType' | 'name'>): boolean {
  if (attachment.contentType) return attachment.contentType.toLowerCase().startsWith('audio/') || AUDIO_FILE_NAME.test(attachment.name);
  return AUDIO_FILE_NAME.test(attachment.name);
}

/** The attachments of a message to transcribe: all of a voice message's, else the audio ones. */
export function audioAttachments(message: Pick<Message, 'attachments' | 'flags'>): Attachment[] {
  const voice = message.flags.has(MessageFlags.IsVoiceMessage);
  return [...message.attachments.values()].filter((a) => voice || isAudioAttachment(a));
}

/**
 * Builds the Discord bot around the shared Transcriber. Nothing connects until `start()`.
 *
 * Intents: Guilds, GuildMessages, DirectMessages and the privileged MessageContent (without it
 * Discord sends guild messages with empty attachments); the Channel partial lets DMs arrive.
 */
export function createDiscordBot(options: DiscordBotOptions): DiscordBot {
  const { config, transcriber } = options;
  const token = config.discord.token;
  if (!token) throw new Error('createDiscordBot needs DISCORD_BOT_TOKEN; start the bot only when it is set');
  // The token, and each of its dot-separated parts (discord.js logs the first two), never leave.
  const secrets = [token, ...token.split('.')];
  const redact = (text: string): string => redactSecrets(text, secrets);
  const logger = options.logger.child({ adapter: 'discord' });
  const limits = config.limits;
  const limiter = new UserRateLimiter(config.userRateLimit.count, config.userRateLimit.windowSec * 1000);
  const watched = new Set(config.discord.channelIds);
  const stopGraceMs = options.stopGraceMs ?? BOT_STOP_GRACE_MS;
  const shutdown = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent],
    partials: [Partials.Channel],
    ...options.clientOptions,
    rest: { api: config.discord.apiRoot, ...options.clientOptions?.rest },
  });

  const describeError = (error: unknown, depth = 0): Record<string, unknown> => {
    if (error instanceof DiscordAPIError || error instanceof HTTPError) {
      return { type: error.name, message: redact(error.message), status: error.status, method: error.method, route: safeRoute(error.url), ...(error instanceof DiscordAPIError ? { code: error.code } : {}) };
    }
    if (error instanceof Error) {
      return {
        type: error.name,
        message: redact(error.message),
        ...(error instanceof SttError ? { code: error.code } : {}),
        stack: error.stack ? redact(error.stack) : undefined,
        ...(error.cause !== undefined && depth < 3 ? { cause: describeError(error.cause, depth + 1) } : {}),
      };
    }
    return { value: redact(String(error)) };
  };

  /** The one error boundary: whatever `work` throws is logged with its context and answered briefly. */
  const boundary = async (context: LogContext, target: ReplyTarget, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      // A job cut short by stop() is told the service is restarting, whatever layer saw the abort.
      const stt = shutdown.signal.aborted ? new SttError('shutting_down', undefined, { cause: error }) : toSttError(error);
      const level = stt.status >= 500 ? 'error' : 'warn';
      logger[level]({ ...context, code: stt.code, error: describeError(error) }, 'discord job failed');
      try {
        await target.send([errorReply(stt)]);
      } catch (replyError) {
        logger.error({ ...context, error: describeError(replyError) }, 'discord error reply failed');
      }
    }
  };

  const track = (job: Promise<void>): void => {
    inFlight.add(job);
    void job.finally(() => inFlight.delete(job));
  };

  /** Downloads one attachment (refused by its declared size first), transcribes it, replies. */
  const transcribeAttachment = async (attachment: Attachment, jobId: string, userId: string, target: ReplyTarget, heading: string | undefined): Promise<void> => {
    if (attachment.size > limits.maxUploadBytes) {
      throw fileTooLarge(limits.maxUploadMb);
    }
    if (attachment.duration !== null && attachment.duration > limits.maxDurationSec) {
      throw new SttError('audio_too_long', `The audio is longer than the ${limits.maxDurationSec} s limit.`);
    }
    const data = await downloadCapped(attachment.url, {
      maxBytes: limits.maxUploadBytes,
      maxMb: limits.maxUploadMb,
      idleMs: limits.uploadIdleMs,
      deadlineMs: limits.uploadDeadlineMs,
      minBytesPerSec: limits.uploadMinBytesPerSec,
      signal: shutdown.signal,
      fetch: options.fetch,
    });
    const transcript = await transcriber.transcribe(
      { kind: 'buffer', data },
      {
        signal: shutdown.signal,
        jobId,
        source: 'discord',
        // People take turns in the queue: one person's batch does not hold up another's note.
        owner: `discord:${userId}`,
        onQueued: (ahead) => {
          if (ahead > 0) target.placeholder(queuedReply(ahead));
        },
      },
    );
    // People read the reply: the written form (digits, dates, money), not the spoken words.
    const text = toWritten(transcript.text).trim();
    const prefix = heading ? `🎧 ${escapeMarkdown(heading)}\n` : '';
    const parts = text ? splitMessage(text, DISCORD_MESSAGE_LIMIT - prefix.length) : [NO_SPEECH_REPLY];
    parts[0] = prefix + parts[0];
    await target.send(parts);
  };

  /** Replies to `message`; a placeholder, if any, is edited into the first part. */
  const messageTarget = (message: Message, context: LogContext): ReplyTarget => {
    let placeholder: Promise<Message | undefined> | undefined;
    const reply = (content: string): Promise<Message> => message.reply({ content, allowedMentions: NO_PINGS });
    return {
      placeholder(text) {
        placeholder ??= reply(text).catch((error: unknown) => {
          logger.warn({ ...context, error: describeError(error) }, 'discord placeholder failed');
          return undefined;
        });
      },
      async send(parts) {
        const shown = await placeholder;
        placeholder = undefined;
        for (const [i, content] of parts.entries()) {
          if (i === 0 && shown) await shown.edit({ content, allowedMentions: NO_PINGS });
          else await reply(content);
        }
      },
    };
  };

  /** Answers a deferred interaction: edits its "thinking…" response, then follows up. */
  const interactionTarget = (interaction: MessageContextMenuCommandInteraction): ReplyTarget => {
    let answered = false;
    let placeholder: Promise<unknown> | undefined;
    return {
      placeholder(text) {
        if (!answered && interaction.deferred) placeholder ??= interaction.editReply({ content: text, allowedMentions: NO_PINGS }).catch(() => undefined);
      },
      async send(parts) {
        await placeholder;
        placeholder = undefined;
        for (const content of parts) {
          if (!answered && (interaction.deferred || interaction.replied)) await interaction.editReply({ content, allowedMentions: NO_PINGS });
          else if (!answered) await interaction.reply({ content, allowedMentions: NO_PINGS });
          else await interaction.followUp({ content, allowedMentions: NO_PINGS });
          answered = true;
        }
      },
    };
  };

  /** Shows "typing…" in the channel until the returned function is called. */
  const keepTyping = (channel: TextBasedChannel, context: LogContext): (() => void) => {
    if (!channel.isSendable()) return () => {};
    const send = (): void => {
      channel.sendTyping().catch((error: unknown) => logger.debug({ ...context, error: describeError(error) }, 'discord typing failed'));
    };
    send();
    const timer = setInterval(send, TYPING_REFRESH_MS);
    timer.unref();
    return () => clearInterval(timer);
  };

  const isWatched = (message: Message): boolean => {
    if (!message.inGuild() || watched.size === 0) return true;
    if (watched.has(message.channelId)) return true;
    const channel = message.channel;
    return channel.isThread() && channel.parentId !== null && watched.has(channel.parentId);
  };

  const handleMessage = async (message: Message): Promise<void> => {
    const attachments = audioAttachments(message);
    const context: LogContext = { messageId: message.id, channelId: message.channelId, guildId: message.guildId ?? undefined, userId: message.author.id };
    if (!limiter.take(message.author.id)) {
      logger.info(context, 'discord user over the rate limit');
      const target = messageTarget(message, context);
      await boundary(context, target, () => target.send([RATE_LIMITED_REPLY]));
      return;
    }
    const stopTyping = keepTyping(message.channel, context);
    try {
      for (const attachment of attachments) {
        const jobContext = { ...context, attachmentId: attachment.id, size: attachment.size };
        const target = messageTarget(message, jobContext);
        const heading = attachments.length > 1 ? attachment.name : undefined;
        await boundary(jobContext, target, () => transcribeAttachment(attachment, `discord-${message.id}-${attachment.id}`, message.author.id, target, heading));
      }
    } finally {
      stopTyping();
    }
  };

  const handleCommand = async (interaction: MessageContextMenuCommandInteraction): Promise<void> => {
    const message = interaction.targetMessage;
    const context: LogContext = { interactionId: interaction.id, messageId: message.id, channelId: interaction.channelId, userId: interaction.user.id };
    const target = interactionTarget(interaction);
    await boundary(context, target, async () => {
      await interaction.deferReply();
      if (!limiter.take(interaction.user.id)) {
        await target.send([RATE_LIMITED_REPLY]);
        return;
      }
      const attachments = audioAttachments(message);
      if (attachments.length === 0) throw new SttError('no_audio');
      for (const attachment of attachments) {
        const heading = attachments.length > 1 ? attachment.name : undefined;
        await transcribeAttachment(attachment, `discord-${interaction.id}-${attachment.id}`, interaction.user.id, target, heading);
      }
    });
  };

  client.on(Events.MessageCreate, (message) => {
    if (stopping || message.author.bot || message.system || message.author.id === client.user?.id) return;
    if (!isWatched(message) || audioAttachments(message).length === 0) return;
    track(handleMessage(message));
  });
  client.on(Events.InteractionCreate, (interaction) => {
    if (stopping || !interaction.isMessageContextMenuCommand() || interaction.commandName !== TRANSCRIBE_COMMAND_NAME) return;
    track(handleCommand(interaction));
  });
  client.on(Events.Error, (error) => logger.error({ error: describeError(error) }, 'discord client error'));
  client.on(Events.Warn, (message) => logger.warn(redact(message)));
  client.on(Events.Debug, (message) => logger.trace(redact(message)));
  client.on(Events.ShardError, (error, shardId) => logger.warn({ shardId, error: describeError(error) }, 'discord gateway error'));
  client.on(Events.ShardDisconnect, (event, shardId) => logger.error({ shardId, code: event.code }, 'discord gateway closed for good'));
  client.on(Events.ShardReconnecting, (shardId) => logger.info({ shardId }, 'discord gateway reconnecting'));
  client.on(Events.ShardResume, (shardId, replayed) => logger.info({ shardId, replayed }, 'discord gateway resumed'));
  client.rest.on(RESTEvents.RateLimited, (info) =>
    // The route is generalised (`/webhooks/:id/:token`); `url` would hold an interaction token.
    logger.warn({ route: info.route, method: info.method, retryAfterMs: info.retryAfter, global: info.global, scope: info.scope }, 'discord rate limited'),
  );

  const registerCommands = async (ready: Client<true>): Promise<void> => {
    try {
      await ready.application.commands.set(DISCORD_COMMANDS);
    } catch (error) {
      logger.error({ error: describeError(error) }, 'discord command registration failed');
    }
  };

  return {
    client,
    async start() {
      const cancel = new AbortController();
      const ready = new Promise<Client<true>>((resolve, reject) => {
        client.once(Events.ClientReady, resolve);
        cancel.signal.addEventListener('abort', () => {
          client.off(Events.ClientReady, resolve);
          reject(cancel.signal.reason);
        });
      });
      try {
        await client.login(token);
      } catch (error) {
        cancel.abort(error);
        void ready.catch(() => undefined);
        // The cause keeps the original's name and code, with the token scrubbed from its text.
        const cause = Object.assign(new Error(redact(error instanceof Error ? error.message : String(error))), describeError(error));
        throw new Error(`Discord login failed: ${cause.message}`, { cause });
      }
      const readyClient = await ready;
      await registerCommands(readyClient);
      logger.info({ user: readyClient.user.tag, guilds: readyClient.guilds.cache.size, channels: watched.size > 0 ? [...watched] : 'all' }, 'discord bot ready');
    },
    async stop() {
      stopping = true;
      const grace = setTimeout(() => shutdown.abort(new SttError('shutting_down')), stopGraceMs);
      try {
        await Promise.allSettled([...inFlight]);
      } finally {
        clearTimeout(grace);
      }
      await client.destroy();
      logger.info('discord bot stopped');
    },
  };
}

/** A request URL reduced to its path, with webhook (interaction) tokens replaced. */
function safeRoute(url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split('?')[0];
  }
  return path.replace(/\/webhooks\/(\d+)\/[^/]+/, '/webhooks/$1/:token').replace(/\/interactions\/(\d+)\/[^/]+/, '/interactions/$1/:token');
}
