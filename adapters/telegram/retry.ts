import { TelegramError, type Telegram } from 'telegraf';
import type { Opts, Telegram as Methods } from 'telegraf/types';

/** How Bot API calls are retried when Telegram answers 429 or 5xx. */
export interface RetryOptions {
  /**
   * Attempts in all, the first included.
   * @defaultValue 5
   */
  attempts: number;
  /**
   * First wait after a 5xx, doubled after each further one.
   * @defaultValue 500 ms
   */
  baseDelayMs: number;
  /**
   * Longest wait after a 5xx.
   * @defaultValue 30 000 ms
   */
  maxDelayMs: number;
  /**
   * A 429 asking to wait longer than this (in seconds) is not retried: the call fails instead of
   * holding a reply for minutes.
   * @defaultValue 120 s
   */
  maxRetryAfterSec: number;
  /**
   * Waits `ms` milliseconds. Tests hand in their own clock.
   * @defaultValue a timer
   */
  wait: (ms: number) => Promise<void>;
}

/** The defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY: RetryOptions = {
  attempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterSec: 120,
  wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** One retry about to happen, for logging. */
export interface RetryEvent {
  method: string;
  attempt: number;
  delayMs: number;
  code: number;
}

/** Observers of the calls going through {@link installRetry}. */
export interface RetryHooks {
  /** A call is about to be retried. */
  onRetry?: (event: RetryEvent) => void;
  /** A call is being made (before any retry). */
  onCall?: (method: keyof Methods) => void;
}

type CallApiOptions = Parameters<Telegram['callApi']>[2];

/**
 * Makes `telegram.callApi` (through which every `telegram.sendMessage`, `getFile`, … goes) retry
 * 429 answers after their `retry_after` and 5xx answers with exponential backoff. `getUpdates`
 * too, so that a passing 502 costs the backoff rather than telegraf's flat five-second pause;
 * its wait ends as soon as polling is stopped (telegraf aborts the call), and once the attempts
 * are spent telegraf's own loop takes over.
 *
 * It also works around telegraf 4.16 dropping object-valued fields (such as `reply_parameters`)
 * from multipart bodies (telegraf/telegraf#1970): when a call uploads a file, those fields are
 * sent JSON-serialised, as the Bot API accepts them.
 */
export function installRetry(telegram: Telegram, options: RetryOptions, hooks: RetryHooks = {}): void {
  const call = telegram.callApi.bind(telegram);
  const { onRetry, onCall } = hooks;
  telegram.callApi = async <M extends keyof Methods>(method: M, payload: Opts<M>, extra?: CallApiOptions): Promise<ReturnType<Methods[M]>> => {
    onCall?.(method);
    const body = method === 'getUpdates' ? payload : serialiseFieldsBesideUploads(payload);
    const signal = extra?.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call(method, body, extra);
      } catch (error) {
        const delayMs = retryDelayMs(error, attempt, options);
        if (delayMs === undefined || attempt >= options.attempts || !(error instanceof TelegramError) || signal?.aborted) throw error;
        onRetry?.({ method, attempt, delayMs, code: error.code });
        await waitUnlessAborted(options.wait(delayMs), signal);
        if (signal?.aborted) throw error;
      }
    }
  };
}

/** The part of an AbortSignal used here (telegraf hands in the abort-controller package's). */
interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Resolves when `wait` does, or at once when `signal` is aborted. */
function waitUnlessAborted(wait: Promise<void>, signal: AbortLike | undefined): Promise<void> {
  if (!signal) return wait;
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done);
    void wait.then(done);
  });
}

/** How long to wait before retrying after `error`, or undefined when it must not be retried. */
export function retryDelayMs(error: unknown, attempt: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'maxRetryAfterSec'>): number | undefined {
  if (!(error instanceof TelegramError)) return undefined;
  if (error.code === 429) {
    const seconds = error.parameters?.retry_after ?? 1;
    return seconds > options.maxRetryAfterSec ? undefined : seconds * 1000;
  }
  if (error.code >= 500) return Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function isUpload(value: unknown): boolean {
  return isRecord(value) && ('source' in value || 'url' in value);
}

function serialiseFieldsBesideUploads<P>(payload: P): P {
  if (!isRecord(payload) || !Object.values(payload).some(isUpload)) return payload;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) {
    out[key] = isRecord(value) && !isUpload(value) && !('media' in value) ? JSON.stringify(value) : value;
  }
  // Same fields, some as their JSON text: the Bot API reads both forms.
  return out as P;
}
