// The upload page: plain ES modules, no build step. This one wires them: choosing a file (picker,
// drop or microphone), the API key, sending the file as a job and showing where it stands, the
// status line and errors. It talks to POST /jobs, GET and DELETE /jobs/<id>, and GET /healthz.
import { errorSentence, length, number, onLanguageChange, setLanguage, t, timeLeft, translatePage } from './i18n.js';
import { clock, startRecording } from './recorder.js';
import { remembered, remember } from './storage.js';
import { transcriptView } from './transcript.js';
import { describeJob, transcribeAsJob } from './upload.js';

/** @typedef {import('./i18n.js').LabelParams} LabelParams */
/** @typedef {import('./upload.js').Label} Label */
/** @typedef {import('./upload.js').Detail} Detail */

/**
 * What GET /healthz says, as far as the page reads it (the limits are checked before use).
 * @typedef {object} Health
 * @property {string} [model]
 * @property {string} [device]
 * @property {{ max_upload_mb?: unknown, max_duration_sec?: unknown }} [limits]
 */

/**
 * The error shown: its code, and what the server said of it.
 * @typedef {object} PageError
 * @property {string} code
 * @property {string} [serverMessage]
 * @property {number} [status] The HTTP status of a refusal.
 * @property {number} [retryAfter] Seconds, from a refusal's Retry-After.
 */

const KEY_STORAGE = 'viet-stt.apiKey';

/**
 * The element `id` of index.html, which is a `kind` (an HTMLElement subtype) there.
 * @template {HTMLElement} E
 * @param {string} id
 * @param {{ new (): E, prototype: E }} kind
 * @returns {E}
 */
function $(id, kind) {
  const node = document.getElementById(id);
  if (!(node instanceof kind)) throw new Error(`index.html has no ${kind.name} #${id}`);
  return node;
}

const el = {
  form: $('form', HTMLFormElement), file: $('file', HTMLInputElement), drop: $('drop', HTMLElement), limits: $('limits', HTMLElement),
  record: $('record', HTMLButtonElement), recordLabel: $('record-label', HTMLElement), recordTime: $('record-time', HTMLElement),
  chosen: $('chosen', HTMLElement), fileName: $('file-name', HTMLElement), fileSize: $('file-size', HTMLElement), player: $('player', HTMLAudioElement),
  generate: $('generate', HTMLButtonElement), cancel: $('cancel', HTMLButtonElement),
  progressBox: $('progress-box', HTMLElement), progress: $('progress', HTMLProgressElement), status: $('status', HTMLElement),
  progressText: $('progress-text', HTMLElement),
  error: $('error', HTMLElement), errorMessage: $('error-message', HTMLElement), errorDetail: $('error-detail', HTMLElement),
  errorCode: $('error-code', HTMLElement),
  keyBox: $('key-box', HTMLDetailsElement), key: $('api-key', HTMLInputElement), serverInfo: $('server-info', HTMLElement),
};

/**
 * @type {{
 *   file: File | undefined, fileUrl: string | undefined, job: { cancel(): void } | undefined,
 *   recorder: { stop(): void } | undefined, health: Health | undefined,
 *   status: Label | undefined, detail: Detail | undefined, error: PageError | undefined,
 * }}
 */
const state = {
  file: undefined,
  fileUrl: undefined,
  /** The job being sent or followed: its cancel(). */
  job: undefined,
  recorder: undefined,
  health: undefined,
  /** What the status line and the line under the bar say, kept as keys so that a language switch can say them again. */
  status: undefined,
  detail: undefined,
  error: undefined,
};

const transcript = transcriptView(
  {
    result: $('result', HTMLElement), meta: $('result-meta', HTMLElement), transcript: $('transcript', HTMLElement),
    unsureLegend: $('unsure-legend', HTMLElement), showTimes: $('show-times', HTMLInputElement),
    writtenForm: $('written-form', HTMLInputElement), copy: $('copy', HTMLButtonElement), player: el.player,
  },
  { t, number, say: (key, params) => setStatus(key, params), fail: (code) => showError(code) },
);

// ---- language ----
for (const button of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-lang]'))) {
  button.addEventListener('click', () => setLanguage(button.dataset.lang));
}

onLanguageChange(() => {
  el.recordLabel.textContent = t(state.recorder ? 'stopRecording' : 'record');
  renderLimits();
  renderServerInfo();
  renderFile();
  renderStatus();
  renderError();
  transcript.translate();
});

// ---- status and errors ----
/**
 * Puts the label `key` on the status line (and keeps it, to say again in another language); none clears it.
 * @param {string | undefined} key
 * @param {LabelParams} [params]
 */
function setStatus(key, params) {
  state.status = key ? { key, params } : undefined;
  renderStatus();
}

/**
 * The line under the bar: windows done of all and the time left (`leftSec`, said in words).
 * @param {Detail | undefined} detail
 */
function setDetail(detail) {
  state.detail = detail;
  renderStatus();
}

function renderStatus() {
  el.status.textContent = state.status ? t(state.status.key, state.status.params) : '';
  const detail = state.detail;
  el.progressText.hidden = !detail;
  el.progressText.textContent = detail ? t(detail.key, { ...detail.params, left: detail.leftSec === undefined ? '' : timeLeft(detail.leftSec) }) : '';
}

/**
 * Shows the sentence for `code`; the server's own message stands in for a code the page does not know.
 * @param {string} code
 * @param {Omit<PageError, 'code'>} [details]
 */
function showError(code, details = {}) {
  state.error = { code, ...details };
  renderError();
  if (code === 'unauthorized') {
    el.keyBox.open = true;
    el.key.focus();
  }
}

function clearError() {
  state.error = undefined;
  renderError();
}

function renderError() {
  const error = state.error;
  el.error.hidden = !error;
  if (!error) return;
  const known = errorSentence(error.code);
  const parts = [known ? known.text : error.serverMessage || t('httpStatus', { status: error.status ?? '?' })];
  if (error.retryAfter) parts.push(t('retryAfter', { seconds: error.retryAfter }));
  const limits = serverLimits();
  if (limits && error.code === 'payload_too_large') parts.push(t('uploadLimit', { mb: number(limits.mb) }));
  if (limits && error.code === 'audio_too_long') parts.push(t('durationLimit', { length: length(limits.seconds) }));
  el.errorMessage.textContent = parts.join(' ');
  el.errorDetail.textContent = known?.detail && error.serverMessage ? error.serverMessage : '';
  el.errorCode.textContent = [error.code, error.status ? t('httpStatus', { status: error.status }) : ''].filter(Boolean).join(' · ');
}

// ---- server info and limits (from /healthz, which needs no key) ----
/** @returns {{ mb: number, seconds: number } | undefined} */
function serverLimits() {
  const limits = state.health?.limits;
  if (!limits) return undefined;
  const { max_upload_mb: mb, max_duration_sec: seconds } = limits;
  return typeof mb === 'number' && typeof seconds === 'number' ? { mb, seconds } : undefined;
}

function renderLimits() {
  const limits = serverLimits();
  el.limits.textContent = limits ? t('formatsLimits', { length: length(limits.seconds), mb: number(limits.mb) }) : t('formats');
}

function renderServerInfo() {
  const health = state.health;
  el.serverInfo.textContent = health?.model ? t('serverInfo', { model: health.model, device: health.device ?? '?' }) : '';
}

void (async () => {
  try {
    const response = await fetch('healthz', { cache: 'no-store' });
    if (!response.ok) return;
    state.health = await response.json();
    renderLimits();
    renderServerInfo();
  } catch {
    // No limits to state: the server says them when a file is over one.
  }
})();

// ---- choosing a file: picker, drag and drop, recording ----
/** @param {File | undefined} file */
function setFile(file) {
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  state.file = file;
  state.fileUrl = file ? URL.createObjectURL(file) : undefined;
  if (state.fileUrl) el.player.src = state.fileUrl;
  else el.player.removeAttribute('src');
  clearError();
  renderFile();
}

function renderFile() {
  el.chosen.hidden = !state.file;
  if (!state.file) return;
  el.fileName.textContent = state.file.name;
  el.fileSize.textContent = `(${formatSize(state.file.size)})`;
}

/** @param {number} bytes */
function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${number(bytes / 1024)} KB`;
  return `${number(bytes / 1024 / 1024)} MB`;
}

el.file.addEventListener('change', () => {
  const file = el.file.files?.[0];
  if (!file) return;
  setFile(file);
  setStatus('fileReady', { name: file.name });
});

// Dropping anywhere on the page chooses the file; the drop zone lights up while something is dragged over it.
/** @param {DragEvent} event */
const isFileDrag = (event) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
window.addEventListener('dragover', (event) => {
  if (!isFileDrag(event)) return;
  event.preventDefault();
  el.drop.classList.add('dragging');
});
window.addEventListener('dragleave', (event) => {
  if (event.relatedTarget === null) el.drop.classList.remove('dragging');
});
window.addEventListener('drop', (event) => {
  if (!isFileDrag(event)) return;
  event.preventDefault();
  el.drop.classList.remove('dragging');
  const file = event.dataTransfer?.files[0];
  if (!file || state.job) return;
  setFile(file);
  setStatus('fileReady', { name: file.name });
});

el.record.addEventListener('click', () => (state.recorder ? state.recorder.stop() : void record()));

async function record() {
  clearError();
  const recorder = await startRecording({
    limitSec: serverLimits()?.seconds ?? 300,
    name: t('recordingName'),
    onTick: (seconds) => (el.recordTime.textContent = clock(seconds)),
    onStop: (file, seconds) => {
      state.recorder = undefined;
      el.record.classList.remove('recording');
      el.record.setAttribute('aria-pressed', 'false');
      el.recordLabel.textContent = t('record');
      setFile(file);
      setStatus('recorded', { time: clock(seconds) });
    },
    onError: (code, detail) => showError(code, { serverMessage: detail }),
  });
  if (!recorder) return;
  state.recorder = recorder;
  el.record.classList.add('recording');
  el.record.setAttribute('aria-pressed', 'true');
  el.recordLabel.textContent = t('stopRecording');
  el.recordTime.hidden = false;
  setStatus('recording');
}

// ---- the API key ----
el.key.value = remembered('sessionStorage', KEY_STORAGE) ?? '';
if (el.key.value) el.keyBox.open = true;
el.key.addEventListener('input', () => {
  remember('sessionStorage', KEY_STORAGE, el.key.value.trim());
  if (state.error?.code === 'unauthorized') clearError();
});

// ---- transcribing ----
el.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (state.job) return;
  if (state.recorder) state.recorder.stop();
  clearError();
  if (!state.file) {
    setStatus('chooseFirst');
    showError('no_audio');
    return;
  }
  const limits = serverLimits();
  if (limits && state.file.size > limits.mb * 1024 * 1024) {
    setStatus(undefined);
    showError('payload_too_large');
    return;
  }
  void transcribe(state.file, state.fileUrl);
});

el.cancel.addEventListener('click', () => {
  if (!state.job) return;
  setStatus('cancelling');
  state.job.cancel();
});

/**
 * Sends `file` as a job and shows where it stands, then its transcript (played from `fileUrl`) or why not.
 * @param {File} file
 * @param {string | undefined} fileUrl
 */
async function transcribe(file, fileUrl) {
  transcript.hide();
  setBusy(true);
  setProgress(0);
  setStatus('uploading', { percent: 0 });
  let spoken = 0;
  const job = transcribeAsJob(file, {
    apiKey: el.key.value.trim(),
    onUpload: (percent) => {
      setProgress(percent);
      // The live region speaks at every tenth, not at every event.
      if (percent - spoken >= 10) {
        spoken = percent - (percent % 10);
        setStatus('uploading', { percent: spoken });
      }
    },
    onUploaded: () => {
      setProgress(undefined);
      setStatus('processing');
    },
    onJob: (view) => {
      const { status, detail, percent } = describeJob(view);
      if (state.status?.key !== 'cancelling') setStatus(status.key, status.params);
      setDetail(detail);
      setProgress(percent);
    },
  });
  state.job = job;
  const ended = await job.done;
  state.job = undefined;
  setBusy(false);
  setDetail(undefined);
  if (ended.outcome === 'done') {
    transcript.show({ ...ended.result, name: file.name }, fileUrl);
    setStatus('done', { duration: number(ended.result?.duration ?? 0) });
  } else if (ended.outcome === 'cancelled') {
    setStatus('userCancelled');
  } else {
    setStatus(undefined);
    showError(ended.code, { serverMessage: ended.message, status: ended.status, retryAfter: ended.retryAfter });
  }
}

/** @param {boolean} busy */
function setBusy(busy) {
  el.generate.disabled = busy;
  el.record.disabled = busy;
  el.file.disabled = busy;
  el.cancel.hidden = !busy;
  el.progressBox.hidden = !busy;
  el.form.setAttribute('aria-busy', String(busy));
}

/** @param {number | undefined} percent The bar's value; undefined: still unknown (the bar moves to and fro). */
function setProgress(percent) {
  if (percent === undefined) el.progress.removeAttribute('value');
  else el.progress.value = percent;
}

translatePage();
el.recordLabel.textContent = t('record');
renderLimits();
