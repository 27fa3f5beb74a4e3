/**
 * The one catalogue of error codes. Every error a user can meet has a stable `code`, the HTTP
 * status it maps to, and a human sentence. The README's error table is kept in step with this
 * object by test/core/errors.test.ts.
 */
export const ERROR_CATALOGUE = {
  no_audio: { status: 400, message: 'The request carries no audio: send a file in the "file" field, a raw audio body, or a path.' },
  invalid_audio: { status: 400, message: 'The file could not be decoded as audio.' },
  audio_too_short: { status: 400, message: 'The audio is too short to transcribe (under 0.1 s).' },
  bad_request: { status: 400, message: 'The request is malformed.' },
  bad_hotwords: { status: 400, message: 'The hotwords are too many or too long: give a few words or short phrases, separated by commas.' },
  bad_query: { status: 400, message: 'The search has no words to look for: give words or a "quoted phrase" with letters or digits.' },
  unauthorized: { status: 401, message: 'A valid API key is required: send "Authorization: Bearer <key>".' },
  path_forbidden: { status: 403, message: 'That path is outside the audio folder this server may read.' },
  path_disabled: { status: 403, message: 'Reading server paths is disabled: set AUDIO_DIR to allow it.' },
  not_found: { status: 404, message: 'Not found.' },
  upload_timeout: { status: 408, message: 'The upload stalled: no data arrived for too long.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  file_not_found: { status: 404, message: 'No such audio file.' },
  job_not_found: { status: 404, message: 'No such job: it never existed, or it ended longer ago than results are kept.' },
  job_not_done: { status: 409, message: 'The job has no transcript yet: ask again once its status is done.' },
  transcript_not_found: { status: 404, message: 'No such transcript: it was never kept, it was deleted, or it is older than the history keeps.' },
  callback_not_allowed: { status: 400, message: 'That callback_url may not be called: its host is not in CALLBACK_ALLOWED_HOSTS.' },
  payload_too_large: { status: 413, message: 'The upload is larger than the limit.' },
  audio_too_long: { status: 413, message: 'The audio is longer than the limit.' },
  unsupported_media_type: { status: 415, message: 'That is not an audio or video file.' },
  range_not_satisfiable: { status: 416, message: 'The requested range is outside the file.' },
  queue_full: { status: 503, message: 'The server is busy: too many transcriptions are waiting. Try again shortly.' },
  too_many_uploads: { status: 503, message: 'The server is busy: too many uploads are arriving at once. Try again shortly.' },
  shutting_down: { status: 503, message: 'The server is shutting down and takes no new work.' },
  model_unavailable: { status: 503, message: 'The speech model is not loaded.' },
  queue_unavailable: { status: 503, message: 'The job queue cannot be reached just now. Try again shortly.' },
  no_worker: { status: 503, message: 'No transcription worker is running to take the job. Try again shortly.' },
  cancelled: { status: 499, message: 'The request was cancelled.' },
  internal: { status: 500, message: 'Transcription failed on the server. The request can be retried.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * An error a user caused or can act on. `message` is safe to show to the user: it never holds
 * a server path, a token or a stack. Details for operators go in `cause`, which is logged.
 */
export class SttError extends Error {
  override readonly name = 'SttError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CATALOGUE[code].message,
    options: { cause?: unknown; retryAfterSec?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = ERROR_CATALOGUE[code].status;
    this.retryAfterSec = options.retryAfterSec;
  }

  readonly retryAfterSec: number | undefined;
}

/** The one `payload_too_large` for a file over MAX_UPLOAD_MB, whichever way it came (upload, download, disk). */
export function fileTooLarge(maxMb: number): SttError {
  return new SttError('payload_too_large', `The file is larger than the ${maxMb} MB limit.`);
}

/** ffmpeg could not decode the input; carries its exit code and the last lines it wrote to stderr. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderrTail: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** onnxruntime failed while running the model; carries the model and the input's shape. */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  constructor(
    message: string,
    readonly model: string,
    readonly inputShape: readonly number[],
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** The user-facing form of any error: an SttError as it is, anything else as `internal`. */
export function toSttError(error: unknown): SttError {
  if (error instanceof SttError) return error;
  // ffmpeg stopped by a signal did not reject the input: that is the server's fault, and retryable.
  if (error instanceof DecodeError) return new SttError(error.exitCode === null ? 'internal' : 'invalid_audio', undefined, { cause: error });
  if (error instanceof Error && error.name === 'AbortError') return new SttError('cancelled', undefined, { cause: error });
  return new SttError('internal', undefined, { cause: error });
}
