import { toSttError, type ErrorCode } from '../src/core/errors.js';
import type { TranscriberStatus } from '../src/core/types.js';

/**
 * Every text the bots send, in Vietnamese and in English, in one table: a chat picks `vi`, `en`
 * or `both` (Vietnamese with the English in brackets, as the bots spoke before chats could
 * choose). Texts with values in them (the limits, a count) are built here and nowhere else, so
 * tests assert exact replies and the wording lives in one place.
 */

/** What a chat reads its replies in. */
export type ReplyLanguage = 'vi' | 'en' | 'both';

/** The limits some replies quote. */
export interface ReplyLimits {
  maxDurationSec: number;
  maxUploadMb: number;
}

/** One reply in both languages, with the sign it starts with. */
interface Bilingual {
  icon: string;
  vi: string;
  en: string;
}

/** One text in the chat's language; `both` keeps the Vietnamese first and glosses it. */
export function say(text: Bilingual, language: ReplyLanguage): string {
  const icon = text.icon ? `${text.icon} ` : '';
  if (language === 'vi') return icon + text.vi;
  if (language === 'en') return icon + text.en;
  return `${icon}${text.vi} (${text.en})`;
}

/** Several lines, each in the chat's language. */
function lines(texts: readonly Bilingual[], language: ReplyLanguage): string {
  return texts.map((t) => say(t, language)).join('\n');
}

/** A number as people read it in a reply: whole, or with one decimal. */
export function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** The fixed texts, by name. */
export const TEXTS = {
  noSpeech: { icon: '🔇', vi: 'Không nghe thấy lời nói nào trong tin nhắn này.', en: 'No speech found.' },
  rateLimited: { icon: '🐢', vi: 'Bạn gửi hơi nhanh, vui lòng đợi một chút.', en: 'Too many messages, wait a moment.' },
  busy: { icon: '⏳', vi: 'Máy chủ đang bận, vui lòng gửi lại sau ít phút.', en: 'Busy, try again shortly.' },
  restarting: { icon: '⏳', vi: 'Máy chủ đang khởi động lại, vui lòng gửi lại sau.', en: 'Restarting, try again shortly.' },
  tooShort: { icon: '⚠️', vi: 'Tin nhắn quá ngắn để nhận dạng.', en: 'Too short to transcribe.' },
  invalidAudio: { icon: '⚠️', vi: 'Không đọc được tệp âm thanh này.', en: 'Could not decode this audio.' },
  notAudio: { icon: '⚠️', vi: 'Tệp này không có âm thanh.', en: 'This file has no audio.' },
  noAudio: { icon: '⚠️', vi: 'Không có âm thanh để nhận dạng.', en: 'No audio to transcribe.' },
  failed: { icon: '⚠️', vi: 'Có lỗi khi nhận dạng, vui lòng thử lại.', en: 'Transcription failed, please retry.' },
  notAllowed: {
    icon: '🔒',
    vi: 'Xin lỗi, bot này chỉ phục vụ một số cuộc trò chuyện được cho phép.',
    en: 'Sorry, this bot only serves the chats it is set up for.',
  },
  fileTooBig: {
    icon: '⚠️',
    vi: 'Tệp quá lớn: Telegram chỉ cho bot tải tệp đến 20 MB.',
    en: 'File too big: the Telegram Bot API serves files up to 20 MB; the bot operator can lift this by running a local Bot API server and pointing TELEGRAM_API_ROOT at it.',
  },
  transcribeUsage: { icon: '↩️', vi: 'Hãy trả lời (reply) một tin nhắn thoại bằng /transcribe.', en: 'Send /transcribe as a reply to a voice note.' },
  sendAudio: { icon: '🎙️', vi: 'Hãy gửi một tin nhắn thoại hoặc tệp âm thanh để chép lời.', en: 'Send a voice note or an audio file to transcribe it.' },
  settingsTitle: { icon: '⚙️', vi: 'Cài đặt của cuộc trò chuyện này: bấm một nút để đổi.', en: 'This chat\'s settings: press a button to change one.' },
  adminsOnly: { icon: '🔒', vi: 'Chỉ quản trị viên mới đổi được.', en: 'Only administrators can change this.' },
  settingsExpired: { icon: '⌛', vi: 'Nút này đã cũ, hãy gửi lại lệnh.', en: 'This button is out of date: send the command again.' },
  forgotten: { icon: '🗑️', vi: 'Đã xoá cài đặt và lịch sử của cuộc trò chuyện này.', en: 'This chat\'s settings and history are deleted.' },
  searchUsage: { icon: '🔎', vi: 'Hãy viết từ cần tìm sau lệnh, ví dụ: /search họp chín giờ', en: 'Put the words to look for after the command, e.g. /search meeting' },
  searchNothing: { icon: '🔎', vi: 'Không tìm thấy tin nhắn thoại nào có những từ này.', en: 'No voice message with these words.' },
  searchHistoryOff: { icon: '🔎', vi: 'Lịch sử đang tắt: bật nó trong cài đặt để tìm lại lời đã nói.', en: 'History is off: turn it on in the settings to find what was said.' },
  searchMore: { icon: '⬇️', vi: 'Thêm kết quả', en: 'More results' },
  hotwordsCleared: { icon: '🗑️', vi: 'Đã xoá từ khoá của cuộc trò chuyện này.', en: 'This chat\'s hotwords are removed.' },
} as const satisfies Record<string, Bilingual>;

/** The name of a fixed text. */
export type TextName = keyof typeof TEXTS;

/** A fixed text in the chat's language. */
export function text(name: TextName, language: ReplyLanguage): string {
  return say(TEXTS[name], language);
}

/** The placeholder shown while a job waits behind others. */
export function queuedReply(ahead: number, language: ReplyLanguage = 'both'): string {
  return say({ icon: '⏳', vi: `Đang chờ, ${ahead} tin nhắn trước bạn…`, en: `${ahead} ahead of you` }, language);
}

/** The refusal of a file over MAX_UPLOAD_MB, however it was found out (declared, or while it streamed). */
export function tooLargeReply(maxMb: number, language: ReplyLanguage): string {
  const mb = formatNumber(maxMb);
  return say({ icon: '⚠️', vi: `Tệp lớn hơn giới hạn ${mb} MB.`, en: `The file is larger than the ${mb} MB limit.` }, language);
}

/** The refusal of audio over MAX_DURATION_SEC. */
export function tooLongReply(maxSec: number, language: ReplyLanguage): string {
  const sec = formatNumber(maxSec);
  return say({ icon: '⚠️', vi: `Âm thanh dài hơn giới hạn ${sec} giây.`, en: `The audio is longer than the ${sec} s limit.` }, language);
}

const ERROR_TEXTS: Partial<Record<ErrorCode, TextName>> = {
  queue_full: 'busy',
  shutting_down: 'restarting',
  audio_too_short: 'tooShort',
  invalid_audio: 'invalidAudio',
  unsupported_media_type: 'notAudio',
  no_audio: 'noAudio',
};

/** A short reply for any error; nothing in it comes from a path, token or stack. */
export function errorReply(error: unknown, language: ReplyLanguage, limits: ReplyLimits): string {
  const stt = toSttError(error);
  if (stt.code === 'payload_too_large') return tooLargeReply(limits.maxUploadMb, language);
  if (stt.code === 'audio_too_long') return tooLongReply(limits.maxDurationSec, language);
  return text(ERROR_TEXTS[stt.code] ?? 'failed', language);
}

/** What a progress edit shows: the words so far, and how far along the note is. */
export function progressReply(written: string, windowsDone: number, windows: number, limit: number): string {
  const suffix = ` … (${windowsDone}/${windows})`;
  const head = '✍️ ';
  const room = limit - head.length - suffix.length;
  // The start of a long note scrolls away: what was said last is what the reader follows.
  const shown = written.length > room ? `…${written.slice(written.length - room + 1)}` : written;
  return head + shown + suffix;
}

/** What /start and /help answer: what the bot does, how groups work, and the limits. */
export function helpReply(options: { maxDurationSec: number; maxFileMb: number; groupMode: 'auto' | 'on-demand' }, language: ReplyLanguage = 'both'): string {
  const sec = formatNumber(options.maxDurationSec);
  const mb = formatNumber(options.maxFileMb);
  const group: Bilingual =
    options.groupMode === 'auto'
      ? { icon: '•', vi: 'Trong nhóm: bot tự chép lời mọi tin nhắn thoại.', en: 'In groups: every voice note is transcribed.' }
      : { icon: '•', vi: 'Trong nhóm: trả lời một tin nhắn thoại bằng /transcribe.', en: 'In groups: reply /transcribe to a voice note.' };
  return lines(
    [
      { icon: '🎙️', vi: 'Bot chép lời tiếng Việt.', en: 'Vietnamese speech-to-text.' },
      {
        icon: '•',
        vi: 'Gửi tin nhắn thoại, video tròn, tệp âm thanh: bot trả lời bằng văn bản.',
        en: 'Send a voice note, video note or audio file; the bot replies with its text.',
      },
      group,
      { icon: '•', vi: `Giới hạn: ${sec} giây, ${mb} MB mỗi tệp.`, en: `Limits: ${sec} s and ${mb} MB per file.` },
      { icon: '•', vi: '/status: hàng đợi và thiết bị. /settings: cài đặt.', en: '/status: queue and device. /settings: settings.' },
    ],
    language,
  );
}

/** What /status answers: queue depth and the device the model runs on. */
export function statusReply(status: TranscriberStatus, language: ReplyLanguage = 'both'): string {
  const queue: Bilingual = {
    icon: '',
    vi: `Hàng đợi: ${status.waiting} đang chờ, ${status.running} đang chạy, tối đa ${status.maxPending}`,
    en: `queue: ${status.waiting} waiting, ${status.running} running, max ${status.maxPending}`,
  };
  return [
    say({ icon: '📊', vi: 'Trạng thái', en: 'status' }, language),
    say(queue, language),
    say({ icon: '', vi: `Thiết bị: ${status.device}`, en: `device: ${status.device}` }, language),
    say({ icon: '', vi: `Mô hình: ${status.model}`, en: `model: ${status.model}` }, language),
  ].join('\n');
}

/** A chat setting, by the name people see. */
export type SettingName = 'language' | 'auto' | 'timestamps' | 'textStyle' | 'history';

/** A chat's settings as they apply, defaults filled in. */
export interface EffectiveSettings {
  language: ReplyLanguage;
  auto: boolean;
  timestamps: boolean;
  textStyle: 'written' | 'raw';
  history: boolean;
  /** The chat's own hotwords, decoded for on top of HOTWORDS; absent: none of its own. */
  hotwords?: readonly string[];
}

const ON_OFF = (on: boolean): Bilingual => (on ? { icon: '', vi: 'bật', en: 'on' } : { icon: '', vi: 'tắt', en: 'off' });

const LANGUAGE_NAMES: Record<ReplyLanguage, Bilingual> = {
  vi: { icon: '', vi: 'tiếng Việt', en: 'Vietnamese' },
  en: { icon: '', vi: 'tiếng Anh', en: 'English' },
  both: { icon: '', vi: 'cả hai', en: 'both' },
};

/** What a setting is called and what it is set to, in the chat's language: a button's label. */
export function settingLabel(name: SettingName, settings: EffectiveSettings, language: ReplyLanguage): string {
  const label: Record<SettingName, [Bilingual, Bilingual]> = {
    language: [{ icon: '🌐', vi: 'Ngôn ngữ', en: 'Language' }, LANGUAGE_NAMES[settings.language]],
    auto: [{ icon: '🤖', vi: 'Tự chép lời', en: 'Auto-transcribe' }, ON_OFF(settings.auto)],
    timestamps: [{ icon: '⏱️', vi: 'Mốc thời gian', en: 'Timestamps' }, ON_OFF(settings.timestamps)],
    textStyle: [
      { icon: '✏️', vi: 'Kiểu chữ', en: 'Text' },
      settings.textStyle === 'written' ? { icon: '', vi: 'chữ viết', en: 'written' } : { icon: '', vi: 'như nghe', en: 'as heard' },
    ],
    history: [{ icon: '🗂️', vi: 'Lịch sử', en: 'History' }, ON_OFF(settings.history)],
  };
  const [what, is] = label[name];
  return say({ icon: what.icon, vi: `${what.vi}: ${is.vi}`, en: `${what.en}: ${is.en}` }, language);
}

/** The answer to a changed setting (Discord): what it is now. */
export function settingChanged(name: SettingName, settings: EffectiveSettings, language: ReplyLanguage): string {
  return `✅ ${settingLabel(name, settings, language)}`;
}

/** What /history answers: whether transcripts are kept, how many, and for how long. */
export function historyReply(options: { on: boolean; count: number; days: number; oldest?: Date }, language: ReplyLanguage): string {
  const state: Bilingual = options.on
    ? { icon: '🗂️', vi: `Lịch sử đang bật: mỗi bản chép lời được giữ ${options.days} ngày.`, en: `History is on: each transcript is kept for ${options.days} days.` }
    : { icon: '🗂️', vi: 'Lịch sử đang tắt: không lưu bản chép lời nào mới.', en: 'History is off: no new transcript is kept.' };
  const until = options.oldest ? isoDay(new Date(options.oldest.getTime() + options.days * 86_400_000)) : undefined;
  const kept: Bilingual =
    options.count === 0
      ? { icon: '', vi: 'Đang lưu: 0 bản.', en: 'Kept now: none.' }
      : { icon: '', vi: `Đang lưu: ${options.count} bản; bản cũ nhất được giữ đến ${until}.`, en: `Kept now: ${options.count}; the oldest until ${until}.` };
  return [say(state, language), say(kept, language), say({ icon: '', vi: '/forget xoá tất cả.', en: '/forget deletes it all.' }, language)].join('\n');
}

/** One search result: who, when, and the matching words. */
export function searchHitReply(hit: { author: string; createdAt: Date; snippet: string }): string {
  return `🔎 ${hit.author} · ${isoMinute(hit.createdAt)}\n${hit.snippet}`;
}

/** A date as YYYY-MM-DD (UTC). */
function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** A time as YYYY-MM-DD HH:MM UTC. */
function isoMinute(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * A list of hotwords after `head`, within `limit` characters: as many as fit, then how many more
 * (a hundred long phrases pass both platforms' message limits).
 */
function withHotwords(head: string, hotwords: readonly string[], limit: number): string {
  const all = `${head}: ${hotwords.join(', ')}`;
  if (all.length <= limit) return all;
  let shown = `${head}:`;
  for (const [i, hotword] of hotwords.entries()) {
    const more = ` … (+${hotwords.length - i - 1})`;
    const next = `${shown}${i === 0 ? ' ' : ', '}${hotword}`;
    if (next.length + more.length > limit) return `${shown} … (+${hotwords.length - i})`;
    shown = next;
  }
  return shown;
}

/**
 * What a chat's hotwords command answers with no list: the chat's own hotwords, or that it has
 * none and how to set them (`usage`, the platform's command with an example); within `limit`
 * characters, the platform's message limit.
 */
export function hotwordsReply(hotwords: readonly string[], usage: string, language: ReplyLanguage, limit: number): string {
  if (hotwords.length === 0) return `${say({ icon: '🏷️', vi: 'Chưa có từ khoá riêng, đặt chúng bằng', en: 'No hotwords yet, set them with' }, language)}: ${usage}`;
  return withHotwords(say({ icon: '🏷️', vi: 'Từ khoá của cuộc trò chuyện này', en: 'This chat\'s hotwords' }, language), hotwords, limit);
}

/** The answer to a new list of hotwords: how many, and the list as kept, within `limit` characters. */
export function hotwordsSaved(hotwords: readonly string[], language: ReplyLanguage, limit: number): string {
  const count = hotwords.length;
  return withHotwords(say({ icon: '✅', vi: `Đã lưu ${count} từ khoá`, en: `${count} ${count === 1 ? 'hotword' : 'hotwords'} saved` }, language), hotwords, limit);
}

/** The refusal of more hotwords than one chat may keep. */
export function tooManyHotwordsReply(count: number, max: number, language: ReplyLanguage): string {
  return say({ icon: '⚠️', vi: `Tối đa ${max} từ khoá (đã gửi ${count}).`, en: `At most ${max} hotwords (${count} given).` }, language);
}

/** The refusal of a hotword over the length limit, quoting its start. */
export function hotwordTooLongReply(start: string, max: number, language: ReplyLanguage): string {
  return say({ icon: '⚠️', vi: `Mỗi từ khoá tối đa ${max} ký tự: "${start}…" dài hơn.`, en: `Each hotword has at most ${max} characters: "${start}…" is longer.` }, language);
}
