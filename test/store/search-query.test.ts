import { describe, expect, it } from 'vitest';
import { SttError } from '../../src/core/errors.js';
import { chatToken, fts5Match, parseSearchQuery, tsQueries, tsVectorLiteral } from '../../src/store/search-query.js';
import { makeSnippet } from '../../src/store/snippet.js';
import { rejection } from '../support/rejection.js';

const chat = { platform: 'telegram', chatId: '-100' } as const;
const words = (n: number, at: Record<number, string> = {}) => Array.from({ length: n }, (_, i) => at[i] ?? `từ${i + 1}`).join(' ');

describe('parseSearchQuery', () => {
  it.each([
    ['hop', [['hop']]],
    ['Chín  GIỜ', [['chin'], ['gio']]],
    ['"chín giờ" sáng', [['chin', 'gio'], ['sang']]],
    ['"9 giờ"', [['9', 'gio']]],
    ['"họp"', [['hop']]],
    ['hop hop HỌP', [['hop']]],
    ['"hóa đơn', [['hoa', 'don']]],
    ['a "" b', [['a'], ['b']]],
    ["hop' OR \"x NEAR(y", [['hop'], ['or'], ['x', 'near', 'y']]],
  ])('%j → %j', (query, groups) => {
    expect(parseSearchQuery(query).groups).toEqual(groups);
  });

  it('refuses more than 16 words and phrases', async () => {
    const error = await rejection(Promise.resolve().then(() => parseSearchQuery(words(17))));
    expect((error as SttError).code).toBe('bad_query');
    expect(error.message).toBe('The search has too many words: at most 16 words or phrases.');
    expect(parseSearchQuery(words(16)).groups).toHaveLength(16);
  });

  it('hands each engine only quoted folded words', () => {
    const query = parseSearchQuery('"chín giờ" họp');
    const token = chatToken(chat);
    expect(token).toMatch(/^c[0-9a-f]{32}$/);
    expect(fts5Match(chat, query)).toBe(`"${token}chin ${token}gio" AND "${token}hop"`);
    expect(tsQueries(chat, query)).toEqual({ terms: "('chin' <-> 'gio') & ('hop')", filter: `'${token}' & ('chin' <-> 'gio') & ('hop')` });
  });

  it('keeps the spoken and the written positions apart in the tsvector, so no phrase spans them', () => {
    expect(tsVectorLiteral(chat, ['hop', 'luc', 'chin'], ['hop', '9'])).toBe(`'${chatToken(chat)}' 'hop':1,103 'luc':2 'chin':3 '9':104`);
    expect(tsVectorLiteral(chat, ['hop', 'luc'], ['hop', 'luc'])).toBe(`'${chatToken(chat)}' 'hop':1 'luc':2`);
  });
});

describe('makeSnippet', () => {
  it.each([
    ['chúng ta họp lúc 9 giờ sáng mai', [['hop']], 'chúng ta «họp» lúc 9 giờ sáng mai', 1],
    ['chúng ta họp lúc 9 giờ sáng mai', [['9', 'gio']], 'chúng ta họp lúc «9 giờ» sáng mai', 2],
    ['giờ này chín người, chín giờ rồi.', [['chin', 'gio']], 'giờ này chín người, «chín giờ» rồi.', 2],
    ['Họp, họp nữa!', [['hop']], '«Họp, họp» nữa!', 2],
    ['họp\n\n   lúc   chín', [['hop'], ['chin']], '«họp» lúc «chín»', 2],
    ['HỌP LÚC CHÍN GIỜ'.normalize('NFD'), [['hop']], '«HỌP» LÚC CHÍN GIỜ', 1],
    ['không có gì', [['hop']], 'không có gì', 0],
  ])('%j with %j → %j', (text, groups, snippet, matches) => {
    expect(makeSnippet(text, groups)).toEqual({ snippet, matches });
  });

  it('cuts long text to 20 words around the match, with an ellipsis where it cut', () => {
    expect(makeSnippet(words(40, { 9: 'họp' }), [['hop']]).snippet).toBe(`… từ6 từ7 từ8 từ9 «họp» ${words(25).split(' ').slice(10).join(' ')} …`);
    expect(makeSnippet(words(40, { 35: 'họp' }), [['hop']]).snippet).toBe(`… ${words(35).split(' ').slice(20).join(' ')} «họp» từ37 từ38 từ39 từ40`);
    expect(makeSnippet(words(40), [['hop']]).snippet).toBe(`${words(20)} …`);
  });

  it('shows the densest run of matches', () => {
    const text = words(60, { 0: 'họp', 40: 'họp', 41: 'họp', 43: 'họp' });
    expect(makeSnippet(text, [['hop']]).snippet).toBe('… từ37 từ38 từ39 từ40 «họp họp» từ43 «họp» từ45 từ46 từ47 từ48 từ49 từ50 từ51 từ52 từ53 từ54 từ55 từ56 …');
  });
});
