// The upload page: plain ES modules, no build step. This one wires them: choosing a file (picker,
// drop or microphone), the API key, sending the file as a job and showing where it stands, the
// status line and errors. It talks to POST /jobs, GET and DELETE /jobs/<id>, and GET /healthz.
import { errorSentence, length, number, onLanguageChange, setLanguage, t, timeLeft, translatePage } from './i18n.js';
import { clock, startRecording } from './recorder.js';
import { remembered, remember } from './storage.js';
import { transcriptView } from './transcript.js';
import { describeJob, transcribeAsJob } from './upload.js';

const KEY_STORAGE = 'viet-stt.apiKey';

const $ = (id) => document.getElementById(id);
const el = {
  form: $('form'), file: $('file'), drop: $('drop'), limits: $('limits'),
  record: $('record'), recordLabel: $('record-label'), recordTime: $('record-time'),
  chosen: $('chosen'), fileName: $('file-name'), fileSize: $('file-size'), player: $('player'),
  generate: $('generate'), cancel: $('cancel'),
  progressBox: $('progress-box'), progress: $('progress'), status: $('status'), progressText: $('progress-text'),
  error: $('error'), errorMessage: $('error-message'), errorDetail: $('error-detail'), errorCode: $('error-code'),
  keyBox: $('key-box'), key: $('api-key'), serverInfo: $('server-info'),
};

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
    result: $('result'), meta: $('result-meta'), transcript: $('transcript'), unsureLegend: $('unsure-legend'),
    showTimes: $('show-times'), writtenForm: $('written-form'), copy: $('copy'), player: el.player,
  },
  { t, number, say: (key, params) => setStatus(key, params), fail: (code) => showError(code) },
);

// ---- language ----
for (const button of document.querySelectorAll('[data-lang]')) button.addEventListener('click', () => setLanguage(button.dataset.lang));

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
function setStatus(key, params) {
  state.status = key ? { key, params } : undefined;
  renderStatus();
}

/** The line under the bar: windows done of all and the time left (`leftSec`, said in words). */
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

/** Shows the sentence for `code`; the server's own message stands in for a code the page does not know. */
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
  const file = event.dataTransfer.files[0];
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
    setStatus('done', { duration: number(ended.result.duration ?? 0) });
  } else if (ended.outcome === 'cancelled') {
    setStatus('userCancelled');
  } else {
    setStatus(undefined);
    showError(ended.code, { serverMessage: ended.message, status: ended.status, retryAfter: ended.retryAfter });
  }
}

function setBusy(busy) {
  el.generate.disabled = busy;
  el.record.disabled = busy;
  el.file.disabled = busy;
  el.cancel.hidden = !busy;
  el.progressBox.hidden = !busy;
  el.form.setAttribute('aria-busy', String(busy));
}

function setProgress(percent) {
  if (percent === undefined) el.progress.removeAttribute('value');
  else el.progress.value = percent;
}

translatePage();
el.recordLabel.textContent = t('record');
renderLimits();
