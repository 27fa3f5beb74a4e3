import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, RawServerDefault } from 'fastify';
import { SttError } from '../../src/core/errors.js';
import type { RequestBody } from '../../src/http/body.js';
import type { Update } from 'telegraf/types';
import type { TelegramBot } from './bot.js';

/** Where the service's HTTP server takes Telegram's webhook calls. */
export const TELEGRAM_WEBHOOK_PATH = '/telegram/webhook';

/** The header in which Telegram sends the webhook's secret token. */
export const WEBHOOK_SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/**
 * The largest update body taken: a message's text is at most 4096 characters, so an update with
 * its entities, reply and quote stays far under this.
 */
const WEBHOOK_BODY_BYTES = 1024 * 1024;

/** The characters Telegram allows in a webhook secret token (1–256 of them). */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * The webhook's secret token: `TELEGRAM_WEBHOOK_SECRET` when set, otherwise one derived from the
 * bot token with SHA-256 (stable across restarts, and not the token itself).
 */
export function webhookSecretFor(token: string, configured?: string): string {
  if (configured !== undefined) {
    if (!SECRET_SHAPE.test(configured)) throw new RangeError('TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -');
    return configured;
  }
  return createHash('sha256').update(`viet-stt telegram webhook\n${token}`).digest('hex');
}

/**
 * The URL given to setWebhook: `TELEGRAM_WEBHOOK_URL` as it is when it has a path (a proxy may
 * map its own path), or with {@link TELEGRAM_WEBHOOK_PATH} appended when it is a bare origin.
 */
export function webhookUrlFor(configured: string): string {
  const url = new URL(configured);
  if (url.pathname === '/' || url.pathname === '') url.pathname = TELEGRAM_WEBHOOK_PATH;
  return url.toString();
}

/** Whether the header carries the expected secret (constant time). */
export function secretMatches(header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const a = Buffer.from(header);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

function isUpdate(body: unknown): body is Update {
  return typeof body === 'object' && body !== null && 'update_id' in body && typeof body.update_id === 'number';
}

/**
 * Registers `POST /telegram/webhook` on the service's Fastify app (call it before `listen`). A
 * request without the right `X-Telegram-Bot-Api-Secret-Token` gets 401 before its body is read
 * (bodies are capped at 1 MiB); an update is handed to
 * the bot, whose handlers return at once (transcriptions go on in the background), then 200.
 * While the bot stops, updates get 503 so that Telegram delivers them again later.
 *
 * Registers nothing, and returns false, when the bot runs in polling mode.
 */
export function mountTelegramWebhook<Log extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Log>,
  bot: TelegramBot,
): boolean {
  if (bot.mode !== 'webhook') return false;
  const refuse = (reply: FastifyReply, error: SttError): FastifyReply =>
    reply.code(error.status).send({ status: 'error', error: error.code, message: error.message });
  app.post(
    TELEGRAM_WEBHOOK_PATH,
    {
      bodyLimit: WEBHOOK_BODY_BYTES,
      // The secret is checked before the body is read: a call without it costs nothing.
      onRequest: async (request, reply) => {
        if (secretMatches(request.headers[WEBHOOK_SECRET_HEADER], bot.webhookSecret)) return;
        request.log.warn('telegram webhook call without the right secret token');
        if (!request.raw.complete) {
          reply.header('connection', 'close');
          request.raw.resume();
        }
        return refuse(reply, new SttError('unauthorized', `The ${WEBHOOK_SECRET_HEADER} header is missing or wrong.`));
      },
    },
    async (request, reply) => {
      const body = request.body as RequestBody | undefined;
      if (body?.kind !== 'json' || !isUpdate(body.value)) return refuse(reply, new SttError('bad_request', 'The body is not a Telegram update.'));
      if (!bot.accepting) return refuse(reply, new SttError('shutting_down'));
      await bot.handleWebhook(body.value);
      // An empty body: Telegram would run a JSON body with a `method` as an API call.
      return reply.code(200).send();
    },
  );
  return true;
}
