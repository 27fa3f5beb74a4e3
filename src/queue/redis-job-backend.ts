import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { SttError } from '../core/errors.js';
import type { Transcript } from '../core/types.js';
import type { CallbackSender } from '../jobs/callback.js';
import { jobJson } from '../jobs/job-json.js';
import type { JobBackend, JobRequest, JobView } from '../jobs/types.js';
import type { Logger } from '../logger.js';
import type { QueueFront } from './queue-front.js';
import type { QueueWorker } from './queue-worker.js';
import { errorFromFailure, type QueuedJobData, type QueuedJobProgress } from './queued-job.js';
import { KEY_PREFIX } from './redis-connection.js';

export interface RedisJobBackendOptions {
  front: QueueFront;
  /** A plain connection for the views of cancelled jobs (BullMQ forgets a job removed while it waited). */
  redis: Redis;
  callbacks: CallbackSender;
  /** JOB_TTL_SEC: a finished job's view is kept this long. */
  ttlMs: number;
  logger: Logger;
  /**
   * Keeps a done job's transcript when its request asked (`history: true`), returning the id it
   * is kept under (rememberHttpTranscript on the store the fronts share). Unset: nothing is kept.
   */
  remember?: (transcript: Transcript) => Promise<string>;
}

/** Held under a job's history key while one front keeps its transcript. */
const KEEPING = 'keeping';
/** How long a front may take to keep a transcript before another may try. */
const KEEPING_MS = 30_000;

/** What ids the service hands out (random UUIDs); anything else is no job of ours, and never reaches Redis. */
const JOB_ID = /^[0-9a-f-]{36}$/;

/** An async job's data on the queue: its callback travels with it, so that any worker can deliver it. */
export interface AsyncJobData extends QueuedJobData {
  callbackUrl?: string;
  /** `history=true`: its transcript is kept in the HTTP history once it is done. */
  history?: true;
}

/**
 * The async job API's backend when QUEUE_URL is set: a job is a BullMQ job like any other, its
 * view is read back from BullMQ by id (so any front answers for it, and it outlives the front
 * that took it), and its result is kept JOB_TTL_SEC by BullMQ's removeOnComplete age.
 */
export class RedisJobBackend implements JobBackend {
  constructor(private readonly options: RedisJobBackendOptions) {}

  async submit(audio: Uint8Array, request: JobRequest): Promise<JobView> {
    if (request.callbackUrl !== undefined) this.options.callbacks.check(request.callbackUrl);
    const createdAt = new Date().toISOString();
    const data: AsyncJobData = {
      source: request.source,
      owner: request.owner,
      filename: request.filename,
      createdAt,
      async: true,
      ...(request.hotwords?.length ? { hotwords: request.hotwords } : {}),
      ...(request.history ? { history: true } : {}),
      callbackUrl: request.callbackUrl,
    };
    const { id, ahead, etaSec } = await this.options.front.submit(audio, data, { durationSec: request.durationHint });
    if (request.history) this.keepWhenDone(id);
    // With no worker alive the job waits for one, and there is no saying when: no estimate.
    return { id, status: 'queued', position: ahead, progress: 0, etaSec, filename: request.filename, createdAt };
  }

  async get(id: string): Promise<JobView | undefined> {
    const found = await this.find(id);
    if (!found || 'kept' in found) return found?.kept;
    const view = await viewOf(found.job, found.state, () => this.options.front.ahead(id));
    if (view.status !== 'done' || !found.job.data.history) return view;
    const historyId = await this.historyIdOf(found.job);
    return historyId === undefined ? view : { ...view, historyId };
  }

  /** Told by the queue's events, which reach every front: a window done on any worker, the job's end. */
  watch(id: string, onChange: () => void): () => void {
    return this.options.front.follow(id, onChange);
  }

  /** A waiting job is removed, a running one stopped at its next window; an ended job is left as it is. */
  async cancel(id: string): Promise<JobView | undefined> {
    const found = await this.find(id);
    if (!found || 'kept' in found) return found?.kept;
    const { job, state } = found;
    const view = await viewOf(job, state, async () => undefined);
    if (view.status === 'done' || view.status === 'failed' || view.status === 'cancelled') return view;
    const reason = new SttError('cancelled', 'The job was cancelled.');
    const cancelled: JobView = { ...view, status: 'cancelled', position: null, etaSec: undefined, error: { error: reason.code, message: reason.message } };
    // Kept under our own key: BullMQ forgets a waiting job it removes, and a running one fails
    // only once its worker reaches its next window.
    await this.options.redis.set(viewKey(id), JSON.stringify(cancelled), 'PX', this.options.ttlMs);
    await this.options.front.cancel(id, reason);
    // A running job's callback goes from its worker when it stops; a waiting one reaches no worker.
    const url = job.data.callbackUrl;
    if (view.status === 'queued' && url !== undefined) void this.options.callbacks.deliver(url, JSON.stringify(jobJson(cancelled)));
    return cancelled;
  }

  async close(): Promise<void> {
    this.options.callbacks.close();
  }

  /**
   * The job behind `id` as the async API knows it: a view kept under our own key (a cancelled
   * job), or the BullMQ job with its state.
   */
  private async find(id: string): Promise<{ kept: JobView } | { job: Job<AsyncJobData, Transcript>; state: string } | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const kept = await this.keptView(id);
    if (kept) return { kept };
    const job = await this.options.front.job(id);
    if (!job || !job.data.async) return undefined;
    const state = await job.getState();
    // The job was read before its state: one that ended in between is read again, for its
    // result or its reason (BullMQ fills them in as it moves the job).
    const read = state === 'completed' || state === 'failed' ? ((await this.options.front.job(id)) ?? job) : job;
    return { job: read as Job<AsyncJobData, Transcript>, state };
  }

  /** Keeps the transcript as soon as the job ends, heard from the queue's events; should this front be gone by then, the next front asked for the job keeps it. */
  private keepWhenDone(id: string): void {
    const stop = this.options.front.follow(id, () => {
      this.find(id).then(
        async (found) => {
          if (found && !('kept' in found) && found.state === 'completed') await this.historyIdOf(found.job);
          if (!found || 'kept' in found || found.state === 'completed' || found.state === 'failed') stop();
        },
        () => undefined,
      );
    });
  }

  /**
   * The history id of a done job that asked to be kept, keeping its transcript first where no
   * front has: a front claims the job in Redis before it keeps it, so that the transcript is kept
   * once however many fronts are asked for it at once. Undefined while another front keeps it,
   * or when it cannot be kept (logged; the job keeps its result).
   */
  private async historyIdOf(job: Job<AsyncJobData, Transcript>): Promise<string | undefined> {
    const { redis, remember, logger } = this.options;
    if (!remember) return undefined;
    const key = historyKey(job.id as string);
    try {
      const held = await redis.get(key);
      if (held !== null) return held === KEEPING ? undefined : held;
      if ((await redis.set(key, KEEPING, 'PX', KEEPING_MS, 'NX')) !== 'OK') return undefined;
    } catch {
      return undefined;
    }
    try {
      const historyId = await remember(job.returnvalue);
      await redis.set(key, historyId, 'PX', this.options.ttlMs);
      return historyId;
    } catch (error) {
      await redis.del(key).catch(() => undefined);
      logger.error({ err: error, jobId: job.id }, "could not keep the job's transcript in the history");
      return undefined;
    }
  }

  private async keptView(id: string): Promise<JobView | undefined> {
    const text = await this.options.redis.get(viewKey(id)).catch(() => {
      throw new SttError('queue_unavailable', undefined, { retryAfterSec: 5 });
    });
    return text ? (JSON.parse(text) as JobView) : undefined;
  }
}

/** A BullMQ job as the async API shows it. */
async function viewOf(job: Job<AsyncJobData, Transcript>, state: string, ahead: () => Promise<number | undefined>): Promise<JobView> {
  const progress = job.progress as unknown as QueuedJobProgress | number | undefined;
  const share = typeof progress === 'object' && progress.windows > 0 ? progress.windowsDone / progress.windows : 0;
  const base = { id: job.id as string, filename: job.data.filename, createdAt: job.data.createdAt };
  switch (state) {
    case 'completed':
      return { ...base, status: 'done', position: null, progress: 1, transcript: job.returnvalue };
    case 'failed': {
      const error = errorFromFailure(job.failedReason);
      return { ...base, status: error.code === 'cancelled' ? 'cancelled' : 'failed', position: null, progress: share, error: { error: error.code, message: error.message } };
    }
    case 'active': {
      const windows = typeof progress === 'object' && progress.windows > 0 ? { done: progress.windowsDone, total: progress.windows } : undefined;
      return { ...base, status: 'running', position: null, progress: share, windows };
    }
    default:
      return { ...base, status: 'queued', position: (await ahead().catch(() => undefined)) ?? 0, progress: 0 };
  }
}

/**
 * Sends each finished async job's callback from the worker that ran it, so that it goes out
 * even when the front that took the job is gone.
 */
export function deliverCallbacks(worker: QueueWorker, callbacks: CallbackSender, logger: Logger): void {
  const send = async (job: Job<QueuedJobData, Transcript> | undefined): Promise<void> => {
    const data = job?.data as AsyncJobData | undefined;
    if (!job || !data?.async || data.callbackUrl === undefined) return;
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return;
    await callbacks.deliver(data.callbackUrl, JSON.stringify(jobJson(await viewOf(job as Job<AsyncJobData, Transcript>, state, async () => undefined))));
  };
  const log = (error: unknown): void => logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not send a callback');
  worker.worker.on('completed', (job) => void send(job).catch(log));
  worker.worker.on('failed', (job) => void send(job).catch(log));
}

function viewKey(id: string): string {
  return `${KEY_PREFIX}job:${id}`;
}

/** A done job's history id (or {@link KEEPING} while a front keeps it). */
function historyKey(id: string): string {
  return `${KEY_PREFIX}job-history:${id}`;
}
