import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { SttError, toSttError, type ErrorCode } from '../core/errors.js';
import type { Transcriber, Transcript } from '../core/types.js';
import type { Logger } from '../logger.js';
import { AudioBlobs } from './audio-blobs.js';
import { WORKERS_KEY } from './queue-front.js';
import { CANCEL_CHANNEL, cancelKey, endTurn, failureReason, type QueuedJobData, type QueuedJobProgress } from './queued-job.js';
import { QUEUE_NAME, openRedis, redisOptions } from './redis-connection.js';

/** Times a job may be found stalled (its worker gone) and started again before it fails. */
export const MAX_STALLED_COUNT = 2;

export interface QueueWorkerOptions {
  /** QUEUE_URL. */
  url: string;
  /** The local core's transcriber: each job runs through its queue, decoder and pool. */
  transcriber: Transcriber;
  /** Jobs this worker runs at once (the core's own concurrency). */
  concurrency: number;
  /** FAILOVER_SEC: the lock on each running job; see Config.distributed. */
  failoverMs: number;
  logger: Logger;
}

/** A worker on the shared queue, running jobs with the local model. */
export interface QueueWorker {
  readonly worker: Worker<QueuedJobData, Transcript>;
  /** Whether Redis answers this worker now. */
  readonly connected: boolean;
  /**
   * Takes no new job and lets the running ones finish; those still running when `deadline`
   * aborts are handed back to the queue at once (first in line, for another worker; not
   * counted as a stall) and stopped here.
   */
  close(deadline?: AbortSignal): Promise<void>;
}

/**
 * Failures of the worker that ran a job rather than of the job's audio: its core failed, has no
 * model (its inference worker died and cannot load it again), is full or is stopping. Such a job
 * is tried again, on any worker, after BullMQ's backoff; every other failure (the audio's own
 * faults, a cancellation) is final at once.
 */
const WORKER_FAULTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['internal', 'model_unavailable', 'queue_full', 'shutting_down']);

/**
 * Starts a BullMQ worker whose processor fetches the job's audio, runs the local transcriber
 * (reporting each window as the job's progress) and returns the Transcript. A worker killed
 * mid-job stops renewing its lock; BullMQ's stalled check then gives the job to another worker,
 * at most {@link MAX_STALLED_COUNT} times.
 */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const { url, transcriber, concurrency, failoverMs } = options;
  const log = options.logger.child({ component: 'queue-worker' });
  const redis = openRedis(url, 'blocking');
  redis.on('error', (error: Error) => log.debug({ err: error.message }, 'redis connection error'));
  const subscriber = openRedis(url, 'blocking');
  subscriber.on('error', (error: Error) => log.debug({ err: error.message }, 'redis subscriber error'));
  const blobs = new AudioBlobs(redis);
  const workerId = randomUUID();
  /** The jobs running here, with the lock token each is held by and the way to stop its run. */
  const running = new Map<string, { job: Job<QueuedJobData, Transcript>; token: string | undefined; controller: AbortController }>();
  /** Jobs handed back at a closing deadline: another worker has them now, so their end here is no end. */
  const handedBack = new Set<string>();

  /** A job's end as its worker sees it: its audio goes, and its owner's turn ends (its front may be gone). */
  const ended = async (job: Job<QueuedJobData, Transcript>): Promise<void> => {
    const id = job.id as string;
    await Promise.all([blobs.delete(id).catch(() => undefined), endTurn(redis, job.data.owner, id)]);
  };

  const processor = async (job: Job<QueuedJobData, Transcript>, token?: string, bullSignal?: AbortSignal): Promise<Transcript> => {
    const id = job.id as string;
    const jobLog = log.child({ jobId: job.data.logId, queueJobId: id, attempt: job.attemptsMade + 1 });
    const controller = new AbortController();
    running.set(id, { job, token, controller });
    const abort = (): void => controller.abort(new SttError('cancelled'));
    if (bullSignal?.aborted) abort();
    bullSignal?.addEventListener('abort', abort, { once: true });
    const final = (error: SttError): boolean => !WORKER_FAULTS.has(error.code) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      if (await redis.exists(cancelKey(id))) throw new SttError('cancelled');
      const audio = await blobs.get(id);
      if (!audio) throw new SttError('internal', 'The audio of this job is no longer held (it expired, or the queue lost it). Send it again.');
      const transcript = await transcriber.transcribe(
        { kind: 'buffer', data: audio },
        {
          signal: controller.signal,
          jobId: job.data.logId ?? id,
          source: job.data.source,
          owner: job.data.owner,
          hotwords: job.data.hotwords,
          onPartial: (partial) => {
            const progress: QueuedJobProgress = { text: partial.text, windowsDone: partial.windowsDone, windows: partial.windows };
            job.updateProgress(progress as unknown as object).catch((error: unknown) => jobLog.debug({ err: String(error) }, 'could not report progress'));
          },
        },
      );
      if (handedBack.has(id)) throw new Error('handed back to the queue');
      await ended(job);
      return transcript;
    } catch (error) {
      // Its audio and turn now belong to the worker that takes it next.
      if (handedBack.has(id)) throw new Error('handed back to the queue');
      const stt = controller.signal.aborted ? new SttError('cancelled') : toSttError(error);
      if (final(stt)) {
        await ended(job);
        // Final for BullMQ too: the audio's own faults, and a cancellation, are not tried again.
        throw new UnrecoverableError(failureReason(stt));
      }
      jobLog.warn({ err: stt.cause ?? error }, 'job failed; it will be tried again');
      throw new Error(failureReason(stt));
    } finally {
      running.delete(id);
      bullSignal?.removeEventListener('abort', abort);
    }
  };

  const worker = new Worker<QueuedJobData, Transcript>(QUEUE_NAME, processor, {
    connection: redisOptions(url, 'blocking'),
    concurrency,
    lockDuration: failoverMs,
    // A lapsed lock is found within a third of the failover time, and the job moved on at the next look.
    stalledInterval: Math.max(500, Math.round(failoverMs / 3)),
    maxStalledCount: MAX_STALLED_COUNT,
    autorun: false,
  });
  worker.on('error', (error: Error) => log.debug({ err: error.message }, 'worker connection error'));
  worker.on('stalled', (jobId: string) => log.warn({ queueJobId: jobId }, 'a job lost its worker; it goes back to the queue'));
  // A job found stalled once too often is failed by whichever worker takes it next, without its
  // processor: its audio and its owner's turn end here.
  worker.on('failed', (job) => {
    if (job?.deferredFailure) void ended(job);
  });

  // Cancellations reach the worker running the job, wherever the front that asked is.
  subscriber.on('message', (channel: string, jobId: string) => {
    if (channel === CANCEL_CHANNEL && worker.cancelJob(jobId, 'cancelled')) log.info({ queueJobId: jobId }, 'job cancelled');
  });
  await subscriber.subscribe(CANCEL_CHANNEL);

  // Fronts add up the workers' free slots to tell a job's author how many are ahead of it.
  const entry = `${workerId}:${concurrency}`;
  const announce = (): void => {
    const now = Date.now();
    redis
      .multi()
      .zremrangebyscore(WORKERS_KEY, '-inf', now)
      .zadd(WORKERS_KEY, now + failoverMs, entry)
      .exec()
      .catch(() => undefined);
  };
  announce();
  const announcer = setInterval(announce, Math.max(250, Math.round(failoverMs / 3)));
  announcer.unref();

  void worker.run().catch((error: unknown) => log.error({ err: error }, 'queue worker stopped'));
  await worker.waitUntilReady();
  log.info({ concurrency, failoverMs }, 'queue worker started');

  /** Puts every job still running back in the queue, first in line, and stops its run here. */
  const handBack = async (): Promise<void> => {
    const jobs = [...running.entries()];
    await Promise.all(
      jobs.map(async ([id, { job, token, controller }]) => {
        handedBack.add(id);
        await job.moveToWait(token).catch((error: unknown) => log.warn({ queueJobId: id, err: String(error) }, 'could not hand a job back; it goes back once its lock lapses'));
        controller.abort(new SttError('shutting_down'));
      }),
    );
    if (jobs.length > 0) log.warn({ jobs: jobs.length }, 'jobs still running at the closing deadline were handed back to the queue');
  };

  let closing: Promise<void> | undefined;
  return {
    worker,
    get connected() {
      return redis.status === 'ready';
    },
    close(deadline?: AbortSignal) {
      closing ??= (async () => {
        clearInterval(announcer);
        await removeEntry(redis, entry);
        // No new job; resolves once the running ones have ended. (Not worker.close(): BullMQ
        // keeps the first close, so a forced one after it would still wait for every job.)
        const idle = worker.pause().then(() => false);
        const late = deadline ? await Promise.race([idle, aborted(deadline).then(() => true)]) : await idle;
        if (late) await handBack();
        // Nothing left to wait for: the jobs ended, or went back to the queue.
        await worker.close(true);
        subscriber.disconnect();
        redis.disconnect();
      })();
      return closing;
    },
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function removeEntry(redis: Redis, entry: string): Promise<void> {
  await redis.zrem(WORKERS_KEY, entry).catch(() => undefined);
}
