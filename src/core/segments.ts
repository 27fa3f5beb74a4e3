import { deflateSync } from 'node:zlib';
import { FRAME_SECONDS, type CtcVocabulary, type FramePredictions } from './ctc.js';
import { groupWords } from './subtitles.js';
import type { Segment, Word } from './types.js';

/**
 * The transcript's segments, in the shape OpenAI's `verbose_json` gives them, filled from what
 * greedy CTC knows. Words are grouped as subtitles are ({@link groupWords}: at pauses and
 * before a cue grows too long), and each segment's numbers come from the frames it spans:
 *
 * - `tokens`: the vocabulary ids the model emitted there, repeats collapsed and blanks dropped
 *   (word delimiters kept);
 * - `avg_logprob`: the mean natural log of the winning token's probability over those frames;
 * - `no_speech_prob`: the share of those frames in which the blank won (the model heard no
 *   character there);
 * - `compression_ratio`: the text's UTF-8 length over its zlib-compressed length, as Whisper
 *   computes it (high values flag repetitive text);
 * - `temperature`: always 0 (greedy decoding);
 * - `seek`: the segment's start in 10 ms steps, the unit of Whisper's seek.
 */
export function buildSegments(words: readonly Word[], frames: FramePredictions, vocabulary: CtcVocabulary, frameSeconds = FRAME_SECONDS): Segment[] {
  return groupWords(words).map((group, id) => {
    const first = group[0];
    const last = group[group.length - 1];
    const from = Math.max(0, Math.round(first.start / frameSeconds));
    const to = Math.min(frames.ids.length, Math.max(from + 1, Math.round(last.end / frameSeconds)));
    const tokens: number[] = [];
    let logprob = 0;
    let blanks = 0;
    for (let f = from; f < to; f++) {
      const id = frames.ids[f];
      logprob += Math.log(Math.max(frames.probs[f], 1e-12));
      if (id === vocabulary.blankId) blanks++;
      else if (f === from || frames.ids[f - 1] !== id) tokens.push(id);
    }
    const frameCount = Math.max(1, to - from);
    const text = group.map((w) => w.word).join(' ');
    const bytes = Buffer.byteLength(text);
    return {
      id,
      seek: Math.round(first.start * 100),
      start: first.start,
      end: last.end,
      text,
      tokens,
      temperature: 0,
      avg_logprob: round4(logprob / frameCount),
      compression_ratio: bytes === 0 ? 0 : round4(bytes / deflateSync(text).length),
      no_speech_prob: round4(blanks / frameCount),
    };
  });
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
