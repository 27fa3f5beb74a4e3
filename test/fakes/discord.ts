import { randomBytes, createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ApplicationCommandType,
  ChannelType,
  GatewayDispatchEvents,
  GatewayIntentBits,
  GatewayOpcodes,
  GuildDefaultMessageNotifications,
  GuildExplicitContentFilter,
  GuildHubType,
  GuildMFALevel,
  GuildNSFWLevel,
  GuildPremiumTier,
  GuildSystemChannelFlags,
  GuildVerificationLevel,
  InteractionContextType,
  InteractionResponseType,
  InteractionType,
  Locale,
  MessageFlags,
  MessageType,
  type APIApplicationCommand,
  type APIApplicationCommandInteractionDataOption,
  type APIAttachment,
  type APIChatInputApplicationCommandInteraction,
  type APIDMChannel,
  type APIGuildMember,
  type APIMessage,
  type APIMessageApplicationCommandInteraction,
  type APIMessageReference,
  type APIRole,
  type APITextChannel,
  type APIThreadChannel,
  type APIUser,
  type GatewayGuildCreateDispatchData,
  type GatewayMessageCreateDispatchData,
  type GatewayReadyDispatchData,
  type GatewaySendPayload,
  type RESTGetAPIGatewayBotResult,
  type TextChannelType,
} from 'discord.js';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A fake Discord on 127.0.0.1, faithful to the protocol as discord.js v14 speaks it, for tests
 * that drive the REAL client with real sockets.
 *
 * URLs. @discordjs/rest builds every request URL as `${rest.api}/v${rest.version}${route}`
 * (version 10), so the API root handed to discord.js (DISCORD_API_ROOT) carries no version:
 * `https://discord.com/api` for the real service, {@link FakeDiscord.apiRoot}
 * (`http://127.0.0.1:PORT/api`) here, and the fake answers under `/api/v10`. The gateway URL is
 * never configured: discord.js reads it from `GET /api/v10/gateway/bot` and appends
 * `?v=10&encoding=json`; to resume it uses READY's `resume_gateway_url` instead.
 *
 * REST (bot token in `Authorization: Bot …`, else 401): `GET /gateway/bot`, `GET /users/@me`,
 * `GET /applications/@me`, `GET /channels/:id`, `POST /channels/:id/messages` (JSON, or
 * multipart with `payload_json` and `files[n]`), `PATCH /channels/:id/messages/:mid`,
 * `POST /channels/:id/typing`, `PUT /applications/:id/commands`; without auth, as Discord
 * serves them: `POST /interactions/:id/:token/callback`, `PATCH|GET
 * /webhooks/:app/:token/messages/@original`, `POST /webhooks/:app/:token`, `PATCH
 * /webhooks/:app/:token/messages/:id` (a follow-up); once {@link FakeDiscord.expireInteraction}
 * has run, each of these answers 401 with code 50027, as Discord does past a token's 15
 * minutes. Unknown channels and
 * messages answer 404 with Discord's JSON error codes (10003, 10008). Attachment `url`s point at
 * a CDN path of this server (`/attachments/:channel/:attachment/:name?ex=…&is=…&hm=…`).
 *
 * Gateway (`ws`, JSON, no zlib): HELLO (op 10) on connect; IDENTIFY (op 2) → READY (with
 * `session_id`, `resume_gateway_url`, the bot user and application) then GUILD_CREATE (one
 * guild with two text channels and a thread); HEARTBEAT (op 1) → ACK (op 11); RESUME (op 6) →
 * the dispatches missed since `seq`, then RESUMED; an unknown session → INVALID_SESSION (op 9,
 * false). A bad token closes with 4004, a missing privileged intent (when the fake says it is
 * not enabled) with 4014, a `v` other than 10 with 4012, and `compress` or a non-JSON
 * encoding with 4002 (this fake speaks uncompressed JSON only).
 *
 * Fault injection: {@link FakeDiscord.failNext} answers the next matching requests with a 429
 * (`retry_after` in the body, `retry-after` and `x-ratelimit-*` headers) or any status;
 * {@link FakeDiscord.dropConnection} closes the gateway socket (4000 by default, or a bare TCP
 * cut). Every request, frame and connection is recorded in order; {@link FakeDiscord.waitFor}
 * resolves on the first recorded call a predicate accepts, or rejects after a bound.
 */

/** An empty flags bitfield; the API's flag enums have no member for 0. */
const NO_FLAGS = 0 as never;

/** Discord's epoch (2015-01-01) in ms, for snowflakes. */
const DISCORD_EPOCH = 1_420_070_400_000n;

/** A file uploaded with a message (multipart `files[n]`). */
export interface UploadedFile {
  field: string;
  name: string;
  contentType: string;
  size: number;
}

/** A REST request and what the fake answered. */
export interface RestCall {
  kind: 'rest';
  seq: number;
  at: number;
  method: string;
  /** Path after `/api/v10`, without the query. */
  path: string;
  /** The route it matched, e.g. `POST /channels/:id/messages`; `unknown` when none. */
  route: string;
  query: Record<string, string>;
  status: number;
  /** Whether it carried the bot token (never the token itself). */
  authorized: boolean;
  /** The JSON body, or a multipart request's `payload_json`. */
  body: unknown;
  files: UploadedFile[];
  /** The message created or edited, as the fake answered it. */
  message?: APIMessage;
}

/** A download from the fake CDN. */
export interface CdnCall {
  kind: 'cdn';
  seq: number;
  at: number;
  path: string;
  status: number;
  /** Bytes written before the client stopped reading or the file ended. */
  bytesSent: number;
}

/** One gateway frame, either way. Tokens in IDENTIFY and RESUME are never recorded. */
export interface GatewayCall {
  kind: 'gateway';
  seq: number;
  at: number;
  connection: number;
  direction: 'received' | 'sent';
  op: GatewayOpcodes;
  /** Dispatch event name, for op 0. */
  t: string | null;
  /** Dispatch sequence number, for op 0. */
  s: number | null;
  /** A dispatch sent again after a RESUME. */
  replayed: boolean;
  /** IDENTIFY: intents; RESUME: session and seq; dispatches: the data. */
  data: unknown;
}

/** A gateway connection opened or closed. */
export interface ConnectionCall {
  kind: 'connection';
  seq: number;
  at: number;
  connection: number;
  event: 'open' | 'close';
  /** The URL path it connected to: `/gateway` or `/resume`. */
  path: string;
  query: Record<string, string>;
  code?: number;
}

/** Everything the fake records, in order. */
export type RecordedCall = RestCall | CdnCall | GatewayCall | ConnectionCall;

/** A scripted failure for the next requests that match. */
export interface FaultOptions {
  method: string;
  /** Matched against the path after `/api/v10` (a string must match exactly). */
  path: RegExp | string;
  /** Default 429. */
  status?: number;
  /** Seconds, for a 429: body `retry_after` and the `retry-after`/`x-ratelimit-reset-after` headers. Default 0.05. */
  retryAfter?: number;
  /** A global rate limit (`x-ratelimit-global`, scope `global`). Default false. */
  global?: boolean;
  /** How many matching requests fail. Default 1. */
  times?: number;
}

export interface FakeDiscordOptions {
  /** The bot token the fake accepts. */
  token: string;
  /**
   * HELLO's heartbeat interval. discord.js sends its first heartbeat after a random part of it.
   * @defaultValue 41 250 ms, as Discord sends
   */
  heartbeatIntervalMs?: number;
  /**
   * Whether the application has the privileged MessageContent intent enabled (developer
   * portal). When false, an IDENTIFY asking for it is closed with 4014, as Discord does.
   * @defaultValue true
   */
  messageContentIntentEnabled?: boolean;
}

/** What an attachment looks like to the fake CDN. */
export interface AttachmentOptions {
  filename: string;
  /** `content_type`; omit to send none (Discord then leaves it out). */
  contentType?: string;
  /** The `size` the message declares; default the real length. */
  declaredSize?: number;
  /** Voice messages: `duration_secs` (and a waveform). */
  durationSecs?: number;
  /** Serve without Content-Length, in chunks, as a stream of unknown length. Default false. */
  chunked?: boolean;
  /** The channel the attachment's URL names; default the text channel. */
  channelId?: string;
}

/** What a test can set on an injected message; the rest is filled in as Discord would. */
export interface MessageInit {
  channel_id: string;
  author?: APIUser;
  content?: string;
  attachments?: APIAttachment[];
  flags?: MessageFlags;
}

interface StoredAttachment {
  data: Uint8Array;
  contentType: string | undefined;
  chunked: boolean;
}

interface Session {
  id: string;
  seq: number;
  events: { s: number; t: GatewayDispatchEvents; d: unknown }[];
  socket: WebSocket | undefined;
}

interface PendingInteraction {
  id: string;
  token: string;
  channelId: string;
  guildId: string | undefined;
  responded: boolean;
  originalId: string | undefined;
  /** Past its 15 minutes: every call with its token is refused. */
  expired?: boolean;
}

interface HandlerResult {
  status: number;
  body?: unknown;
  message?: APIMessage;
}

type Handler = (match: RegExpExecArray, body: unknown, query: URLSearchParams) => HandlerResult;

interface Route {
  method: string;
  name: string;
  pattern: RegExp;
  auth: boolean;
  handle: Handler;
}

/** A fake Discord REST API, CDN and gateway on one 127.0.0.1 port. */
export class FakeDiscord {
  /** The bot's user; its id is also the application id, as for real bots. */
  readonly botUser: APIUser;
  readonly applicationId: string;
  readonly guildId: string;
  /** A guild text channel (`#chung`). */
  readonly textChannelId: string;
  /** A second guild text channel (`#khac`). */
  readonly otherChannelId: string;
  /** A public thread under the text channel. */
  readonly threadId: string;
  /** A human member of the guild who sends the voice messages. */
  readonly user: APIUser;

  /** Every request, frame and connection, in order. */
  readonly calls: RecordedCall[] = [];

  private readonly server: http.Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly events = new EventEmitter();
  private readonly token: string;
  private readonly heartbeatIntervalMs: number;
  private readonly messageContentIntentEnabled: boolean;
  private readonly messages = new Map<string, APIMessage & { guild_id?: string }>();
  private readonly channels = new Map<string, { type: ChannelType; guildId?: string; recipient?: APIUser }>();
  private readonly attachments = new Map<string, StoredAttachment>();
  private readonly sessions = new Map<string, Session>();
  private readonly interactions = new Map<string, PendingInteraction>();
  private readonly faults: (FaultOptions & { remaining: number })[] = [];
  private readonly routes: Route[];
  private commands: APIApplicationCommand[] = [];
  private current: Session | undefined;
  private socket: WebSocket | undefined;
  private connections = 0;
  private readonly connectionIds = new WeakMap<WebSocket, number>();
  private snowflakes = 0n;
  private port = 0;

  private constructor(options: FakeDiscordOptions) {
    this.token = options.token;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.messageContentIntentEnabled = options.messageContentIntentEnabled ?? true;
    this.botUser = { id: this.snowflake(), username: 'viet-stt', discriminator: '0', global_name: 'Viet STT', avatar: null, bot: true };
    this.applicationId = this.botUser.id;
    this.user = { id: this.snowflake(), username: 'lan', discriminator: '0', global_name: 'Lan', avatar: null };
    this.guildId = this.snowflake();
    this.textChannelId = this.snowflake();
    this.otherChannelId = this.snowflake();
    this.threadId = this.snowflake();
    this.channels.set(this.textChannelId, { type: ChannelType.GuildText, guildId: this.guildId });
    this.channels.set(this.otherChannelId, { type: ChannelType.GuildText, guildId: this.guildId });
    this.channels.set(this.threadId, { type: ChannelType.PublicThread, guildId: this.guildId });
    this.routes = this.buildRoutes();
    this.server = http.createServer((req, res) => void this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  /** Starts the fake on 127.0.0.1 and an ephemeral port. */
  static async start(options: FakeDiscordOptions): Promise<FakeDiscord> {
    const fake = new FakeDiscord(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** The value for DISCORD_API_ROOT / discord.js `rest.api`: no `/v10`, discord.js adds it. */
  get apiRoot(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  /** The gateway URL `GET /gateway/bot` hands out. */
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  /** The URL READY names for resuming (another path, so a test can tell the two apart). */
  get resumeGatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/resume`;
  }

  /** Stops everything: sockets, sessions, the server. */
  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------- test controls

  /** A new snowflake, increasing, with the current time in it. */
  snowflake(): string {
    this.snowflakes += 1n;
    return (((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (this.snowflakes & 0xfffn)).toString();
  }

  /** The DM channel between the bot and `user` (created on first use, as Discord does). */
  dmChannelFor(user: APIUser = this.user): string {
    for (const [id, channel] of this.channels) if (channel.type === ChannelType.DM && channel.recipient?.id === user.id) return id;
    const id = this.snowflake();
    this.channels.set(id, { type: ChannelType.DM, recipient: user });
    return id;
  }

  /** Stores a file on the fake CDN and returns the attachment object a message carries. */
  attachment(data: Uint8Array, options: AttachmentOptions): APIAttachment {
    const id = this.snowflake();
    const channelId = options.channelId ?? this.textChannelId;
    const path = `/attachments/${channelId}/${id}/${encodeURIComponent(options.filename)}`;
    this.attachments.set(path, { data, contentType: options.contentType, chunked: options.chunked ?? false });
    const expires = Math.floor(Date.now() / 1000 + 86_400).toString(16);
    const issued = Math.floor(Date.now() / 1000).toString(16);
    const signature = createHash('sha256').update(`${path}${expires}`).digest('hex');
    const query = `?ex=${expires}&is=${issued}&hm=${signature}&`;
    const attachment: APIAttachment = {
      id,
      filename: options.filename,
      size: options.declaredSize ?? data.length,
      url: `http://127.0.0.1:${this.port}${path}${query}`,
      proxy_url: `http://127.0.0.1:${this.port}${path}${query}`,
    };
    if (options.contentType) attachment.content_type = options.contentType;
    if (options.durationSecs !== undefined) {
      attachment.duration_secs = options.durationSecs;
      attachment.waveform = Buffer.alloc(64, 128).toString('base64');
    }
    return attachment;
  }

  /**
   * Dispatches MESSAGE_CREATE for a message a user sent, filled in as Discord sends it (guild
   * messages carry `guild_id` and `member`). Returns the message. If the gateway is down, the
   * event waits in the session and is replayed on RESUME.
   */
  injectMessage(init: MessageInit): GatewayMessageCreateDispatchData {
    const channel = this.channels.get(init.channel_id);
    if (!channel) throw new Error(`FakeDiscord: unknown channel ${init.channel_id}`);
    const author = init.author ?? this.user;
    const message: GatewayMessageCreateDispatchData = {
      id: this.snowflake(),
      channel_id: init.channel_id,
      author,
      content: init.content ?? '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: init.attachments ?? [],
      embeds: [],
      pinned: false,
      type: MessageType.Default,
      flags: init.flags ?? NO_FLAGS,
      components: [],
      channel_type: channel.type as TextChannelType,
    };
    if (channel.guildId) {
      message.guild_id = channel.guildId;
      message.member = { roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: NO_FLAGS };
    }
    this.messages.set(message.id, message);
    this.dispatch(GatewayDispatchEvents.MessageCreate, message);
    return message;
  }

  /** A voice message (flag IS_VOICE_MESSAGE, one `voice-message.ogg`) from `author` in a channel. */
  injectVoiceMessage(audio: Uint8Array, channelId: string, options: { author?: APIUser; durationSecs?: number } = {}): GatewayMessageCreateDispatchData {
    const attachment = this.attachment(audio, { filename: 'voice-message.ogg', contentType: 'audio/ogg', durationSecs: options.durationSecs ?? 1, channelId });
    return this.injectMessage({ channel_id: channelId, author: options.author, attachments: [attachment], flags: MessageFlags.IsVoiceMessage });
  }

  /**
   * Dispatches INTERACTION_CREATE for the message context-menu command `name` used on
   * `target` by the fake's user. Returns the interaction's id.
   */
  injectMessageCommand(target: GatewayMessageCreateDispatchData, name: string): string {
    const channel = this.channels.get(target.channel_id);
    if (!channel) throw new Error(`FakeDiscord: unknown channel ${target.channel_id}`);
    const id = this.snowflake();
    const token = `aW50ZXJhY3Rpb246${randomBytes(48).toString('base64url')}`;
    const command = this.commands.find((c) => c.name === name);
    const { guild_id: _guild, member: _member, mentions: _mentions, ...rest } = target;
    const resolved: APIMessage = { ...rest, mentions: [] };
    const base = {
      id,
      application_id: this.applicationId,
      type: InteractionType.ApplicationCommand as const,
      token,
      version: 1 as const,
      app_permissions: '2248473465835073',
      locale: Locale.Vietnamese,
      entitlements: [],
      authorizing_integration_owners: {},
      attachment_size_limit: 10 * 1024 * 1024,
      channel_id: target.channel_id,
      data: {
        id: command?.id ?? this.snowflake(),
        name,
        type: ApplicationCommandType.Message as const,
        target_id: target.id,
        resolved: { messages: { [target.id]: resolved } },
      },
    };
    let interaction: APIMessageApplicationCommandInteraction;
    if (channel.guildId) {
      interaction = {
        ...base,
        guild_id: channel.guildId,
        guild_locale: Locale.Vietnamese,
        context: InteractionContextType.Guild,
        channel: { id: target.channel_id, type: ChannelType.GuildText, name: 'chung' },
        member: { ...this.member(this.user), permissions: '2248473465835073' },
      };
    } else {
      interaction = { ...base, context: InteractionContextType.BotDM, channel: { id: target.channel_id, type: ChannelType.DM, recipients: [this.user] } as APIDMChannel, user: this.user };
    }
    this.interactions.set(id, { id, token, channelId: target.channel_id, guildId: channel.guildId, responded: false, originalId: undefined });
    this.dispatch(GatewayDispatchEvents.InteractionCreate, interaction);
    return id;
  }

  /**
   * Dispatches INTERACTION_CREATE for the slash command `name` used in `channelId` with these
   * options (a subcommand is one option of type 1 with its own `options`), by `user` (the
   * fake's user by default) holding `permissions` (a bitfield string; Administrator unless
   * given). Returns the interaction's id.
   */
  injectSlashCommand(
    channelId: string,
    name: string,
    options: APIApplicationCommandInteractionDataOption[],
    as: { user?: APIUser; permissions?: string } = {},
  ): string {
    const channel = this.channels.get(channelId);
    if (!channel) throw new Error(`FakeDiscord: unknown channel ${channelId}`);
    const user = as.user ?? this.user;
    const id = this.snowflake();
    const token = `aW50ZXJhY3Rpb246${randomBytes(48).toString('base64url')}`;
    const command = this.commands.find((c) => c.name === name && (c.type ?? ApplicationCommandType.ChatInput) === ApplicationCommandType.ChatInput);
    const base = {
      id,
      application_id: this.applicationId,
      type: InteractionType.ApplicationCommand as const,
      token,
      version: 1 as const,
      app_permissions: '2248473465835073',
      locale: Locale.Vietnamese,
      entitlements: [],
      authorizing_integration_owners: {},
      attachment_size_limit: 10 * 1024 * 1024,
      channel_id: channelId,
      data: { id: command?.id ?? this.snowflake(), name, type: ApplicationCommandType.ChatInput as const, options },
    };
    const interaction: APIChatInputApplicationCommandInteraction = channel.guildId
      ? {
          ...base,
          guild_id: channel.guildId,
          guild_locale: Locale.Vietnamese,
          context: InteractionContextType.Guild,
          channel: { id: channelId, type: ChannelType.GuildText, name: 'chung' },
          member: { ...this.member(user), permissions: as.permissions ?? '8' },
        }
      : { ...base, context: InteractionContextType.BotDM, channel: { id: channelId, type: ChannelType.DM, recipients: [user] } as APIDMChannel, user };
    this.interactions.set(id, { id, token, channelId, guildId: channel.guildId, responded: false, originalId: undefined });
    this.dispatch(GatewayDispatchEvents.InteractionCreate, interaction);
    return id;
  }

  /** The interaction's 15 minutes are over: from now on Discord refuses every call with its token (401, code 50027). */
  expireInteraction(interactionId: string): void {
    const interaction = this.interactions.get(interactionId);
    if (!interaction) throw new Error(`FakeDiscord: unknown interaction ${interactionId}`);
    interaction.expired = true;
  }

  /** The bot is removed from the guild (kicked, or the guild deleted): GUILD_DELETE without `unavailable`. */
  removeFromGuild(): void {
    this.dispatch(GatewayDispatchEvents.GuildDelete, { id: this.guildId });
  }

  /**
   * Closes the gateway connection as Discord does when it drops a client: a close frame with
   * `code` (default 4000, "unknown error": resumable), or with `terminate` a bare TCP cut. The
   * session stays, so the client can RESUME.
   */
  dropConnection(options: { code?: number; terminate?: boolean } = {}): void {
    const socket = this.socket;
    if (!socket) throw new Error('FakeDiscord: no gateway connection to drop');
    this.socket = undefined;
    if (this.current) this.current.socket = undefined;
    if (options.terminate) socket.terminate();
    else socket.close(options.code ?? 4000, 'Unknown error');
  }

  /** The next `times` requests matching `method` and `path` fail (default: one 429). */
  failNext(fault: FaultOptions): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  /**
   * Resolves with the first recorded call (already recorded or still to come) that `predicate`
   * accepts; rejects after `timeoutMs` with the last calls in the message.
   */
  waitFor<T extends RecordedCall = RecordedCall>(predicate: (call: RecordedCall) => boolean, timeoutMs = 5_000): Promise<T> {
    const hit = this.calls.find(predicate);
    if (hit) return Promise.resolve(hit as T);
    return new Promise<T>((resolve, reject) => {
      const onCall = (call: RecordedCall): void => {
        if (!predicate(call)) return;
        clearTimeout(timer);
        this.events.off('call', onCall);
        resolve(call as T);
      };
      const timer = setTimeout(() => {
        this.events.off('call', onCall);
        reject(new Error(`FakeDiscord.waitFor: nothing matched in ${timeoutMs} ms; last calls:\n${this.describeCalls(15)}`));
      }, timeoutMs);
      this.events.on('call', onCall);
    });
  }

  /** The bot's messages that reply to `messageId`, in the order created, as they are now (after edits). */
  repliesTo(messageId: string): APIMessage[] {
    return [...this.messages.values()].filter((m) => m.author.id === this.botUser.id && m.message_reference?.message_id === messageId);
  }

  /** The original response and follow-ups of an interaction, as they are now. */
  interactionResponses(interactionId: string): APIMessage[] {
    return [...this.messages.values()].filter((m) => m.interaction_metadata?.id === interactionId);
  }

  /** The application commands the bot registered. */
  registeredCommands(): readonly APIApplicationCommand[] {
    return this.commands;
  }

  /** REST calls, optionally of one route (`POST /channels/:id/messages`). */
  restCalls(route?: string): RestCall[] {
    return this.calls.filter((c): c is RestCall => c.kind === 'rest' && (route === undefined || c.route === route));
  }

  /** A short listing of the last calls, for failure messages. */
  describeCalls(last = 20): string {
    return this.calls
      .slice(-last)
      .map((c) => {
        if (c.kind === 'rest') return `  rest ${c.method} ${c.path} → ${c.status}`;
        if (c.kind === 'cdn') return `  cdn ${c.path} → ${c.status} (${c.bytesSent} B)`;
        if (c.kind === 'connection') return `  ws #${c.connection} ${c.event} ${c.path}${c.code ? ` ${c.code}` : ''}`;
        return `  ws #${c.connection} ${c.direction} op ${c.op}${c.t ? ` ${c.t} s=${c.s}` : ''}${c.replayed ? ' (replayed)' : ''}`;
      })
      .join('\n');
  }

  // ---------------------------------------------------------------- recording

  private record(call: RecordedCall): void {
    this.calls.push(call);
    this.events.emit('call', call);
  }

  private nextSeq(): number {
    return this.calls.length + 1;
  }

  // ---------------------------------------------------------------- gateway

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/gateway' && url.pathname !== '/resume') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, url));
  }

  private onConnection(ws: WebSocket, url: URL): void {
    const connection = ++this.connections;
    this.connectionIds.set(ws, connection);
    const query = Object.fromEntries(url.searchParams);
    this.record({ kind: 'connection', seq: this.nextSeq(), at: Date.now(), connection, event: 'open', path: url.pathname, query });
    ws.on('close', (code) => {
      this.record({ kind: 'connection', seq: this.nextSeq(), at: Date.now(), connection, event: 'close', path: url.pathname, query, code });
      if (this.socket === ws) this.socket = undefined;
      for (const session of this.sessions.values()) {
        if (session.socket !== ws) continue;
        session.socket = undefined;
        // A client closing with 1000 or 1001 ends its session; any other close keeps it resumable.
        if (code === 1000 || code === 1001) this.sessions.delete(session.id);
      }
    });
    if (query.v !== '10') {
      ws.close(4012, 'Invalid API version');
      return;
    }
    if (query.encoding !== 'json' || query.compress !== undefined) {
      ws.close(4002, 'Decode error: this fake speaks uncompressed JSON only');
      return;
    }
    this.socket = ws;
    ws.on('message', (raw, isBinary) => this.onFrame(ws, connection, raw.toString(), isBinary));
    this.send(ws, connection, { op: GatewayOpcodes.Hello, d: { heartbeat_interval: this.heartbeatIntervalMs }, s: null, t: null });
  }

  private onFrame(ws: WebSocket, connection: number, text: string, isBinary: boolean): void {
    let payload: GatewaySendPayload;
    try {
      if (isBinary) throw new Error('binary frame');
      payload = JSON.parse(text) as GatewaySendPayload;
    } catch {
      ws.close(4002, 'Decode error');
      return;
    }
    const received = (data: unknown): void =>
      this.record({ kind: 'gateway', seq: this.nextSeq(), at: Date.now(), connection, direction: 'received', op: payload.op, t: null, s: null, replayed: false, data });
    switch (payload.op) {
      case GatewayOpcodes.Heartbeat:
        received(payload.d);
        this.send(ws, connection, { op: GatewayOpcodes.HeartbeatAck });
        return;
      case GatewayOpcodes.Identify: {
        const { intents, shard, properties } = payload.d;
        received({ intents, shard, properties, compress: payload.d.compress ?? false });
        if (payload.d.token !== this.token && payload.d.token !== `Bot ${this.token}`) {
          ws.close(4004, 'Authentication failed.');
          return;
        }
        if (!this.messageContentIntentEnabled && (intents & GatewayIntentBits.MessageContent) !== 0) {
          ws.close(4014, 'Disallowed intent(s).');
          return;
        }
        const session: Session = { id: randomBytes(16).toString('hex'), seq: 0, events: [], socket: ws };
        this.sessions.set(session.id, session);
        this.current = session;
        const ready: GatewayReadyDispatchData = {
          v: 10,
          user: this.botUser,
          guilds: [{ id: this.guildId, unavailable: true }],
          session_id: session.id,
          resume_gateway_url: this.resumeGatewayUrl,
          shard: shard ?? [0, 1],
          application: { id: this.applicationId, flags: NO_FLAGS, flags_new: '0' },
        };
        this.dispatch(GatewayDispatchEvents.Ready, ready);
        this.dispatch(GatewayDispatchEvents.GuildCreate, this.guildCreate());
        return;
      }
      case GatewayOpcodes.Resume: {
        received({ session_id: payload.d.session_id, seq: payload.d.seq });
        const session = this.sessions.get(payload.d.session_id);
        if (!session || payload.d.token !== this.token) {
          this.send(ws, connection, { op: GatewayOpcodes.InvalidSession, d: false });
          return;
        }
        session.socket = ws;
        this.current = session;
        for (const event of session.events.filter((e) => e.s > payload.d.seq)) {
          this.send(ws, connection, { op: GatewayOpcodes.Dispatch, t: event.t, s: event.s, d: event.d }, true);
        }
        this.dispatch(GatewayDispatchEvents.Resumed, {});
        return;
      }
      default:
        received(payload.d);
    }
  }

  /** Sends a dispatch in the current session (stored for replay; sent now if connected). */
  private dispatch(t: GatewayDispatchEvents, d: unknown): void {
    const session = this.current;
    if (!session) throw new Error('FakeDiscord: no gateway session; start the bot first');
    session.seq += 1;
    session.events.push({ s: session.seq, t, d });
    if (session.socket) this.send(session.socket, this.connectionIds.get(session.socket) ?? 0, { op: GatewayOpcodes.Dispatch, t, s: session.seq, d });
  }

  private send(ws: WebSocket, connection: number, frame: { op: GatewayOpcodes; d?: unknown; s?: number | null; t?: string | null }, replayed = false): void {
    ws.send(JSON.stringify(frame));
    this.record({
      kind: 'gateway',
      seq: this.nextSeq(),
      at: Date.now(),
      connection,
      direction: 'sent',
      op: frame.op,
      t: frame.t ?? null,
      s: frame.s ?? null,
      replayed,
      data: frame.d,
    });
  }

  private member(user: APIUser): APIGuildMember {
    return { user, roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: NO_FLAGS };
  }

  private guildCreate(): GatewayGuildCreateDispatchData {
    const everyone: APIRole = {
      id: this.guildId,
      name: '@everyone',
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position: 0,
      permissions: '2248473465835073',
      managed: false,
      mentionable: false,
      flags: NO_FLAGS,
    };
    const text = (id: string, name: string, position: number): APITextChannel => ({
      id,
      type: ChannelType.GuildText,
      guild_id: this.guildId,
      name,
      position,
      permission_overwrites: [],
      nsfw: false,
      parent_id: null,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      flags: NO_FLAGS,
    });
    const thread: APIThreadChannel = {
      id: this.threadId,
      type: ChannelType.PublicThread,
      guild_id: this.guildId,
      name: 'ghi-am',
      parent_id: this.textChannelId,
      owner_id: this.user.id,
      last_message_id: null,
      rate_limit_per_user: 0,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      flags: NO_FLAGS,
      applied_tags: [],
      thread_metadata: { archived: false, auto_archive_duration: 1440, archive_timestamp: new Date().toISOString(), locked: false },
    };
    return {
      id: this.guildId,
      name: 'Nhóm thử',
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: this.user.id,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: GuildVerificationLevel.None,
      default_message_notifications: GuildDefaultMessageNotifications.OnlyMentions,
      explicit_content_filter: GuildExplicitContentFilter.Disabled,
      roles: [everyone],
      emojis: [],
      features: [],
      mfa_level: GuildMFALevel.None,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: GuildSystemChannelFlags.SuppressJoinNotifications,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: GuildPremiumTier.None,
      preferred_locale: Locale.Vietnamese,
      public_updates_channel_id: null,
      nsfw_level: GuildNSFWLevel.Default,
      stickers: [],
      premium_progress_bar_enabled: false,
      hub_type: GuildHubType.Default,
      safety_alerts_channel_id: null,
      incidents_data: null,
      region: 'deprecated',
      joined_at: new Date(0).toISOString(),
      large: false,
      member_count: 2,
      voice_states: [],
      members: [this.member(this.botUser), this.member(this.user)],
      channels: [text(this.textChannelId, 'chung', 0), text(this.otherChannelId, 'khac', 1)],
      threads: [thread],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  // ---------------------------------------------------------------- HTTP

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/attachments/')) {
      this.serveAttachment(url.pathname, req, res);
      return;
    }
    const raw = await readBody(req);
    const prefix = '/api/v10';
    const pathname = safeDecode(url.pathname);
    const path = pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : undefined;
    const query = Object.fromEntries(url.searchParams);
    const authorized = req.headers.authorization === `Bot ${this.token}`;
    const record = (status: number, route: string, body: unknown, files: UploadedFile[], message?: APIMessage): void =>
      this.record({ kind: 'rest', seq: this.nextSeq(), at: Date.now(), method, path: path ?? url.pathname, route, query, status, authorized, body, files, message });

    let parsed: { body: unknown; files: UploadedFile[] };
    try {
      parsed = await parseBody(raw, req.headers['content-type']);
    } catch {
      respond(res, 400, { message: '400: Bad Request', code: 50109 });
      record(400, 'unknown', undefined, []);
      return;
    }
    const route = path === undefined ? undefined : this.routes.find((r) => r.method === method && r.pattern.test(path));
    if (!route || path === undefined) {
      respond(res, 404, { message: '404: Not Found', code: 0 });
      record(404, 'unknown', parsed.body, parsed.files);
      return;
    }
    if (route.auth && !authorized) {
      respond(res, 401, { message: '401: Unauthorized', code: 0 });
      record(401, route.name, parsed.body, parsed.files);
      return;
    }
    const fault = this.faults.find((f) => f.remaining > 0 && f.method === method && (typeof f.path === 'string' ? f.path === path : f.path.test(path)));
    if (fault) {
      fault.remaining -= 1;
      const status = fault.status ?? 429;
      if (status === 429) {
        const retryAfter = fault.retryAfter ?? 0.05;
        const bucket = createHash('sha1').update(route.name).digest('hex').slice(0, 16);
        // Discord rounds the Retry-After header up to whole seconds; the fake sends the exact
        // value (as the body's retry_after has it) so tests wait milliseconds, not seconds.
        const headers: Record<string, string> = {
          'retry-after': String(retryAfter),
          'x-ratelimit-limit': '5',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Date.now() / 1000 + retryAfter),
          'x-ratelimit-reset-after': String(retryAfter),
          'x-ratelimit-bucket': bucket,
          'x-ratelimit-scope': fault.global ? 'global' : 'user',
        };
        if (fault.global) headers['x-ratelimit-global'] = 'true';
        respond(res, 429, { message: 'You are being rate limited.', retry_after: retryAfter, global: fault.global ?? false }, headers);
      } else {
        respond(res, status, { message: `${status}: injected failure`, code: 0 });
      }
      record(status, route.name, parsed.body, parsed.files);
      return;
    }
    const match = route.pattern.exec(path);
    if (!match) throw new Error('unreachable: route matched before');
    const result = route.handle(match, parsed.body, url.searchParams);
    const bucket = createHash('sha1').update(route.name).digest('hex').slice(0, 16);
    respond(res, result.status, result.body, {
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '4',
      'x-ratelimit-reset': String(Date.now() / 1000 + 5),
      'x-ratelimit-reset-after': '5',
      'x-ratelimit-bucket': bucket,
    });
    record(result.status, route.name, parsed.body, parsed.files, result.message);
  }

  private serveAttachment(pathname: string, req: IncomingMessage, res: ServerResponse): void {
    const stored = this.attachments.get(pathname);
    const seq = this.nextSeq();
    if (!stored || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      this.record({ kind: 'cdn', seq, at: Date.now(), path: pathname, status: 404, bytesSent: 0 });
      return;
    }
    const headers: Record<string, string> = { 'content-type': stored.contentType ?? 'application/octet-stream' };
    if (!stored.chunked) headers['content-length'] = String(stored.data.length);
    res.writeHead(200, headers);
    let sent = 0;
    const chunk = 64 * 1024;
    const done = (): void => this.record({ kind: 'cdn', seq, at: Date.now(), path: pathname, status: 200, bytesSent: sent });
    res.on('close', done);
    const pump = (): void => {
      while (sent < stored.data.length) {
        const piece = stored.data.subarray(sent, sent + chunk);
        sent += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  }

  private buildRoutes(): Route[] {
    const id = String.raw`(\d{17,20})`;
    const route = (method: string, name: string, pattern: string, handle: Handler, auth = true): Route => ({
      method,
      name: `${method} ${name}`,
      pattern: new RegExp(`^${pattern}$`),
      auth,
      handle,
    });
    const unknownChannel: HandlerResult = { status: 404, body: { message: 'Unknown Channel', code: 10003 } };
    const unknownMessage: HandlerResult = { status: 404, body: { message: 'Unknown Message', code: 10008 } };
    const unknownInteraction: HandlerResult = { status: 404, body: { message: 'Unknown interaction', code: 10062 } };
    // What Discord answers to a call with an interaction's token once its 15 minutes are over.
    const invalidToken: HandlerResult = { status: 401, body: { message: 'Invalid Webhook Token', code: 50027 } };
    const expired = (token: string): boolean => [...this.interactions.values()].some((i) => i.token === token && i.expired);
    const gatewayBot: RESTGetAPIGatewayBotResult = {
      url: '',
      shards: 1,
      session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
    };
    return [
      route('GET', '/gateway/bot', '/gateway/bot', () => ({ status: 200, body: { ...gatewayBot, url: this.gatewayUrl } })),
      route('GET', '/gateway', '/gateway', () => ({ status: 200, body: { url: this.gatewayUrl } }), false),
      route('GET', '/users/@me', '/users/@me', () => ({ status: 200, body: this.botUser })),
      route('GET', '/applications/@me', '/applications/@me', () => ({
        status: 200,
        body: { id: this.applicationId, name: 'viet-stt', icon: null, description: '', bot_public: true, bot_require_code_grant: false, verify_key: 'f'.repeat(64), flags: 0, bot: this.botUser },
      })),
      route('GET', '/channels/:id', `/channels/${id}`, (m) => {
        const channel = this.channels.get(m[1]);
        if (!channel) return unknownChannel;
        if (channel.type === ChannelType.DM) return { status: 200, body: { id: m[1], type: ChannelType.DM, last_message_id: null, recipients: channel.recipient ? [channel.recipient] : [] } };
        return { status: 200, body: { id: m[1], type: channel.type, guild_id: channel.guildId } };
      }),
      route('POST', '/channels/:id/messages', `/channels/${id}/messages`, (m, body) => {
        if (!this.channels.has(m[1])) return unknownChannel;
        const fields = asObject(body);
        const reference = asObject(fields.message_reference);
        if (typeof reference.message_id === 'string' && !this.messages.has(reference.message_id) && reference.fail_if_not_exists !== false) {
          return { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: { message_reference: { _errors: [{ code: 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', message: 'Unknown message' }] } } } };
        }
        const tooLong = contentTooLong(fields.content);
        if (tooLong) return tooLong;
        const message = this.createBotMessage(m[1], fields);
        return { status: 200, body: message, message };
      }),
      route('PATCH', '/channels/:id/messages/:id', `/channels/${id}/messages/${id}`, (m, body) => {
        const message = this.messages.get(m[2]);
        if (!message || message.channel_id !== m[1]) return unknownMessage;
        if (message.author.id !== this.botUser.id) return { status: 403, body: { message: 'Cannot edit a message authored by another user', code: 50005 } };
        const tooLong = contentTooLong(asObject(body).content);
        if (tooLong) return tooLong;
        const updated = this.editMessage(message, asObject(body));
        return { status: 200, body: updated, message: updated };
      }),
      route('POST', '/channels/:id/typing', `/channels/${id}/typing`, (m) => (this.channels.has(m[1]) ? { status: 204 } : unknownChannel)),
      route('PUT', '/applications/:id/commands', `/applications/${id}/commands`, (m, body) => {
        if (m[1] !== this.applicationId) return { status: 403, body: { message: 'Missing Access', code: 50001 } };
        const list = Array.isArray(body) ? body.map(asObject) : [];
        // As Discord checks them: a permission bitfield as a string of digits, a slash command's
        // lowercase name and a description of 1-100 characters.
        for (const c of list) {
          const chatInput = c.type === undefined || c.type === ApplicationCommandType.ChatInput;
          const permissions = c.default_member_permissions;
          const badPermissions = permissions !== undefined && permissions !== null && !(typeof permissions === 'string' && /^\d+$/.test(permissions));
          const badName = chatInput && !/^[-_\p{Ll}\p{Lo}\p{N}]{1,32}$/u.test(String(c.name));
          const badDescription = chatInput && !(typeof c.description === 'string' && c.description.length >= 1 && c.description.length <= 100);
          if (badPermissions || badName || badDescription) return { status: 400, body: { message: 'Invalid Form Body', code: 50035 } };
        }
        this.commands = list.map(
          (c): APIApplicationCommand => ({
            id: this.snowflake(),
            application_id: this.applicationId,
            version: this.snowflake(),
            default_member_permissions: typeof c.default_member_permissions === 'string' ? c.default_member_permissions : null,
            ...(Array.isArray(c.options) ? { options: c.options as APIApplicationCommand['options'] } : {}),
            type: typeof c.type === 'number' ? (c.type as ApplicationCommandType) : ApplicationCommandType.ChatInput,
            name: String(c.name),
            name_localizations: (c.name_localizations as Record<string, string> | undefined) ?? null,
            description: typeof c.description === 'string' ? c.description : '',
            description_localizations: null,
            dm_permission: true,
            nsfw: false,
            integration_types: [0],
            contexts: [0, 1],
          }),
        );
        return { status: 200, body: this.commands };
      }),
      route(
        'POST',
        '/interactions/:id/:token/callback',
        String.raw`/interactions/${id}/([^/]+)/callback`,
        (m, body, query) => {
          const interaction = this.interactions.get(m[1]);
          if (!interaction || interaction.token !== m[2]) return unknownInteraction;
          if (interaction.expired) return invalidToken;
          if (interaction.responded) return { status: 400, body: { message: 'Interaction has already been acknowledged.', code: 40060 } };
          interaction.responded = true;
          const fields = asObject(body);
          const data = asObject(fields.data);
          const deferred = fields.type === InteractionResponseType.DeferredChannelMessageWithSource;
          const tooLong = contentTooLong(data.content);
          if (tooLong) return tooLong;
          const ephemeral = typeof data.flags === 'number' && (data.flags & MessageFlags.Ephemeral) !== 0;
          const original = this.createBotMessage(interaction.channelId, { ...data, content: deferred ? '' : data.content }, interaction, deferred ? MessageFlags.Loading : 0);
          interaction.originalId = original.id;
          if (query.get('with_response') !== 'true') return { status: 204, message: original };
          return { status: 200, message: original, body: { interaction: { id: interaction.id, type: InteractionType.ApplicationCommand, response_message_id: original.id, response_message_loading: deferred, response_message_ephemeral: ephemeral }, resource: { type: fields.type, message: original } } };
        },
        false,
      ),
      route(
        'GET',
        '/webhooks/:id/:token/messages/@original',
        String.raw`/webhooks/${id}/([^/]+)/messages/@original`,
        (m) => {
          if (expired(m[2])) return invalidToken;
          const original = this.originalOf(m[1], m[2]);
          return original ? { status: 200, body: original } : unknownMessage;
        },
        false,
      ),
      route(
        'PATCH',
        '/webhooks/:id/:token/messages/@original',
        String.raw`/webhooks/${id}/([^/]+)/messages/@original`,
        (m, body) => {
          if (expired(m[2])) return invalidToken;
          const original = this.originalOf(m[1], m[2]);
          if (!original) return unknownMessage;
          const tooLong = contentTooLong(asObject(body).content);
          if (tooLong) return tooLong;
          const updated = this.editMessage(original, asObject(body));
          updated.flags = (updated.flags ?? 0) & ~MessageFlags.Loading;
          return { status: 200, body: updated, message: updated };
        },
        false,
      ),
      route(
        'PATCH',
        '/webhooks/:id/:token/messages/:id',
        String.raw`/webhooks/${id}/([^/]+)/messages/${id}`,
        (m, body) => {
          if (expired(m[2])) return invalidToken;
          const interaction = m[1] === this.applicationId ? [...this.interactions.values()].find((i) => i.token === m[2]) : undefined;
          const message = this.messages.get(m[3]);
          // A follow-up is edited with its interaction's token only.
          if (!interaction || !message || message.interaction_metadata?.id !== interaction.id) return unknownMessage;
          const tooLong = contentTooLong(asObject(body).content);
          if (tooLong) return tooLong;
          const updated = this.editMessage(message, asObject(body));
          return { status: 200, body: updated, message: updated };
        },
        false,
      ),
      route(
        'POST',
        '/webhooks/:id/:token',
        String.raw`/webhooks/${id}/([^/]+)`,
        (m, body, query) => {
          if (expired(m[2])) return invalidToken;
          const interaction = [...this.interactions.values()].find((i) => i.token === m[2]);
          if (m[1] !== this.applicationId || !interaction?.responded) return { status: 404, body: { message: 'Unknown Webhook', code: 10015 } };
          const tooLong = contentTooLong(asObject(body).content);
          if (tooLong) return tooLong;
          const message = this.createBotMessage(interaction.channelId, asObject(body), interaction);
          return query.get('wait') === 'true' ? { status: 200, body: message, message } : { status: 204, message };
        },
        false,
      ),
    ];
  }

  private originalOf(applicationId: string, token: string): APIMessage | undefined {
    if (applicationId !== this.applicationId) return undefined;
    const interaction = [...this.interactions.values()].find((i) => i.token === token);
    return interaction?.originalId ? this.messages.get(interaction.originalId) : undefined;
  }

  private createBotMessage(channelId: string, fields: Record<string, unknown>, interaction?: PendingInteraction, flags = 0): APIMessage {
    const reference = asObject(fields.message_reference);
    const referenced = typeof reference.message_id === 'string' ? this.messages.get(reference.message_id) : undefined;
    const channel = this.channels.get(channelId);
    const message: APIMessage & { guild_id?: string } = {
      id: this.snowflake(),
      channel_id: channelId,
      author: this.botUser,
      content: typeof fields.content === 'string' ? fields.content : '',
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type: referenced ? MessageType.Reply : interaction ? MessageType.ContextMenuCommand : MessageType.Default,
      flags: (typeof fields.flags === 'number' ? fields.flags : 0) | flags,
      components: [],
    };
    if (channel?.guildId) message.guild_id = channel.guildId;
    if (referenced) {
      const ref: APIMessageReference = { message_id: referenced.id, channel_id: referenced.channel_id };
      if (channel?.guildId) ref.guild_id = channel.guildId;
      message.message_reference = ref;
      message.referenced_message = referenced;
    }
    if (interaction) {
      message.webhook_id = this.applicationId;
      message.application_id = this.applicationId;
      message.interaction_metadata = {
        id: interaction.id,
        type: InteractionType.ApplicationCommand,
        user: this.user,
        authorizing_integration_owners: {},
        target_user: undefined,
        target_message_id: undefined,
      };
    }
    this.messages.set(message.id, message);
    return message;
  }

  private editMessage(message: APIMessage, fields: Record<string, unknown>): APIMessage {
    if (typeof fields.content === 'string') message.content = fields.content;
    message.edited_timestamp = new Date().toISOString();
    return message;
  }
}

/** A decoded URL path (`%40original` → `@original`), or the path as it came if it is malformed. */
function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** JSON, or multipart/form-data with `payload_json` and files, as @discordjs/rest sends them. */
async function parseBody(raw: Buffer, contentType: string | undefined): Promise<{ body: unknown; files: UploadedFile[] }> {
  if (raw.length === 0) return { body: undefined, files: [] };
  if (contentType?.startsWith('application/json')) return { body: JSON.parse(raw.toString('utf8')) as unknown, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    const files: UploadedFile[] = [];
    let body: unknown;
    form.forEach((value, field) => {
      if (typeof value === 'string') {
        if (field === 'payload_json') body = JSON.parse(value) as unknown;
      } else {
        files.push({ field, name: value.name, contentType: value.type, size: value.size });
      }
    });
    return { body, files };
  }
  return { body: raw.toString('utf8'), files: [] };
}

function respond(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
}

/** Discord's answer to content over 2000 characters, as it gives it for a message or an edit. */
function contentTooLong(content: unknown): HandlerResult | undefined {
  if (typeof content !== 'string' || content.length <= 2000) return undefined;
  return {
    status: 400,
    body: { message: 'Invalid Form Body', code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } } },
  };
}
