import { createHash } from 'node:crypto';
import { SttError } from '../core/errors.js';
import { foldedWords } from '../text/fold.js';
import type { ChatKey } from './index.js';

/** Longer words are cut to this many characters, in the index and in queries alike (PostgreSQL refuses lexemes over 2 KB). */
const MAX_WORD_CHARS = 64;
/** Longest query accepted, in characters: a search is a few words, not a document. */
export const MAX_QUERY_CHARS = 300;
/** Most words and phrases one query may hold. */
const MAX_GROUPS = 16;
export const DEFAULT_LIMIT = 5;
export const MAX_LIMIT = 50;

/** The words the index holds for a text: folded, split, and cut to MAX_WORD_CHARS. */
export function indexWords(text: string): string[] {
  return foldedWords(text).map((word) => (word.length > MAX_WORD_CHARS ? Array.from(word).slice(0, MAX_WORD_CHARS).join('') : word));
}

/**
 * A parsed query: each group is one word, or the words of one quoted phrase in order. Every
 * group must match (AND). Nothing from the user's text reaches the engine but these folded
 * words, each quoted by the engine's own rules, so no FTS5 or tsquery syntax can be injected.
 */
export interface SearchQuery {
  groups: string[][];
}

/**
 * `chin gio` is two words, both required; `"chín giờ"` one phrase; `"9 giờ" sáng` a phrase and
 * a word. An unclosed quote runs to the end. Punctuation separates words and is otherwise
 * ignored, so a query with no letter or digit is refused.
 */
export function parseSearchQuery(query: string): SearchQuery {
  if (query.length > MAX_QUERY_CHARS) throw new SttError('bad_query', `The search is too long: at most ${MAX_QUERY_CHARS} characters.`);
  const groups: string[][] = [];
  const seen = new Set<string>();
  const add = (group: string[]): void => {
    const key = group.join(' ');
    if (group.length === 0 || seen.has(key)) return;
    seen.add(key);
    groups.push(group);
  };
  query.split('"').forEach((part, index) => {
    const words = indexWords(part);
    if (index % 2 === 1) add(words);
    else for (const word of words) add([word]);
  });
  if (groups.length === 0) throw new SttError('bad_query');
  if (groups.length > MAX_GROUPS) throw new SttError('bad_query', `The search has too many words: at most ${MAX_GROUPS} words or phrases.`);
  return { groups };
}

/**
 * A chat's own mark: letters and digits only, so every tokenizer keeps it whole. In PostgreSQL it
 * is one more lexeme of the chat's tsvectors; in SQLite it starts every word the chat indexes.
 */
export function chatToken(chat: ChatKey): string {
  return `c${createHash('sha256').update(`${chat.platform}\u0000${chat.chatId}`).digest('hex').slice(0, 32)}`;
}

/**
 * The words as the FTS5 table holds them: each prefixed with the chat's token, so every chat has
 * postings of its own and a search walks only its chat's matches, never the whole table's or
 * the list of every entry in a busy chat. FTS5 stores terms prefix-compressed, so the prefix
 * costs little space.
 */
export function fts5Words(chat: ChatKey, words: string[]): string {
  const prefix = chatToken(chat);
  return words.map((word) => prefix + word).join(' ');
}

/** An FTS5 MATCH expression: every group as a quoted phrase of the chat's own words. */
export function fts5Match(chat: ChatKey, query: SearchQuery): string {
  return query.groups.map((group) => `"${fts5Words(chat, group)}"`).join(' AND ');
}

/**
 * What the index holds of the written form: nothing when it has the spoken form's words (most
 * voice notes have no number in them), so the common case is indexed and ranked once, not twice.
 */
export function writtenWords(spoken: string[], written: string[]): string[] {
  return written.length === spoken.length && written.every((word, i) => word === spoken[i]) ? [] : written;
}

/** A tsquery for the groups alone (what ranks) and one that also requires the chat's token (what filters). */
export function tsQueries(chat: ChatKey, query: SearchQuery): { terms: string; filter: string } {
  const terms = query.groups.map((group) => `(${group.map((word) => `'${word}'`).join(' <-> ')})`).join(' & ');
  return { terms, filter: `'${chatToken(chat)}' & ${terms}` };
}

/**
 * A tsvector literal of the chat token and the words of both forms, with positions so that
 * phrases match. The written form's positions start well past the spoken form's, so no phrase
 * spans the two.
 */
export function tsVectorLiteral(chat: ChatKey, spoken: string[], written: string[]): string {
  // PostgreSQL keeps positions up to 16383 and at most 256 of them per word.
  const MAX_POSITION = 16_383;
  const MAX_POSITIONS = 256;
  const positions = new Map<string, number[]>();
  const place = (words: string[], first: number): void => {
    words.forEach((word, i) => {
      const position = first + i;
      if (position > MAX_POSITION) return;
      const list = positions.get(word) ?? [];
      if (list.length < MAX_POSITIONS) list.push(position);
      positions.set(word, list);
    });
  };
  place(spoken, 1);
  place(writtenWords(spoken, written), Math.min(MAX_POSITION, spoken.length + 100));
  const lexemes = [`'${chatToken(chat)}'`];
  for (const [word, list] of positions) lexemes.push(`'${word}':${list.join(',')}`);
  return lexemes.join(' ');
}

interface CursorData {
  /** How many results the earlier pages held. */
  o: number;
  /** Which search it belongs to: a cursor from another query or chat is refused, not misread. */
  k: string;
}

function cursorKey(chat: ChatKey, query: SearchQuery): string {
  return createHash('sha256').update(JSON.stringify([chat.platform, chat.chatId, query.groups])).digest('base64url').slice(0, 12);
}

export function encodeCursor(chat: ChatKey, query: SearchQuery, offset: number): string {
  const data: CursorData = { o: offset, k: cursorKey(chat, query) };
  return Buffer.from(JSON.stringify(data)).toString('base64url');
}

/** The offset a cursor stands for; one that is not this search's own is `bad_query`. */
export function decodeCursor(chat: ChatKey, query: SearchQuery, cursor: string): number {
  const refuse = (): never => {
    throw new SttError('bad_query', 'That cursor does not belong to this search: search again without it.');
  };
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return refuse();
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return refuse();
  }
  const { o, k } = (data ?? {}) as Partial<CursorData>;
  if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 1 || k !== cursorKey(chat, query)) return refuse();
  return o;
}

/** The page size asked for, or the default; anything but a whole number from 1 to MAX_LIMIT is `bad_query`. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new SttError('bad_query', `limit must be a whole number from 1 to ${MAX_LIMIT}.`);
  return limit;
}
