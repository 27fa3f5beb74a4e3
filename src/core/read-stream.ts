/**
 * The one reader of a capped, timed stream: an upload's body, a bot's file download, a local
 * file, a model file from the hub. It enforces a size cap, an idle timeout, an overall deadline
 * and a minimum average rate, and stops with a {@link StreamLimitError} that says which.
 */

/** Why a read stopped early: the one vocabulary every capped, timed read uses. */
export type StreamLimitReason = 'too_large' | 'idle' | 'deadline' | 'too_slow';

/** A read went past one of its {@link StreamLimits}. The message names the limit, never a URL or path. */
export class StreamLimitError extends Error {
  override readonly name = 'StreamLimitError';
  constructor(
    readonly reason: StreamLimitReason,
    message: string,
    /** The limit that was passed: bytes for too_large, ms for idle and deadline, bytes/s for too_slow. */
    readonly limit: number,
  ) {
    super(message);
  }
}

export interface StreamLimits {
  /** Bytes allowed; one more fails with too_large (as soon as it arrives, not after). `Infinity`: no cap. */
  maxBytes: number;
  /**
   * Fails with idle when nothing arrives for this long while the reader waits on the source (also
   * before the first byte). Time the consumer spends between two chunks does not count.
   */
  idleMs: number;
  /** Fails with deadline when the stream has not ended this long after `startedAt`. Default: no deadline. */
  deadlineMs?: number;
  /**
   * Once more than `idleMs` has passed since `startedAt`, fails with too_slow while the average
   * rate since `startedAt` is below this (bytes/s). Checked on each chunk and on a timer, so a
   * client that sends one byte every two seconds is caught. Default 0: off.
   */
  minBytesPerSec?: number;
  /** When the clock starts (performance.now() time base). Default: when reading begins. */
  startedAt?: number;
  /** Aborting rejects at once with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called once, synchronously, when reading ends early (a limit, an abort, a source error, or the
   * consumer's break/throw), never on a normal end, so the caller can release the source: destroy
   * it, abort its fetch, or drain it. `reason` is the error the read fails with, or `undefined`
   * when the consumer stopped on its own. The read does not wait for the source to react: it
   * rejects/throws right away, even while a `next()` on the source is still pending (that late
   * result is ignored and its rejection swallowed). Must not throw.
   */
  stop?: (reason: unknown) => void;
}

/** setTimeout's largest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Yields the source's chunks under the limits. Empty chunks are dropped and do not count as
 * something arriving, so a source cannot hold the idle clock off with them.
 *
 * The source's iterator is taken once and driven by hand, each `next()` raced with the timers
 * and the signal. On an early end the reader calls the iterator's `return()` itself: at once
 * when no `next()` is pending, otherwise once the pending one settles (an async generator would
 * queue `return()` behind it). A Node stream's default iterator destroys the stream on
 * `return()`; to keep it alive (drain the rest and answer 413), pass
 * `stream.iterator({ destroyOnReturn: false })` and drain it in `stop`.
 */
export async function* limitStream(
  source: AsyncIterable<Uint8Array>,
  limits: StreamLimits,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { maxBytes, idleMs, deadlineMs, signal, stop } = limits;
  const minRate = limits.minBytesPerSec ?? 0;
  const startedAt = limits.startedAt ?? performance.now();
  const iterator = source[Symbol.asyncIterator]();
  let received = 0;
  /** A `next()` still out when the read ended: its result is ignored. */
  let pending: Promise<unknown> | undefined;
  let ended = false;
  let failure: unknown;

  /** The limit passed at `now`, if any, for a wait that began at `waitStart` (undefined: between waits). */
  const overdue = (now: number, waitStart?: number): StreamLimitError | undefined => {
    if (waitStart !== undefined && now - waitStart >= idleMs) {
      return new StreamLimitError('idle', `nothing arrived for ${seconds(idleMs)}`, idleMs);
    }
    const elapsed = now - startedAt;
    if (deadlineMs !== undefined && elapsed >= deadlineMs) {
      return new StreamLimitError('deadline', `not finished within ${seconds(deadlineMs)}`, deadlineMs);
    }
    if (minRate > 0 && elapsed > idleMs && received * 1000 < minRate * elapsed) {
      return new StreamLimitError('too_slow', `slower than ${minRate} bytes/s on average`, minRate);
    }
    return undefined;
  };
  /** When {@link overdue} may next say something, for a wait that began at `waitStart`. */
  const nextCheckAt = (waitStart: number): number =>
    Math.min(
      waitStart + idleMs,
      deadlineMs === undefined ? Infinity : startedAt + deadlineMs,
      minRate > 0 ? startedAt + Math.max(idleMs, (received * 1000) / minRate) : Infinity,
    );

  /** One `next()` on the source, raced with the limits and the signal; idle counts from `waitStart`. */
  const step = (waitStart: number): Promise<IteratorResult<Uint8Array>> =>
    new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const fail = (error: unknown): void => {
        if (finish()) reject(error);
      };
      const onAbort = (): void => fail(signal?.reason);
      const check = (): void => {
        const now = performance.now();
        const limit = overdue(now, waitStart);
        if (limit) return fail(limit);
        const delay = nextCheckAt(waitStart) - now;
        // A strict limit (too_slow) is not yet passed at its exact time: look again a ms later.
        if (Number.isFinite(delay)) timer = setTimeout(check, Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(delay))));
      };
      let next: Promise<IteratorResult<Uint8Array>>;
      try {
        next = Promise.resolve(iterator.next());
      } catch (error) {
        fail(error);
        return;
      }
      pending = next;
      next.then(
        (result) => {
          if (!finish()) return;
          pending = undefined;
          resolve(result);
        },
        (error: unknown) => {
          if (!finish()) return;
          pending = undefined;
          reject(error);
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });

  try {
    /** Set while empty chunks arrive: they are not something arriving, so the idle clock runs on. */
    let idleSince: number | undefined;
    for (;;) {
      signal?.throwIfAborted();
      const now = performance.now();
      const limit = overdue(now);
      if (limit) throw limit;
      const result = await step(idleSince ?? now);
      if (result.done) {
        ended = true;
        return;
      }
      const chunk = result.value;
      if (chunk.byteLength === 0) {
        idleSince ??= now;
        continue;
      }
      idleSince = undefined;
      received += chunk.byteLength;
      if (received > maxBytes) {
        throw new StreamLimitError('too_large', `more than ${maxBytes} bytes`, maxBytes);
      }
      const late = overdue(performance.now());
      if (late) throw late;
      yield chunk;
    }
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    if (!ended) {
      release(iterator, pending);
      stop?.(failure);
    }
  }
}

/** Reads the whole source into one Buffer under the limits. */
export async function readStream(source: AsyncIterable<Uint8Array>, limits: StreamLimits): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of limitStream(source, limits)) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  return Buffer.concat(chunks, total);
}

/** Ends the source's iterator without waiting: after the pending `next()` when there is one; every failure swallowed. */
function release(iterator: AsyncIterator<Uint8Array>, pending: Promise<unknown> | undefined): void {
  const end = (): unknown => iterator.return?.();
  if (pending) {
    pending.then(end, () => undefined).catch(() => undefined);
    return;
  }
  try {
    Promise.resolve(end()).catch(() => undefined);
  } catch {
    // A source whose return() throws has nothing left to release.
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms) / 1000} s`;
}
