import { describe, expect, it } from 'vitest';
import { ArpaFormatError, formatArpa, parseArpa, UNKNOWN_LOG10 } from '../../src/text/arpa.js';

// A trigram model written by hand: every number below is one of these.
const ARPA = `this line, before \\data\\, is ignored

\\data\\
ngram 1=5
ngram 2=3
ngram 3=1

\\1-grams:
-1.0\t<s>\t-0.5
-0.7\ta\t-0.3
-0.8\tb\t-0.2
-1.2\t</s>
-2.0\t<unk>

\\2-grams:
-0.3\t<s> a\t-0.1
-0.4\ta b\t-0.15
-0.6\tb </s>

\\3-grams:
-0.2\t<s> a b

\\end\\
`;

describe('parseArpa and back-off', () => {
  const model = parseArpa(ARPA);

  it('reads the order and the counts', () => {
    expect(model.order).toBe(3);
    expect(model.counts).toEqual([5, 3, 1]);
    expect(model.has('a')).toBe(true);
    expect(model.has('z')).toBe(false);
  });

  it.each<[string, string[], string, number]>([
    // The trigram is listed: its own probability.
    ['a listed trigram', ['<s>', 'a'], 'b', -0.2],
    // "a b </s>" is not listed: bow(a b) + P(</s> | b) = -0.15 + -0.6.
    ['one back-off to a listed bigram', ['a', 'b'], '</s>', -0.75],
    // "a b a" no, "b a" no: bow(a b) + bow(b) + P(a) = -0.15 + -0.2 + -0.7.
    ['two back-offs to a unigram', ['a', 'b'], 'a', -1.05],
    // "b a" is no history in the model: its weight is 0 (log10 1), then "a b" is listed.
    ['a history the model does not hold weighs nothing', ['b', 'a'], 'b', -0.4],
    // "a z" no; z is unknown: bow(a) + P(<unk>) = -0.3 + -2.0.
    ['an unknown word scores as <unk> after the back-offs', ['a'], 'z', -2.3],
    // Only the last order - 1 words count: "x <s> a b" is "<s> a b".
    ['a longer context is cut to the order', ['x', '<s>', 'a'], 'b', -0.2],
    ['no context: the unigram', [], 'b', -0.8],
  ])('%s', (_name, context, word, expected) => {
    expect(model.logProb(context, word)).toBeCloseTo(expected, 10);
  });

  it('scores a sentence from <s> to </s>', () => {
    // P(a | <s>) + P(b | <s> a) + P(</s> | a b) = -0.3 + -0.2 + -0.75.
    expect(model.score(['a', 'b'])).toBeCloseTo(-1.25, 10);
    // Without the boundaries: P(a) + P(b | a) = -0.7 + -0.4.
    expect(model.score(['a', 'b'], { bos: false, eos: false })).toBeCloseTo(-1.1, 10);
  });

  it('gives the best unigram of the words a prefix starts', () => {
    const m = parseArpa(formatArpa([new Map([['<s>', -99], ['tuấn', -2], ['tuần', -1.5], ['tôi', -1], ['</s>', -1]])], [new Map()]));
    expect(m.bestPrefixLogProb('tu')).toBe(-1.5);
    expect(m.bestPrefixLogProb('tuấ')).toBe(-2);
    expect(m.bestPrefixLogProb('t')).toBe(-1);
    expect(m.bestPrefixLogProb('x')).toBeUndefined();
    expect(m.bestPrefixLogProb('</')).toBeUndefined();
  });

  it('scores unknown words as "never" when the model has no <unk>', () => {
    const m = parseArpa('\\data\\\nngram 1=1\n\\1-grams:\n-0.5 a\n\\end\\\n');
    expect(m.logProb([], 'z')).toBe(UNKNOWN_LOG10);
  });

  it('reads back what formatArpa writes', () => {
    const probs = [new Map([['a', -0.5], ['b', -0.25]]), new Map([['a b', -0.125]])];
    const backoffs = [new Map([['a', -0.75]]), new Map<string, number>()];
    const again = parseArpa(formatArpa(probs, backoffs));
    expect(again.logProb(['a'], 'b')).toBeCloseTo(-0.125, 7);
    expect(again.logProb(['a'], 'a')).toBeCloseTo(-1.25, 7);
  });
});

describe('parseArpa refuses what is not ARPA, naming the line', () => {
  it.each<[string, string, RegExp]>([
    ['no \\data\\', 'hello\n', /no \\data\\ section/],
    ['no \\end\\', '\\data\\\nngram 1=1\n\\1-grams:\n-1 a\n', /no \\end\\ line/],
    ['a count that does not match', '\\data\\\nngram 1=2\n\\1-grams:\n-1 a\n\\end\\\n', /line 5: .*declares 2 1-grams but the section holds 1/],
    ['a line with too many fields', '\\data\\\nngram 1=1\n\\1-grams:\n-1 a b c\n\\end\\\n', /line 4: a 1-gram line needs/],
    ['a probability above 0', '\\data\\\nngram 1=1\n\\1-grams:\n0.5 a\n\\end\\\n', /line 4: .*not a log10 probability/],
    ['a section out of order', '\\data\\\nngram 1=1\nngram 2=1\n\\2-grams:\n-1 a b\n\\end\\\n', /line 4: expected the \\1-grams: section/],
    ['a garbled count line', '\\data\\\nngram one=1\n', /line 2: expected "ngram N=count"/],
  ])('%s', (_name, text, message) => {
    expect(() => parseArpa(text)).toThrow(ArpaFormatError);
    expect(() => parseArpa(text)).toThrow(message);
  });
});
