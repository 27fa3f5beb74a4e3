import type { Word } from './types.js';

/** One subtitle cue. */
export interface Cue {
  start: number;
  end: number;
  text: string;
}

/** Where one cue or segment ends and the next begins. */
export interface GroupingOptions {
  /** A cue never grows past this many characters (two subtitle lines). @defaultValue 84 */
  maxChars?: number;
  /** Nor past this many seconds from its first word's start. @defaultValue 10 */
  maxSeconds?: number;
  /** A pause at least this long between two words starts a new cue. @defaultValue 0.6 */
  maxGapSeconds?: number;
}

/**
 * Groups words into runs read together: a new group starts at a pause of `maxGapSeconds`, or
 * when the next word would take the group past `maxChars` characters or `maxSeconds`. Subtitles
 * (SRT, VTT) and OpenAI's segments are both cut here, so they always agree.
 */
export function groupWords(words: readonly Word[], options: GroupingOptions = {}): Word[][] {
  const maxChars = options.maxChars ?? 84;
  const maxSeconds = options.maxSeconds ?? 10;
  const maxGap = options.maxGapSeconds ?? 0.6;
  const groups: Word[][] = [];
  let current: Word[] = [];
  let chars = 0;
  for (const word of words) {
    const previous = current[current.length - 1];
    if (previous && (chars + 1 + word.word.length > maxChars || word.end - current[0].start > maxSeconds || word.start - previous.end >= maxGap)) {
      groups.push(current);
      current = [];
      chars = 0;
    }
    chars += (current.length > 0 ? 1 : 0) + word.word.length;
    current.push(word);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** The words as subtitle cues ({@link groupWords}). */
export function wordsToCues(words: readonly Word[], options: GroupingOptions = {}): Cue[] {
  return groupWords(words, options).map((group) => ({
    start: group[0].start,
    end: group[group.length - 1].end,
    text: group.map((w) => w.word).join(' '),
  }));
}

function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** SubRip subtitles of the words; `text` rewrites each cue's words (the written form, say). */
export function toSrt(words: readonly Word[], text: (cue: string) => string = (cue) => cue): string {
  return wordsToCues(words)
    .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${text(cue.text)}\n`)
    .join('\n');
}

/** WebVTT subtitles of the words; `text` rewrites each cue's words (the written form, say). */
export function toVtt(words: readonly Word[], text: (cue: string) => string = (cue) => cue): string {
  const body = wordsToCues(words)
    .map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${text(cue.text)}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}
