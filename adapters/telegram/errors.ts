import { TelegramError } from 'telegraf';

/** getFile refused the file: over the Bot API's 20 MB download limit ("file is too big"). */
export class FileTooBigError extends Error {
  override readonly name = 'FileTooBigError';
  constructor(options: { cause?: unknown } = {}) {
    super('Telegram refused to serve the file: file is too big', options);
  }
}

/** Whether a Bot API error is getFile's "Bad Request: file is too big". */
export function isFileTooBig(error: unknown): boolean {
  return error instanceof TelegramError && error.code === 400 && /file is too big/i.test(error.description);
}

/** The plain fields of an error worth logging, with every occurrence of a secret replaced. */
export interface LoggableError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  method?: string;
  retryAfter?: number;
  cause?: LoggableError;
}

/**
 * An error reduced to what an operator needs (type, message, code, the Bot API method, stack,
 * cause chain), with the secrets scrubbed. telegraf's errors carry the whole request payload
 * (uploads included) and network errors can quote a URL holding the bot token, so raw errors
 * are never handed to the logger.
 */
export function loggableError(error: unknown, secrets: readonly string[], depth = 0): LoggableError {
  const scrub = (text: string): string => secrets.reduce((out, secret) => (secret ? out.split(secret).join('[redacted]') : out), text);
  if (!(error instanceof Error)) return { type: typeof error, message: scrub(String(error)) };
  const out: LoggableError = { type: error.name, message: scrub(error.message) };
  if (error.stack) out.stack = scrub(error.stack);
  if (error instanceof TelegramError) {
    out.code = error.code;
    const on: unknown = error.on;
    if (typeof on === 'object' && on !== null && 'method' in on && typeof on.method === 'string') out.method = on.method;
    if (error.parameters?.retry_after !== undefined) out.retryAfter = error.parameters.retry_after;
  } else if ('code' in error && (typeof error.code === 'string' || typeof error.code === 'number')) {
    out.code = error.code;
  }
  if (error.cause !== undefined && depth < 4) out.cause = loggableError(error.cause, secrets, depth + 1);
  return out;
}
