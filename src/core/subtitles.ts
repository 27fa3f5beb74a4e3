import type { Word } from './types.js';

/** One subtitle cue. */
export interface Cue {
  start: number;
  end: number;
  text: string;
}

/**
 * Groups words into cues: a new cue starts after `maxChars` characters, `maxSeconds` of speech,
 * or a pause longer than `maxGapSeconds`.
 */
export function wordsToCues(words: readonly Word[], options: { maxChars?: number; maxSeconds?: number; maxGapSeconds?: number } = {}): Cue[] {
  const maxChars = options.maxChars ?? 42;
  const maxSeconds = options.maxSeconds ?? 5;
  const maxGap = options.maxGapSeconds ?? 1;
  const cues: Cue[] = [];
  let current: Cue | undefined;
  for (const word of words) {
    if (
      current &&
      (current.text.length + 1 + word.word.length > maxChars || word.end - current.start > maxSeconds || word.start - current.end > maxGap)
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

function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** SubRip subtitles of the words. */
export function toSrt(words: readonly Word[]): string {
  return wordsToCues(words)
    .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${cue.text}\n`)
    .join('\n');
}

/** WebVTT subtitles of the words. */
export function toVtt(words: readonly Word[]): string {
  const body = wordsToCues(words)
    .map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${cue.text}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}
