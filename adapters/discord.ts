import {
  ApplicationCommandType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  HTTPError,
  MessageFlags,
  Partials,
  PermissionFlagsBits,
  ApplicationCommandOptionType,
  RESTEvents,
  RESTJSONErrorCodes,
  escapeMarkdown,
  type Attachment,
  type ClientOptions,
  type Message,
  type MessageContextMenuCommandInteraction,
  type MessageReplyOptions,
  type RepliableInteraction,
  type RESTPutAPIApplicationCommandsJSONBody,
  type APIApplicationCommandBasicOption,
  type APIApplicationCommandSubcommandOption,
  type ChatInputCommandInteraction,
  type Guild,
  type TextBasedChannel,
} from 'discord.js';
import type { Config } from '../src/config.js';
import { SttError } from '../src/core/errors.js';
import type { Transcriber } from '../src/core/types.js';
import { redactSecrets, type Logger } from '../src/logger.js';
import type { HandedOverOutcome } from '../src/queue/reply-handover.js';
import type { ChatKey, ChatSettings, Store } from '../src/store/index.js';
import { BASE_DEFAULTS, answerFrom, effectiveSettings, hotwordsCommand } from './chat-settings.js';
import { JobRunner, type MediaRef, type ReplyAddress, type ReplyRecord, type ReplyTarget } from './job-runner.js';
import { errorReply, settingChanged, text, type EffectiveSettings, type ReplyLanguage, type SettingName } from './replies.js';
import { BOT_STOP_GRACE_MS, DISCORD_MESSAGE_LIMIT, downloadCapped, downloadLimits } from './shared.js';

/**
 * The Discord bot: voice messages and audio attachments in, transcripts out, as replies to the
 * message they came in. discord.js owns the connection: its REST client waits out 429s and its
 * gateway shard resumes after a disconnect, so this module only maps messages, the Transcribe
 * and `/transcription` commands and its replies onto the shared job runner and the store.
 *
 * `DISCORD_API_ROOT` is handed to discord.js as `rest.api`; @discordjs/rest builds every URL as
 * `${api}/v${version}${route}` (version 10), so the root is given WITHOUT the version: the default
 * is `https://discord.com/api`, and a fake or proxy at `http://127.0.0.1:PORT/api` must answer
 * under `/api/v10/...`. The gateway URL is not configured: it comes from that API's
 * `GET /gateway/bot`, and resuming uses the `resume_gateway_url` of READY.
 */

/** The name of the message context-menu command ("Apps → Transcribe" on a message). */
export const TRANSCRIBE_COMMAND_NAME = 'Transcribe';

/** The name of the slash command for a channel's settings, search and forget. */
export const SETTINGS_COMMAND_NAME = 'transcription';

function subcommand(name: string, description: string, options: APIApplicationCommandBasicOption[]): APIApplicationCommandSubcommandOption {
  return { type: ApplicationCommandOptionType.Subcommand, name, description, options };
}

function choice(name: string, values: readonly string[]): APIApplicationCommandBasicOption {
  return { type: ApplicationCommandOptionType.String, name, description: name, required: true, choices: values.map((value) => ({ name: value, value })) };
}

function onOff(name: string): APIApplicationCommandBasicOption {
  return choice(name, ['on', 'off']);
}

/** Search results per page. */
const SEARCH_PAGE = 5;

/** The application commands the bot registers (PUT, replacing any others) once it is ready. */
export const DISCORD_COMMANDS: RESTPutAPIApplicationCommandsJSONBody = [
  { name: TRANSCRIBE_COMMAND_NAME, name_localizations: { vi: 'Chuyển thành văn bản' }, type: ApplicationCommandType.Message },
  {
    name: SETTINGS_COMMAND_NAME,
    type: ApplicationCommandType.ChatInput,
    description: 'Transcription in this channel: settings, search, forget',
    description_localizations: { vi: 'Chép lời trong kênh này: cài đặt, tìm kiếm, xoá' },
    // Manage Channels: whoever may shape a channel may shape its transcription.
    default_member_permissions: String(PermissionFlagsBits.ManageChannels),
    options: [
      subcommand('auto', 'Transcribe voice messages here by themselves', [onOff('state')]),
      subcommand('language', 'The language of the replies', [choice('language', ['vi', 'en', 'both'])]),
      subcommand('timestamps', 'Times in the transcripts', [onOff('state')]),
      subcommand('style', 'Written form, or the words as heard', [choice('style', ['written', 'raw'])]),
      subcommand('history', 'Keep this channel\'s transcripts, to search them', [onOff('state')]),
      subcommand('hotwords', 'Names and terms to expect here: show, set or clear them', [
        { type: ApplicationCommandOptionType.String, name: 'words', description: 'Comma-separated, e.g. Lộc, Khánh Linh; "clear" removes them', required: false },
      ]),
      subcommand('search', 'Find what was said in this channel', [
        { type: ApplicationCommandOptionType.String, name: 'words', description: 'Words or a "quoted phrase"', required: true, max_length: 200 },
        { type: ApplicationCommandOptionType.String, name: 'next', description: 'The page token a search gave', required: false },
      ]),
      subcommand('forget', 'Delete this channel\'s settings and history', []),
    ],
  },
];

/** File names taken as audio when Discord sends no audio/* content type. */
const AUDIO_FILE_NAME = /\.(ogg|oga|opus|mp3|m4a|wav|webm)$/i;

/** Discord shows "typing…" for 10 s after each call; repeat a little sooner while a job runs. */
const TYPING_REFRESH_MS = 8_000;

/**
 * How long a `/transcription` command's answer may take before the bot defers it: Discord
 * drops an interaction not answered within 3 s, and a deferred one may be answered for 15
 * minutes (a search over a long history, or a store under load, can take longer than 3 s).
 */
export const SETTINGS_DEFER_MS = 2_000;

/** Replies never ping anyone: a transcript is not a mention. */
const NO_PINGS: MessageReplyOptions['allowedMentions'] = { parse: [], repliedUser: false };

/** What `createDiscordBot` needs. */
export interface DiscordBotOptions {
  /** The service's config; `discord.token` must be set (main.ts starts the bot only then). */
  config: Config;
  /** The shared core; every job goes through its one queue. */
  transcriber: Transcriber;
  /** Where each channel's settings and (when it turns history on) its transcripts are kept. */
  store: Store;
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
  /**
   * How long a `/transcription` answer may take before it is deferred (an ephemeral "thinking",
   * then the answer edited in); 0 defers every one at once.
   * @defaultValue {@link SETTINGS_DEFER_MS}
   */
  settingsDeferMs?: number;
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
  /**
   * Delivers the answer of a job another front took (and can no longer answer), from the record
   * that travelled with it: the placeholder that front sent edited into the transcript, or a
   * reply to the audio's message.
   */
  adopt(record: object, outcome: HandedOverOutcome): Promise<void>;
}

/**
 * Where a Discord job answers: the channel, the audio's message (replied to), and the placeholder
 * once sent. Only replies to a message travel: an interaction's answer needs its token, which
 * stays with the front that received it.
 */
export interface DiscordReplyAddress extends ReplyAddress {
  platform: 'discord';
  channelId: string;
  messageId: string;
  placeholderId?: string;
}

function isDiscordAddress(address: ReplyAddress): address is DiscordReplyAddress {
  const { platform, channelId, messageId, placeholderId } = address as Partial<DiscordReplyAddress>;
  return platform === 'discord' && typeof channelId === 'string' && typeof messageId === 'string' && (placeholderId === undefined || typeof placeholderId === 'string');
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
  const { config, transcriber, store } = options;
  const token = config.discord.token;
  if (!token) throw new Error('createDiscordBot needs DISCORD_BOT_TOKEN; start the bot only when it is set');
  // The token, and each of its dot-separated parts (discord.js logs the first two), never leave.
  const secrets = [token, ...token.split('.')];
  const redact = (text: string): string => redactSecrets(text, secrets);
  const logger = options.logger.child({ adapter: 'discord' });
  const limits = config.limits;
  const watched = new Set(config.discord.channelIds);
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

  const runner = new JobRunner({
    transcriber,
    source: 'discord',
    limits,
    rateLimit: config.userRateLimit,
    progressEditMs: config.progressEditMs,
    logger,
    describeError,
    stopGraceMs: options.stopGraceMs ?? BOT_STOP_GRACE_MS,
  });

  /** An attachment as the job runner sees it: declared size and length, and a capped download. */
  const mediaOf = (attachment: Attachment): MediaRef => ({
    size: attachment.size,
    duration: attachment.duration ?? undefined,
    download: async (signal) => ({
      kind: 'buffer',
      data: await downloadCapped(attachment.url, {
        ...downloadLimits(limits),
        signal,
        fetch: options.fetch,
      }),
    }),
  });

  /** Replies to `message`; the placeholder is the first reply, edited in place. */
  const messageTarget = (message: Message): ReplyTarget => {
    let shown: Message | undefined;
    const reply = (content: string): Promise<Message> => message.reply({ content, allowedMentions: NO_PINGS });
    return {
      async placeholder(content) {
        shown = await reply(content);
      },
      async edit(content) {
        if (!shown) throw new Error('there is no placeholder to edit');
        shown = await shown.edit({ content, allowedMentions: NO_PINGS });
      },
      async send(content) {
        await reply(content);
      },
      async sendDocument(name, content) {
        await message.reply({ files: [{ attachment: Buffer.from(content, 'utf8'), name }], allowedMentions: NO_PINGS });
      },
      address: () => ({ platform: 'discord', channelId: message.channelId, messageId: message.id, placeholderId: shown?.id }),
    };
  };

  /**
   * Replies to a message known by its ids only (a job another front took): the placeholder, if
   * that front sent one, edited in place, the rest as replies.
   */
  const addressTarget = (address: DiscordReplyAddress): ReplyTarget => {
    let placeholderId = address.placeholderId;
    const channel = async () => {
      const found = await client.channels.fetch(address.channelId);
      if (!found?.isSendable()) throw new Error('the channel of this job cannot be written to');
      return found;
    };
    const reply = async (options: Pick<MessageReplyOptions, 'content' | 'files'>): Promise<Message> =>
      (await channel()).send({ ...options, reply: { messageReference: address.messageId, failIfNotExists: false }, allowedMentions: NO_PINGS });
    return {
      async placeholder(content) {
        placeholderId = (await reply({ content })).id;
      },
      async edit(content) {
        if (!placeholderId) throw new Error('there is no placeholder to edit');
        await (await channel()).messages.edit(placeholderId, { content, allowedMentions: NO_PINGS });
      },
      async send(content) {
        await reply({ content });
      },
      async sendDocument(name, content) {
        await reply({ files: [{ attachment: Buffer.from(content, 'utf8'), name }] });
      },
      address: () => ({ ...address, placeholderId }),
    };
  };

  /**
   * Answers the "Transcribe" command on `message` through its interaction: `response` in its
   * deferred "thinking…" response (the placeholder), then follow-ups; `follow-up` in follow-ups
   * of its own (the second and later audio files of one command, each with its own placeholder).
   * An interaction's token lasts 15 minutes, and a job may wait longer: once Discord refuses the
   * token, the answer goes on as replies to the voice message in its channel.
   */
  const interactionTarget = (interaction: RepliableInteraction, message: Message, answerIn: 'response' | 'follow-up'): ReplyTarget => {
    const inChannel = messageTarget(message);
    let expired = false;
    let answered = false;
    let followUpId: string | undefined;
    const first = async (content: string): Promise<void> => {
      if (answerIn === 'follow-up') {
        if (followUpId) await interaction.editReply({ message: followUpId, content, allowedMentions: NO_PINGS });
        else followUpId = (await interaction.followUp({ content, allowedMentions: NO_PINGS })).id;
      } else if (interaction.deferred || interaction.replied) await interaction.editReply({ content, allowedMentions: NO_PINGS });
      else await interaction.reply({ content, allowedMentions: NO_PINGS });
      answered = true;
    };
    const withToken = async (call: () => Promise<unknown>, instead: () => Promise<void>): Promise<void> => {
      if (!expired) {
        try {
          await call();
          return;
        } catch (error) {
          if (!(error instanceof DiscordAPIError && (error.code === RESTJSONErrorCodes.InvalidWebhookToken || error.status === 401))) throw error;
          expired = true;
          logger.info({ interactionId: interaction.id, messageId: message.id }, 'discord interaction token expired; answering in the channel');
        }
      }
      await instead();
    };
    return {
      placeholder: (content) => withToken(() => first(content), () => inChannel.placeholder(content)),
      // In the channel there is no placeholder of the interaction's to edit: the runner then sends.
      edit: (content) => withToken(() => first(content), () => inChannel.edit(content)),
      send: (content) =>
        withToken(
          () => (answered ? interaction.followUp({ content, allowedMentions: NO_PINGS }) : first(content)),
          () => inChannel.send(content),
        ),
      sendDocument: (name, content) =>
        withToken(
          () => interaction.followUp({ files: [{ attachment: Buffer.from(content, 'utf8'), name }], allowedMentions: NO_PINGS }),
          () => inChannel.sendDocument(name, content),
        ),
    };
  };

  /** A thread shares its channel's settings and history. */
  const settingsChannelOf = (channel: TextBasedChannel): string => (channel.isThread() && channel.parentId ? channel.parentId : channel.id);
  const keyOf = (channelId: string): ChatKey => ({ platform: 'discord', chatId: channelId });

  /** What a channel has before it sets anything: REPLY_LANGUAGE, and auto-transcription where DISCORD_CHANNEL_IDS allows (DMs always). */
  const defaultsFor = (channelId: string, inGuild: boolean): EffectiveSettings => ({
    ...BASE_DEFAULTS,
    language: config.replyLanguage,
    auto: !inGuild || watched.size === 0 || watched.has(channelId),
  });

  const settingsOf = async (channel: TextBasedChannel): Promise<EffectiveSettings> => {
    const id = settingsChannelOf(channel);
    return effectiveSettings(await store.getSettings(keyOf(id)), defaultsFor(id, !channel.isDMBased()));
  };

  /** The channel's reply language; REPLY_LANGUAGE without a channel, or when its settings cannot be read. */
  const languageFor = async (channel: TextBasedChannel | null): Promise<ReplyLanguage> =>
    channel ? settingsOf(channel).then((settings) => settings.language, () => config.replyLanguage) : config.replyLanguage;

  /** Hands every audio attachment of `message` to the runner, in order, answering `target`. */
  const transcribe = (message: Message, owner: string, target: (attachment: Attachment) => ReplyTarget, idPrefix: string, context: LogContext, asked: boolean): void => {
    const attachments = audioAttachments(message);
    void runner.inOrder(`discord:${message.channelId}`, async () => {
      let settings: EffectiveSettings;
      try {
        settings = await settingsOf(message.channel);
      } catch (error) {
        // The store cannot be read: the note still gets its one short reply.
        logger.error({ ...context, error: describeError(error) }, 'discord channel settings could not be read');
        await target(attachments[0])
          .send(errorReply(error, config.replyLanguage, limits))
          .catch((replyError: unknown) => logger.error({ ...context, error: describeError(replyError) }, 'discord error reply failed'));
        return;
      }
      if (!asked && !settings.auto) return;
      const guild = message.guildId ?? '@me';
      for (const attachment of attachments) {
        const reply = target(attachment);
        const record: ReplyRecord<DiscordReplyAddress> = {
          id: `discord-${idPrefix}-${attachment.id}`,
          chat: `discord:${message.channelId}`,
          address: { platform: 'discord', channelId: message.channelId, messageId: message.id },
          language: settings.language,
          style: { textStyle: settings.textStyle, timestamps: settings.timestamps },
          // Enough to link to the voice message: https://discord.com/channels/<guild>/<channel>/<message>.
          history: settings.history ? { chat: keyOf(settingsChannelOf(message.channel)), messageRef: `${guild}/${message.channelId}/${message.id}`, authorId: message.author.id } : undefined,
          messageLimit: DISCORD_MESSAGE_LIMIT,
          heading: attachments.length > 1 ? escapeMarkdown(attachment.name) : undefined,
          context: { ...context, attachmentId: attachment.id, size: attachment.size },
        };
        void runner.submit({
          ...answerFrom(record, reply, store),
          owner: `discord:${owner}`,
          media: mediaOf(attachment),
          typing: () => keepTyping(message.channel, context),
          // A reply that only this front can send (an interaction's) does not travel.
          record: reply.address ? record : undefined,
          hotwords: settings.hotwords,
        });
      }
    });
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

  const handleMessage = (message: Message): void => {
    const context: LogContext = { messageId: message.id, channelId: message.channelId, guildId: message.guildId ?? undefined, userId: message.author.id };
    // Each attachment's job has its own placeholder.
    transcribe(message, message.author.id, () => messageTarget(message), message.id, context, false);
  };

  /** `/transcription …`: a setting changed, a search, or forget, answered ephemerally. */
  const handleSettings = async (interaction: ChatInputCommandInteraction): Promise<void> => {
    const channel = interaction.channel;
    const context: LogContext = { interactionId: interaction.id, channelId: interaction.channelId, userId: interaction.user.id };
    noteChannel(interaction.guildId, interaction.channelId);
    // Answered at once when the store is quick; deferred when it is not, then edited in.
    let deferral: Promise<unknown> | undefined;
    const defer = (): Promise<unknown> => (deferral ??= interaction.deferReply({ flags: MessageFlags.Ephemeral }));
    const deferAfterMs = options.settingsDeferMs ?? SETTINGS_DEFER_MS;
    // A failed deferral is reported by the answer that awaits it.
    const timer = deferAfterMs > 0 ? setTimeout(() => void defer().catch(() => undefined), deferAfterMs) : undefined;
    const answer = async (content: string): Promise<unknown> => {
      clearTimeout(timer);
      if (deferral === undefined) return interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      await deferral;
      return interaction.editReply({ content, allowedMentions: NO_PINGS });
    };
    try {
      if (deferAfterMs === 0) await defer();
      if (!channel) throw new Error('the interaction came without its channel');
      const key = keyOf(settingsChannelOf(channel));
      const before = await settingsOf(channel);
      const sub = interaction.options.getSubcommand();
      if (sub === 'search') {
        await answer(await searchReply(key, interaction.options.getString('words', true), interaction.options.getString('next') ?? undefined, before));
        return;
      }
      // Discord shows the command to Manage Channels only; a server may widen that, the bot does not.
      const mayChange = !interaction.inGuild() || interaction.memberPermissions.has(PermissionFlagsBits.ManageChannels);
      if (sub === 'hotwords') {
        const { reply, changed } = await hotwordsCommand(store, key, interaction.options.getString('words') ?? '', {
          settings: before,
          usage: `/${SETTINGS_COMMAND_NAME} hotwords words: Lộc, Khánh Linh`,
          messageLimit: DISCORD_MESSAGE_LIMIT,
          mayChange: async () => mayChange,
        });
        if (changed) logger.info({ ...context, setting: 'hotwords' }, 'discord channel setting changed');
        await answer(reply);
        return;
      }
      if (!mayChange) {
        await answer(text('adminsOnly', before.language));
        return;
      }
      if (sub === 'forget') {
        await store.forget(key);
        logger.info(context, 'discord channel forgotten on request');
        await answer(text('forgotten', before.language));
        return;
      }
      const [name, patch] = settingPatch(sub, interaction);
      const after = effectiveSettings(await store.updateSettings(key, patch), defaultsFor(key.chatId, interaction.inGuild()));
      logger.info({ ...context, setting: name }, 'discord channel setting changed');
      await answer(settingChanged(name, after, after.language));
    } catch (error) {
      logger.warn({ ...context, error: describeError(error) }, 'discord command failed');
      await answer(errorReply(error, await languageFor(channel), limits)).catch((replyError: unknown) => {
        logger.error({ ...context, error: describeError(replyError) }, 'discord error reply failed');
      });
    } finally {
      clearTimeout(timer);
    }
  };

  /** One page of a search in this channel: who, when, the matching words and a link to each voice message. */
  const searchReply = async (key: ChatKey, words: string, cursor: string | undefined, settings: EffectiveSettings): Promise<string> => {
    let page;
    try {
      page = await store.search(key, words, { limit: SEARCH_PAGE, cursor });
    } catch (error) {
      if (error instanceof SttError && error.code === 'bad_query') return text('searchUsage', settings.language);
      throw error;
    }
    if (page.results.length === 0) return text(settings.history ? 'searchNothing' : 'searchHistoryOff', settings.language);
    const hits = page.results.map((hit) => {
      const [guild, channel, message] = hit.messageRef.split('/');
      const when = Math.floor(hit.createdAt.getTime() / 1000);
      return `🔎 <@${hit.authorId}> · <t:${when}:f> · https://discord.com/channels/${guild}/${channel}/${message}\n> ${escapeMarkdown(hit.snippet)}`;
    });
    if (page.nextCursor) hits.push(`${text('searchMore', settings.language)}: \`/${SETTINGS_COMMAND_NAME} search words:${words} next:${page.nextCursor}\``);
    return hits.join('\n');
  };

  /**
   * Each guild's channels, as last seen: discord.js empties a guild's channel cache before it
   * tells of the guild's removal, so the bot keeps its own list of what to forget then.
   */
  const guildChannels = new Map<string, Set<string>>();
  const noteChannels = (guild: Guild): void => {
    const known = guildChannels.get(guild.id) ?? new Set<string>();
    for (const id of guild.channels.cache.keys()) known.add(id);
    guildChannels.set(guild.id, known);
  };
  const noteChannel = (guildId: string | null, channelId: string): void => {
    if (!guildId) return;
    const known = guildChannels.get(guildId) ?? new Set<string>();
    known.add(channelId);
    guildChannels.set(guildId, known);
  };

  const forgetGuild = async (guild: Guild): Promise<void> => {
    const channels = [...(guildChannels.get(guild.id) ?? []), ...guild.channels.cache.keys()];
    guildChannels.delete(guild.id);
    for (const id of new Set(channels)) await store.forget(keyOf(id));
    logger.info({ guildId: guild.id, channels: channels.length }, 'discord bot removed from a guild; its channels\' settings and history are deleted');
  };

  const handleCommand = async (interaction: MessageContextMenuCommandInteraction): Promise<void> => {
    const message = interaction.targetMessage;
    const context: LogContext = { interactionId: interaction.id, messageId: message.id, channelId: interaction.channelId, userId: interaction.user.id };
    const target = interactionTarget(interaction, message, 'response');
    let answers = 0;
    try {
      await interaction.deferReply();
      if (audioAttachments(message).length === 0) throw new SttError('no_audio');
      // The first audio file answers in the response; each further one in follow-ups of its own.
      transcribe(message, interaction.user.id, () => (answers++ === 0 ? target : interactionTarget(interaction, message, 'follow-up')), interaction.id, context, true);
    } catch (error) {
      logger.warn({ ...context, error: describeError(error) }, 'discord command failed');
      await target.send(errorReply(error, await languageFor(interaction.channel), limits)).catch((replyError: unknown) => {
        logger.error({ ...context, error: describeError(replyError) }, 'discord error reply failed');
      });
    }
  };

  client.on(Events.MessageCreate, (message) => {
    if (stopping || message.author.bot || message.system || message.author.id === client.user?.id) return;
    if (audioAttachments(message).length === 0) return;
    handleMessage(message);
  });
  client.on(Events.InteractionCreate, (interaction) => {
    if (stopping) return;
    if (interaction.isMessageContextMenuCommand() && interaction.commandName === TRANSCRIBE_COMMAND_NAME) void runner.track(handleCommand(interaction));
    else if (interaction.isChatInputCommand() && interaction.commandName === SETTINGS_COMMAND_NAME) void runner.track(handleSettings(interaction));
  });
  client.on(Events.GuildCreate, noteChannels);
  client.on(Events.ChannelCreate, (channel) => noteChannel(channel.guildId, channel.id));
  client.on(Events.GuildDelete, (guild) => {
    // Removed from a guild: what its channels kept goes with it.
    void runner.track(forgetGuild(guild));
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
      for (const guild of readyClient.guilds.cache.values()) noteChannels(guild);
      await registerCommands(readyClient);
      logger.info({ user: readyClient.user.tag, guilds: readyClient.guilds.cache.size, channels: watched.size > 0 ? [...watched] : 'all' }, 'discord bot ready');
    },
    async stop() {
      stopping = true;
      await runner.stop();
      await client.destroy();
      logger.info('discord bot stopped');
    },
    adopt(record, outcome) {
      return runner.adopt(record, outcome, { isAddress: isDiscordAddress, target: addressTarget, store });
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

/** The setting a `/transcription` subcommand changes, and how. */
function settingPatch(sub: string, interaction: ChatInputCommandInteraction): [SettingName, ChatSettings] {
  const on = (): boolean => interaction.options.getString('state', true) === 'on';
  switch (sub) {
    case 'auto':
      return ['auto', { auto: on() }];
    case 'timestamps':
      return ['timestamps', { timestamps: on() }];
    case 'history':
      return ['history', { history: on() }];
    case 'language':
      return ['language', { language: interaction.options.getString('language', true) as ReplyLanguage }];
    case 'style':
      return ['textStyle', { textStyle: interaction.options.getString('style', true) === 'raw' ? 'raw' : 'written' }];
    default:
      throw new SttError('bad_request', `No such subcommand: ${sub}`);
  }
}
