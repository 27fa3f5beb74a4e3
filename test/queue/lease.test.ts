import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { Lease } from '../../src/queue/lease.js';
import { startRedis, type TestRedis } from '../../testkit/redis.js';

// The lease that lets one front long-poll Telegram and hold the Discord gateway, on a real
// redis-server: never two holders, and a standby takes over within about one TTL.

const TTL_MS = 600;
const silent = createLogger({ level: 'silent' });

let redis: TestRedis;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await redis?.close();
});

function connect(): Redis {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/** A process that holds what the lease guards while it holds the lease, recording when. */
function contender(name: string, holders: Set<string>, log: string[], client = connect()) {
  let resolveTaken: () => void = () => undefined;
  const taken = new Promise<void>((resolve) => (resolveTaken = resolve));
  const lease = new Lease({
    redis: client,
    name: 'telegram-polling',
    ttlMs: TTL_MS,
    logger: silent,
    onAcquired: async () => {
      holders.add(name);
      log.push(`${name} up (${holders.size} holding)`);
      resolveTaken();
    },
    onLost: async () => {
      holders.delete(name);
      log.push(`${name} down`);
    },
  });
  return { lease, taken, client };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('Lease', () => {
  it('has one holder; on stop it is released and the standby takes over within one renewal', async () => {
    const holders = new Set<string>();
    const log: string[] = [];
    const a = contender('a', holders, log);
    const b = contender('b', holders, log);
    await a.lease.start();
    await b.lease.start();
    expect(a.lease.held).toBe(true);
    expect(b.lease.held).toBe(false);
    const stoppedAt = performance.now();
    await a.lease.stop();
    await within(b.taken, TTL_MS, 'b to take the released lease');
    expect(performance.now() - stoppedAt).toBeLessThan(TTL_MS);
    expect(log).toEqual(['a up (1 holding)', 'a down', 'b up (1 holding)']);
    await b.lease.stop();
  });

  it('a holder that can no longer reach Redis steps down before its lease runs out, and a standby takes it after', async () => {
    const holders = new Set<string>();
    const log: string[] = [];
    const a = contender('a', holders, log);
    const b = contender('b', holders, log);
    await a.lease.start();
    await b.lease.start();
    const cutAt = performance.now();
    // As a front whose network went away (or that was killed): it renews no more.
    a.client.disconnect();
    await within(b.taken, TTL_MS * 3, 'b to take the lapsed lease');
    expect(performance.now() - cutAt).toBeGreaterThanOrEqual(TTL_MS * 0.9);
    // a knew it had lost the lease before b could take it: never two holders.
    expect(log).toEqual(['a up (1 holding)', 'a down', 'b up (1 holding)']);
    await a.lease.stop();
    await b.lease.stop();
  });

  it('fails start() when what it holds cannot start, and releases the lease for another', async () => {
    const client = connect();
    const failing = new Lease({
      redis: client,
      name: 'discord-gateway',
      ttlMs: TTL_MS,
      logger: silent,
      onAcquired: async () => {
        throw new Error('Discord refused the token');
      },
      onLost: async () => undefined,
    });
    await expect(failing.start()).rejects.toThrow('Discord refused the token');
    expect(await client.get('viet-stt:lease:discord-gateway')).toBeNull();
    await failing.stop();
  });
});
