import type { Config } from '../src/config.js';
import { fileTooLarge } from '../src/core/errors.js';
import { StreamLimitError, readStream } from '../src/core/read-stream.js';

/**
 * What the Telegram and Discord bots share beside the job runner: splitting long transcripts, a
 * per-user rate limit, and downloads capped while they stream.
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
  /**
   * The whole body must arrive within this long of the headers (`UPLOAD_DEADLINE_SEC`).
   * @defaultValue none: the idle timeout and the minimum rate bound a download on their own
   */
  deadlineMs?: number;
  /**
   * Once the body has taken longer than `idleMs`, its average rate must stay at or above this
   * many bytes a second (`UPLOAD_MIN_RATE_KBPS`), so a trickle cannot hold a job until the deadline.
   * @defaultValue 0: no minimum
   */
  minBytesPerSec?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

/** The bounds every bot download keeps, from the same settings as an HTTP upload. */
export function downloadLimits(limits: Config['limits']): Required<Pick<DownloadOptions, 'maxBytes' | 'maxMb' | 'idleMs' | 'deadlineMs' | 'minBytesPerSec'>> {
  return {
    maxBytes: limits.maxUploadBytes,
    maxMb: limits.maxUploadMb,
    idleMs: limits.uploadIdleMs,
    deadlineMs: limits.uploadDeadlineMs,
    minBytesPerSec: limits.uploadMinBytesPerSec,
  };
}

/**
 * What a bot tells of a download or file read that passed one of its stream limits:
 * `payload_too_large` for the size, a DownloadError saying what went wrong for the clock.
 * `what` names the transfer (`the file download`); it never holds a URL or path. `status` is
 * the HTTP status the transfer had started with, if any.
 */
export function limitFailure(error: StreamLimitError, what: string, maxMb: number, status?: number): Error {
  switch (error.reason) {
    case 'too_large':
      return fileTooLarge(maxMb);
    case 'idle':
      return new DownloadError(`${what} stalled: nothing arrived for ${error.limit / 1000} s`, status, { cause: error });
    case 'deadline':
      return new DownloadError(`${what} took too long: not finished within ${error.limit / 1000} s`, status, { cause: error });
    case 'too_slow':
      return new DownloadError(`${what} was too slow: under ${error.limit} bytes/s on average`, status, { cause: error });
  }
}

/**
 * Downloads a file into memory, failing with `payload_too_large` as soon as the stream passes
 * `maxBytes` (or at once when Content-Length says so), not after, and with a DownloadError when
 * nothing arrives for `idleMs`, the body is not done within `deadlineMs`, or it comes slower
 * than `minBytesPerSec`. The body is read by {@link readStream}; the fetch is aborted on any early end.
 */
export async function downloadCapped(url: string, options: DownloadOptions): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  const idleMs = options.idleMs ?? 30_000;
  const what = 'the file download';
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  // Until the headers arrive, fetch is the one waiting: the idle clock aborts it.
  let stalled = false;
  const idle = setTimeout(() => {
    stalled = true;
    controller.abort();
  }, idleMs);
  let response: Response;
  try {
    response = await doFetch(url, { signal, headers: options.headers });
  } catch (error) {
    if (stalled) throw new DownloadError(`${what} stalled: nothing arrived for ${idleMs / 1000} s`, undefined);
    throw new DownloadError('the file could not be downloaded', undefined, { cause: stripUrl(error) });
  } finally {
    clearTimeout(idle);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new DownloadError(`${what} answered ${response.status}`, response.status);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > options.maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw fileTooLarge(options.maxMb);
  }
  try {
    // Node's web streams are async iterable; the DOM typings the project compiles against do not say so.
    return await readStream(response.body as unknown as AsyncIterable<Uint8Array>, {
      maxBytes: options.maxBytes,
      idleMs,
      deadlineMs: options.deadlineMs,
      minBytesPerSec: options.minBytesPerSec,
      signal: options.signal,
      stop: () => controller.abort(),
    });
  } catch (error) {
    if (error instanceof StreamLimitError) throw limitFailure(error, what, options.maxMb, response.status);
    throw new DownloadError(`${what} was cut off`, response.status, { cause: stripUrl(error) });
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
