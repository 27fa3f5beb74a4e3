import { indexWords } from './search-query.js';

/** Words a snippet shows at most. */
const SNIPPET_WORDS = 20;
/** Words of context kept before the first match in view. */
const CONTEXT_BEFORE = 4;
export const MATCH_OPEN = '«';
export const MATCH_CLOSE = '»';

interface Word {
  start: number;
  end: number;
  folded: string;
}

/** Marks each word of `words` that is part of a match of a group: any occurrence of a single word, a phrase only where it runs in full. */
function markMatches(words: Word[], groups: string[][]): boolean[] {
  const marked = words.map(() => false);
  for (const group of groups) {
    for (let i = 0; i + group.length <= words.length; i++) {
      if (group.every((word, j) => words[i + j].folded === word)) for (let j = 0; j < group.length; j++) marked[i + j] = true;
    }
  }
  return marked;
}

/**
 * The matching words of a text in context, as the text has them (marks and case kept): up to 20
 * words around the densest run of matches, each run of matching words wrapped in « », an ellipsis
 * where text was cut, whitespace collapsed. `matches` counts the words marked, so a caller can
 * pick the form (spoken or written) that shows the match.
 */
export function makeSnippet(text: string, groups: string[][]): { snippet: string; matches: number } {
  const normalized = text.normalize('NFC').replace(/\s+/g, ' ').trim();
  const words: Word[] = [];
  for (const match of normalized.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
    const [folded] = indexWords(match[0]);
    words.push({ start: match.index, end: match.index + match[0].length, folded });
  }
  const marked = markMatches(words, groups);
  const matches = marked.filter(Boolean).length;
  if (words.length === 0) return { snippet: normalized, matches };

  // The window of SNIPPET_WORDS words holding the most marked words; the earliest wins a tie.
  let best = 0;
  let bestCount = -1;
  let count = 0;
  for (let i = 0; i < words.length; i++) {
    if (marked[i]) count++;
    if (i >= SNIPPET_WORDS && marked[i - SNIPPET_WORDS]) count--;
    const start = Math.max(0, i - SNIPPET_WORDS + 1);
    if (count > bestCount) {
      bestCount = count;
      best = start;
    }
  }
  const firstMark = marked.indexOf(true, best);
  const from = firstMark === -1 ? 0 : Math.max(0, Math.min(firstMark - CONTEXT_BEFORE, words.length - SNIPPET_WORDS));
  const to = Math.min(words.length, from + SNIPPET_WORDS);

  let out = from > 0 ? '… ' : '';
  let cursor = from > 0 ? words[from].start : 0;
  for (let i = from; i < to; i++) {
    const opens = marked[i] && (i === from || !marked[i - 1]);
    const closes = marked[i] && (i === to - 1 || !marked[i + 1]);
    out += normalized.slice(cursor, words[i].start);
    out += (opens ? MATCH_OPEN : '') + normalized.slice(words[i].start, words[i].end) + (closes ? MATCH_CLOSE : '');
    cursor = words[i].end;
  }
  out += to < words.length ? ' …' : normalized.slice(cursor);
  return { snippet: out.trim(), matches };
}
