import PQueue from 'p-queue';
import { SttError } from './errors.js';

export interface JobQueueOptions {
  /** Jobs running at once. */
  concurrency: number;
  /** Jobs admitted but not yet running (decoding or waiting) beyond which new ones are refused. */
  maxPending: number;
  /**
   * A job that has waited this long jumps ahead of every shorter one, so long files are never
   * starved by a stream of voice notes. Default 60 s.
   */
  maxWaitMs?: number;
  /**
   * The clock jobs are timed with, for the Retry-After estimate; tests hand in their own.
   * @defaultValue performance.now
   */
  now?: () => number;
}

/** What a job is assumed to take before any has run, in seconds (a voice note and its decode). */
const FIRST_JOB_SEC = 5;
/** Weight of the newest job in the moving average of job times. */
const JOB_TIME_WEIGHT = 0.2;

export interface JobOptions {
  /** Length of the audio; shorter jobs run first. */
  durationSec: number;
  signal?: AbortSignal;
  /** Told, once, how many jobs are ahead (running or waiting) when this one is queued. */
  onQueued?: (ahead: number) => void;
  /**
   * Who the job is for (a platform's user id, say). Within a length class jobs take turns by
   * owner: a person's second job waits behind everyone else's first. Unset: no turns, arrival
   * order only.
   */
  owner?: string;
}

/** An admitted job's ticket: hold it while decoding, then run or release it. */
export interface Ticket {
  run<T>(task: () => Promise<T>, options: JobOptions): Promise<T>;
  release(): void;
}

interface Waiting {
  id: string;
  priority: number;
  seq: number;
}

/** Turns a class may hold apart: p-queue's priority is the class times this, less the turn. */
const TURNS_PER_CLASS = 1000;

/**
 * Priority for a job of this length: voice notes (≤ 30 s) share the top class and so keep their
 * order of arrival; longer files come after, the longest last.
 */
export function priorityFor(durationSec: number): number {
  if (durationSec <= 30) return 0;
  if (durationSec <= 120) return -1;
  return -2;
}

/**
 * The one queue every source (HTTP, Telegram, Discord, CLI) goes through, on p-queue. A job is
 * admitted first (refused at once with `queue_full` when too many wait), decoded outside the
 * queue so its length is known, then queued with a priority by length.
 */
export class JobQueue {
  private readonly queue: PQueue;
  private readonly waiting = new Map<string, Waiting>();
  /** Jobs queued or running per owner: a new job's turn. */
  private readonly owned = new Map<string, number>();
  private admitted = 0;
  private seq = 0;
  private accepting = true;
  /** Set by drain(): called when the last admitted job starts running or is released. */
  private onNoneAdmitted: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  /** Moving average of how long a job runs, in seconds. */
  private jobSec = FIRST_JOB_SEC;
  private readonly now: () => number;

  constructor(private readonly options: JobQueueOptions) {
    this.queue = new PQueue({ concurrency: options.concurrency });
    this.now = options.now ?? (() => performance.now());
  }

  /** Jobs admitted and not yet running. */
  get pending(): number {
    return this.admitted;
  }

  /** Jobs running now. */
  get running(): number {
    return this.queue.pending;
  }

  get maxPending(): number {
    return this.options.maxPending;
  }

  /** Reserves a place, or throws `queue_full` (or `shutting_down`) at once. */
  admit(): Ticket {
    if (!this.accepting) throw new SttError('shutting_down');
    if (this.admitted >= this.options.maxPending) {
      throw new SttError('queue_full', undefined, { retryAfterSec: this.retryAfterSec() });
    }
    this.admitted++;
    let held = true;
    const release = (): void => {
      if (held) {
        held = false;
        this.admitted--;
        if (this.admitted === 0) this.onNoneAdmitted?.();
      }
    };
    return {
      release,
      run: <T>(task: () => Promise<T>, options: JobOptions): Promise<T> => this.enqueue(task, options, release),
    };
  }

  /** Stops admitting new jobs; resolves once every admitted job has finished. */
  drain(): Promise<void> {
    this.accepting = false;
    this.drained ??= (async () => {
      // Admitted jobs still decoding have not reached p-queue yet: wait until each has either
      // started running or been released, then for p-queue to finish what runs.
      if (this.admitted > 0) await new Promise<void>((resolve) => (this.onNoneAdmitted = resolve));
      await this.queue.onIdle();
    })();
    return this.drained;
  }

  private enqueue<T>(task: () => Promise<T>, options: JobOptions, release: () => void): Promise<T> {
    const id = `job-${++this.seq}`;
    // The owner's n-th job in flight takes turn n: behind every other owner's earlier turns.
    const { owner } = options;
    const turn = owner === undefined ? 0 : Math.min(this.owned.get(owner) ?? 0, TURNS_PER_CLASS - 1);
    if (owner !== undefined) this.owned.set(owner, (this.owned.get(owner) ?? 0) + 1);
    const disown = (): void => {
      if (owner === undefined) return;
      const left = (this.owned.get(owner) ?? 1) - 1;
      if (left === 0) this.owned.delete(owner);
      else this.owned.set(owner, left);
    };
    const entry: Waiting = { id, priority: priorityFor(options.durationSec) * TURNS_PER_CLASS - turn, seq: this.seq };
    // Ahead: the jobs that go first; none when a slot is free and nobody waits before it.
    const waitingAhead = [...this.waiting.values()].filter((w) => w.priority >= entry.priority).length;
    const ahead = this.queue.pending < this.options.concurrency && waitingAhead === 0 ? 0 : this.queue.pending + waitingAhead;
    this.waiting.set(id, entry);
    const maxWait = this.options.maxWaitMs ?? 60_000;
    const promote = entry.priority <= -TURNS_PER_CLASS ? setTimeout(() => this.promote(id), maxWait) : undefined;
    promote?.unref();
    const leave = (): void => {
      if (this.waiting.delete(id)) release();
      clearTimeout(promote);
    };
    const result = this.queue.add(
      async () => {
        leave();
        const started = this.now();
        try {
          return await task();
        } finally {
          const seconds = (this.now() - started) / 1000;
          this.jobSec += JOB_TIME_WEIGHT * (seconds - this.jobSec);
        }
      },
      { priority: entry.priority, id, signal: options.signal },
    ) as Promise<T>;
    options.onQueued?.(ahead);
    return result.finally(() => {
      leave();
      disown();
    });
  }

  private promote(id: string): void {
    const entry = this.waiting.get(id);
    if (!entry) return;
    entry.priority = TURNS_PER_CLASS;
    this.queue.setPriority(id, TURNS_PER_CLASS);
  }

  /** When a refused client may find room: the jobs ahead of it, at the recent pace of jobs. */
  private retryAfterSec(): number {
    const ahead = this.admitted + this.queue.pending;
    return Math.max(1, Math.min(120, Math.ceil((ahead * this.jobSec) / this.options.concurrency)));
  }
}
