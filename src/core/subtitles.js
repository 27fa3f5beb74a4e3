// @ts-check
// Subtitle cues and SRT/VTT text from a transcript's words. Plain JavaScript with JSDoc types and
// no imports, so that the server imports it and the upload page loads the very same file
// (served at /subtitles.js): one way of cutting cues, wherever subtitles are made.

/** @typedef {import('./types.js').Word} Word */

/**
 * One subtitle cue.
 * @typedef {object} Cue
 * @property {number} start
 * @property {number} end
 * @property {string} text
 */

/**
 * Where one cue or segment ends and the next begins.
 * @typedef {object} GroupingOptions
 * @property {number} [maxChars] A cue never grows past this many characters (two subtitle lines). Default 84.
 * @property {number} [maxSeconds] Nor past this many seconds from its first word's start. Default 10.
 * @property {number} [maxGapSeconds] A pause at least this long between two words starts a new cue. Default 0.6.
 */

/**
 * Groups words into runs read together: a new group starts at a pause of `maxGapSeconds`, or
 * when the next word would take the group past `maxChars` characters or `maxSeconds`. Subtitles
 * (SRT, VTT) and OpenAI's segments are both cut here, so they always agree.
 *
 * @template {Word} W
 * @param {readonly W[]} words
 * @param {GroupingOptions} [options]
 * @returns {W[][]}
 */
export function groupWords(words, options = {}) {
  const maxChars = options.maxChars ?? 84;
  const maxSeconds = options.maxSeconds ?? 10;
  const maxGap = options.maxGapSeconds ?? 0.6;
  /** @type {W[][]} */
  const groups = [];
  /** @type {W[]} */
  let current = [];
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

/**
 * The words as subtitle cues ({@link groupWords}).
 *
 * @param {readonly Word[]} words
 * @param {GroupingOptions} [options]
 * @returns {Cue[]}
 */
export function wordsToCues(words, options = {}) {
  return groupWords(words, options).map((group) => ({
    start: group[0].start,
    end: group[group.length - 1].end,
    text: group.map((w) => w.word).join(' '),
  }));
}

/**
 * @param {number} seconds
 * @param {',' | '.'} separator
 * @returns {string}
 */
function timestamp(seconds, separator) {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  /** @type {(n: number, width?: number) => string} */
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/** @param {string} cue */
const asHeard = (cue) => cue;

/**
 * SubRip subtitles of the words; `text` rewrites each cue's words (the written form, say).
 *
 * @param {readonly Word[]} words
 * @param {(cue: string) => string} [text]
 * @returns {string}
 */
export function toSrt(words, text = asHeard) {
  return wordsToCues(words)
    .map((cue, i) => `${i + 1}\n${timestamp(cue.start, ',')} --> ${timestamp(cue.end, ',')}\n${text(cue.text)}\n`)
    .join('\n');
}

/**
 * WebVTT subtitles of the words; `text` rewrites each cue's words (the written form, say).
 *
 * @param {readonly Word[]} words
 * @param {(cue: string) => string} [text]
 * @returns {string}
 */
export function toVtt(words, text = asHeard) {
  const body = wordsToCues(words)
    .map((cue) => `${timestamp(cue.start, '.')} --> ${timestamp(cue.end, '.')}\n${text(cue.text)}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}
