import type { Redis } from 'ioredis';
import { ERROR_CATALOGUE, SttError, type ErrorCode } from '../core/errors.js';
import { TURNS_PER_CLASS, priorityFor } from '../core/job-queue.js';
import { KEY_PREFIX } from './redis-connection.js';

/** What a BullMQ job carries beside its audio (which is a blob of its own, see audio-blobs.ts). */
export interface QueuedJobData {
  /** http, telegram, discord, cli: a metrics label, as in the embedded queue. */
  source: string;
  owner?: string;
  /** This request's hotwords, on top of the worker's HOTWORDS. */
  hotwords?: readonly string[];
  /** The request's or message's id, so that the worker's log lines join the front's. */
  logId?: string;
  /** The upload's name, for an async job's view. */
  filename?: string;
  /** ISO time the front accepted it. */
  createdAt: string;
  /** Submitted through the async API: its view is read back by id (see redis-job-backend.ts). */
  async?: boolean;
  /** A bot job's reply: whichever front holds its platform can deliver the answer (see reply-handover.ts). */
  reply?: QueuedReply;
}

/** A bot job's reply as it travels with the job. */
export interface QueuedReply {
  /** telegram, discord: the fronts that hold this platform deliver it when its own front is gone. */
  platform: string;
  /** The front that accepted the job: while its presence lives, it delivers the answer itself. */
  front: string;
  /** What the platform needs to deliver the answer (chat, message, placeholder, how the chat reads), as JSON. */
  record: object;
}

/** What a worker reports as the model's windows finish (BullMQ's job progress, and its 'progress' event). */
export interface QueuedJobProgress {
  text: string;
  windowsDone: number;
  windows: number;
}

/** The job name every job is added under; the queue holds one kind of work. */
export const JOB_NAME = 'transcribe';

/** A worker's failure, in the catalogue's terms, as BullMQ stores it (the job's `failedReason`). */
export function failureReason(error: SttError): string {
  return JSON.stringify({ error: error.code, message: error.message });
}

/**
 * The SttError a failed job's `failedReason` stands for. Anything that is not one of ours (a
 * stalled job given up, a worker's unexpected throw) is `internal`, and its text, which may hold
 * a server path, stays out of the answer.
 */
export function errorFromFailure(reason: string | undefined): SttError {
  try {
    const parsed = JSON.parse(reason ?? '') as { error?: unknown; message?: unknown };
    if (typeof parsed.error === 'string' && parsed.error in ERROR_CATALOGUE && typeof parsed.message === 'string') {
      return new SttError(parsed.error as ErrorCode, parsed.message);
    }
  } catch {
    // not ours
  }
  return new SttError('internal', undefined, { cause: new Error(`job failed: ${String(reason).slice(0, 200)}`) });
}

/** BullMQ's priority for a job that has waited longer than the queue's longest wait: ahead of every class. */
export const PROMOTED_PRIORITY = 1;

/**
 * BullMQ's priority (lower goes first, 0 would mean "before every prioritized job") for audio of
 * this length, in its owner's `turn`: the embedded queue's length classes, voice notes first, and
 * within a class the owner's turn, so that a person's second job in flight waits behind everyone
 * else's first (equal priorities keep their order of arrival); 1 is kept for jobs that have waited
 * too long. Audio of unknown length (an HTTP upload not yet decoded) is a voice note. At most
 * 2 + 3 × TURNS_PER_CLASS (the embedded queue's: an owner's n-th job in flight takes turn n),
 * well under BullMQ's bound (2^21).
 */
export function bullPriority(durationSec: number | undefined, turn = 0): number {
  const turnInClass = Math.min(Math.max(0, Math.floor(turn)), TURNS_PER_CLASS - 1);
  return PROMOTED_PRIORITY + 1 - priorityFor(durationSec ?? 0) * TURNS_PER_CLASS + turnInClass;
}

/**
 * One owner's jobs in flight (queued or running), all fronts together: a sorted set of job ids,
 * each scored by when it lapses, so that a job whose end nobody heard (its front and its worker
 * died) stops counting after a while. A new job's turn is the set's size.
 */
export function turnsKey(owner: string): string {
  return `${KEY_PREFIX}turns:${owner}`;
}

/**
 * Takes the next turn of an owner for a job, atomically: drops the entries that lapsed, counts
 * those left (the turn), adds the job lapsing in ARGV[3] ms, and keeps the key no longer than that.
 * KEYS[1] the owner's set; ARGV: job id, now (epoch ms), lapse (ms).
 */
export const TAKE_TURN = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local turn = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return turn`;

/** Ends a job's turn (it ended, failed or was removed). Idempotent: whoever hears of the end first may call it. */
export async function endTurn(redis: Redis, owner: string | undefined, jobId: string): Promise<void> {
  if (owner === undefined) return;
  await redis.zrem(turnsKey(owner), jobId).catch(() => undefined);
}

/** The channel a front announces cancellations on; every worker listens and stops its copy. */
export const CANCEL_CHANNEL = `${KEY_PREFIX}cancel`;

/** Marks a job cancelled, for a worker that takes it after the announcement went out. */
export function cancelKey(jobId: string): string {
  return `${KEY_PREFIX}cancelled:${jobId}`;
}
