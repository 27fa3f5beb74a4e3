import type { TranscriberStatus } from '../../src/core/types.js';

/**
 * Every fixed text the Telegram bot sends, in Vietnamese with a short English gloss, so tests
 * can assert exact replies and the wording lives in one place.
 */

/** The Bot API's own download limit: getFile refuses files over 20 MB on the public server. */
export const BOT_API_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024;

/** Past this many messages, a transcript also comes as a .txt document. */
export const DOCUMENT_AFTER_PARTS = 3;

/** The refusal for a chat outside `TELEGRAM_ALLOWED_CHAT_IDS`. */
export const NOT_ALLOWED_REPLY =
  '🔒 Xin lỗi, bot này chỉ phục vụ một số cuộc trò chuyện được cho phép. (Sorry, this bot only serves the chats it is set up for.)';

/**
 * The reply when getFile answers "file is too big": the public Bot API serves files up to
 * 20 MB; a local Bot API server (TELEGRAM_API_ROOT) lifts that limit.
 */
export const FILE_TOO_BIG_REPLY =
  '⚠️ Tệp quá lớn: Telegram chỉ cho bot tải tệp đến 20 MB. (File too big: the Telegram Bot API serves files up to 20 MB; ' +
  'the bot operator can lift this by running a local Bot API server and pointing TELEGRAM_API_ROOT at it.)';

/** The hint for `/transcribe` that does not reply to a voice note or audio. */
export const TRANSCRIBE_USAGE_REPLY =
  '↩️ Hãy trả lời (reply) một tin nhắn thoại bằng /transcribe. (Send /transcribe as a reply to a voice note.)';

/** The hint for a private message with no audio in it. */
export const SEND_AUDIO_REPLY =
  '🎙️ Hãy gửi một tin nhắn thoại hoặc tệp âm thanh để chép lời. (Send a voice note or an audio file to transcribe it.) /help';

/** The commands registered with setMyCommands. */
export const BOT_COMMANDS = [
  { command: 'help', description: 'Cách dùng và giới hạn (how to use, limits)' },
  { command: 'status', description: 'Hàng đợi và thiết bị (queue and device)' },
  { command: 'transcribe', description: 'Trả lời một tin nhắn thoại để chép lời (reply to a voice note)' },
] as const;

/** What /start and /help answer: what the bot does, how groups work, and the limits. */
export function helpReply(options: { maxDurationSec: number; maxFileMb: number; groupMode: 'auto' | 'on-demand' }): string {
  const group =
    options.groupMode === 'auto'
      ? '• Trong nhóm: bot tự chép lời mọi tin nhắn thoại. (In groups: every voice note is transcribed.)'
      : '• Trong nhóm: trả lời một tin nhắn thoại bằng /transcribe. (In groups: reply /transcribe to a voice note.)';
  return [
    '🎙️ Bot chép lời tiếng Việt. (Vietnamese speech-to-text.)',
    '• Gửi tin nhắn thoại, video tròn, tệp âm thanh: bot trả lời bằng văn bản. (Send a voice note, video note or audio file; the bot replies with its text.)',
    group,
    `• Giới hạn: ${formatNumber(options.maxDurationSec)} giây, ${formatNumber(options.maxFileMb)} MB mỗi tệp. (Limits: ${formatNumber(options.maxDurationSec)} s and ${formatNumber(options.maxFileMb)} MB per file.)`,
    '• /status: hàng đợi và thiết bị. (queue and device)',
  ].join('\n');
}

/** What /status answers: queue depth and the device the model runs on. */
export function statusReply(status: TranscriberStatus): string {
  return [
    '📊 Trạng thái (status)',
    `Hàng đợi (queue): ${status.queued} đang chờ (waiting), ${status.running} đang chạy (running), tối đa (max) ${status.maxPending}`,
    `Thiết bị (device): ${status.device}`,
    `Mô hình (model): ${status.model}`,
  ].join('\n');
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
