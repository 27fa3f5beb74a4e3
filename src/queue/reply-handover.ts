import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { SttError } from '../core/errors.js';
import type { Transcript } from '../core/types.js';
import type { Logger } from '../logger.js';
import { errorFromFailure, type QueuedJobData } from './queued-job.js';
import { KEY_PREFIX } from './redis-connection.js';

/**
 * How a bot job's answer outlives the front that accepted it. The job carries its reply as data
 * (QueuedJobData.reply); the front that accepted it keeps a presence key alive and, while it
 * lives, delivers the answer itself. Each bot job is also listed per platform until its answer is
 * out; the front that holds the platform (its lease, or any front for webhooks) runs a
 * {@link ReplyCourier} that delivers the answers of jobs whose front is gone. Whoever delivers
 * first takes the job's delivery record (`SET NX`), so that one answer goes out.
 */

/** What a ticket's holder hears when its job ends: the transcript, or the catalogue's error. */
export type HandedOverOutcome = { ok: true; transcript: Transcript } | { ok: false; error: SttError };

/** The accepting front's hold on one job's reply. */
export interface ReplyTicket {
  /** Records the reply as it stands now (its placeholder once sent) with the job. */
  update(record: object): Promise<void>;
  /** Takes the job's delivery record: false when another front has taken it (and answers). */
  claim(): Promise<boolean>;
  /** The answer is out (or given up): the job leaves its platform's list. */
  delivered(): Promise<void>;
}

/** One listed reply: which front accepted the job, and when. */
export interface PendingReply {
  front: string;
  jobId: string;
  since: number;
}

function presenceKey(frontId: string): string {
  return `${KEY_PREFIX}front:${frontId}`;
}

function deliveryKey(jobId: string): string {
  return `${KEY_PREFIX}delivery:${jobId}`;
}

function pendingKey(platform: string): string {
  return `${KEY_PREFIX}replies:${platform}`;
}

/** What one front does with the replies of bot jobs in Redis: its presence, the lists, the delivery records. */
export class ReplyBook {
  private heartbeat: NodeJS.Timeout | undefined;

  /**
   * @param presenceMs how long this front's presence outlives its last renewal (FAILOVER_SEC):
   *   another front delivers this one's answers about as long after it died.
   * @param recordTtlMs how long a delivery record is kept: as long as the job itself.
   */
  constructor(
    private readonly redis: Redis,
    private readonly queue: Queue<QueuedJobData, Transcript>,
    readonly frontId: string,
    readonly presenceMs: number,
    private readonly recordTtlMs: number,
  ) {}

  /** Keeps this front's presence renewed, three times per presenceMs. */
  startPresence(): void {
    const renew = (): void => void this.redis.set(presenceKey(this.frontId), '1', 'PX', this.presenceMs).catch(() => undefined);
    renew();
    this.heartbeat = setInterval(renew, Math.max(100, Math.round(this.presenceMs / 3)));
    this.heartbeat.unref();
  }

  /** Ends this front's presence: what it still lists is another front's to deliver. */
  async stopPresence(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.redis.del(presenceKey(this.frontId)).catch(() => undefined);
  }

  /** Lists a job's reply under its platform, before the job is added. */
  async enlist(platform: string, jobId: string): Promise<void> {
    await this.redis.zadd(pendingKey(platform), Date.now(), `${this.frontId}:${jobId}`);
  }

  /** Takes a job off its platform's list. */
  async strike(platform: string, reply: Pick<PendingReply, 'front' | 'jobId'>): Promise<void> {
    await this.redis.zrem(pendingKey(platform), `${reply.front}:${reply.jobId}`);
  }

  /** The oldest `limit` replies listed under `platform`. */
  async pending(platform: string, limit: number): Promise<PendingReply[]> {
    const flat = await this.redis.zrange(pendingKey(platform), 0, limit - 1, 'WITHSCORES');
    const replies: PendingReply[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [front, jobId] = flat[i].split(':');
      if (front && jobId) replies.push({ front, jobId, since: Number(flat[i + 1]) });
    }
    return replies;
  }

  /** Which of these fronts are alive now. */
  async alive(frontIds: string[]): Promise<Set<string>> {
    if (frontIds.length === 0) return new Set();
    const found = await this.redis.mget(frontIds.map(presenceKey));
    return new Set(frontIds.filter((_, i) => found[i] !== null));
  }

  /** Takes the job's delivery record for `frontId`: true when nobody had it. */
  async claim(jobId: string, frontId: string): Promise<boolean> {
    return (await this.redis.set(deliveryKey(jobId), frontId, 'PX', this.recordTtlMs, 'NX')) === 'OK';
  }

  /** The accepting front's ticket for a job it listed under `platform`. */
  ticket(platform: string, jobId: string): ReplyTicket {
    return {
      update: async (record) => {
        const job = await this.queue.getJob(jobId);
        if (job?.data.reply) await job.updateData({ ...job.data, reply: { ...job.data.reply, record } });
      },
      claim: () => this.claim(jobId, this.frontId),
      delivered: () => this.strike(platform, { front: this.frontId, jobId }),
    };
  }
}

/** What a {@link ReplyCourier} needs. */
export interface ReplyCourierOptions {
  book: ReplyBook;
  queue: Queue<QueuedJobData, Transcript>;
  /** telegram, discord: the platform this front holds. */
  platform: string;
  /** Delivers one job's answer from the reply's record; resolves once it is out. */
  deliver(record: object, outcome: HandedOverOutcome): Promise<void>;
  logger: Logger;
}

/** Replies looked at per round; the rest wait for the next. */
const BATCH = 100;

/**
 * On the front that holds a platform: delivers the answers of that platform's jobs whose
 * accepting front is gone, once each job has ended, oldest first. It looks three times per
 * presence window; a reply whose job no longer exists (cancelled while waiting, expired, or
 * never added) is dropped.
 */
export class ReplyCourier {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly options: ReplyCourierOptions) {
    this.log = options.logger.child({ component: 'reply-courier', platform: options.platform });
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Takes no new round and waits for the one under way (its deliveries included). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.look()
        .catch((error: unknown) => this.log.debug({ err: error instanceof Error ? error.message : String(error) }, 'could not look for orphaned replies'))
        .finally(() => this.schedule(Math.max(100, Math.round(this.options.book.presenceMs / 3))));
    }, delayMs);
    this.timer.unref();
  }

  private async look(): Promise<void> {
    const { book, queue, platform } = this.options;
    const listed = await book.pending(platform, BATCH);
    const alive = await book.alive([...new Set(listed.map((reply) => reply.front))]);
    for (const reply of listed) {
      if (this.stopped) return;
      if (alive.has(reply.front)) continue;
      const job = await queue.getJob(reply.jobId);
      if (!job?.data.reply) {
        // Listed just before its job was added: give the add its moment before dropping it.
        if (Date.now() - reply.since > book.presenceMs) await book.strike(platform, reply);
        continue;
      }
      const state = await job.getState();
      if (state !== 'completed' && state !== 'failed') continue;
      if (!(await book.claim(reply.jobId, book.frontId))) {
        await book.strike(platform, reply);
        continue;
      }
      const outcome: HandedOverOutcome = state === 'completed' ? { ok: true, transcript: job.returnvalue } : { ok: false, error: errorFromFailure(job.failedReason) };
      this.log.info({ queueJobId: reply.jobId, jobId: job.data.logId, ok: outcome.ok }, 'delivering the answer of a job whose front is gone');
      try {
        await this.options.deliver(job.data.reply.record, outcome);
      } catch (error) {
        this.log.error({ queueJobId: reply.jobId, err: error instanceof Error ? error.message : String(error) }, 'could not deliver the answer of a job whose front is gone');
      }
      await book.strike(platform, reply);
    }
  }
}
