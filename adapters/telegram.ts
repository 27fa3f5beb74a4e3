/**
 * The Telegram adapter: voice notes in, transcripts out. main.ts builds it with
 * `createTelegramBot`, mounts the webhook route with `mountTelegramWebhook` (before `listen`),
 * then calls `start()`, and `stop()` before closing the core.
 */
export { createTelegramBot, type TelegramBot, type TelegramBotOptions } from './telegram/bot.js';
export { mountTelegramWebhook, TELEGRAM_WEBHOOK_PATH, WEBHOOK_SECRET_HEADER, webhookSecretFor, webhookUrlFor } from './telegram/webhook.js';
export { DEFAULT_RETRY, type RetryOptions } from './telegram/retry.js';
export { audioOf, type AudioRef, type AudioKind } from './telegram/media.js';
export { BOT_COMMANDS, DOCUMENT_AFTER_PARTS, KEEPER_MENU } from './telegram/replies.js';
