// The page's words: every label and error sentence in Vietnamese and English, the language
// chosen (remembered in the browser), and numbers and durations as each language writes them.
import { remembered, remember } from './storage.js';

/** @typedef {'vi' | 'en'} Language */
/** What fills a label's `{name}` places. @typedef {Record<string, string | number>} LabelParams */

/**
 * A sentence in Vietnamese and English for every error code of the API (ERROR_CATALOGUE in
 * src/core/errors.ts) and for the page's own
 * failures. `detail: true` shows the server's own message under ours, for codes where the server
 * says something specific (which format was unknown, which route was missing).
 * @type {Partial<Record<string, Record<Language, string> & { detail?: true }>>}
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
  bad_hotwords: {
    vi: 'Danh sách từ gợi ý quá nhiều hoặc quá dài: hãy đưa vài từ hoặc cụm từ ngắn, cách nhau bằng dấu phẩy.',
    en: 'The hotwords are too many or too long: give a few words or short phrases, separated by commas.',
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
  range_not_satisfiable: {
    vi: 'Phần tệp được yêu cầu nằm ngoài tệp. Hãy tải lại trang.',
    en: 'The requested part of the file is outside it. Reload the page.',
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
  no_worker: {
    vi: 'Máy chủ chưa có bộ xử lý nào đang chạy để nhận việc chép lời. Hãy thử lại sau ít phút.',
    en: 'No transcription worker is running to take the job. Try again shortly.',
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

/**
 * Every label of the page. The HTML carries the Vietnamese ones, so the page reads right before this runs.
 * @type {Record<Language, Partial<Record<string, string>>>}
 */
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
    processing: 'Đã tải lên. Đang xếp hàng…',
    next: 'Đang chờ: bạn là người tiếp theo.',
    aheadOne: 'Đang chờ: còn 1 bản chép lời trước bạn.',
    aheadMany: 'Đang chờ: còn {n} bản chép lời trước bạn.',
    running: 'Đang chép lời…',
    windows: 'Xong {done}/{total} đoạn',
    windowsLeft: 'Xong {done}/{total} đoạn · còn khoảng {left}',
    minutesSeconds: '{m} phút {s} giây',
    cancelling: 'Đang hủy…',
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
    processing: 'Uploaded. Joining the queue…',
    next: 'Waiting: you are next.',
    aheadOne: 'Waiting: 1 transcription ahead of you.',
    aheadMany: 'Waiting: {n} transcriptions ahead of you.',
    running: 'Transcribing…',
    windows: '{done} of {total} windows done',
    windowsLeft: '{done} of {total} windows done · about {left} left',
    minutesSeconds: '{m} min {s} s',
    cancelling: 'Cancelling…',
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

const LANG_STORAGE = 'viet-stt.lang';

let current = initialLanguage();
/** @type {((lang: Language) => void)[]} */
const listeners = [];

/** @returns {Language} */
function initialLanguage() {
  const asked = new URLSearchParams(window.location.search).get('lang');
  if (asked === 'vi' || asked === 'en') return asked;
  return remembered('localStorage', LANG_STORAGE) === 'en' ? 'en' : 'vi';
}

/**
 * The page's language.
 * @returns {Language}
 */
export function language() {
  return current;
}

/**
 * Switches the page to `lang` (Vietnamese for anything but `en`), remembers it, and tells every listener.
 * @param {string | undefined} lang
 */
export function setLanguage(lang) {
  current = lang === 'en' ? 'en' : 'vi';
  remember('localStorage', LANG_STORAGE, current);
  translatePage();
  for (const listener of listeners) listener(current);
}

/**
 * Calls `listener` after each language switch (what the page says in words it builds itself).
 * @param {(lang: Language) => void} listener
 */
export function onLanguageChange(listener) {
  listeners.push(listener);
}

/**
 * The label `key` in the page's language, with `{name}` filled from `params`; an unknown key is said as it is.
 * @param {string} key
 * @param {LabelParams} [params]
 * @returns {string}
 */
export function t(key, params = {}) {
  const text = LABELS[current][key] ?? LABELS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, /** @type {string} */ name) => String(params[name] ?? ''));
}

/**
 * The sentence for an error code, or undefined for a code the page does not know.
 * @param {string} code
 * @returns {{ text: string, detail: boolean } | undefined}
 */
export function errorSentence(code) {
  const known = ERROR_MESSAGES[code];
  return known && { text: known[current], detail: known.detail === true };
}

/**
 * A number as the page's language writes it, with at most `digits` decimals.
 * @param {number} value
 * @param {number} [digits]
 * @returns {string}
 */
export function number(value, digits = 1) {
  return new Intl.NumberFormat(current === 'vi' ? 'vi-VN' : 'en-US', { maximumFractionDigits: digits }).format(value);
}

/**
 * A duration limit in the words people use: minutes from one minute on, seconds below.
 * @param {number} seconds
 * @returns {string}
 */
export function length(seconds) {
  return seconds >= 60 ? t('minutes', { n: number(seconds / 60) }) : t('seconds', { n: number(seconds) });
}

/**
 * Time still to wait, in whole seconds, or minutes and seconds from a minute on.
 * @param {number} seconds
 * @returns {string}
 */
export function timeLeft(seconds) {
  const whole = Math.max(1, Math.round(seconds));
  if (whole < 60) return t('seconds', { n: whole });
  return t('minutesSeconds', { m: Math.floor(whole / 60), s: whole % 60 });
}

/** Writes the labels into the page's `data-i18n*` elements and its language attributes. */
export function translatePage() {
  document.documentElement.lang = current;
  document.title = t('title');
  for (const node of htmlElements('[data-i18n]')) node.textContent = t(node.dataset.i18n ?? '');
  for (const node of htmlElements('[data-i18n-placeholder]')) {
    if (node instanceof HTMLInputElement) node.placeholder = t(node.dataset.i18nPlaceholder ?? '');
  }
  for (const node of htmlElements('[data-i18n-aria-label]')) node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel ?? ''));
  for (const button of htmlElements('[data-lang]')) button.setAttribute('aria-pressed', String(button.dataset.lang === current));
}

/**
 * The page's HTML elements that match `selector`.
 * @param {string} selector
 * @returns {HTMLElement[]}
 */
function htmlElements(selector) {
  return Array.from(document.querySelectorAll(selector)).filter((node) => node instanceof HTMLElement);
}
