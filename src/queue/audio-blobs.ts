import type { Redis } from 'ioredis';
import { KEY_PREFIX } from './redis-connection.js';

/**
 * A job's audio, kept in Redis beside its BullMQ job rather than in the job's data: the job hash
 * is read by every listing and event, the bytes only by the one worker that runs it. Each blob
 * has a TTL, so audio whose job was lost (Redis restarted without it, a front gone mid-submit)
 * is still forgotten; the worker removes it as soon as the job has ended.
 */
export class AudioBlobs {
  constructor(private readonly redis: Redis) {}

  /** Stores `data` for `jobId` for at most `ttlMs`. */
  async put(jobId: string, data: Uint8Array, ttlMs: number): Promise<void> {
    await this.redis.set(keyOf(jobId), Buffer.from(data.buffer, data.byteOffset, data.byteLength), 'PX', ttlMs);
  }

  /** The audio, or undefined when it expired or was never stored. */
  async get(jobId: string): Promise<Uint8Array | undefined> {
    const data = await this.redis.getBuffer(keyOf(jobId));
    return data ?? undefined;
  }

  async delete(jobId: string): Promise<void> {
    await this.redis.del(keyOf(jobId));
  }
}

function keyOf(jobId: string): string {
  return `${KEY_PREFIX}audio:${jobId}`;
}
