import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { SttError, toSttError } from '../core/errors.js';
import type { JobHandle, Transcriber, Transcript } from '../core/types.js';
import type { Logger } from '../logger.js';
import { CallbackSender } from './callback.js';
import { jobJson } from './job-json.js';
import type { JobBackend, JobRequest, JobStatus, JobView } from './types.js';

export interface MemoryJobBackendOptions {
  /** The local core's transcriber: jobs run on it beside every other source's. */
  transcriber: Transcriber;
  /** A finished job is forgotten this long after it ended (JOB_TTL_SEC). */
  ttlMs: number;
  callbacks: CallbackSender;
  logger: Logger;
  /**
   * Keeps a done job's transcript when its request asked (`history: true`), returning the id it
   * is kept under (rememberHttpTranscript on the store). Unset: nothing is kept.
   */
  remember?: (transcript: Transcript) => Promise<string>;
}

interface Entry {
  id: string;
  request: JobRequest;
  createdAt: string;
  controller: AbortController;
  /** The core's job, once admitted: where it stands while it has not ended. */
  handle: JobHandle | undefined;
  /** Set once it has ended; until then the status comes from the handle. */
  final: Exclude<JobStatus, 'queued' | 'running'> | undefined;
  transcript?: Transcript;
  error?: { error: string; message: string };
  historyId?: string;
  /** The model's windows as they finish: the first's and the latest's count and time (performance.now()). */
  windows?: { total: number; first: { done: number; at: number }; last: { done: number; at: number } };
  /** Told each time a window is done and when the job ends. */
  watchers: Set<() => void>;
  forget?: NodeJS.Timeout;
  ended: Promise<void>;
  markEnded: () => void;
}

/**
 * The embedded job backend (QUEUE_URL unset): jobs run on the local core and live in this
 * process's memory, results included, until `ttlMs` after they end. A restart forgets them.
 */
export class MemoryJobBackend implements JobBackend {
  private readonly jobs = new Map<string, Entry>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly options: MemoryJobBackendOptions) {}

  /** The backend as JOB_TTL_SEC, CALLBACK_SECRET and CALLBACK_ALLOWED_HOSTS set it up. */
  static fromConfig(config: Config, transcriber: Transcriber, logger: Logger, remember?: MemoryJobBackendOptions['remember']): MemoryJobBackend {
    const { ttlMs, callbackSecret, callbackAllowedHosts } = config.jobs;
    const callbacks = new CallbackSender({ secret: callbackSecret, allowedHosts: callbackAllowedHosts, logger });
    return new MemoryJobBackend({ transcriber, ttlMs, callbacks, logger, remember });
  }

  /**
   * Admits the job into the core's queue and answers at once, before it is decoded; refuses as
   * the core does (`queue_full`, `shutting_down`) or with `callback_not_allowed`.
   */
  async submit(audio: Uint8Array, request: JobRequest): Promise<JobView> {
    if (this.closed) throw new SttError('shutting_down');
    if (request.callbackUrl !== undefined) this.options.callbacks.check(request.callbackUrl);
    const id = randomUUID();
    let markEnded!: () => void;
    const entry: Entry = {
      id,
      request,
      createdAt: new Date().toISOString(),
      controller: new AbortController(),
      handle: undefined,
      final: undefined,
      watchers: new Set(),
      ended: new Promise<void>((resolve) => (markEnded = resolve)),
      markEnded: () => markEnded(),
    };
    let admitted!: (handle: JobHandle) => void;
    const handle = new Promise<JobHandle>((resolve) => (admitted = resolve));
    const outcome = this.options.transcriber.transcribe(
      { kind: 'buffer', data: audio },
      {
        signal: entry.controller.signal,
        jobId: id,
        source: request.source,
        owner: request.owner,
        hotwords: request.hotwords,
        onAdmitted: admitted,
        onPartial: ({ windowsDone, windows }) => {
          const now = { done: windowsDone, at: performance.now() };
          entry.windows = { total: windows, first: entry.windows?.first ?? now, last: now };
          for (const watcher of entry.watchers) watcher();
        },
      },
    );
    // A refusal comes before admission and is the caller's answer; anything later is the job's.
    entry.handle = await Promise.race([handle, outcome.then(() => undefined)]);
    this.jobs.set(id, entry);
    const settled = outcome.then(
      async (transcript) => {
        const historyId = request.history ? await this.remember(transcript, id) : undefined;
        this.end(entry, 'done', { transcript, historyId });
      },
      (error: unknown) => {
        const stt = toSttError(error);
        this.end(entry, entry.controller.signal.aborted ? 'cancelled' : 'failed', { error: { error: stt.code, message: stt.message } });
      },
    );
    this.running.add(settled);
    void settled.finally(() => this.running.delete(settled));
    return this.view(entry);
  }

  async get(id: string): Promise<JobView | undefined> {
    const entry = this.jobs.get(id);
    return entry && this.view(entry);
  }

  /** A queued job leaves the queue; a running one stops at its next window. An ended job is left as it is. */
  async cancel(id: string): Promise<JobView | undefined> {
    const entry = this.jobs.get(id);
    if (!entry) return undefined;
    if (!entry.final) {
      const reason = new SttError('cancelled', 'The job was cancelled.');
      this.end(entry, 'cancelled', { error: { error: reason.code, message: reason.message } });
      entry.controller.abort(reason);
    }
    return this.view(entry);
  }

  watch(id: string, onChange: () => void): (() => void) | undefined {
    const entry = this.jobs.get(id);
    if (!entry) return undefined;
    entry.watchers.add(onChange);
    return () => entry.watchers.delete(onChange);
  }

  /** Resolves with the job's view once it has ended (undefined for an unknown id). */
  async settled(id: string): Promise<JobView | undefined> {
    const entry = this.jobs.get(id);
    if (!entry) return undefined;
    await entry.ended;
    return this.view(entry);
  }

  /** Cancels every job not yet ended, stops callbacks, and forgets everything. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.jobs.values()) {
      if (!entry.final) entry.controller.abort(new SttError('shutting_down'));
    }
    this.options.callbacks.close();
    await Promise.allSettled([...this.running]);
    for (const entry of this.jobs.values()) clearTimeout(entry.forget);
    this.jobs.clear();
  }

  /** Keeps the transcript in the history; a store that fails costs the job its history id, not its result. */
  private async remember(transcript: Transcript, id: string): Promise<string | undefined> {
    if (!this.options.remember) return undefined;
    try {
      return await this.options.remember(transcript);
    } catch (error) {
      this.options.logger.error({ err: error, jobId: id }, 'could not keep the job\'s transcript in the history');
      return undefined;
    }
  }

  private end(entry: Entry, status: NonNullable<Entry['final']>, outcome: { transcript?: Transcript; error?: Entry['error']; historyId?: string }): void {
    if (entry.final) return;
    entry.final = status;
    entry.transcript = outcome.transcript;
    entry.error = outcome.error;
    entry.historyId = outcome.historyId;
    entry.forget = setTimeout(() => this.jobs.delete(entry.id), this.options.ttlMs);
    entry.forget.unref();
    entry.markEnded();
    for (const watcher of entry.watchers) watcher();
    entry.watchers.clear();
    const url = entry.request.callbackUrl;
    if (url !== undefined && !this.closed) {
      const delivery = this.options.callbacks.deliver(url, JSON.stringify(jobJson(this.view(entry))));
      this.running.add(delivery);
      void delivery.finally(() => this.running.delete(delivery));
    }
  }

  private view(entry: Entry): JobView {
    const { handle } = entry;
    const base = { id: entry.id, filename: entry.request.filename, createdAt: entry.createdAt };
    if (entry.final) {
      const progress = entry.final === 'done' ? 1 : (handle?.progress ?? 0);
      return { ...base, status: entry.final, position: null, progress, transcript: entry.transcript, error: entry.error, historyId: entry.historyId };
    }
    const queued = handle === undefined || handle.state === 'admitted' || handle.state === 'waiting';
    if (queued) return { ...base, status: 'queued', position: handle?.position() ?? 0, progress: handle?.progress ?? 0, etaSec: handle?.etaSec() };
    const windows = entry.windows;
    return {
      ...base,
      status: 'running',
      position: null,
      progress: handle?.progress ?? 0,
      windows: windows && { done: windows.last.done, total: windows.total },
      etaSec: windows && secondsLeft(windows),
    };
  }
}

/**
 * Seconds until the last window is done, at the pace of those done since the first (whose start
 * is not known): counted down from the latest, never under one while any is left.
 */
function secondsLeft({ total, first, last }: NonNullable<Entry['windows']>): number | undefined {
  if (last.done >= total) return 0;
  if (last.done === first.done) return undefined;
  const perWindowMs = (last.at - first.at) / (last.done - first.done);
  return Math.max(1, Math.ceil((perWindowMs * (total - last.done) - (performance.now() - last.at)) / 1000));
}
