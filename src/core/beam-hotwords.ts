import { SttError } from './errors.js';

/** The most hotwords one request (or HOTWORDS) may give: each one is a branch of the search's trie. */
export const MAX_HOTWORDS = 100;
/** The longest hotword or phrase, in characters: a name or a short phrase, not a sentence. */
export const MAX_HOTWORD_CHARS = 64;

/** What is wrong with a list of hotwords, in words, or undefined when it is within the limits. */
export function hotwordProblem(hotwords: readonly string[]): string | undefined {
  if (hotwords.length > MAX_HOTWORDS) return `${hotwords.length} hotwords are more than the ${MAX_HOTWORDS} allowed`;
  const long = hotwords.find((hotword) => [...hotword].length > MAX_HOTWORD_CHARS);
  if (long !== undefined) return `"${[...long].slice(0, 20).join('')}…" is longer than ${MAX_HOTWORD_CHARS} characters`;
  return undefined;
}

/** Words and phrases separated by commas (or new lines), trimmed, empty ones and repeats left out. */
export function splitHotwords(value: string): string[] {
  const words = value
    .split(/[,\n]/)
    .map((word) => word.trim().split(/\s+/).join(' '))
    .filter(Boolean);
  return [...new Set(words)];
}

/**
 * A request's hotwords (`hotwords` on /wav2vec2, `prompt` on the OpenAI route), split as
 * {@link splitHotwords} does.
 *
 * @throws SttError `bad_hotwords` past {@link MAX_HOTWORDS} or {@link MAX_HOTWORD_CHARS}
 */
export function requestHotwords(value: string | undefined): string[] {
  if (value === undefined) return [];
  const hotwords = splitHotwords(value);
  const problem = hotwordProblem(hotwords);
  if (problem) {
    throw new SttError('bad_hotwords', `Bad hotwords: ${problem}. Give at most ${MAX_HOTWORDS} words or phrases of up to ${MAX_HOTWORD_CHARS} characters, separated by commas.`);
  }
  return hotwords;
}
