// The upload page: plain ES module, no build step. It talks to POST /wav2vec2 and GET /healthz.

/**
 * A sentence in Vietnamese and English for every error code of the API (ERROR_CATALOGUE in
 * src/core/errors.ts; test/http/page.test.ts keeps the two in step) and for the page's own
 * failures. `detail: true` shows the server's own message under ours, for codes where the server
 * says something specific (which format was unknown, which route was missing).
 */
export const ERROR_MESSAGES = {
  no_audio: {
    vi: 'Chưa có âm thanh: hãy chọn một tệp hoặc ghi âm trước.',
    en: 'No audio was sent: choose a file or record first.',
  },
  invalid_audio: {
    vi: 'Không đọc được tệp này như âm thanh. Hãy thử một tệp MP3, WAV, M4A hoặc OGG khác.',
    en: 'This file could not be read as audio. Try another MP3, WAV, M4A or OGG file.',
  },
  audio_too_short: {
    vi: 'Đoạn âm thanh quá ngắn để chép lời (dưới 0,1 giây).',
    en: 'The audio is too short to transcribe (under 0.1 s).',
  },
  bad_request: {
    vi: 'Máy chủ không hiểu yêu cầu này.',
    en: 'The server could not understand the request.',
    detail: true,
  },
  bad_query: {
    vi: 'Hãy nhập từ cần tìm: chữ hoặc số, hoặc một cụm từ trong ngoặc kép.',
    en: 'Type words to search for: letters or digits, or a phrase in quotes.',
    detail: true,
  },
  unauthorized: {
    vi: 'Máy chủ này cần khóa API: nhập khóa vào ô “Khóa API” bên dưới rồi thử lại.',
    en: 'This server needs an API key: enter it in the “API key” field below and try again.',
  },
  path_forbidden: {
    vi: 'Đường dẫn đó nằm ngoài thư mục âm thanh mà máy chủ được phép đọc.',
    en: 'That path is outside the audio folder the server may read.',
  },
  path_disabled: {
    vi: 'Máy chủ không cho phép đọc tệp theo đường dẫn.',
    en: 'Reading files by server path is disabled on this server.',
  },
  not_found: {
    vi: 'Không tìm thấy địa chỉ này trên máy chủ.',
    en: 'That address was not found on the server.',
    detail: true,
  },
  upload_timeout: {
    vi: 'Tải lên bị ngừng giữa chừng hoặc quá chậm: máy chủ chờ quá lâu để nhận dữ liệu. Hãy thử lại.',
    en: 'The upload stalled or came too slowly: the server waited too long for the data. Try again.',
  },
  headers_too_large: {
    vi: 'Phần đầu (header) của yêu cầu quá lớn. Hãy tải lại trang rồi thử lại.',
    en: 'The request headers are too large. Reload the page and try again.',
  },
  file_not_found: {
    vi: 'Không có tệp âm thanh đó trong thư mục của máy chủ.',
    en: 'There is no such audio file in the server’s audio folder.',
  },
  job_not_found: {
    vi: 'Không có công việc đó: nó chưa từng có, hoặc đã xong quá lâu nên kết quả đã bị xoá.',
    en: 'There is no such job: it never existed, or it ended too long ago and its result is gone.',
  },
  job_not_done: {
    vi: 'Công việc chưa xong nên chưa có bản chép lời. Hãy hỏi lại khi trạng thái là done.',
    en: 'The job is not done yet, so there is no transcript. Ask again once its status is done.',
  },
  transcript_not_found: {
    vi: 'Không có bản chép lời đó trong lịch sử: nó chưa từng được lưu, đã bị xoá, hoặc đã quá thời hạn lưu.',
    en: 'That transcript is not in the history: it was never kept, it was deleted, or it is older than the history keeps.',
  },
  callback_not_allowed: {
    vi: 'Máy chủ không được phép gọi địa chỉ callback_url đó.',
    en: 'The server may not call that callback_url.',
  },
  payload_too_large: {
    vi: 'Tệp lớn hơn giới hạn tải lên của máy chủ.',
    en: 'The file is larger than the server’s upload limit.',
  },
  audio_too_long: {
    vi: 'Đoạn âm thanh dài hơn giới hạn của máy chủ. Hãy cắt ngắn rồi thử lại.',
    en: 'The audio is longer than the server’s limit. Trim it and try again.',
  },
  unsupported_media_type: {
    vi: 'Đây không phải tệp âm thanh hay video. Hãy chọn tệp MP3, WAV, M4A hoặc OGG.',
    en: 'That is not an audio or video file. Choose an MP3, WAV, M4A or OGG file.',
  },
  queue_full: {
    vi: 'Máy chủ đang bận: có quá nhiều bản đang chờ chép lời. Hãy thử lại sau ít phút.',
    en: 'The server is busy: too many transcriptions are waiting. Try again shortly.',
  },
  too_many_uploads: {
    vi: 'Máy chủ đang bận: có quá nhiều tệp đang được tải lên cùng lúc. Hãy thử lại sau ít giây.',
    en: 'The server is busy: too many uploads are arriving at once. Try again in a few seconds.',
  },
  shutting_down: {
    vi: 'Máy chủ đang tắt và không nhận việc mới. Hãy thử lại sau.',
    en: 'The server is shutting down and takes no new work. Try again later.',
  },
  model_unavailable: {
    vi: 'Mô hình nhận dạng giọng nói chưa sẵn sàng. Hãy thử lại sau.',
    en: 'The speech model is not ready yet. Try again later.',
  },
  queue_unavailable: {
    vi: 'Hàng đợi của máy chủ tạm thời không liên lạc được. Hãy thử lại sau ít giây.',
    en: 'The server’s job queue cannot be reached just now. Try again in a few seconds.',
  },
  cancelled: {
    vi: 'Yêu cầu đã bị hủy.',
    en: 'The request was cancelled.',
  },
  internal: {
    vi: 'Máy chủ gặp lỗi khi chép lời. Bạn có thể thử lại.',
    en: 'Transcription failed on the server. You can try again.',
  },
  // The page's own failures, never sent by the server.
  network: {
    vi: 'Không kết nối được tới máy chủ. Hãy kiểm tra mạng rồi thử lại.',
    en: 'Could not reach the server. Check the connection and try again.',
  },
  bad_response: {
    vi: 'Máy chủ trả lời không như mong đợi.',
    en: 'The server gave an unexpected answer.',
  },
  mic_unsupported: {
    vi: 'Trình duyệt này không ghi âm được ở đây (cần HTTPS hoặc localhost và một trình duyệt mới).',
    en: 'This browser cannot record here (it needs HTTPS or localhost and a recent browser).',
  },
  mic_denied: {
    vi: 'Trang không được phép dùng micrô. Hãy cho phép trong cài đặt của trình duyệt.',
    en: 'The page may not use the microphone. Allow it in the browser’s settings.',
  },
  mic_missing: {
    vi: 'Không tìm thấy micrô nào.',
    en: 'No microphone was found.',
  },
  mic_failed: {
    vi: 'Không ghi âm được từ micrô.',
    en: 'Recording from the microphone failed.',
    detail: true,
  },
  copy_failed: {
    vi: 'Không sao chép được. Hãy chọn văn bản rồi bấm Ctrl+C.',
    en: 'Could not copy. Select the text and press Ctrl+C.',
  },
};

/** Every label of the page. The HTML carries the Vietnamese ones, so the page reads right before this runs. */
export const LABELS = {
  vi: {
    title: 'viet-stt · Chép lời tiếng Việt',
    tagline: 'Chuyển giọng nói tiếng Việt thành văn bản',
    dropTitle: 'Chọn hoặc kéo thả tệp âm thanh vào đây',
    formats: 'MP3, WAV, M4A, OGG',
    formatsLimits: 'MP3, WAV, M4A, OGG · tối đa {length}, {mb} MB',
    minutes: '{n} phút',
    seconds: '{n} giây',
    or: 'hoặc',
    record: 'Ghi âm từ micrô',
    stopRecording: 'Dừng ghi âm',
    chosen: 'Tệp đã chọn:',
    generate: 'Tạo bản chép lời',
    cancel: 'Hủy',
    keySummary: 'Khóa API (nếu máy chủ yêu cầu)',
    keyLabel: 'Khóa API',
    keyPlaceholder: 'Dán khóa vào đây',
    keyHint: 'Khóa chỉ được giữ trong phiên trình duyệt này (sessionStorage) và gửi kèm dưới dạng “Authorization: Bearer”.',
    resultTitle: 'Bản chép lời',
    wordHint: 'Bấm vào một từ để nghe từ chỗ đó.',
    showTimes: 'Hiện thời gian từng từ',
    writtenForm: 'Chữ viết',
    copy: 'Sao chép',
    downloadTxt: 'Tải về TXT',
    downloadSrt: 'Tải về phụ đề SRT',
    downloadVtt: 'Tải về phụ đề VTT',
    serverInfo: 'Mô hình: {model} · Thiết bị: {device}',
    chooseFirst: 'Hãy chọn một tệp âm thanh hoặc ghi âm trước.',
    fileReady: 'Đã chọn “{name}”. Bấm “Tạo bản chép lời”.',
    uploading: 'Đang tải lên… {percent}%',
    processing: 'Đã tải lên. Đang chờ và chép lời…',
    queue: 'Hàng đợi: {running} đang chạy, {waiting} đang chờ · {seconds} giây',
    waited: 'Đã chờ {seconds} giây',
    done: 'Xong: đã chép lời {duration} giây âm thanh.',
    noSpeech: 'Không nhận ra lời nói nào trong đoạn âm thanh này.',
    unsureLegend: 'Từ gạch chân chấm: mô hình không chắc (độ tin cậy dưới 60%).',
    meta: 'Thời lượng {duration} giây · xử lý {processing} giây · {device}',
    userCancelled: 'Đã hủy.',
    copied: 'Đã sao chép bản chép lời.',
    downloaded: 'Đã tải về {name}.',
    recording: 'Đang ghi âm… Bấm “Dừng ghi âm” khi xong.',
    recorded: 'Đã ghi âm {time}. Bấm “Tạo bản chép lời”.',
    recordingName: 'ghi-am',
    retryAfter: 'Thử lại sau {seconds} giây.',
    uploadLimit: 'Giới hạn: {mb} MB.',
    durationLimit: 'Giới hạn: {length}.',
    httpStatus: 'HTTP {status}',
    keyNeeded: 'Cần khóa API',
  },
  en: {
    title: 'viet-stt · Vietnamese transcription',
    tagline: 'Vietnamese speech to text',
    dropTitle: 'Choose or drop an audio file here',
    formats: 'MP3, WAV, M4A, OGG',
    formatsLimits: 'MP3, WAV, M4A, OGG · up to {length}, {mb} MB',
    minutes: '{n} min',
    seconds: '{n} s',
    or: 'or',
    record: 'Record from the microphone',
    stopRecording: 'Stop recording',
    chosen: 'Chosen file:',
    generate: 'Generate transcript',
    cancel: 'Cancel',
    keySummary: 'API key (if the server needs one)',
    keyLabel: 'API key',
    keyPlaceholder: 'Paste the key here',
    keyHint: 'The key is kept only for this browser session (sessionStorage) and sent as “Authorization: Bearer”.',
    resultTitle: 'Transcript',
    wordHint: 'Click a word to play from there.',
    showTimes: 'Show word timings',
    writtenForm: 'Written form',
    copy: 'Copy',
    downloadTxt: 'Download TXT',
    downloadSrt: 'Download SRT subtitles',
    downloadVtt: 'Download VTT subtitles',
    serverInfo: 'Model: {model} · Device: {device}',
    chooseFirst: 'Choose an audio file or record first.',
    fileReady: '“{name}” chosen. Press “Generate transcript”.',
    uploading: 'Uploading… {percent}%',
    processing: 'Uploaded. Waiting and transcribing…',
    queue: 'Queue: {running} running, {waiting} waiting · {seconds} s',
    waited: 'Waited {seconds} s',
    done: 'Done: transcribed {duration} s of audio.',
    noSpeech: 'No speech was recognised in this audio.',
    unsureLegend: 'Words with a dotted underline: the model was unsure (confidence under 60%).',
    meta: 'Duration {duration} s · processed in {processing} s · {device}',
    userCancelled: 'Cancelled.',
    copied: 'Transcript copied.',
    downloaded: 'Downloaded {name}.',
    recording: 'Recording… Press “Stop recording” when done.',
    recorded: 'Recorded {time}. Press “Generate transcript”.',
    recordingName: 'recording',
    retryAfter: 'Try again in {seconds} s.',
    uploadLimit: 'Limit: {mb} MB.',
    durationLimit: 'Limit: {length}.',
    httpStatus: 'HTTP {status}',
    keyNeeded: 'API key needed',
  },
};

/** A pause at least this long between two words starts a new paragraph of the transcript. */
export const PARAGRAPH_PAUSE_SEC = 1.5;
/** Words the model heard with less confidence than this are marked as unsure. */
export const LOW_CONFIDENCE = 0.6;

// ---- Subtitles, built from the words exactly as the server's src/core/subtitles.ts builds them ----

/**
 * Groups words into cues as the server's groupWords does: a new cue at a pause of 0.6 s, or
 * before it would pass 84 characters or 10 s.
 */
export function wordsToCues(words, { maxChars = 84, maxSeconds = 10, maxGapSeconds = 0.6 } = {}) {
  const cues = [];
  let current;
  for (const word of words) {
    if (
      current &&
      (current.text.length + 1 + word.word.length > maxChars || word.end - current.start > maxSeconds || word.start - current.end >= maxGapSeconds)
    ) {
      cues.push(current);
      current = undefined;
    }
    if (current) {
      current.text += ` ${word.word}`;
      current.end = word.end;
    } else {
      current = { start: word.start, end: word.end, text: word.word };
    }
  }
  if (current) cues.push(current);
  return cues;
}

function timestamp(seconds, separator) {
  const ms = Math.round(seconds * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** SubRip subtitles of the words. */
export function toSrt(words) {
  return wordsToCues(words)
    .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${cue.text}\n`)
    .join('\n');
}

/** WebVTT subtitles of the words. */
export function toVtt(words) {
  const body = wordsToCues(words)
    .map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${cue.text}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}

/** Plain text, as the server's ?format=txt sends it. */
export function toTxt(transcript) {
  return `${transcript}\n`;
}

// ---- The page ----

const KEY_STORAGE = 'viet-stt.apiKey';
const LANG_STORAGE = 'viet-stt.lang';
const DOWNLOADS = {
  txt: { build: (_result, text) => toTxt(text), type: 'text/plain;charset=utf-8' },
  srt: { build: (r) => toSrt(r.words), type: 'application/x-subrip;charset=utf-8' },
  vtt: { build: (r) => toVtt(r.words), type: 'text/vtt;charset=utf-8' },
};

if (typeof document !== 'undefined' && document.getElementById('form')) startPage();

function startPage() {
  const $ = (id) => document.getElementById(id);
  const el = {
    form: $('form'), file: $('file'), drop: $('drop'), limits: $('limits'),
    record: $('record'), recordLabel: $('record-label'), recordTime: $('record-time'),
    chosen: $('chosen'), fileName: $('file-name'), fileSize: $('file-size'), player: $('player'),
    generate: $('generate'), cancel: $('cancel'),
    progressBox: $('progress-box'), progress: $('progress'), status: $('status'), queueInfo: $('queue-info'),
    error: $('error'), errorMessage: $('error-message'), errorDetail: $('error-detail'), errorCode: $('error-code'),
    keyBox: $('key-box'), key: $('api-key'),
    result: $('result'), resultMeta: $('result-meta'), transcript: $('transcript'), unsureLegend: $('unsure-legend'), showTimes: $('show-times'), writtenForm: $('written-form'),
    copy: $('copy'), serverInfo: $('server-info'),
  };

  const state = {
    lang: initialLanguage(),
    file: undefined,
    fileUrl: undefined,
    xhr: undefined,
    recorder: undefined,
    result: undefined,
    health: undefined,
    /** What the status line says, kept as a key so that a language switch can say it again. */
    status: undefined,
    error: undefined,
    queueTimer: undefined,
    downloadUrl: undefined,
  };

  // ---- language ----
  function initialLanguage() {
    const asked = new URLSearchParams(window.location.search).get('lang');
    if (asked === 'vi' || asked === 'en') return asked;
    const stored = safeStorage(() => localStorage.getItem(LANG_STORAGE));
    return stored === 'en' ? 'en' : 'vi';
  }

  function t(key, params = {}) {
    const text = LABELS[state.lang][key] ?? LABELS.vi[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ''));
  }

  /** A duration limit in the words people use: minutes from one minute on, seconds below. */
  function length(seconds) {
    return seconds >= 60 ? t('minutes', { n: number(seconds / 60) }) : t('seconds', { n: number(seconds) });
  }

  function number(value, digits = 1) {
    return new Intl.NumberFormat(state.lang === 'vi' ? 'vi-VN' : 'en-US', { maximumFractionDigits: digits }).format(value);
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t('title');
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of document.querySelectorAll('[data-i18n-aria-label]')) node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
    for (const button of document.querySelectorAll('[data-lang]')) button.setAttribute('aria-pressed', String(button.dataset.lang === state.lang));
    el.recordLabel.textContent = t(state.recorder ? 'stopRecording' : 'record');
    renderLimits();
    renderServerInfo();
    renderFile();
    renderStatus();
    renderError();
    renderMeta();
  }

  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () => {
      state.lang = button.dataset.lang;
      safeStorage(() => localStorage.setItem(LANG_STORAGE, state.lang));
      applyLanguage();
    });
  }

  // ---- status and errors ----
  function setStatus(key, params) {
    state.status = key ? { key, params } : undefined;
    renderStatus();
  }

  function renderStatus() {
    el.status.textContent = state.status ? t(state.status.key, state.status.params) : '';
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
    const known = ERROR_MESSAGES[error.code];
    const parts = [known ? known[state.lang] : error.serverMessage || t('httpStatus', { status: error.status ?? '?' })];
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
    const mb = limits.max_upload_mb ?? limits.maxUploadMb;
    const seconds = limits.max_duration_sec ?? limits.maxDurationSec;
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

  async function health() {
    try {
      const response = await fetch('healthz', { cache: 'no-store' });
      return response.ok ? await response.json() : undefined;
    } catch {
      return undefined;
    }
  }

  void health().then((body) => {
    if (!body) return;
    state.health = body;
    renderLimits();
    renderServerInfo();
  });

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
    if (!file || state.xhr) return;
    setFile(file);
    setStatus('fileReady', { name: file.name });
  });

  el.record.addEventListener('click', () => (state.recorder ? state.recorder.stop() : void startRecording()));

  async function startRecording() {
    clearError();
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
      showError('mic_unsupported');
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    } catch (error) {
      const name = error?.name;
      if (name === 'NotAllowedError' || name === 'SecurityError') showError('mic_denied');
      else if (name === 'NotFoundError' || name === 'OverconstrainedError') showError('mic_missing');
      else showError('mic_failed', { serverMessage: String(error?.message ?? error) });
      return;
    }
    const mimeType = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'].find((type) => MediaRecorder.isTypeSupported(type));
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType, audioBitsPerSecond: 64_000 } : undefined);
    const chunks = [];
    const started = Date.now();
    const limitSec = serverLimits()?.seconds ?? 300;
    const elapsed = () => (Date.now() - started) / 1000;
    const tick = () => {
      el.recordTime.textContent = clock(elapsed());
      if (elapsed() >= limitSec && recorder.state === 'recording') recorder.stop();
    };
    const timer = setInterval(tick, 250);
    recorder.addEventListener('dataavailable', (event) => {
      if (event.data.size > 0) chunks.push(event.data);
    });
    recorder.addEventListener('stop', () => {
      clearInterval(timer);
      for (const track of stream.getTracks()) track.stop();
      state.recorder = undefined;
      el.record.classList.remove('recording');
      el.record.setAttribute('aria-pressed', 'false');
      el.recordLabel.textContent = t('record');
      const type = (recorder.mimeType || mimeType || 'audio/webm').split(';')[0];
      const extension = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
      setFile(new File(chunks, `${t('recordingName')}-${stamp}.${extension}`, { type }));
      setStatus('recorded', { time: clock(elapsed()) });
    });
    recorder.addEventListener('error', (event) => showError('mic_failed', { serverMessage: String(event.error?.message ?? '') }));
    state.recorder = recorder;
    recorder.start(1000);
    el.record.classList.add('recording');
    el.record.setAttribute('aria-pressed', 'true');
    el.recordLabel.textContent = t('stopRecording');
    el.recordTime.hidden = false;
    tick();
    setStatus('recording');
  }

  /** A word's start as m:ss.s, fine enough to tell neighbouring words apart. */
  function wordTime(seconds) {
    const tenths = Math.round(seconds * 10);
    const minutes = Math.floor(tenths / 600);
    const rest = (tenths % 600) / 10;
    return `${minutes}:${rest.toFixed(1).padStart(4, '0')}`;
  }

  function clock(seconds) {
    const whole = Math.floor(seconds);
    return `${String(Math.floor(whole / 60)).padStart(2, '0')}:${String(whole % 60).padStart(2, '0')}`;
  }

  // ---- the API key ----
  el.key.value = safeStorage(() => sessionStorage.getItem(KEY_STORAGE)) ?? '';
  if (el.key.value) el.keyBox.open = true;
  el.key.addEventListener('input', () => {
    const key = el.key.value.trim();
    safeStorage(() => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)));
    if (state.error?.code === 'unauthorized') clearError();
  });

  // ---- transcribing ----
  el.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (state.xhr) return;
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
    upload(state.file);
  });

  el.cancel.addEventListener('click', () => state.xhr?.abort());

  function upload(file) {
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    el.result.hidden = true;
    setBusy(true);
    setProgress(0);
    setStatus('uploading', { percent: 0 });

    let lastPercent = 0;
    xhr.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((event.loaded / event.total) * 100);
      setProgress(percent);
      // The live region speaks at every tenth, not at every event.
      if (percent - lastPercent >= 10) {
        lastPercent = percent - (percent % 10);
        setStatus('uploading', { percent: lastPercent });
      }
    });
    xhr.upload.addEventListener('load', () => {
      setProgress(undefined);
      setStatus('processing');
      watchQueue();
    });
    xhr.addEventListener('load', () => finish(() => handleResponse(xhr, file)));
    xhr.addEventListener('error', () => finish(() => {
      setStatus(undefined);
      showError('network');
    }));
    xhr.addEventListener('abort', () => finish(() => setStatus('userCancelled')));

    xhr.open('POST', 'wav2vec2?format=json');
    const key = el.key.value.trim();
    if (key) xhr.setRequestHeader('Authorization', `Bearer ${key}`);
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  }

  function finish(then) {
    state.xhr = undefined;
    stopQueueWatch();
    setBusy(false);
    then();
  }

  function handleResponse(xhr, file) {
    let body;
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      body = undefined;
    }
    if (xhr.status === 200 && body?.status === 'success') {
      showResult({ ...body, name: file.name });
      return;
    }
    setStatus(undefined);
    const retryAfter = Number(xhr.getResponseHeader('Retry-After')) || undefined;
    if (body && typeof body.error === 'string') {
      showError(body.error, { serverMessage: typeof body.message === 'string' ? body.message : undefined, status: xhr.status, retryAfter });
    } else {
      showError('bad_response', { status: xhr.status, retryAfter });
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

  /** While the server works, says how busy its queue is (from /healthz), once a second. */
  function watchQueue() {
    const started = Date.now();
    el.queueInfo.hidden = false;
    const poll = async () => {
      const body = await health();
      if (!state.xhr) return;
      const seconds = Math.round((Date.now() - started) / 1000);
      el.queueInfo.textContent = body?.queue
        ? t('queue', { running: body.queue.running, waiting: body.queue.waiting, seconds })
        : t('waited', { seconds });
      state.queueTimer = setTimeout(poll, 1000);
    };
    state.queueTimer = setTimeout(poll, 300);
  }

  function stopQueueWatch() {
    clearTimeout(state.queueTimer);
    el.queueInfo.hidden = true;
    el.queueInfo.textContent = '';
  }

  // ---- the transcript ----
  function showResult(result) {
    state.result = result;
    renderTranscript();
    renderMeta();
    el.result.hidden = false;
    setStatus('done', { duration: number(result.duration ?? 0) });
    el.result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  /** The text people read by default: the written form (digits, dates, money) when the server sent one. */
  function shownText(result) {
    return el.writtenForm.checked && typeof result.written === 'string' ? result.written : (result.transcript ?? '');
  }

  function renderTranscript() {
    const result = state.result;
    if (!result) return;
    const words = Array.isArray(result.words) ? result.words : [];
    const fragment = document.createDocumentFragment();
    let unsure = 0;
    // The written form reads as plain text; the words as heard can be clicked to play from.
    const written = el.writtenForm.checked && typeof result.written === 'string' && result.written !== result.transcript;
    if (written) {
      const paragraph = document.createElement('p');
      paragraph.textContent = result.written;
      fragment.append(paragraph);
    } else if (words.length > 0 && words.map((w) => w.word).join(' ') === result.transcript) {
      // A new paragraph at each long pause; words the model was unsure of are marked.
      let paragraph = document.createElement('p');
      fragment.append(paragraph);
      words.forEach((word, i) => {
        if (i > 0 && word.start - words[i - 1].end >= PARAGRAPH_PAUSE_SEC) {
          paragraph = document.createElement('p');
          fragment.append(paragraph);
        } else if (i > 0) {
          paragraph.append(' ');
        }
        const span = document.createElement('span');
        span.className = 'word';
        span.textContent = word.word;
        span.dataset.index = String(i);
        span.dataset.time = wordTime(word.start);
        const confidence = typeof word.confidence === 'number' ? word.confidence : 1;
        span.title = `${word.start.toFixed(2)}–${word.end.toFixed(2)} s · ${Math.round(confidence * 100)}%`;
        if (confidence < LOW_CONFIDENCE) {
          span.classList.add('unsure');
          unsure++;
        }
        span.setAttribute('role', 'button');
        span.tabIndex = i === 0 ? 0 : -1;
        paragraph.append(span);
      });
    } else if (result.transcript) {
      fragment.append(result.transcript);
    } else {
      const empty = document.createElement('span');
      empty.className = 'muted';
      empty.dataset.i18n = 'noSpeech';
      empty.textContent = t('noSpeech');
      fragment.append(empty);
    }
    el.transcript.replaceChildren(fragment);
    el.unsureLegend.hidden = unsure === 0;
    el.transcript.classList.toggle('show-times', el.showTimes.checked);
  }

  function renderMeta() {
    const result = state.result;
    if (!result) return;
    el.resultMeta.textContent = t('meta', {
      duration: number(result.duration ?? 0, 2),
      processing: number((result.processing_ms ?? 0) / 1000, 2),
      device: result.device ?? '?',
    });
  }

  function wordSpan(node) {
    return node instanceof window.Element ? node.closest('.word') : null;
  }

  function playFrom(span) {
    const word = state.result?.words?.[Number(span.dataset.index)];
    if (!word || !state.fileUrl) return;
    el.player.currentTime = word.start;
    void el.player.play().catch(() => undefined);
  }

  function focusWord(span) {
    for (const other of el.transcript.querySelectorAll('.word[tabindex="0"]')) other.tabIndex = -1;
    span.tabIndex = 0;
    span.focus();
  }

  el.transcript.addEventListener('click', (event) => {
    const span = wordSpan(event.target);
    if (!span) return;
    focusWord(span);
    playFrom(span);
  });

  // One tab stop for the whole transcript; arrows move between words, Enter or Space plays.
  el.transcript.addEventListener('keydown', (event) => {
    const span = wordSpan(event.target);
    if (!span) return;
    const spans = el.transcript.querySelectorAll('.word');
    const index = Number(span.dataset.index);
    const moves = { ArrowRight: index + 1, ArrowDown: index + 1, ArrowLeft: index - 1, ArrowUp: index - 1, Home: 0, End: spans.length - 1 };
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      playFrom(span);
    } else if (event.key in moves) {
      event.preventDefault();
      const next = spans[Math.max(0, Math.min(spans.length - 1, moves[event.key]))];
      if (next) focusWord(next);
    }
  });

  // The word being played is highlighted.
  let currentSpan;
  el.player.addEventListener('timeupdate', () => {
    const words = state.result?.words;
    if (!words?.length || el.result.hidden) return;
    const time = el.player.currentTime;
    let low = 0;
    let high = words.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (words[mid].start <= time) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const span = found >= 0 && time <= words[found].end + 0.3 ? el.transcript.querySelector(`.word[data-index="${found}"]`) : null;
    if (span === currentSpan) return;
    currentSpan?.classList.remove('current');
    span?.classList.add('current');
    currentSpan = span ?? undefined;
  });

  el.showTimes.addEventListener('change', () => el.transcript.classList.toggle('show-times', el.showTimes.checked));
  el.writtenForm.addEventListener('change', renderTranscript);

  el.copy.addEventListener('click', async () => {
    const text = state.result ? shownText(state.result) : '';
    try {
      await navigator.clipboard.writeText(text);
      setStatus('copied');
    } catch {
      const range = document.createRange();
      range.selectNodeContents(el.transcript);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (document.execCommand('copy')) setStatus('copied');
      else showError('copy_failed');
    }
  });

  for (const button of document.querySelectorAll('[data-format]')) {
    button.addEventListener('click', () => {
      if (!state.result) return;
      const format = DOWNLOADS[button.dataset.format];
      const base = state.result.name.replace(/\.[^.]+$/, '') || 'transcript';
      const name = `${base}.${button.dataset.format}`;
      if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
      state.downloadUrl = URL.createObjectURL(new Blob([format.build(state.result, shownText(state.result))], { type: format.type }));
      const link = document.createElement('a');
      link.href = state.downloadUrl;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setStatus('downloaded', { name });
    });
  }

  applyLanguage();
}

/** Storage can throw (disabled cookies, private modes); the page then works without remembering. */
function safeStorage(action) {
  try {
    return action();
  } catch {
    return undefined;
  }
}
