import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

/** The one BullMQ queue every front and worker on a Redis shares. */
export const QUEUE_NAME = 'viet-stt';

/** The service's own keys beside BullMQ's (audio blobs, cancel marks, leases, job views). */
export const KEY_PREFIX = 'viet-stt:';

/** Reconnection never gives up, and never waits more than this between tries, so work resumes soon after Redis does. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** Options both ioredis and BullMQ take (their `retryStrategy` types differ only in what we never return). */
export type QueueRedisOptions = Omit<RedisOptions, 'retryStrategy'> & BullRedisOptions & { retryStrategy: (times: number) => number };

/**
 * How a connection to QUEUE_URL is opened.
 *
 * - `front`: a command fails at once while Redis is unreachable (no offline queue, one try per
 *   request), so that a request is answered `queue_unavailable` rather than held.
 * - `blocking`: BullMQ's workers and event readers, which wait on Redis by design; per BullMQ's
 *   guide they retry every command for as long as it takes (`maxRetriesPerRequest: null`).
 */
export function redisOptions(url: string, use: 'front' | 'blocking'): QueueRedisOptions {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.replace(/^\//, '') || '0');
  const base: QueueRedisOptions = {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), MAX_RECONNECT_DELAY_MS),
  };
  return use === 'front' ? { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { ...base, maxRetriesPerRequest: null };
}

/** A plain ioredis client for the service's own keys; errors are the caller's to log (via 'error'). */
export function openRedis(url: string, use: 'front' | 'blocking'): Redis {
  return new Redis(redisOptions(url, use));
}

/** Resolves once `client` is connected, or rejects after `timeoutMs` (the caller then decides whether to go on). */
export async function redisReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', ready);
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const ready = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', ready);
  });
}

/** The URL with its password hidden, for logs. */
export function printableRedisUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
