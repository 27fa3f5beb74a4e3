import { randomUUID } from 'node:crypto';
import { SttError } from './errors.js';
import type { JobHandle, JobState } from './types.js';

export interface JobQueueOptions {
  /** Jobs running at once. */
  concurrency: number;
  /** Jobs admitted but not yet running (decoding or waiting) beyond which new ones are refused. */
  maxPending: number;
  /**
   * A job that has waited this long jumps ahead of every shorter one, in the queue and in the
   * inference pool, so long files are never starved by a stream of voice notes. Default 60 s.
   */
  maxWaitMs?: number;
  /**
   * The clock jobs are timed with, for the Retry-After and ETA estimates; tests hand in their own.
   * @defaultValue performance.now
   */
  now?: () => number;
}

/** What a job is assumed to take before any has run, in seconds (a voice note and its decode). */
const FIRST_JOB_SEC = 5;
/** Weight of the newest job in the moving average of job times. */
const JOB_TIME_WEIGHT = 0.2;

/**
 * The recent pace of jobs, a moving average of how long each took ({@link FIRST_JOB_SEC} before
 * any has ended), and the estimates both queues give from it: this one and, with `QUEUE_URL`, a
 * front's, from the jobs it hears end.
 */
export class JobPace {
  /** Seconds a job takes, lately. */
  seconds = FIRST_JOB_SEC;

  /** A job ended after `seconds`. */
  heard(seconds: number): void {
    this.seconds += JOB_TIME_WEIGHT * (seconds - this.seconds);
  }

  /** When a job with `ahead` jobs before it may be done: `slots` run at once, each at this pace. */
  etaSec(ahead: number, slots: number): number {
    return Math.ceil((Math.floor(ahead / slots) + 1) * this.seconds);
  }
}
/** Turns a class may hold apart: a job's priority is its class times this, less its turn. */
export const TURNS_PER_CLASS = 1000;
/** A promoted job's priority: above every class, so it goes before every voice note. */
const PROMOTED = TURNS_PER_CLASS;

/** What a job is admitted with: who it is for and what may stop it. */
export interface JobInit {
  /** Correlates log lines; default a random UUID. */
  id?: string;
  /** Where the job came from (http, telegram, discord, cli): a metrics label. */
  source?: string;
  /**
   * Who the job is for (a platform's user id, say). Within a length class jobs take turns by
   * owner: a person's second job waits behind everyone else's first. Unset: no turns, arrival
   * order only.
   */
  owner?: string;
  /** The caller's own signal (a client that went away): aborting it cancels the job. */
  signal?: AbortSignal;
}

export interface RunOptions {
  /** Length of the audio; shorter jobs run first. */
  durationSec: number;
  /** Told, once, how many jobs are ahead (running or waiting) when this one is queued. */
  onQueued?: (ahead: number) => void;
}

/**
 * One piece of work from admission to its end, and the one thing every scheduler reads: the
 * queue orders by `priority`, the inference pool serves windows by the same `priority` and
 * drops them on `signal`, and the transcriber counts windows into `progress`. Promotion,
 * cancellation and progress each change this object and nothing else.
 */
export class Job implements JobHandle {
  readonly id: string;
  readonly source: string;
  readonly owner: string | undefined;
  /** Aborted by {@link cancel} or by the caller's signal. */
  readonly signal: AbortSignal;
  /** Admission order: among equal priorities, first come first served. */
  readonly seq: number;
  state: JobState = 'admitted';
  /** Seconds of audio, once decoded. */
  durationSec: number | undefined;
  /** Higher goes first; set once from the length (priorityFor), raised once by promotion. */
  priority = 0;
  windows = 0;
  windowsDone = 0;
  private readonly controller = new AbortController();

  constructor(
    private readonly queue: JobQueue,
    seq: number,
    init: JobInit,
  ) {
    this.id = init.id ?? randomUUID();
    this.source = init.source ?? 'unknown';
    this.owner = init.owner;
    this.seq = seq;
    this.signal = init.signal ? AbortSignal.any([this.controller.signal, init.signal]) : this.controller.signal;
  }

  /** Share of the model's windows done, 0..1. */
  get progress(): number {
    return this.windows === 0 ? 0 : this.windowsDone / this.windows;
  }

  position(): number | null {
    return this.queue.positionOf(this);
  }

  etaSec(): number | undefined {
    return this.queue.etaSecOf(this);
  }

  /** Stops the job: a waiting one leaves the queue, a running one stops at its next window. */
  cancel(reason: unknown = new SttError('cancelled')): void {
    this.controller.abort(reason);
  }

  /** Queues the decoded job and runs `task` in its turn. */
  run<T>(task: () => Promise<T>, options: RunOptions): Promise<T> {
    return this.queue.enqueue(this, task, options);
  }

  /** Gives up a job's place when it never ran (its decode failed); harmless once it has. */
  release(): void {
    this.queue.release(this);
  }
}

/**
 * Priority class for a job of this length: voice notes (≤ 30 s) share the top class and so keep
 * their order of arrival; longer files come after, the longest last.
 */
export function priorityFor(durationSec: number): number {
  if (durationSec <= 30) return 0;
  if (durationSec <= 120) return -1;
  return -2;
}

interface Waiting {
  job: Job;
  start: () => void;
  promote: NodeJS.Timeout | undefined;
}

/**
 * The one queue every source (HTTP, Telegram, Discord, CLI) goes through. A job is admitted
 * first (refused at once with `queue_full` when too many wait), decoded outside the queue so
 * its length is known, then queued with a priority by length and run when a slot is free.
 */
export class JobQueue {
  /** Jobs admitted and not ended, in admission order: what a job still decoding has ahead. */
  private readonly live = new Set<Job>();
  /** Jobs decoded and waiting their turn, in the order they were queued. */
  private readonly line: Waiting[] = [];
  /** Jobs queued or running per owner: a new job's turn. */
  private readonly owned = new Map<string, number>();
  private admitted = 0;
  private active = 0;
  private seq = 0;
  private accepting = true;
  /** Set by drain(): called whenever the count of admitted or running jobs falls. */
  private onFewer: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  private readonly pace = new JobPace();
  private readonly now: () => number;

  constructor(private readonly options: JobQueueOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Jobs admitted and not yet running: decoding, or waiting their turn. */
  get waiting(): number {
    return this.admitted;
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  get maxPending(): number {
    return this.options.maxPending;
  }

  /** Reserves a place for a new job, or throws `queue_full` (or `shutting_down`) at once. */
  admit(init: JobInit = {}): Job {
    if (!this.accepting) throw new SttError('shutting_down');
    if (this.admitted >= this.options.maxPending) {
      throw new SttError('queue_full', undefined, { retryAfterSec: this.retryAfterSec() });
    }
    this.admitted++;
    const job = new Job(this, ++this.seq, init);
    this.live.add(job);
    return job;
  }

  /** Stops admitting new jobs; resolves once every admitted job has finished. */
  drain(): Promise<void> {
    this.accepting = false;
    this.drained ??= (async () => {
      while (this.admitted > 0 || this.active > 0) await new Promise<void>((resolve) => (this.onFewer = resolve));
    })();
    return this.drained;
  }

  /**
   * Jobs ahead of `job` while it has not started: while it decodes, every job admitted before it;
   * once queued, the running ones and those queued that go first. Null once it runs.
   */
  positionOf(job: Job): number | null {
    if (job.state === 'admitted') {
      let ahead = 0;
      for (const other of this.live) {
        if (other === job) break;
        ahead++;
      }
      return ahead;
    }
    if (job.state === 'waiting') return this.active + this.line.filter((w) => goesBefore(w.job, job)).length;
    return null;
  }

  /** When a job not yet running may be done: the slots' share of the jobs ahead, at the recent pace. */
  etaSecOf(job: Job): number | undefined {
    const ahead = this.positionOf(job);
    if (ahead === null) return undefined;
    return this.pace.etaSec(ahead, this.options.concurrency);
  }

  enqueue<T>(job: Job, task: () => Promise<T>, options: RunOptions): Promise<T> {
    if (job.state !== 'admitted') return Promise.reject(new Error(`job ${job.id} was queued twice`));
    if (job.signal.aborted) {
      this.release(job);
      return Promise.reject(job.signal.reason as Error);
    }
    job.durationSec = options.durationSec;
    // The owner's n-th job in flight takes turn n: behind every other owner's earlier turns.
    const { owner } = job;
    const turn = owner === undefined ? 0 : Math.min(this.owned.get(owner) ?? 0, TURNS_PER_CLASS - 1);
    if (owner !== undefined) this.owned.set(owner, (this.owned.get(owner) ?? 0) + 1);
    job.priority = priorityFor(options.durationSec) * TURNS_PER_CLASS - turn;
    job.state = 'waiting';
    // Ahead: the jobs that go first; none when a slot is free and nobody waits before it.
    const waitingAhead = this.line.filter((w) => goesBefore(w.job, job)).length;
    const ahead = this.active < this.options.concurrency && waitingAhead === 0 ? 0 : this.active + waitingAhead;

    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.line.indexOf(entry);
        if (index < 0) return;
        this.line.splice(index, 1);
        clearTimeout(entry.promote);
        this.end(job);
        reject(job.signal.reason);
      };
      const entry: Waiting = {
        job,
        promote: undefined,
        start: () => {
          job.signal.removeEventListener('abort', onAbort);
          this.admitted--;
          this.active++;
          job.state = 'running';
          const started = this.now();
          void (async () => {
            try {
              resolve(await task());
            } catch (error) {
              reject(error);
            } finally {
              this.pace.heard((this.now() - started) / 1000);
              this.active--;
              this.end(job);
              this.dispatch();
            }
          })();
        },
      };
      if (job.priority <= -TURNS_PER_CLASS) {
        entry.promote = setTimeout(() => (job.priority = PROMOTED), this.options.maxWaitMs ?? 60_000);
        entry.promote.unref();
      }
      job.signal.addEventListener('abort', onAbort, { once: true });
      this.line.push(entry);
      options.onQueued?.(ahead);
      this.dispatch();
    });
  }

  release(job: Job): void {
    if (job.state !== 'admitted') return;
    this.admitted--;
    this.end(job);
  }

  /** Starts the best queued jobs while slots are free: highest priority, then first admitted. */
  private dispatch(): void {
    while (this.active < this.options.concurrency && this.line.length > 0) {
      let best = 0;
      for (let i = 1; i < this.line.length; i++) if (goesBefore(this.line[i].job, this.line[best].job)) best = i;
      const [entry] = this.line.splice(best, 1);
      clearTimeout(entry.promote);
      entry.start();
    }
  }

  private end(job: Job): void {
    if (job.state === 'waiting') this.admitted--;
    if (job.state !== 'admitted' && job.owner !== undefined) {
      const left = (this.owned.get(job.owner) ?? 1) - 1;
      if (left === 0) this.owned.delete(job.owner);
      else this.owned.set(job.owner, left);
    }
    job.state = 'ended';
    this.live.delete(job);
    this.onFewer?.();
  }

  /** When a refused client may find room: the jobs ahead of it, at the recent pace of jobs. */
  private retryAfterSec(): number {
    const ahead = this.admitted + this.active;
    return Math.max(1, Math.min(120, Math.ceil((ahead * this.pace.seconds) / this.options.concurrency)));
  }
}

/** True when `a` runs before `b`: a higher priority, or the same and admitted earlier. */
function goesBefore(a: Job, b: Job): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
}
