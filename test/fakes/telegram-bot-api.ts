import { EventEmitter } from 'node:events';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Chat, Message, MessageEntity, Update, User, UserFromGetMe } from 'telegraf/types';

/**
 * A fake Telegram Bot API on 127.0.0.1 that answers as the real one does, as far as a bot sees
 * it, so that the real telegraf client can be driven against it over real sockets:
 *
 * - `POST|GET /bot<token>/<method>` with a JSON, urlencoded or multipart body (or a query);
 *   answers `{ ok: true, result }` or `{ ok: false, error_code, description, parameters? }` with
 *   the error code as HTTP status; a wrong token gets 401 Unauthorized, an unknown method 404;
 * - getMe; getUpdates long polling: `offset` confirms every update below it, `timeout` holds the
 *   request until an update arrives or the time is up, a second poller ends the first with 409,
 *   and a set webhook makes it 409 too; setWebhook, deleteWebhook, getWebhookInfo (with a
 *   webhook set, injected updates are POSTed to it with `X-Telegram-Bot-Api-Secret-Token`);
 * - getFile (`file_path`; "Bad Request: file is too big" over 20 MB) and
 *   `GET /file/bot<token>/<file_path>`; in `local` mode it acts as a local Bot API server
 *   (`--local`): files lie on disk under a folder named after the token, `file_path` is that
 *   absolute path and there is no 20 MB limit;
 * - sendMessage, editMessageText, sendChatAction, sendDocument, setMyCommands (per `scope`),
 *   with the real API's checks (empty or too long text, unknown message to reply to or edit,
 *   "message is not modified" when neither the text nor the inline keyboard changes, callback
 *   data over 64 bytes) and per-chat message ids shared by users' and the bot's messages;
 * - inline keyboards: a user presses a button ({@link FakeBotApi.pressButton}), which arrives as
 *   a `callback_query` update; answerCallbackQuery answers it once (a second answer, or an
 *   unknown id, is 400 "query is too old"); getChatMember answers each member's status
 *   (`member` unless {@link FakeBotApi.setMember} said otherwise);
 * - the bot being removed from a group ({@link FakeBotApi.removeBot}) as a `my_chat_member`
 *   update; updates of a type outside the last `allowed_updates` are dropped, as Telegram does.
 *
 * Every call is recorded; faults can be injected (the next N calls of a method answer 429 with
 * `retry_after`, or a 5xx, and downloads can fail); `waitFor` resolves on a recorded call.
 */

/** A file the fake serves, as a message refers to it. */
export interface FakeFileRef {
  file_id: string;
  file_unique_id: string;
  file_size: number;
}

/** An uploaded file in a multipart call. */
export interface UploadedFile {
  filename: string;
  data: Buffer;
}

/** One API call the fake answered. */
export interface RecordedCall {
  seq: number;
  /** When it was answered (epoch ms). */
  at: number;
  method: string;
  /** The call's parameters, JSON-serialised fields parsed and ids as numbers. */
  params: Record<string, unknown>;
  /** Files uploaded in a multipart body, by field. */
  files: Record<string, UploadedFile>;
  /** The HTTP status answered. */
  status: number;
  /** The `result` of a successful call. */
  result?: unknown;
  /** The `description` of a failed one. */
  description?: string;
}

/** What the next calls of a method answer instead of their result. */
export type Fault = { status: 429; retryAfter: number } | { status: 500 | 502 | 503 | 504 };

/** The content of a user's message, beside the ids, date, chat and sender the fake fills in. */
export type MessageContent = {
  text?: string;
  entities?: MessageEntity[];
  reply_to_message?: Message;
} & Record<string, unknown>;

export interface FakeBotApiOptions {
  token: string;
  /** Act as a local Bot API server started with `--local`. */
  local?: boolean;
  /** The bot's own user, as getMe answers it. */
  me?: Partial<UserFromGetMe>;
}

interface StoredFile extends FakeFileRef {
  data: Buffer | undefined;
  /** Relative `file_path` as the public API gives it. */
  filePath: string;
  /** Absolute path in local mode. */
  localPath?: string;
}

interface Poller {
  offset: number;
  limit: number;
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: { retry_after?: number },
  ) {
    super(description);
  }
}

/** The public Bot API's download limit. */
export const FAKE_DOWNLOAD_LIMIT = 20 * 1024 * 1024;

const JSON_FIELDS = new Set(['reply_parameters', 'reply_markup', 'allowed_updates', 'commands', 'entities', 'caption_entities', 'link_preview_options', 'scope']);
const BOOL_FIELDS = new Set(['drop_pending_updates', 'disable_notification', 'protect_content', 'show_alert']);
const INT_FIELDS = new Set(['chat_id', 'message_id', 'offset', 'limit', 'timeout', 'reply_to_message_id', 'user_id']);

export class FakeBotApi {
  /** The API root to give the client (`TELEGRAM_API_ROOT`). */
  readonly url: string;
  readonly token: string;
  readonly me: UserFromGetMe;
  /** Every call answered, in order. */
  readonly calls: RecordedCall[] = [];
  /** Every file download, with the status answered. */
  readonly downloads: { filePath: string; status: number }[] = [];
  /** Every update POSTed to the webhook, with the status the bot answered. */
  readonly webhookDeliveries: { updateId: number; status: number }[] = [];
  /** The commands last set with setMyCommands in the default scope. */
  commands: unknown[] = [];
  /** The commands last set with setMyCommands, by scope type (`default`, `all_chat_administrators`, …). */
  readonly commandsByScope: Record<string, unknown[]> = {};
  webhook: { url: string; secretToken: string | undefined } | undefined;

  private readonly events = new EventEmitter();
  private readonly pending: Update[] = [];
  private nextUpdateId = 100_000;
  private poller: Poller | undefined;
  private readonly chats = new Map<number, Chat>();
  private readonly users = new Map<number, User>();
  /** Statuses other than `member`, by `chatId:userId`. */
  private readonly members = new Map<string, string>();
  /** Callback queries by id: whether each was answered. */
  private readonly callbacks = new Map<string, { answered: boolean; text?: string; showAlert?: boolean }>();
  /** The update types the bot last asked for (every type when it never said). */
  private allowedUpdates: Set<string> | undefined;
  private readonly messages = new Map<number, Map<number, Message>>();
  private readonly lastMessageId = new Map<number, number>();
  private readonly files = new Map<string, StoredFile>();
  private readonly faults = new Map<string, { fault: Fault; times: number }>();
  private downloadFaults = { status: 500, times: 0 };
  private readonly background = new Set<Promise<void>>();
  private readonly localDir: string | undefined;
  private seq = 0;

  private constructor(
    private readonly server: http.Server,
    options: FakeBotApiOptions,
  ) {
    this.token = options.token;
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    const id = Number(options.token.split(':')[0]) || 42;
    this.me = {
      id,
      is_bot: true,
      first_name: 'Fake STT',
      username: 'fake_stt_bot',
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      ...options.me,
    };
    if (options.local) this.localDir = mkdtempSync(path.join(os.tmpdir(), 'fake-bot-api-'));
    this.events.setMaxListeners(100);
  }

  /** Starts the fake on a free port of 127.0.0.1. */
  static async start(options: FakeBotApiOptions): Promise<FakeBotApi> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const api = new FakeBotApi(server, options);
    server.on('request', (req, res) => {
      api.handle(req, res).catch((error: unknown) => {
        send(res, 500, { ok: false, error_code: 500, description: `Internal Server Error: ${String(error)}` });
      });
    });
    return api;
  }

  /** Stops the server, ending held polls and open connections. */
  async close(): Promise<void> {
    if (this.poller) this.endPoll(this.poller, []);
    await Promise.allSettled([...this.background]);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.localDir) rmSync(this.localDir, { recursive: true, force: true });
  }

  /**
   * Stores a file for messages to refer to. `data` undefined with a `size` makes a file known
   * only by its size (for limits: getFile refuses it over 20 MB before any download).
   */
  addFile(data: Uint8Array | undefined, options: { size?: number; folder?: string; ext?: string } = {}): FakeFileRef {
    const n = this.files.size + 1;
    const file_id = `FILE${n}-${Math.random().toString(36).slice(2, 10)}`;
    const filePath = `${options.folder ?? 'documents'}/file_${n}.${options.ext ?? 'dat'}`;
    const stored: StoredFile = {
      file_id,
      file_unique_id: `U${n}`,
      file_size: options.size ?? data?.length ?? 0,
      data: data ? Buffer.from(data) : undefined,
      filePath,
    };
    if (this.localDir) {
      // As telegram-bot-api --local stores them: <dir>/<token>/<folder>/<file>.
      stored.localPath = path.join(this.localDir, this.token, filePath);
      mkdirSync(path.dirname(stored.localPath), { recursive: true });
      if (stored.data) writeFileSync(stored.localPath, stored.data);
    }
    this.files.set(file_id, stored);
    return { file_id, file_unique_id: stored.file_unique_id, file_size: stored.file_size };
  }

  /**
   * Queues an update (or, with a webhook set, POSTs it there) and returns it with its id; one of a
   * type outside the bot's `allowed_updates` is dropped.
   */
  inject(update: Record<string, unknown>): Update {
    const full = { ...update, update_id: this.nextUpdateId++ } as unknown as Update;
    const type = Object.keys(update)[0];
    if (this.allowedUpdates && !this.allowedUpdates.has(type)) return full;
    if (this.webhook) {
      this.track(this.deliverToWebhook(full, this.webhook));
      return full;
    }
    this.pending.push(full);
    if (this.poller) this.flushPoll(this.poller);
    return full;
  }

  /**
   * A user sends a message: it gets the chat's next message id and the date, a leading
   * `/command` gets its bot_command entity (as Telegram adds it), and it is injected as an update.
   */
  sendUserMessage(chat: Chat, from: User, content: MessageContent): Message {
    this.chats.set(chat.id, chat);
    this.users.set(from.id, from);
    const entities = content.entities ?? commandEntities(content.text);
    const message = {
      message_id: this.nextMessageId(chat.id),
      date: Math.floor(Date.now() / 1000),
      chat,
      from,
      ...content,
      ...(entities ? { entities } : {}),
    } as Message;
    this.store(message);
    this.inject({ message });
    return message;
  }

  /** A user presses an inline button of `message` (a bot's message), as a callback_query update; returns the query's id. */
  pressButton(message: Message, from: User, data: string): string {
    this.users.set(from.id, from);
    const id = String(Math.floor(Math.random() * 1e15));
    this.callbacks.set(id, { answered: false });
    const current = this.messages.get(message.chat.id)?.get(message.message_id) ?? message;
    this.inject({ callback_query: { id, from, message: current, chat_instance: `ci${message.chat.id}`, data } });
    return id;
  }

  /** How a callback query was answered, if it was. */
  callbackAnswer(id: string): { answered: boolean; text?: string; showAlert?: boolean } | undefined {
    return this.callbacks.get(id);
  }

  /** The message as it is now (after edits). */
  messageNow(chatId: number, messageId: number): Message | undefined {
    return this.messages.get(chatId)?.get(messageId);
  }

  /** Gives a user a status other than `member` in a chat (`administrator`, `creator`, `left`…). */
  setMember(chat: Chat, user: User, status: 'creator' | 'administrator' | 'member' | 'restricted' | 'left' | 'kicked'): void {
    this.chats.set(chat.id, chat);
    this.users.set(user.id, user);
    this.members.set(`${chat.id}:${user.id}`, status);
  }

  /** `by` removes the bot from `chat` (or the bot leaves): a my_chat_member update. */
  removeBot(chat: Chat, by: User, status: 'left' | 'kicked' = 'kicked'): void {
    const bot = { id: this.me.id, is_bot: true, first_name: this.me.first_name, username: this.me.username };
    this.inject({
      my_chat_member: {
        chat,
        from: by,
        date: Math.floor(Date.now() / 1000),
        old_chat_member: { status: 'member', user: bot },
        new_chat_member: status === 'kicked' ? { status, user: bot, until_date: 0 } : { status, user: bot },
      },
    });
  }

  /** Resolves once every webhook delivery under way has been answered (and recorded). */
  async deliveriesSettled(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** The next `times` calls of `method` answer `fault` instead. */
  failNext(method: string, times: number, fault: Fault): void {
    this.faults.set(method, { fault, times });
  }

  /** The next `times` file downloads answer `status`. */
  failDownloads(times: number, status = 500): void {
    this.downloadFaults = { status, times };
  }

  /** Updates not yet confirmed by a poller's offset: what the next getUpdates would be given again. */
  get unconfirmedUpdates(): number {
    return this.pending.length;
  }

  /** Calls of one method, in order. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /**
   * Resolves with the first recorded call (past or future) that `predicate` accepts; rejects
   * after `timeoutMs` with the calls seen so far.
   */
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs = 5_000): Promise<RecordedCall> {
    const found = this.calls.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onCall = (call: RecordedCall): void => {
        if (!predicate(call)) return;
        cleanup();
        resolve(call);
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = this.calls.map((c) => `${c.method}:${c.status}`).join(', ');
        reject(new Error(`FakeBotApi.waitFor: no matching call within ${timeoutMs} ms; calls: ${seen}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('call', onCall);
      };
      this.events.on('call', onCall);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file && req.method === 'GET') return this.serveFile(decodeURIComponent(file[1]), decodeURIComponent(file[2]), res);
    const call = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!call) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = call;
    let params: Record<string, unknown> = {};
    let files: Record<string, UploadedFile> = {};
    try {
      ({ params, files } = await readParams(req, url));
    } catch {
      return send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid request body' });
    }
    const record = (status: number, result: unknown, description?: string): void => {
      const recorded: RecordedCall = { seq: ++this.seq, at: Date.now(), method, params, files, status, result, description };
      this.calls.push(recorded);
      this.events.emit('call', recorded);
    };
    if (decodeURIComponent(token) !== this.token) {
      record(401, undefined, 'Unauthorized');
      return send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    }
    const fault = this.takeFault(method);
    if (fault) {
      record(fault.status, undefined, fault.status === 429 ? 'Too Many Requests' : 'Bad Gateway');
      if (fault.status === 429) {
        return send(res, 429, {
          ok: false,
          error_code: 429,
          description: `Too Many Requests: retry after ${fault.retryAfter}`,
          parameters: { retry_after: fault.retryAfter },
        });
      }
      // Telegram's front end answers 5xx with an HTML page, not JSON.
      res.writeHead(fault.status, { 'content-type': 'text/html' });
      res.end(`<html><body><h1>${fault.status} Bad Gateway</h1></body></html>`);
      return;
    }
    if (method === 'getUpdates') return this.getUpdates(params, res, record);
    try {
      const result = this.answer(method, params, files);
      record(200, result);
      send(res, 200, { ok: true, result });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      record(error.code, undefined, error.description);
      send(res, error.code, { ok: false, error_code: error.code, description: error.description, ...(error.parameters ? { parameters: error.parameters } : {}) });
    }
  }

  private answer(method: string, params: Record<string, unknown>, files: Record<string, UploadedFile>): unknown {
    switch (method) {
      case 'getMe':
        return this.me;
      case 'getFile':
        return this.getFile(params);
      case 'sendMessage': {
        const chat = this.chat(params.chat_id);
        const text = checkText(params.text);
        this.checkReply(chat.id, params.reply_parameters);
        const markup = checkMarkup(params.reply_markup);
        return this.botMessage(chat, { text, ...(markup ? { reply_markup: markup } : {}) }, params.reply_parameters);
      }
      case 'editMessageText': {
        const chat = this.chat(params.chat_id);
        const text = checkText(params.text);
        const markup = checkMarkup(params.reply_markup);
        const message = this.messages.get(chat.id)?.get(Number(params.message_id));
        if (!message || message.from?.id !== this.me.id) throw new ApiError(400, 'Bad Request: message to edit not found');
        const before = 'reply_markup' in message ? JSON.stringify(message.reply_markup) : undefined;
        // An edit without reply_markup removes the keyboard.
        if ('text' in message && message.text === text && before === (markup ? JSON.stringify(markup) : undefined)) {
          throw new ApiError(
            400,
            'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
          );
        }
        const { reply_markup: _dropped, ...rest } = message as Message & { reply_markup?: unknown };
        const edited = { ...rest, text, ...(markup ? { reply_markup: markup } : {}), edit_date: Math.floor(Date.now() / 1000) } as Message;
        this.store(edited);
        return edited;
      }
      case 'answerCallbackQuery': {
        const query = typeof params.callback_query_id === 'string' ? this.callbacks.get(params.callback_query_id) : undefined;
        if (!query || query.answered) throw new ApiError(400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
        query.answered = true;
        if (typeof params.text === 'string') {
          if (params.text.length > 200) throw new ApiError(400, 'Bad Request: MESSAGE_TOO_LONG');
          query.text = params.text;
        }
        query.showAlert = params.show_alert === true;
        return true;
      }
      case 'getChatMember': {
        const chat = this.chat(params.chat_id);
        const user = this.users.get(Number(params.user_id));
        if (!user) throw new ApiError(400, 'Bad Request: user not found');
        const status = chat.type === 'private' && chat.id === user.id ? 'member' : (this.members.get(`${chat.id}:${user.id}`) ?? 'member');
        return { status, user };
      }
      case 'sendChatAction':
        this.chat(params.chat_id);
        if (typeof params.action !== 'string') throw new ApiError(400, 'Bad Request: wrong parameter action in request');
        return true;
      case 'sendDocument': {
        const chat = this.chat(params.chat_id);
        this.checkReply(chat.id, params.reply_parameters);
        const upload = files.document;
        if (!upload) throw new ApiError(400, 'Bad Request: there is no document in the request');
        const ref = this.addFile(upload.data, { folder: 'documents', ext: path.extname(upload.filename).slice(1) || 'dat' });
        const document = { ...ref, file_name: upload.filename, mime_type: mimeOf(upload.filename) };
        return this.botMessage(chat, { document }, params.reply_parameters);
      }
      case 'setMyCommands': {
        if (!Array.isArray(params.commands)) throw new ApiError(400, 'Bad Request: parameter "commands" is required');
        const scope = typeof params.scope === 'object' && params.scope !== null && 'type' in params.scope ? String(params.scope.type) : 'default';
        this.commandsByScope[scope] = params.commands;
        if (scope === 'default') this.commands = params.commands;
        return true;
      }
      case 'deleteWebhook':
        this.webhook = undefined;
        if (params.drop_pending_updates === true) this.pending.length = 0;
        return true;
      case 'setWebhook':
        if (typeof params.url !== 'string') throw new ApiError(400, 'Bad Request: parameter "url" is required');
        this.allowUpdates(params.allowed_updates);
        this.webhook = params.url ? { url: params.url, secretToken: typeof params.secret_token === 'string' ? params.secret_token : undefined } : undefined;
        return true;
      case 'getWebhookInfo':
        return { url: this.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: this.pending.length };
      default:
        throw new ApiError(404, 'Not Found');
    }
  }

  private getUpdates(params: Record<string, unknown>, res: ServerResponse, record: (status: number, result: unknown, description?: string) => void): void {
    if (this.webhook) {
      const description = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
      record(409, undefined, description);
      return send(res, 409, { ok: false, error_code: 409, description });
    }
    const offset = typeof params.offset === 'number' ? params.offset : 0;
    const limit = Math.min(100, Math.max(1, typeof params.limit === 'number' ? params.limit : 100));
    const timeoutSec = typeof params.timeout === 'number' ? params.timeout : 0;
    // Telegram forgets every update below the offset: they are confirmed.
    while (this.pending.length > 0 && this.pending[0].update_id < offset) this.pending.shift();
    if (this.poller) {
      const description = 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running';
      const old = this.poller;
      this.poller = undefined;
      clearTimeout(old.timer);
      send(old.res, 409, { ok: false, error_code: 409, description });
    }
    this.allowUpdates(params.allowed_updates);
    record(200, undefined);
    const poller: Poller = { offset, limit, res, timer: setTimeout(() => this.endPoll(poller, []), timeoutSec * 1000) };
    this.poller = poller;
    res.on('close', () => {
      if (this.poller === poller) {
        clearTimeout(poller.timer);
        this.poller = undefined;
      }
    });
    this.flushPoll(poller);
  }

  /** Telegram keeps the last `allowed_updates` a bot gave, until it gives another. */
  private allowUpdates(types: unknown): void {
    if (Array.isArray(types) && types.length > 0) this.allowedUpdates = new Set(types.map(String));
  }

  private flushPoll(poller: Poller): void {
    const ready = this.pending.filter((u) => u.update_id >= poller.offset).slice(0, poller.limit);
    if (ready.length > 0) this.endPoll(poller, ready);
  }

  private endPoll(poller: Poller, updates: Update[]): void {
    clearTimeout(poller.timer);
    if (this.poller === poller) this.poller = undefined;
    send(poller.res, 200, { ok: true, result: updates });
  }

  private getFile(params: Record<string, unknown>): unknown {
    const file = typeof params.file_id === 'string' ? this.files.get(params.file_id) : undefined;
    if (!file) throw new ApiError(400, 'Bad Request: invalid file_id');
    if (!this.localDir && file.file_size > FAKE_DOWNLOAD_LIMIT) throw new ApiError(400, 'Bad Request: file is too big');
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.file_size, file_path: file.localPath ?? file.filePath };
  }

  private serveFile(token: string, filePath: string, res: ServerResponse): void {
    const answer = (status: number, body?: Buffer): void => {
      this.downloads.push({ filePath, status });
      if (body) {
        res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      } else {
        send(res, status, { ok: false, error_code: status, description: status === 404 ? 'Not Found' : 'Internal Server Error' });
      }
    };
    if (token !== this.token) return answer(401);
    if (this.downloadFaults.times > 0) {
      this.downloadFaults.times--;
      return answer(this.downloadFaults.status);
    }
    const file = [...this.files.values()].find((f) => f.filePath === filePath);
    if (!file?.data) return answer(404);
    answer(200, file.data);
  }

  private async deliverToWebhook(update: Update, webhook: { url: string; secretToken: string | undefined }): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (webhook.secretToken) headers['x-telegram-bot-api-secret-token'] = webhook.secretToken;
    let status = 0;
    try {
      const response = await fetch(webhook.url, { method: 'POST', headers, body: JSON.stringify(update) });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      status = 0;
    }
    this.webhookDeliveries.push({ updateId: update.update_id, status });
  }

  private takeFault(method: string): Fault | undefined {
    const entry = this.faults.get(method);
    if (!entry || entry.times <= 0) return undefined;
    entry.times--;
    return entry.fault;
  }

  private chat(chatId: unknown): Chat {
    const chat = this.chats.get(Number(chatId));
    if (!chat) throw new ApiError(400, 'Bad Request: chat not found');
    return chat;
  }

  private checkReply(chatId: number, reply: unknown): void {
    if (reply === undefined) return;
    if (typeof reply !== 'object' || reply === null || !('message_id' in reply)) throw new ApiError(400, 'Bad Request: invalid reply parameters');
    const known = this.messages.get(chatId)?.has(Number(reply.message_id));
    const allow = 'allow_sending_without_reply' in reply && reply.allow_sending_without_reply === true;
    if (!known && !allow) throw new ApiError(400, 'Bad Request: message to be replied not found');
  }

  private botMessage(chat: Chat, content: Record<string, unknown>, reply: unknown): Message {
    const replyId = typeof reply === 'object' && reply !== null && 'message_id' in reply ? Number(reply.message_id) : undefined;
    const replied = replyId === undefined ? undefined : this.messages.get(chat.id)?.get(replyId);
    const message = {
      message_id: this.nextMessageId(chat.id),
      date: Math.floor(Date.now() / 1000),
      chat,
      from: { id: this.me.id, is_bot: true, first_name: this.me.first_name, username: this.me.username },
      ...content,
      ...(replied ? { reply_to_message: replied } : {}),
    } as Message;
    this.store(message);
    return message;
  }

  private nextMessageId(chatId: number): number {
    const next = (this.lastMessageId.get(chatId) ?? 0) + 1;
    this.lastMessageId.set(chatId, next);
    return next;
  }

  private store(message: Message): void {
    let chat = this.messages.get(message.chat.id);
    if (!chat) this.messages.set(message.chat.id, (chat = new Map()));
    chat.set(message.message_id, message);
  }

  private track(task: Promise<void>): void {
    this.background.add(task);
    void task.finally(() => this.background.delete(task));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function checkText(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '') throw new ApiError(400, 'Bad Request: message text is empty');
  if (text.length > 4096) throw new ApiError(400, 'Bad Request: message is too long');
  return text;
}

/** An inline keyboard as the Bot API checks it: rows of buttons, callback data of 1-64 bytes. */
function checkMarkup(markup: unknown): unknown {
  if (markup === undefined) return undefined;
  if (typeof markup !== 'object' || markup === null || !('inline_keyboard' in markup) || !Array.isArray(markup.inline_keyboard)) {
    throw new ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object");
  }
  for (const row of markup.inline_keyboard as unknown[]) {
    if (!Array.isArray(row)) throw new ApiError(400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays');
    for (const button of row as Record<string, unknown>[]) {
      if (typeof button.text !== 'string' || button.text === '') throw new ApiError(400, 'Bad Request: text buttons are unallowed in the inline keyboard');
      const data = button.callback_data;
      if (typeof data === 'string' && (data === '' || Buffer.byteLength(data) > 64)) throw new ApiError(400, 'Bad Request: BUTTON_DATA_INVALID');
    }
  }
  return markup;
}

function commandEntities(text: string | undefined): MessageEntity[] | undefined {
  const match = text ? /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(text) : null;
  return match ? [{ type: 'bot_command', offset: 0, length: match[0].length }] : undefined;
}

function mimeOf(filename: string): string {
  return filename.endsWith('.txt') ? 'text/plain' : 'application/octet-stream';
}

/** The parameters of a call from its query and its JSON, urlencoded or multipart body. */
async function readParams(req: IncomingMessage, url: URL): Promise<{ params: Record<string, unknown>; files: Record<string, UploadedFile> }> {
  const raw: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const files: Record<string, UploadedFile> = {};
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? '';
  if (body.length > 0 && type.startsWith('application/json')) {
    Object.assign(raw, JSON.parse(body.toString('utf8')) as Record<string, unknown>);
    return { params: raw, files };
  }
  if (body.length > 0 && type.startsWith('application/x-www-form-urlencoded')) {
    Object.assign(raw, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  } else if (body.length > 0 && type.startsWith('multipart/form-data')) {
    const form = await new Response(body, { headers: { 'content-type': type } }).formData();
    const entries: [string, FormDataEntryValue][] = [];
    form.forEach((value, key) => entries.push([key, value]));
    for (const [key, value] of entries) {
      if (typeof value === 'string') raw[key] = value;
      else files[key] = { filename: value.name, data: Buffer.from(await value.arrayBuffer()) };
    }
  }
  // Form values are strings: read them as the Bot API does.
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string' && JSON_FIELDS.has(key) && /^[[{]/.test(value)) params[key] = JSON.parse(value);
    else if (typeof value === 'string' && INT_FIELDS.has(key) && /^-?\d+$/.test(value)) params[key] = Number(value);
    else if (typeof value === 'string' && BOOL_FIELDS.has(key)) params[key] = value === 'true';
    else params[key] = value;
  }
  return { params, files };
}
