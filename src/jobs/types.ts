import type { Transcript } from '../core/types.js';

/** Where a job stands; `done`, `failed` and `cancelled` are final. */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** What POST /jobs (and the bots, later) hand in beside the audio bytes. */
export interface JobRequest {
  /** http, telegram, discord, cli: a metrics label. */
  source: string;
  /** Who the job is for: within a length class, people take turns. */
  owner?: string;
  /** The upload's name, echoed as `path` in the result like /wav2vec2. */
  filename?: string;
  /** Seconds, when known before decoding (bots know it from the platform). */
  durationHint?: number;
  /** This job's hotwords (the `hotwords` field), on top of HOTWORDS. */
  hotwords?: readonly string[];
  /** Validated against CALLBACK_ALLOWED_HOSTS at submit. */
  callbackUrl?: string;
  /** Keep the transcript (stored later by the store). */
  history?: boolean;
}

/** What GET /jobs/<id> is rendered from, whichever backend holds the job. */
export interface JobView {
  /** Unguessable: randomUUID or 128-bit base64url. */
  id: string;
  status: JobStatus;
  /** Jobs ahead while queued; null otherwise. */
  position: number | null;
  /** 0..1, share of windows done. */
  progress: number;
  /** While running, once its first window is done: the model's windows done, and in all. */
  windows?: { done: number; total: number };
  /** Seconds until it may be done: while queued from the recent pace of jobs, while running from its own windows'. */
  etaSec?: number;
  /** When done; routes render /wav2vec2's body or srt/vtt/txt from it. */
  transcript?: Transcript;
  filename?: string;
  /** The catalogue shape, when failed or cancelled. */
  error?: { error: string; message: string };
  /** When the request asked for history and the transcript was kept: its id at /transcripts/<id>. */
  historyId?: string;
  /** ISO time of admission. */
  createdAt: string;
}

/** Where async jobs live: in memory (embedded) or in Redis; the routes do not know which. */
export interface JobBackend {
  /** Throws SttError (queue_full, queue_unavailable, callback_not_allowed, ...). */
  submit(audio: Uint8Array, request: JobRequest): Promise<JobView>;
  /** Undefined once forgotten (JOB_TTL_SEC after it ended) or never known. */
  get(id: string): Promise<JobView | undefined>;
  /** A queued job is dropped, a running one stops at its next window. */
  cancel(id: string): Promise<JobView | undefined>;
  /**
   * Calls `onChange` each time the job moves by itself (one of its windows done, its end) until
   * the function returned is called; undefined for an unknown id. A backend without it is only
   * looked at now and then.
   */
  watch?(id: string, onChange: () => void): (() => void) | undefined;
  close(): Promise<void>;
}
