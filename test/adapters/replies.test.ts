import { describe, expect, it } from 'vitest';
import { errorReply, progressReply, queuedReply, text, tooLargeReply } from '../../adapters/replies.js';
import { SttError, fileTooLarge } from '../../src/core/errors.js';

const LIMITS = { maxUploadMb: 2.5, maxDurationSec: 300 };

describe('bot replies', () => {
  it.each([
    ['vi', '🔇 Không nghe thấy lời nói nào trong tin nhắn này.'],
    ['en', '🔇 No speech found.'],
    ['both', '🔇 Không nghe thấy lời nói nào trong tin nhắn này. (No speech found.)'],
  ] as const)('speaks %s', (language, expected) => {
    expect(text('noSpeech', language)).toBe(expected);
  });

  it('builds the limits into one sentence, however the error was found', () => {
    expect(tooLargeReply(2.5, 'both')).toBe('⚠️ Tệp lớn hơn giới hạn 2.5 MB. (The file is larger than the 2.5 MB limit.)');
    // Declared by the platform, or passed while streaming: the same reply, with the configured limit.
    expect(errorReply(fileTooLarge(2.5), 'en', LIMITS)).toBe('⚠️ The file is larger than the 2.5 MB limit.');
    expect(errorReply(new SttError('payload_too_large', 'The file is larger than the 99 MB limit.'), 'en', LIMITS)).toBe('⚠️ The file is larger than the 2.5 MB limit.');
    expect(errorReply(new SttError('audio_too_long'), 'vi', LIMITS)).toBe('⚠️ Âm thanh dài hơn giới hạn 300 giây.');
  });

  it('answers anything unexpected with the one retry sentence, never the error\'s own words', () => {
    const leaky = new Error('ENOENT: /srv/bot7712345678:AAGx/voice/file_1.oga');
    expect(errorReply(leaky, 'en', LIMITS)).toBe('⚠️ Transcription failed, please retry.');
    expect(errorReply(new SttError('queue_full'), 'vi', LIMITS)).toBe('⏳ Máy chủ đang bận, vui lòng gửi lại sau ít phút.');
    expect(queuedReply(3, 'en')).toBe('⏳ 3 ahead of you');
  });

  it('keeps a progress edit under the message limit, showing the newest words', () => {
    const words = Array.from({ length: 2000 }, (_, i) => `từ${i}`).join(' ');
    const shown = progressReply(words, 7, 9, 4096);
    expect(shown.length).toBeLessThanOrEqual(4096);
    expect(shown.startsWith('✍️ …')).toBe(true);
    expect(shown.endsWith('từ1999 … (7/9)')).toBe(true);
    expect(progressReply('xin chào', 1, 3, 4096)).toBe('✍️ xin chào … (1/3)');
  });
});
