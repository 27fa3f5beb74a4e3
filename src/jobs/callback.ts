import { createHmac } from 'node:crypto';
import { SttError } from '../core/errors.js';
import type { Logger } from '../logger.js';

/** The header that carries a callback's signature: `sha256=<hex HMAC-SHA256 of the raw body>`. */
export const SIGNATURE_HEADER = 'x-viet-stt-signature';

export interface CallbackSenderOptions {
  /** Signs every body; unset: every callback_url is refused at submit. */
  secret: string | undefined;
  /** The only `host[:port]` a callback may go to, matched exactly against the URL's host. */
  allowedHosts: readonly string[];
  logger: Logger;
  /**
   * Tries per callback, the first included; a 2xx answer ends them.
   * @defaultValue 5
   */
  attempts?: number;
  /**
   * The wait before the second try; it doubles before each next one (1, 2, 4, 8 s by default).
   * @defaultValue 1000 ms
   */
  firstRetryMs?: number;
  /**
   * How long one try may take before it counts as failed.
   * @defaultValue 10 000 ms
   */
  timeoutMs?: number;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Delivers a finished job's JSON to the URL its client gave: signed, retried with exponential
 * backoff, and only ever to a listed host. Both job backends use it, so the rules are one.
 */
export class CallbackSender {
  private readonly timers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private readonly stopped = new AbortController();

  constructor(private readonly options: CallbackSenderOptions) {}

  /**
   * Refuses, at submit and before any request is made, a callback_url this server may not call:
   * not http(s), carrying credentials, a host not listed, or no secret to sign with.
   */
  check(url: string): void {
    if (!this.options.secret) {
      throw new SttError('callback_not_allowed', 'callback_url needs CALLBACK_SECRET set on the server, so that callbacks can be signed.');
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw new SttError('callback_not_allowed', 'callback_url is not a URL.', { cause: error });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new SttError('callback_not_allowed', 'callback_url must be an http or https URL.');
    }
    if (parsed.username || parsed.password) throw new SttError('callback_not_allowed', 'callback_url may not carry a user name or password.');
    if (!this.options.allowedHosts.includes(parsed.host.toLowerCase())) throw new SttError('callback_not_allowed');
  }

  /** `sha256=<hex>`: what a receiver recomputes over the raw body with the shared secret. */
  sign(body: string): string {
    return `sha256=${createHmac('sha256', this.options.secret ?? '').update(body).digest('hex')}`;
  }

  /**
   * POSTs `body` (JSON) to `url` until one try is answered 2xx or the tries run out; never
   * throws. Redirects are not followed (they could lead off the list). Resolves true when
   * delivered. The URL is checked again, so a caller that skipped {@link check} still calls no
   * other host.
   */
  async deliver(url: string, body: string): Promise<boolean> {
    try {
      this.check(url);
    } catch {
      return false;
    }
    const { attempts = 5, firstRetryMs = 1000, timeoutMs = 10_000 } = this.options;
    const send = this.options.fetch ?? fetch;
    const signature = this.sign(body);
    // Only the host is logged: a callback URL's path or query may hold the receiver's own token.
    const host = new URL(url).host;
    for (let attempt = 1; attempt <= attempts && !this.stopped.signal.aborted; attempt++) {
      try {
        const response = await send(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
          body,
          redirect: 'manual',
          signal: AbortSignal.any([this.stopped.signal, AbortSignal.timeout(timeoutMs)]),
        });
        await response.body?.cancel();
        if (response.ok) return true;
        this.options.logger.info({ host, attempt, status: response.status }, 'callback refused');
      } catch (error) {
        if (this.stopped.signal.aborted) break;
        this.options.logger.info({ host, attempt, err: error instanceof Error ? error.name : String(error) }, 'callback failed');
      }
      if (attempt < attempts) await this.wait(firstRetryMs * 2 ** (attempt - 1));
    }
    this.options.logger.warn({ host, attempts }, 'callback given up');
    return false;
  }

  /** Stops every retry still waiting and every try under way. */
  close(): void {
    this.stopped.abort();
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.timers.clear();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        wake: resolve,
        timer: setTimeout(() => {
          this.timers.delete(entry);
          resolve();
        }, ms),
      };
      entry.timer.unref();
      this.timers.add(entry);
    });
  }
}
