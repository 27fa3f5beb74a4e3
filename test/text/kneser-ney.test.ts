import { describe, expect, it } from 'vitest';
import { parseArpa } from '../../src/text/arpa.js';
import { FALLBACK_DISCOUNTS, buildArpa, estimateKneserNey, modifiedKneserNeyDiscounts } from '../../src/text/kneser-ney.js';
import { corpusWords } from '../../src/text/lm/corpus-words.js';

/*
 * The corpus, padded:            bigram counts (the highest order: raw):
 *   1  <s> c a </s>                <s> a 3   <s> b 2   <s> c 2
 *   2  <s> a c </s>                a </s> 4  a a 1     a c 1
 *   3  <s> a </s>                  b </s> 1  b a 1
 *   4  <s> b </s>                  c a 1     c </s> 2
 *   5  <s> c </s>
 *   6  <s> a </s>                bigram count-of-counts: t1 = 5, t2 = 3, t3 = 1, t4 = 1
 *   7  <s> b a a </s>              Y = 5 / (5 + 2·3) = 5/11
 *                                  D1 = 1 − 2·(5/11)·(3/5) = 5/11
 *                                  D2 = 2 − 3·(5/11)·(1/3) = 17/11
 *                                  D3+ = 3 − 4·(5/11)·(1/1) = 13/11
 *
 * Unigram continuation counts (distinct words before it):
 *   a: <s>, a, b, c → 4    b: <s> → 1    c: <s>, a → 2    </s>: a, b, c → 3      Σ = 10
 *   count-of-counts 1, 1, 1, 1: Y = 1/3, D1 = 1 − 2/3 = 1/3, D2 = 2 − 1 = 1, D3+ = 3 − 4/3 = 5/3
 *   γ(ε) = (D1·1 + D2·1 + D3+·2) / 10 = (1/3 + 1 + 10/3) / 10 = 7/15, over |V| = 5 (a b c </s> <unk>)
 *   p(a) = (4 − 5/3)/10 + 7/75 = 49/150     p(b) = (1 − 1/3)/10 + 7/75 = 12/75
 *   p(c) = (2 − 1)/10 + 7/75 = 29/150       p(</s>) = (3 − 5/3)/10 + 7/75 = 17/75
 *   p(<unk>) = 7/75                           (sum: (49 + 24 + 29 + 34 + 14) / 150 = 1)
 *
 * Bigrams, p(w | h) = (c(h w) − D) / Σ_v c(h v) + γ(h) · p(w):
 *   h = <s>: a 3, b 2, c 2 (Σ 7): γ = (2·17/11 + 13/11) / 7 = 47/77
 *     p(a | <s>) = (3 − 13/11)/7 + (47/77)(49/150) = 20/77 + 2303/11550 = 5303/11550
 *     p(b | <s>) = (2 − 17/11)/7 + (47/77)(12/75) = 5/77 + 564/5775 = 939/5775
 *   h = a: </s> 4, a 1, c 1 (Σ 6): γ = (2·5/11 + 13/11) / 6 = 23/66
 *     p(</s> | a) = (4 − 13/11)/6 + (23/66)(17/75) = 31/66 + 391/4950 = 2716/4950
 *     p(b | a), unseen = γ(a) · p(b) = (23/66)(12/75) = 276/4950
 *   h = b: </s> 1, a 1 (Σ 2): γ = (2·5/11) / 2 = 5/11
 *     p(a | b) = (1 − 5/11)/2 + (5/11)(49/150) = 3/11 + 49/330 = 139/330
 *   h = c: a 1, </s> 2 (Σ 3): γ = (5/11 + 17/11) / 3 = 2/3
 *     p(</s> | c) = (2 − 17/11)/3 + (2/3)(17/75) = 5/33 + 34/225 = 749/2475
 */
const CORPUS = ['c a', 'a c', 'a', 'b', 'c', 'a', 'b a a'];

describe('modifiedKneserNeyDiscounts (Chen & Goodman)', () => {
  it.each<[string, [number, number, number, number], [number, number, number] | undefined]>([
    ['the bigrams above', [5, 3, 1, 1], [5 / 11, 17 / 11, 13 / 11]],
    ['the unigrams above', [1, 1, 1, 1], [1 / 3, 1, 5 / 3]],
    // Y = 100/180 = 5/9: D1 = 1 − 2(5/9)(40/100) = 5/9, D2 = 2 − 3(5/9)(20/40) = 7/6, D3 = 3 − 4(5/9)(10/20) = 17/9
    ['a larger table', [100, 40, 20, 10], [5 / 9, 7 / 6, 17 / 9]],
    ['nothing seen twice', [3, 0, 1, 1], undefined],
    ['nothing seen four times (D3+ = 3)', [5, 3, 1, 0], undefined],
    ['nothing at all', [0, 0, 0, 0], undefined],
  ])('%s', (_name, t, expected) => {
    const d = modifiedKneserNeyDiscounts(t);
    if (!expected) return expect(d).toBeUndefined();
    expect(d?.d1).toBeCloseTo(expected[0], 12);
    expect(d?.d2).toBeCloseTo(expected[1], 12);
    expect(d?.d3).toBeCloseTo(expected[2], 12);
  });
});

describe('estimateKneserNey on the corpus worked out above', () => {
  const estimate = estimateKneserNey(CORPUS, 2);
  const model = parseArpa(buildArpa(CORPUS, 2));

  it('takes each order its discounts from its count-of-counts', () => {
    expect(estimate.fellBack).toEqual([false, false]);
    expect(estimate.discounts[0]).toEqual({ d1: expect.closeTo(1 / 3, 12), d2: expect.closeTo(1, 12), d3: expect.closeTo(5 / 3, 12) });
    expect(estimate.discounts[1]).toEqual({ d1: expect.closeTo(5 / 11, 12), d2: expect.closeTo(17 / 11, 12), d3: expect.closeTo(13 / 11, 12) });
    expect(model.counts).toEqual([6, 10]); // <s> a b c </s> <unk>; the ten bigrams
  });

  it.each<[string, string[], string, number]>([
    ['p(a)', [], 'a', 49 / 150],
    ['p(b)', [], 'b', 12 / 75],
    ['p(c)', [], 'c', 29 / 150],
    ['p(</s>)', [], '</s>', 17 / 75],
    ['p(<unk>)', [], '<unk>', 7 / 75],
    ['an unknown word is <unk>', [], 'zz', 7 / 75],
    ['p(a | <s>)', ['<s>'], 'a', 5303 / 11550],
    ['p(b | <s>)', ['<s>'], 'b', 939 / 5775],
    ['p(</s> | a)', ['a'], '</s>', 2716 / 4950],
    ['p(b | a), unseen: by back-off', ['a'], 'b', 276 / 4950],
    ['p(a | b)', ['b'], 'a', 139 / 330],
    ['p(</s> | c)', ['c'], '</s>', 749 / 2475],
  ])('%s', (_name, context, word, p) => {
    // 7 decimals of log10 in the file: a relative error under 2e-7.
    expect(10 ** model.logProb(context, word)).toBeCloseTo(p, 6);
  });

  it('writes γ(h) as the back-off weights', () => {
    const backoffs = estimate.backoffs[0];
    expect(10 ** (backoffs.get('<s>') as number)).toBeCloseTo(47 / 77, 12);
    expect(10 ** (backoffs.get('a') as number)).toBeCloseTo(23 / 66, 12);
    expect(10 ** (backoffs.get('b') as number)).toBeCloseTo(5 / 11, 12);
    expect(10 ** (backoffs.get('c') as number)).toBeCloseTo(2 / 3, 12);
  });
});

describe('every history is a distribution', () => {
  // A corpus with enough repetition for real discounts at every order, from a seeded generator.
  let state = 11;
  const next = () => (state = (state * 16807) % 2147483647) / 2147483647;
  const words = ['tôi', 'đi', 'học', 'bạn', 'ăn', 'cơm'];
  const corpus = Array.from({ length: 300 }, () =>
    Array.from({ length: 1 + Math.floor(next() * 6) }, () => words[Math.floor(next() * next() * words.length)]).join(' '),
  );

  it.each([1, 2, 3, 4])('order %i: Σ_w P(w | h) = 1 for every history h', (order) => {
    const estimate = estimateKneserNey(corpus, order);
    const model = parseArpa(buildArpa(corpus, order));
    const vocabulary = [...words, '</s>', '<unk>'];
    const histories: string[][] = [[]];
    for (let n = 1; n < order; n++) for (const key of estimate.backoffs[n - 1].keys()) histories.push(key.split(' '));
    expect(histories.length).toBeGreaterThan(order === 1 ? 0 : 5);
    for (const h of histories) {
      const sum = vocabulary.reduce((s, w) => s + 10 ** model.logProb(h, w), 0);
      expect(sum, h.join(' ')).toBeCloseTo(1, 5);
    }
  });
});

describe('buildArpa', () => {
  it('falls back to KenLM’s discounts where a tiny corpus gives none', () => {
    const estimate = estimateKneserNey(['xin chào'], 2);
    expect(estimate.fellBack).toEqual([true, true]);
    expect(estimate.discounts).toEqual([FALLBACK_DISCOUNTS, FALLBACK_DISCOUNTS]);
  });

  it('defaults to trigrams and writes \\data\\ … \\end\\', () => {
    const text = buildArpa(['Xin chào, Tuấn!', '', 'xin chào bạn']);
    expect(text.startsWith('\\data\\\nngram 1=7\nngram 2=6\nngram 3=5\n')).toBe(true);
    expect(text.trimEnd().endsWith('\\end\\')).toBe(true);
    expect(parseArpa(text).has('tuấn')).toBe(true);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['an order of 0', () => buildArpa(['a'], 0), /order must be an integer ≥ 1/],
    ['a fractional order', () => buildArpa(['a'], 2.5), /order must be an integer ≥ 1/],
    ['a corpus without words', () => buildArpa(['', ' ,.! ']), /no words/],
  ])('refuses %s', (_name, build, message) => {
    expect(build).toThrow(message);
  });
});

describe('corpusWords', () => {
  it.each<[string, string, string[]]>([
    ['lower case, punctuation as breaks', 'Xin chào, Tuấn!', ['xin', 'chào', 'tuấn']],
    ['decomposed input comes out precomposed (NFC)', 'Tuấn'.normalize('NFD'), ['tuấn']],
    ['runs of white space', '  một   hai\tba ', ['một', 'hai', 'ba']],
    ['digits stay', 'năm 2024', ['năm', '2024']],
    ['nothing', ' … ', []],
  ])('%s', (_name, line, words) => {
    expect(corpusWords(line)).toEqual(words);
  });
});
