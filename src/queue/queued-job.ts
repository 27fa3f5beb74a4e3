import { ERROR_CATALOGUE, SttError, type ErrorCode } from '../core/errors.js';
import { priorityFor } from '../core/job-queue.js';
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
 * this length: the embedded queue's length classes, voice notes first, with 1 kept for jobs that
 * have waited too long. Audio of unknown length (an HTTP upload not yet decoded) is a voice note.
 */
export function bullPriority(durationSec: number | undefined): number {
  return PROMOTED_PRIORITY + 1 - priorityFor(durationSec ?? 0);
}

/** The channel a front announces cancellations on; every worker listens and stops its copy. */
export const CANCEL_CHANNEL = `${KEY_PREFIX}cancel`;

/** Marks a job cancelled, for a worker that takes it after the announcement went out. */
export function cancelKey(jobId: string): string {
  return `${KEY_PREFIX}cancelled:${jobId}`;
}
