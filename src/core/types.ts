/** Which onnxruntime execution provider ran the model. */
export type Device = 'cpu' | 'cuda';

/** One recognised word with its time span in seconds and its mean frame confidence (0..1). */
export interface Word {
  word: string;
  start: number;
  end: number;
  confidence: number;
}

/**
 * A run of words read together (cut at pauses and before it grows too long), with what greedy
 * CTC knows of it, in the shape of OpenAI's `TranscriptionSegment` (see segments.ts for how each
 * number is derived).
 */
export interface Segment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  /** Vocabulary ids the model emitted in the segment. */
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
}

/** What the Transcriber returns for one piece of audio. */
export interface Transcript {
  text: string;
  words: Word[];
  segments: Segment[];
  /** Length of the audio in seconds. */
  duration: number;
  /** Wall time from the start of decoding to the decoded text, in milliseconds. */
  processingMs: number;
  /** Of that, the time onnxruntime spent in `session.run` over all windows (the floor). */
  inferenceMs: number;
  device: Device;
}

/**
 * Audio to transcribe: bytes in memory (an upload or a download, read whole first so that a
 * slow sender never holds a place in the queue), or a file.
 */
export type AudioInput = { kind: 'buffer'; data: Uint8Array } | { kind: 'file'; path: string };

export interface TranscribeOptions {
  /** Aborts decoding, waiting and inference; the promise then rejects with `cancelled`. */
  signal?: AbortSignal;
  /**
   * Called once the audio is decoded and queued, with the number of jobs ahead of this one
   * (running or waiting). 0 means it starts at once.
   */
  onQueued?: (ahead: number) => void;
  /** Correlates log lines of one request or message through queue and worker. */
  jobId?: string;
  /** Where the job came from (http, telegram, discord, cli): a metrics label. */
  source?: string;
  /** Who the job is for (`telegram:<user id>`, say): within a length class, people take turns. */
  owner?: string;
  /**
   * Words and phrases to favour in this job, on top of HOTWORDS (a name the model would
   * misspell): the final text then comes from the beam search. @defaultValue none
   */
  hotwords?: readonly string[];
  /**
   * Called as the model's windows finish, with the words heard so far that no later window can
   * change (the last word of a window may still grow), and how many windows are done.
   */
  onPartial?: (partial: { text: string; windowsDone: number; windows: number }) => void;
  /**
   * Called once the job has a place (before decoding), with the job as the core holds it: async
   * jobs read its position and progress from there while the promise is pending.
   */
  onAdmitted?: (job: JobHandle) => void;
}

/** Where a job stands in the core: decoding, waiting its turn, running, or over. */
export type JobState = 'admitted' | 'waiting' | 'running' | 'ended';

/** A job as the core holds it, for whoever submitted it; cancel it through the signal handed in. */
export interface JobHandle {
  readonly id: string;
  readonly state: JobState;
  /** Share of the model's windows done, 0..1. */
  readonly progress: number;
  /** Jobs ahead of this one while it has not started; null once it runs. */
  position(): number | null;
  /** Seconds until it may be done, from the recent pace of jobs, while it has not started. */
  etaSec(): number | undefined;
}

/** The one entry point every adapter and route uses. */
export interface Transcriber {
  transcribe(input: AudioInput, options?: TranscribeOptions): Promise<Transcript>;
  status(): TranscriberStatus;
}

export interface TranscriberStatus {
  model: string;
  device: Device;
  /** Jobs taken in and not yet running: decoding, or waiting their turn. */
  waiting: number;
  /** Jobs running inference now. */
  running: number;
  maxPending: number;
  maxDurationSec: number;
  maxUploadMb: number;
}
