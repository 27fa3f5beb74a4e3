/**
 * What only the Telegram bot needs beside the shared reply table (../replies.ts): the Bot API's
 * own limits and the command menus.
 */

/** The Bot API's own download limit: getFile refuses files over 20 MB on the public server. */
export const BOT_API_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024;

/** Past this many messages, a transcript also comes as a .txt document. */
export const DOCUMENT_AFTER_PARTS = 3;

/** The commands everyone sees, registered with setMyCommands in the default scope. */
export const BOT_COMMANDS = [
  { command: 'help', description: 'Cách dùng và giới hạn (how to use, limits)' },
  { command: 'status', description: 'Hàng đợi và thiết bị (queue and device)' },
  { command: 'transcribe', description: 'Trả lời một tin nhắn thoại để chép lời (reply to a voice note)' },
  { command: 'search', description: 'Tìm lại lời đã nói (search what was said)' },
  { command: 'history', description: 'Lịch sử được lưu thế nào (what is kept)' },
] as const;

/** The commands that change or delete what a chat keeps. */
const KEEPER_COMMANDS = [
  { command: 'settings', description: 'Cài đặt: ngôn ngữ, tự chép lời, lịch sử (settings)' },
  { command: 'hotwords', description: 'Tên riêng và thuật ngữ của nhóm (names and terms to expect)' },
  { command: 'forget', description: 'Xoá cài đặt và lịch sử (delete settings and history)' },
] as const;

/** What those in charge of a chat see: private chats' users, and group administrators. */
export const KEEPER_MENU = [...BOT_COMMANDS, ...KEEPER_COMMANDS] as const;
