import type { FastifyReply } from 'fastify';
import { toSrt, toVtt } from '../core/subtitles.js';
import type { Transcript } from '../core/types.js';
import { toWritten } from '../text/written.js';

/** The answers a transcription route can give besides its own JSON. */
export type TranscriptFormat = 'json' | 'verbose_json' | 'text' | 'txt' | 'srt' | 'vtt';

/**
 * Sends a transcript as subtitles or plain text, `text` rewriting its words (to the written
 * form, say; word timings stay on the words as spoken), or as the route's own JSON.
 */
export function sendTranscript(
  reply: FastifyReply,
  transcript: Transcript,
  format: TranscriptFormat,
  text: (spoken: string) => string,
  json: (t: Transcript) => unknown,
): FastifyReply {
  switch (format) {
    case 'srt':
      return reply.type('application/x-subrip; charset=utf-8').send(toSrt(transcript.words, text));
    case 'vtt':
      return reply.type('text/vtt; charset=utf-8').send(toVtt(transcript.words, text));
    case 'txt':
    case 'text':
      return reply.type('text/plain; charset=utf-8').send(`${text(transcript.text)}\n`);
    default:
      return reply.send(json(transcript));
  }
}

/**
 * The body of a `/wav2vec2` success, which an async job's `result` repeats word for word, so a
 * client moving to POST /jobs reads the same fields. `label` is the upload's name or the path.
 */
export function wav2vec2Body(transcript: Transcript, label: string): Record<string, unknown> {
  return {
    status: 'success',
    // The replaced service's field, as the model heard it; `written` is for people to read.
    transcript: transcript.text,
    written: toWritten(transcript.text),
    path: label,
    duration: transcript.duration,
    processing_ms: transcript.processingMs,
    device: transcript.device,
    words: transcript.words,
  };
}
