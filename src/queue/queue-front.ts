import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { SttError } from '../core/errors.js';
import { JobPace } from '../core/job-queue.js';
import type { Transcript } from '../core/types.js';
import type { Logger } from '../logger.js';
import { AudioBlobs } from './audio-blobs.js';
import {
  CANCEL_CHANNEL,
  JOB_NAME,
  PROMOTED_PRIORITY,
  TAKE_TURN,
  bullPriority,
  cancelKey,
  endTurn,
  errorFromFailure,
  turnsKey,
  type QueuedJobData,
  type QueuedJobProgress,
} from './queued-job.js';
import { KEY_PREFIX, QUEUE_NAME, openRedis, redisOptions, redisReady } from './redis-connection.js';
import { ReplyBook } from './reply-handover.js';

/** Workers announce their concurrency here, each entry scored by when it expires (see queue-worker.ts). */
export const WORKERS_KEY = `${KEY_PREFIX}workers`;

/** While Redis is away, how long a job already waited on is given before its author is told `queue_unavailable`. */
const RECONNECT_GRACE_MS = 5000;
/** What a client refused while Redis is away is told to wait before it tries again. */
const UNAVAILABLE_RETRY_AFTER_SEC = 5;
/** At start, how long the front waits for Redis before it serves anyway (answering `queue_unavailable`). */
const FIRST_CONNECT_MS = 5000;
/** While a job is waited on with a bound on having no worker, how often the front looks for live workers. */
const WORKER_LOOK_MS = 500;

export interface QueueFrontOptions {
  /** QUEUE_URL. */
  url: string;
  logger: Logger;
  /** Jobs waiting in Redis (all fronts together) beyond which a new one is refused with `queue_full`. */
  maxPending: number;
  /**
   * A job's audio is forgotten this long after it was stored, whatever became of its job; so is
   * its owner's turn, should nobody hear the job end (a job cannot run once its audio is gone).
   */
  audioTtlMs: number;
  /** Finished jobs (their results) are kept this long, then removed by BullMQ. */
  keepFinishedSec: number;
  /**
   * A job that has waited this long in the queue is promoted ahead of every length class, so that
   * a long file is never starved by a stream of voice notes.
   * @defaultValue 60 s, as the embedded queue
   */
  maxWaitMs?: number;
  /**
   * How long this front's presence outlives it (FAILOVER_SEC): once it is gone, the front that
   * holds a platform delivers the answers of the bot jobs this one accepted.
   * @defaultValue 10 s, as FAILOVER_SEC
   */
  presenceMs?: number;
}

/** What a job's author hears while it runs. */
export interface JobWatch {
  onActive?: () => void;
  onProgress?: (progress: QueuedJobProgress) => void;
  /**
   * Once no worker has been alive for this long while the job is waited on, it is cancelled and
   * its author told `no_worker`, rather than waiting for a worker that may never come.
   * @defaultValue unset: the job waits for a worker however long it takes
   */
  noWorkerMs?: number;
}

interface Watcher extends JobWatch {
  /** When it was submitted (epoch ms): no worker before then counts against it. */
  since: number;
  resolve(transcript: Transcript): void;
  reject(error: SttError): void;
}

/** Where the queue stands for one job: its place, and the slots of the live workers. */
interface Standing {
  /** Jobs ahead of it; undefined once it is no longer waiting. */
  ahead: number | undefined;
  /** The live workers' slots, all together: 0 when no worker is alive. */
  capacity: number;
}

/**
 * A front's side of the BullMQ queue: submits jobs (audio as a blob, the job with its length
 * class and its owner's turn as priority, the turns counted in Redis for all fronts), follows
 * them through the queue's events, promotes those that waited too long, and cancels. Every call
 * fails fast with `queue_unavailable` while Redis is away.
 */
export class QueueFront {
  readonly queue: Queue<QueuedJobData, Transcript>;
  private readonly events: QueueEvents;
  private readonly redis: Redis;
  private readonly blobs: AudioBlobs;
  private readonly watchers = new Map<string, Watcher>();
  private readonly promotions = new Map<string, NodeJS.Timeout>();
  /** The owners of the jobs this front submitted, by job id, until it hears them end: their turns end then. */
  private readonly owners = new Map<string, string>();
  private readonly log: Logger;
  /** The replies of the bot jobs in Redis: this front's presence, the lists, the delivery records. */
  readonly replies: ReplyBook;
  private lostTimer: NodeJS.Timeout | undefined;
  private wasLost = false;
  /** The device the last finished job ran on: what /healthz reports for a front. */
  lastDevice: Transcript['device'] = 'cpu';
  /** How long a job runs on a worker lately, from the transcripts the queue's events carry: every front hears every job end, whichever front took it. */
  private readonly pace = new JobPace();
  /** Since when no worker has been seen alive (epoch ms); undefined while one is, or before a look. */
  private workerlessSince: number | undefined;
  private workerLook: NodeJS.Timeout | undefined;
  private closed = false;
  /** Per job id, who is told each time the job moves (taken, a window done, ended): see {@link follow}. */
  private readonly followers = new Map<string, Set<() => void>>();

  private constructor(private readonly options: QueueFrontOptions) {
    this.log = options.logger.child({ component: 'queue' });
    this.redis = openRedis(options.url, 'front');
    this.redis.on('error', (error: Error) => this.log.debug({ err: error.message }, 'redis connection error'));
    this.redis.on('close', () => this.onLost());
    this.redis.on('ready', () => this.onBack());
    this.blobs = new AudioBlobs(this.redis);
    this.queue = new Queue<QueuedJobData, Transcript>(QUEUE_NAME, { connection: redisOptions(options.url, 'front') });
    this.replies = new ReplyBook(this.redis, this.queue, randomUUID(), options.presenceMs ?? 10_000, options.keepFinishedSec * 1000);
    this.queue.on('error', (error: Error) => this.log.debug({ err: error.message }, 'queue connection error'));
    this.events = new QueueEvents(QUEUE_NAME, { connection: redisOptions(options.url, 'blocking') });
    this.events.on('error', (error: Error) => this.log.debug({ err: error.message }, 'queue events connection error'));
    this.events.on('active', ({ jobId }) => {
      this.clearPromotion(jobId);
      this.watchers.get(jobId)?.onActive?.();
      this.tell(jobId);
    });
    this.events.on('progress', ({ jobId, data }) => {
      this.watchers.get(jobId)?.onProgress?.(data as unknown as QueuedJobProgress);
      this.tell(jobId);
    });
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const transcript = returnvalue as unknown as Transcript;
      this.lastDevice = transcript.device;
      if (Number.isFinite(transcript.processingMs)) this.pace.heard(transcript.processingMs / 1000);
      this.settle(jobId)?.resolve(transcript);
      this.endTurn(jobId);
      this.tell(jobId);
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      this.settle(jobId)?.reject(errorFromFailure(failedReason));
      this.endTurn(jobId);
      this.tell(jobId);
    });
    this.events.on('removed', ({ jobId }) => {
      this.settle(jobId)?.reject(new SttError('cancelled'));
      this.endTurn(jobId);
      this.tell(jobId);
    });
  }

  /**
   * Calls `onChange` each time the job `id` moves on whichever worker runs it (taken, one of its
   * windows done, ended or removed), as the queue's events tell every front, whichever took the
   * job; until the function returned is called.
   */
  follow(id: string, onChange: () => void): () => void {
    let followers = this.followers.get(id);
    if (!followers) this.followers.set(id, (followers = new Set()));
    const own = followers;
    // One function per follow, so that following twice with the same callback is two follows.
    const entry = (): void => onChange();
    own.add(entry);
    return () => {
      own.delete(entry);
      if (own.size === 0 && this.followers.get(id) === own) this.followers.delete(id);
    };
  }

  private tell(jobId: string): void {
    for (const onChange of this.followers.get(jobId) ?? []) onChange();
  }

  /**
   * Connects to QUEUE_URL. A Redis that does not answer within a few seconds does not stop the
   * front from starting: it answers `queue_unavailable` (and /healthz says so) until Redis is up.
   */
  static async open(options: QueueFrontOptions): Promise<QueueFront> {
    const front = new QueueFront(options);
    front.replies.startPresence();
    try {
      await redisReady(front.redis, FIRST_CONNECT_MS);
      await front.events.waitUntilReady();
    } catch (error) {
      front.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'redis is not reachable yet: requests are answered queue_unavailable until it is');
    }
    return front;
  }

  /** Whether Redis answers now: when not, every new job is refused with `queue_unavailable`. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Jobs this front follows: waiting in the queue, or running on a worker. */
  get following(): number {
    return this.watchers.size;
  }

  /**
   * Stores the audio and adds the job. With `watch`, the returned `result` settles when the job
   * does (and the events until then reach `watch`); without, the job is only submitted (the async
   * API reads it back by id).
   */
  async submit(
    audio: Uint8Array,
    data: QueuedJobData,
    options: { durationSec?: number; id?: string; watch?: JobWatch },
  ): Promise<{ id: string; ahead: number; etaSec: number | undefined; result?: Promise<Transcript> }> {
    this.assertConnected();
    const waiting = await this.call(() => this.queue.getJobCountByTypes('wait', 'prioritized'));
    if (waiting >= this.options.maxPending) throw new SttError('queue_full', undefined, { retryAfterSec: Math.min(120, Math.max(5, waiting)) });
    const id = options.id ?? randomUUID();
    let result: Promise<Transcript> | undefined;
    if (options.watch) {
      const watch = options.watch;
      result = new Promise<Transcript>((resolve, reject) => this.watchers.set(id, { ...watch, since: Date.now(), resolve, reject }));
      // A rejection nobody awaits yet (the caller gets it after submit returns) is not unhandled.
      result.catch(() => undefined);
    }
    const { owner, reply } = data;
    try {
      await this.call(() => this.blobs.put(id, audio, this.options.audioTtlMs));
      if (reply) await this.call(() => this.replies.enlist(reply.platform, id));
      const turn = owner === undefined ? 0 : await this.call(() => this.takeTurn(owner, id));
      const priority = bullPriority(options.durationSec, turn);
      const job = await this.call(() =>
        this.queue.add(JOB_NAME, data, {
          jobId: id,
          priority,
          // A failure that is the server's fault is tried once more, on any worker; the audio's
          // own faults are final at once (the worker marks them so).
          attempts: 2,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: { age: this.options.keepFinishedSec },
          removeOnFail: { age: this.options.keepFinishedSec },
        }),
      );
      if (priority > PROMOTED_PRIORITY) this.schedulePromotion(job);
      if (options.watch?.noWorkerMs !== undefined) this.lookForWorkers();
    } catch (error) {
      this.watchers.delete(id);
      this.owners.delete(id);
      await endTurn(this.redis, owner, id);
      await this.blobs.delete(id).catch(() => undefined);
      if (reply) await this.replies.strike(reply.platform, { front: reply.front, jobId: id }).catch(() => undefined);
      throw error;
    }
    const standing = await this.standing(id).catch(() => undefined);
    // Taken by a worker already: nobody is ahead.
    const ahead = standing?.ahead ?? 0;
    return { id, ahead, etaSec: standing && this.etaSec(ahead, standing.capacity), result };
  }

  /**
   * The owner's turn for a new job: how many of the owner's jobs are in flight (queued or
   * running, whichever front took them), counting this one from now on.
   */
  private async takeTurn(owner: string, id: string): Promise<number> {
    const turn = (await this.redis.eval(TAKE_TURN, 1, turnsKey(owner), id, String(Date.now()), String(this.options.audioTtlMs))) as number;
    this.owners.set(id, owner);
    return turn;
  }

  /** A job this front submitted ended (done, failed, removed): its owner's turn ends with it. */
  private endTurn(id: string): void {
    const owner = this.owners.get(id);
    if (owner === undefined) return;
    this.owners.delete(id);
    void endTurn(this.redis, owner, id);
  }

  /**
   * Jobs ahead of `id`: those waiting before it, and those running, unless a worker has a free
   * slot for it now. Undefined once it is no longer waiting.
   */
  async ahead(id: string): Promise<number | undefined> {
    return (await this.standing(id)).ahead;
  }

  /**
   * When a job with `ahead` jobs before it may be done: the live workers' slots' share of them,
   * at the pace of the jobs this front has heard end, as the embedded queue estimates. Undefined
   * when no worker is alive: nothing says when one will be.
   */
  private etaSec(ahead: number, capacity: number): number | undefined {
    return capacity > 0 ? this.pace.etaSec(ahead, capacity) : undefined;
  }

  /** The live workers' slots, all together (each worker announces its concurrency): 0 when none is alive. */
  private async capacity(): Promise<number> {
    return slots(await this.call(() => this.redis.zrangebyscore(WORKERS_KEY, Date.now(), '+inf')));
  }

  private async standing(id: string): Promise<Standing> {
    const now = Date.now();
    const [[, rank], [, active], [, workers]] = (await this.call(() =>
      this.redis
        .multi()
        .zrank(this.queue.keys.prioritized, id)
        .llen(this.queue.keys.active)
        .zrangebyscore(WORKERS_KEY, now, '+inf')
        .exec(),
    )) as [[Error | null, number | null], [Error | null, number], [Error | null, string[]]];
    const capacity = slots(workers);
    if (rank === null) return { ahead: undefined, capacity };
    return { ahead: rank === 0 && active < capacity ? 0 : rank + active, capacity };
  }

  /**
   * Cancels a job: a waiting one is removed, a running one is stopped by its worker at its next
   * window. Its watcher, if any, is told `cancelled` at once.
   */
  async cancel(id: string, reason: SttError = new SttError('cancelled')): Promise<void> {
    this.settle(id)?.reject(reason);
    await this.withdraw(id);
  }

  /** Takes a job out of the queue (its audio too), or has its worker stop it at its next window. */
  private async withdraw(id: string): Promise<void> {
    this.clearPromotion(id);
    if (!this.connected) return;
    await this.redis.set(cancelKey(id), '1', 'PX', this.options.audioTtlMs).catch(() => undefined);
    // Another front's job (that front may be gone) has its owner read before it is removed.
    const owner = this.owners.get(id) ?? (await this.queue.getJob(id).catch(() => undefined))?.data.owner;
    const removed = await this.queue.remove(id).catch(() => 0);
    if (removed === 1) {
      this.owners.delete(id);
      await Promise.all([this.blobs.delete(id).catch(() => undefined), endTurn(this.redis, owner, id)]);
      return;
    }
    await this.redis.publish(CANCEL_CHANNEL, id).catch(() => undefined);
  }

  /** A job by id, as BullMQ holds it; undefined when unknown or removed. */
  async job(id: string): Promise<Job<QueuedJobData, Transcript> | undefined> {
    this.assertConnected();
    return (await this.call(() => this.queue.getJob(id))) ?? undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.workerLook);
    this.workerLook = undefined;
    for (const timer of this.promotions.values()) clearTimeout(timer);
    this.promotions.clear();
    // What this front took keeps its turns: its jobs still run, and their workers end the turns.
    this.owners.clear();
    clearTimeout(this.lostTimer);
    for (const id of [...this.watchers.keys()]) this.settle(id)?.reject(new SttError('shutting_down'));
    await this.replies.stopPresence();
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    this.redis.disconnect();
  }

  private assertConnected(): void {
    if (!this.connected) throw unavailable();
  }

  /** Runs a Redis call, turning a lost connection into `queue_unavailable`. */
  private async call<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof SttError) throw error;
      throw unavailable(error);
    }
  }

  /**
   * While a job is waited on with `noWorkerMs`, looks for live workers every WORKER_LOOK_MS (one
   * look for all such jobs) and cancels, with `no_worker`, each that has had none for its bound.
   * A look Redis does not answer decides nothing: `queue_unavailable` covers that.
   */
  private lookForWorkers(): void {
    if (this.workerLook) return;
    const look = async (): Promise<void> => {
      if (this.closed) return;
      const bounded = [...this.watchers].filter(([, watcher]) => watcher.noWorkerMs !== undefined);
      if (bounded.length === 0) {
        this.workerLook = undefined;
        return;
      }
      const capacity = await this.capacity().catch(() => undefined);
      const now = Date.now();
      if (capacity !== undefined) this.workerlessSince = capacity > 0 ? undefined : (this.workerlessSince ?? now);
      const since = this.workerlessSince;
      if (since !== undefined && capacity === 0) {
        for (const [id, watcher] of bounded) {
          if (now - Math.max(since, watcher.since) < (watcher.noWorkerMs as number)) continue;
          this.log.warn({ queueJobId: id, waitedMs: now - watcher.since }, 'no worker is alive: the job is given up');
          // Out of the queue first, so that nothing of it is left once its author hears.
          this.settle(id);
          void this.withdraw(id).finally(() => watcher.reject(noWorker()));
        }
      }
      if (this.closed) return;
      this.workerLook = setTimeout(() => void look(), WORKER_LOOK_MS);
      this.workerLook.unref();
    };
    this.workerLook = setTimeout(() => void look(), 0);
    this.workerLook.unref();
  }

  private settle(id: string): Watcher | undefined {
    const watcher = this.watchers.get(id);
    this.watchers.delete(id);
    this.clearPromotion(id);
    return watcher;
  }

  private schedulePromotion(job: Job<QueuedJobData, Transcript>): void {
    const timer = setTimeout(() => {
      this.promotions.delete(job.id as string);
      job.changePriority({ priority: PROMOTED_PRIORITY }).catch((error: unknown) => this.log.debug({ err: String(error), jobId: job.id }, 'could not promote a job'));
    }, this.options.maxWaitMs ?? 60_000);
    timer.unref();
    this.promotions.set(job.id as string, timer);
  }

  private clearPromotion(id: string): void {
    clearTimeout(this.promotions.get(id));
    this.promotions.delete(id);
  }

  /** Redis went away: jobs being waited on get a grace to see it back, then their authors are told. */
  private onLost(): void {
    if (this.wasLost) return;
    this.wasLost = true;
    this.log.warn('redis connection lost: new jobs are refused with queue_unavailable until it is back');
    this.lostTimer = setTimeout(() => {
      for (const id of [...this.watchers.keys()]) this.settle(id)?.reject(unavailable());
    }, RECONNECT_GRACE_MS);
    this.lostTimer.unref();
  }

  /** Redis is back: jobs it no longer knows (it restarted without them) are answered now rather than never. */
  private onBack(): void {
    if (!this.wasLost) return;
    this.wasLost = false;
    clearTimeout(this.lostTimer);
    this.log.info('redis connection is back');
    for (const id of [...this.watchers.keys()]) {
      this.queue.getJobState(id).then(
        (state) => {
          if (state === 'unknown') this.settle(id)?.reject(unavailable());
        },
        () => undefined,
      );
    }
  }
}

/** The slots of the workers' entries in WORKERS_KEY (`<worker id>:<concurrency>`). */
function slots(entries: string[]): number {
  return entries.reduce((sum, entry) => sum + Number(entry.split(':')[1] ?? 0), 0);
}

/** A job given up because no worker was alive to run it. */
function noWorker(): SttError {
  return new SttError('no_worker', undefined, { retryAfterSec: UNAVAILABLE_RETRY_AFTER_SEC });
}

function unavailable(cause?: unknown): SttError {
  return new SttError('queue_unavailable', undefined, { cause, retryAfterSec: UNAVAILABLE_RETRY_AFTER_SEC });
}
