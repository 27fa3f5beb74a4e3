// Sending a file as an async job and following it: POST /jobs (with the upload's progress), then
// GET /jobs/<id>/events (server-sent events: the job's JSON each time it moves) until it ends,
// or GET /jobs/<id> now and then where the events cannot be had; DELETE /jobs/<id> cancels.

/** How often a job is asked where it stands when its events cannot be followed. */
export const POLL_MS = 1000;

/** @typedef {import('./transcript.js').TranscriptResult} TranscriptResult */
/** @typedef {import('./i18n.js').LabelParams} LabelParams */
/** A parsed JSON object, its fields not yet looked at. @typedef {{ [key: string]: unknown }} JsonObject */

/**
 * A job as the server says it (the 202 answer of POST /jobs, GET /jobs/<id> and each of its
 * events), as far as the page reads it.
 * @typedef {object} JobView
 * @property {string} status `queued`, `running`, `done`, `failed` or `cancelled`.
 * @property {number} [position] Jobs ahead of this one while queued.
 * @property {number} [progress] 0..1.
 * @property {number} [windows_done]
 * @property {number} [windows]
 * @property {number | null} [eta_sec]
 * @property {TranscriptResult} [result] Once done.
 * @property {{ error?: string, message?: string }} [error] Once failed or cancelled.
 */

/**
 * How a job ended: `status` and `retryAfter` of an error only for an HTTP refusal.
 * @typedef {{ outcome: 'done', result: TranscriptResult | undefined }
 *   | { outcome: 'cancelled' }
 *   | { outcome: 'error', code: string, message?: string, status?: number, retryAfter?: number }} Outcome
 */

/**
 * A label of i18n.js and what fills it.
 * @typedef {{ key: string, params?: LabelParams }} Label
 */

/** The line under the bar: a label, and the time left in seconds (said in words). @typedef {Label & { leftSec?: number }} Detail */

/**
 * Transcribes `file` as a job. While it goes, `onUpload(percent)` follows the upload,
 * `onUploaded()` says it is all sent, and `onJob(view)` gets each state of the job (the 202
 * answer, then the job's JSON each time it moves: `status`, `position`, `progress`, and while
 * running `windows_done`, `windows` and `eta_sec`).
 *
 * `done` resolves with how it ended: `{ outcome: 'done', result }`, `{ outcome: 'error', code,
 * message, status, retryAfter }` (status and retryAfter only for an HTTP refusal), or
 * `{ outcome: 'cancelled' }`. `cancel()` stops the upload, or deletes the job.
 *
 * @param {File} file
 * @param {object} options
 * @param {string} options.apiKey Sent as `Authorization: Bearer`; none when empty.
 * @param {(percent: number) => void} options.onUpload
 * @param {() => void} options.onUploaded
 * @param {(view: JobView) => void} options.onJob
 * @returns {{ done: Promise<Outcome>, cancel(): void }}
 */
export function transcribeAsJob(file, { apiKey, onUpload, onUploaded, onJob }) {
  /** @type {Record<string, string>} */
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  /** @type {(outcome: Outcome) => void} */
  let finish = () => undefined;
  /** @type {Promise<Outcome>} */
  const done = new Promise((resolve) => (finish = resolve));
  let ended = false;
  /** @param {Outcome} outcome */
  const end = (outcome) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    events.abort();
    finish(outcome);
  };
  /** @type {string | undefined} */
  let jobUrl;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let cancelled = false;
  const events = new AbortController();

  const xhr = new XMLHttpRequest();
  xhr.upload.addEventListener('progress', (event) => {
    if (event.lengthComputable) onUpload(Math.floor((event.loaded / event.total) * 100));
  });
  xhr.upload.addEventListener('load', () => onUploaded());
  xhr.addEventListener('load', () => {
    const body = parse(xhr.responseText);
    if (xhr.status === 202 && typeof body?.id === 'string') {
      jobUrl = `jobs/${encodeURIComponent(body.id)}`;
      onJob(/** @type {JobView} */ (body));
      void watch();
      return;
    }
    end(refusal(xhr.status, body, Number(xhr.getResponseHeader('Retry-After')) || undefined));
  });
  xhr.addEventListener('error', () => end({ outcome: 'error', code: 'network' }));
  xhr.addEventListener('abort', () => end({ outcome: 'cancelled' }));
  xhr.open('POST', 'jobs');
  for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
  const form = new FormData();
  form.append('file', file, file.name);
  xhr.send(form);

  /**
   * Says where the job stands, or once it has ended, how; true while it goes on.
   * @param {JobView} view
   */
  function said(view) {
    if (ended) return false;
    const outcome = outcomeOf(view);
    if (outcome) end(outcome);
    else onJob(view);
    return !outcome;
  }

  /** Follows the job's events; where they stop short of its end, or cannot be had, asks now and then. */
  async function watch() {
    try {
      const response = await fetch(`${jobUrl}/events`, { headers, cache: 'no-store', signal: events.signal });
      if (response.ok && response.body) {
        for await (const view of serverSentEvents(response.body)) if (!said(view)) return;
      }
    } catch {
      // Asked below.
    }
    if (!ended && !cancelled) void ask('GET');
  }

  /** @param {JobView} view */
  function follow(view) {
    if (said(view)) timer = setTimeout(() => void ask('GET'), POLL_MS);
  }

  /**
   * Asks the job where it stands (`GET`) or cancels it (`DELETE`); only once the 202 has named it.
   * @param {'GET' | 'DELETE'} method
   */
  async function ask(method) {
    let response;
    try {
      response = await fetch(/** @type {string} */ (jobUrl), { method, headers, cache: 'no-store' });
    } catch {
      return end({ outcome: 'error', code: 'network' });
    }
    const body = parse(await response.text());
    if (response.ok && typeof body?.status === 'string') follow(/** @type {JobView} */ (body));
    else end(refusal(response.status, body, Number(response.headers.get('Retry-After')) || undefined));
  }

  return {
    done,
    cancel() {
      if (ended) return;
      if (!jobUrl) {
        xhr.abort();
        return;
      }
      cancelled = true;
      clearTimeout(timer);
      events.abort();
      void ask('DELETE');
    },
  };
}

/**
 * How a job that has ended ended; undefined while it goes on.
 * @param {JobView} view
 * @returns {Outcome | undefined}
 */
function outcomeOf(view) {
  if (view.status === 'done') return { outcome: 'done', result: view.result };
  if (view.status === 'cancelled') return { outcome: 'cancelled' };
  if (view.status === 'failed') return { outcome: 'error', code: view.error?.error ?? 'internal', message: view.error?.message };
  return undefined;
}

/**
 * The JSON of each `data:` of a server-sent event stream that says a job's `status`.
 * @param {ReadableStream<Uint8Array<ArrayBuffer>>} body
 * @returns {AsyncGenerator<JobView, void>}
 */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n');
      const view = parse(data);
      if (view && typeof view.status === 'string') yield /** @type {JobView} */ (view);
    }
  }
}

/**
 * `text` as JSON, when it is an object; undefined otherwise (the answers the page reads are objects).
 * @param {string} text
 * @returns {JsonObject | undefined}
 */
function parse(text) {
  try {
    /** @type {unknown} */
    const value = JSON.parse(text);
    return typeof value === 'object' && value !== null ? /** @type {JsonObject} */ (value) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An HTTP refusal as an outcome: the catalogue's `error` and `message` when the body has them.
 * @param {number} status
 * @param {JsonObject | undefined} body
 * @param {number | undefined} retryAfter
 * @returns {Outcome}
 */
function refusal(status, body, retryAfter) {
  if (body && typeof body.error === 'string') {
    return { outcome: 'error', code: body.error, message: typeof body.message === 'string' ? body.message : undefined, status, retryAfter };
  }
  return { outcome: 'error', code: 'bad_response', status, retryAfter };
}

/**
 * What a job's state says in words, as label keys of i18n.js: `status` for the status line (it
 * changes rarely, and is read out), `detail` for the line under the bar (windows done of all and
 * the time left, updated as they go), and `percent` for the bar (undefined: still unknown).
 *
 * @param {JobView} view
 * @returns {{ status: Label, detail: Detail | undefined, percent: number | undefined }}
 */
export function describeJob(view) {
  if (view.status === 'queued') {
    const ahead = typeof view.position === 'number' ? view.position : 0;
    const status = ahead === 0 ? { key: 'next' } : ahead === 1 ? { key: 'aheadOne' } : { key: 'aheadMany', params: { n: ahead } };
    return { status, detail: undefined, percent: undefined };
  }
  const status = { key: 'running' };
  const total = view.windows;
  const done = view.windows_done;
  if (typeof total === 'number' && typeof done === 'number' && total > 0) {
    const detail = typeof view.eta_sec === 'number' && done < total
      ? { key: 'windowsLeft', params: { done, total }, leftSec: view.eta_sec }
      : { key: 'windows', params: { done, total } };
    return { status, detail, percent: Math.floor((done / total) * 100) };
  }
  const progress = view.progress ?? 0;
  return { status, detail: undefined, percent: progress > 0 ? Math.floor(progress * 100) : undefined };
}
