import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { KEY_PREFIX, redisReady } from './redis-connection.js';

/** Extends the lease only while this process still holds it (compare-and-set on the token). */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Gives the lease up only if it is still this process's. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaseOptions {
  redis: Redis;
  /** What is held: `telegram-polling`, `discord-gateway`. */
  name: string;
  /** How long the lease outlives its holder's last renewal (FAILOVER_SEC): a standby takes over after about as long. */
  ttlMs: number;
  logger: Logger;
  /** Called once the lease is this process's: start what only one process may run. */
  onAcquired: () => Promise<void>;
  /** Called once it no longer is (lost, or released by stop()): stop that, before anyone else starts it. */
  onLost: () => Promise<void>;
}

/**
 * A lease in Redis that at most one process holds at a time: `SET NX PX` to take it, renewed
 * with a compare-and-set three times per TTL, released on stop. A holder that cannot renew
 * (Redis away, or its token replaced) steps down before its TTL runs out, so two holders never
 * overlap by its own doing; a holder that dies is replaced within one TTL and one try.
 */
export class Lease {
  private readonly token = randomUUID();
  private readonly key: string;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private holding = false;
  /** When the last renewal (or the taking) succeeded: a holder steps down before ttlMs from then. */
  private renewedAt = 0;
  /** Transitions run one at a time, so that a start never overlaps the stop before it. */
  private transitions: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Why the first start of what the lease holds failed, for start() to report. */
  private failedStart: unknown;
  private tries = 0;

  constructor(private readonly options: LeaseOptions) {
    this.key = `${KEY_PREFIX}lease:${options.name}`;
    this.log = options.logger.child({ lease: options.name });
  }

  /** Whether this process holds the lease now. */
  get held(): boolean {
    return this.holding;
  }

  /**
   * Starts trying to take the lease (and keeps it renewed once taken). Resolves after the first
   * try: with what the lease holds started, if this process took it; rejects if starting that
   * failed (a bad token, say), as a process without a lease would fail to start.
   */
  async start(): Promise<void> {
    // A connection still opening fails every command (fronts queue none offline): give it a moment.
    await redisReady(this.options.redis, this.options.ttlMs).catch(() => undefined);
    await this.tick();
    await this.transitions;
    if (this.failedStart) throw this.failedStart;
  }

  /** Stops trying, releases the lease if held, and waits for onLost to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.holding) {
      await this.options.redis.eval(RELEASE, 1, this.key, this.token).catch(() => undefined);
      this.step('down', 'lease released');
    }
    await this.transitions;
  }

  private get everyMs(): number {
    return Math.max(100, Math.round(this.options.ttlMs / 3));
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.tries++;
    const { redis, ttlMs } = this.options;
    const started = Date.now();
    try {
      if (this.holding) {
        const renewed = await redis.eval(RENEW, 1, this.key, this.token, String(ttlMs));
        if (renewed === 1) this.renewedAt = started;
        else this.step('down', 'lease lost to another process');
      } else {
        const taken = await redis.set(this.key, this.token, 'PX', ttlMs, 'NX');
        if (taken === 'OK' && !this.stopped) {
          this.renewedAt = started;
          this.step('up', 'lease taken');
        }
      }
    } catch (error) {
      // Redis away: a holder keeps going while its lease cannot have run out, and no longer.
      if (this.holding && Date.now() - this.renewedAt > ttlMs - this.everyMs) this.step('down', 'lease could not be renewed');
      this.log.debug({ err: error instanceof Error ? error.message : String(error) }, 'lease check failed');
    }
    if (!this.stopped && this.failedStart === undefined) {
      this.timer = setTimeout(() => void this.tick(), this.everyMs);
      this.timer.unref();
    }
  }

  private step(direction: 'up' | 'down', message: string): void {
    if ((direction === 'up') === this.holding) return;
    this.holding = direction === 'up';
    this.log.info(message);
    const run = direction === 'up' ? this.options.onAcquired : this.options.onLost;
    const first = this.tries === 1;
    this.transitions = this.transitions.then(run).catch((error: unknown) => {
      if (first && direction === 'up') this.failedStart = error;
      else this.log.error({ err: error }, direction === 'up' ? 'could not start what the lease holds; giving it up' : 'could not stop what the lease held');
      if (direction === 'up' && this.holding) {
        // Another process may do better (its own token, its own network): let it try.
        void this.options.redis.eval(RELEASE, 1, this.key, this.token).catch(() => undefined);
        this.holding = false;
        return this.options.onLost().catch(() => undefined);
      }
    });
  }
}
