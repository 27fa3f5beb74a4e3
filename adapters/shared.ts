import { SttError, toSttError, type ErrorCode } from '../src/core/errors.js';

/**
 * What the Telegram and Discord bots share: splitting long transcripts, the replies for every
 * error, a per-user rate limit, and downloads capped while they stream.
 */

/** Telegram's message limit in characters. */
export const TELEGRAM_MESSAGE_LIMIT = 4096;
/** Discord's message limit in characters. */
export const DISCORD_MESSAGE_LIMIT = 2000;

/**
 * Splits text into messages of at most `limit` characters, on word boundaries: no word is cut or
 * repeated, and joining the parts with single spaces gives the text back. A single word longer
 * than the limit (never in speech) is cut hard.
 */
export function splitMessage(text: string, limit: number): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const parts: string[] = [];
  let current = '';
  for (const word of words) {
    if (current && current.length + 1 + word.length <= limit) {
      current += ` ${word}`;
      continue;
    }
    if (current) parts.push(current);
    current = word;
    while (current.length > limit) {
      parts.push(current.slice(0, limit));
      current = current.slice(limit);
    }
  }
  if (current) parts.push(current);
  return parts;
}

/** The reply for a transcript with no speech in it. */
export const NO_SPEECH_REPLY = '🔇 Không nghe thấy lời nói nào trong tin nhắn này. (No speech found.)';

/** The placeholder shown while a job waits behind others. */
export function queuedReply(ahead: number): string {
  return `⏳ Đang chờ, ${ahead} tin nhắn trước bạn… (${ahead} ahead of you)`;
}

const ERROR_REPLIES: Partial<Record<ErrorCode, (error: SttError) => string>> = {
  queue_full: () => '⏳ Máy chủ đang bận, vui lòng gửi lại sau ít phút. (Busy, try again shortly.)',
  shutting_down: () => '⏳ Máy chủ đang khởi động lại, vui lòng gửi lại sau. (Restarting, try again shortly.)',
  audio_too_long: (e) => `⚠️ ${e.message}`,
  payload_too_large: (e) => `⚠️ ${e.message}`,
  audio_too_short: () => '⚠️ Tin nhắn quá ngắn để nhận dạng. (Too short to transcribe.)',
  invalid_audio: () => '⚠️ Không đọc được tệp âm thanh này. (Could not decode this audio.)',
  unsupported_media_type: () => '⚠️ Tệp này không có âm thanh. (This file has no audio.)',
  no_audio: () => '⚠️ Không có âm thanh để nhận dạng. (No audio to transcribe.)',
};

/** A short reply for any error; nothing in it comes from a path, token or stack. */
export function errorReply(error: unknown): string {
  const stt = toSttError(error);
  const reply = ERROR_REPLIES[stt.code];
  return reply ? reply(stt) : '⚠️ Có lỗi khi nhận dạng, vui lòng thử lại. (Transcription failed, please retry.)';
}

/** A sliding-window limit of jobs per user, so one person cannot fill the shared queue. */
export class UserRateLimiter {
  private readonly hits = new Map<string, number[]>();
  private lastSweep = Number.NEGATIVE_INFINITY;

  /**
   * @param limit jobs allowed per window; 0 turns the limit off.
   * @param windowMs the window's length.
   * @param now the clock; tests hand in their own.
   */
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Users with a job inside the window (the others are forgotten). */
  get trackedUsers(): number {
    return this.hits.size;
  }

  /** Records a job for `user` and says whether it is allowed. */
  take(user: string): boolean {
    if (this.limit <= 0) return true;
    const now = this.now();
    this.forgetIdle(now);
    const recent = (this.hits.get(user) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length >= this.limit) {
      this.hits.set(user, recent);
      return false;
    }
    recent.push(now);
    this.hits.set(user, recent);
    return true;
  }

  /** Once a window, drops the users whose last job is older than the window. */
  private forgetIdle(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    for (const [user, times] of this.hits) {
      if (now - times[times.length - 1] >= this.windowMs) this.hits.delete(user);
    }
  }
}

/**
 * How long a bot's stop() lets jobs in flight finish. Past it they are cancelled and their
 * authors told that the service is restarting: no accepted message goes unanswered, and a stop
 * fits in a container's grace period (compose.yaml gives 60 s).
 */
export const BOT_STOP_GRACE_MS = 20_000;

/** The reply when a user is over the rate limit. */
export const RATE_LIMITED_REPLY = '🐢 Bạn gửi hơi nhanh, vui lòng đợi một chút. (Too many messages, wait a moment.)';

/** Thrown when a download fails; the URL is never part of the message (it may hold a token). */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    message: string,
    readonly status: number | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** What {@link downloadCapped} needs. */
export interface DownloadOptions {
  maxBytes: number;
  maxMb: number;
  /**
   * A download that receives nothing for this long (before its headers or between two chunks)
   * is given up, so a stalled server cannot hold a job, and a shutdown, forever.
   * @defaultValue 30 000 ms
   */
  idleMs?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

/**
 * Downloads a file into memory, failing with `payload_too_large` as soon as the stream passes
 * `maxBytes` (or at once when Content-Length says so), not after, and with a DownloadError when
 * nothing arrives for `idleMs`.
 */
export async function downloadCapped(url: string, options: DownloadOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  const idleMs = options.idleMs ?? 30_000;
  const stalled = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  /** (Re)starts the idle clock. */
  const watch = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => stalled.abort(), idleMs);
  };
  const failure = (error: unknown, message: string, status?: number): DownloadError =>
    stalled.signal.aborted
      ? new DownloadError(`the file download stalled: nothing arrived for ${idleMs / 1000} s`, status)
      : new DownloadError(message, status, { cause: stripUrl(error) });
  const signal = options.signal ? AbortSignal.any([options.signal, stalled.signal]) : stalled.signal;
  try {
    watch();
    let response: Response;
    try {
      response = await doFetch(url, { signal, headers: options.headers });
    } catch (error) {
      throw failure(error, 'the file could not be downloaded');
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new DownloadError(`the file download answered ${response.status}`, response.status);
    }
    const tooLarge = (): SttError => new SttError('payload_too_large', `The file is larger than the ${options.maxMb} MB limit.`);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > options.maxBytes) {
      await response.body.cancel();
      throw tooLarge();
    }
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      watch();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw failure(error, 'the file download was cut off', response.status);
      }
      if (chunk.done) break;
      total += chunk.value.length;
      if (total > options.maxBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(chunk.value);
    }
    return Buffer.concat(chunks, total);
  } finally {
    clearTimeout(idle);
  }
}

/**
 * A fetch error reduced to its name and system error code (ECONNRESET, ETIMEDOUT…): fetch
 * errors and their causes can quote the URL, which holds the bot token for Telegram files.
 */
function stripUrl(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'fetch failed';
  const codeOf = (value: unknown): unknown => (value instanceof Error ? (value as Error & { code?: unknown }).code : undefined);
  const code = codeOf(error) ?? (error instanceof Error ? codeOf(error.cause) : undefined);
  return new Error(typeof code === 'string' && /^[A-Z_]+$/.test(code) ? `${name} (${code})` : name);
}
