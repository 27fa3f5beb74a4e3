import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { argmaxFrames, buildVocabulary, decodeCtc, type CtcVocabulary } from '../../src/core/ctc.js';
import { CtcBeamSearch, decodeCtcBeam, logSoftmaxFrames, type CtcBeamOptions, type FrameLogProbs, type WordLanguageModel } from '../../src/core/ctc-beam.js';
import { parseArpa } from '../../src/text/arpa.js';
import { buildKneserNeyModel } from '../../src/text/kneser-ney.js';
import { HF_REFERENCE, readReference } from '../support/fixtures.js';

// khanhld's layout: precomposed lower-case letters, `|`, the specials, and `<pad>` (the blank) last.
const LETTERS = [...'abcdeghiklmnopqrstuvxyàáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ'];
const SPECIALS = ['|', '<unk>', '<s>', '</s>', '<pad>'];
const vocabulary: CtcVocabulary = buildVocabulary({
  vocab: Object.fromEntries([...LETTERS, ...SPECIALS].map((token, id) => [token, id])),
  tokenizerConfig: { pad_token: '<pad>', unk_token: '<unk>', bos_token: '<s>', eos_token: '</s>', word_delimiter_token: '|' },
});
const V = vocabulary.tokens.length;
const id = (token: string): number => (token === '_' ? vocabulary.blankId : vocabulary.tokens.indexOf(token));

/**
 * One frame: a token that wins with `p` (`_` is the blank), or explicit probabilities. What is
 * left of the mass is spread evenly over every other token (≈ 0.001 each: below the search's
 * threshold, so those are never tried).
 */
type Frame = string | Record<string, number>;

function matrix(frames: Frame[], p = 0.9): FrameLogProbs {
  const data = new Float32Array(frames.length * V);
  frames.forEach((frame, f) => {
    const probs = typeof frame === 'string' ? { [frame]: p } : frame;
    const listed = Object.entries(probs);
    const rest = (1 - listed.reduce((s, [, q]) => s + q, 0)) / (V - listed.length);
    data.fill(Math.log(rest), f * V, (f + 1) * V);
    for (const [token, q] of listed) {
      if (id(token) < 0) throw new Error(`no token ${token}`);
      data[f * V + id(token)] = Math.log(q);
    }
  });
  return { data, frames: frames.length, vocab: V };
}

/** Each character for one frame, then a blank frame: `spell('xin|chào')`. */
function spell(text: string): string[] {
  return [...text].flatMap((ch) => [ch, '_']);
}

function greedy(lp: FrameLogProbs) {
  return decodeCtc(argmaxFrames(lp.data, lp.frames, lp.vocab), vocabulary);
}

function beam(lp: FrameLogProbs, options: CtcBeamOptions = {}) {
  return decodeCtcBeam(lp, vocabulary, options);
}

/** A seeded generator (Park–Miller), so the random cases are the same every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 16807) % 2147483647) / 2147483647;
}

describe('with no hotwords and no LM, peaked frames decode as greedy does', () => {
  // Each frame's winner at 0.9 and a runner-up at 0.05 (above the threshold: the search tries it).
  function peaked(tokens: string[], seed: number): FrameLogProbs {
    const next = random(seed);
    const all = [...LETTERS, '|', '_'];
    return matrix(
      tokens.map((token) => {
        let other = all[Math.floor(next() * all.length)];
        if (other === token) other = token === 'a' ? 'b' : 'a';
        return { [token]: 0.9, [other]: 0.05 };
      }),
    );
  }

  it.each<[string, string[]]>([
    ['only blanks', ['_', '_', '_']],
    ['repeats collapse', ['a', 'a', 'a', 'b', 'b']],
    ['a letter doubled across a blank stays doubled', ['a', '_', 'a']],
    ['the delimiter is a space', ['a', '|', 'b']],
    ['repeated delimiters are one space', ['a', '|', '|', '_', '|', 'b']],
    ['leading and trailing delimiters are trimmed', ['|', 'a', 'b', '|']],
    ['special tokens are dropped', ['<s>', 'a', '<unk>', 'b', '</s>']],
    ['specials are dropped after repeats collapse', ['a', '<s>', 'a']],
    ['a special between words leaves one space', ['a', '|', '<s>', '|', 'b']],
    ['precomposed diacritics come through', ['ạ', 'ạ', '_', '|', 'b', 'a']],
    ['a sentence', spell('tôi|đi|học|ở|hà|nội')],
  ])('%s', (_name, tokens) => {
    const lp = peaked(tokens, 7);
    const expected = greedy(lp);
    const got = beam(lp);
    expect(got.text).toBe(expected.text);
    expect(got.words.map(({ word, start, end }) => ({ word, start, end }))).toEqual(expected.words.map(({ word, start, end }) => ({ word, start, end })));
    got.words.forEach((w, i) => expect(w.confidence).toBeCloseTo(expected.words[i].confidence, 2));
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('random sequence %i (300 frames)', (seed) => {
    const next = random(seed);
    const pool = ['_', '_', '_', '|', 'a', 'n', 'h', 'ư', 'ở', 'đ', 'ạ', 't'];
    const tokens = Array.from({ length: 300 }, () => pool[Math.floor(next() * pool.length)]);
    const lp = peaked(tokens, seed);
    expect(beam(lp)).toEqual(greedy(lp));
  });

  it.each([
    ['fixture-tiny', 'xin_chao'],
    ['fixture-tiny', 'sine440_3s'],
  ])('the argmax path of the Hugging Face reference %s / %s', async (model, input) => {
    const { argmax_ids } = await readReference(model, input);
    // That model's vocabulary in this test's ids: map the reference's token ids onto ours by token.
    const reference = JSON.parse(await readFile(path.join(HF_REFERENCE, model, 'vocab.json'), 'utf8')) as Record<string, number>;
    const byId = Object.fromEntries(Object.entries(reference).map(([token, i]) => [i, token === '<pad>' ? '_' : token]));
    const tokens = argmax_ids.map((i) => byId[i]).filter((token) => id(token) >= 0);
    const lp = peaked(tokens, 3);
    expect(beam(lp).text).toBe(greedy(lp).text);
  });
});

describe('prefix beam search', () => {
  it('gives nothing for no frames', () => {
    expect(beam({ data: new Float32Array(0), frames: 0, vocab: V })).toEqual({ text: '', words: [] });
  });

  it('gives nothing for frames that are all blank', () => {
    expect(beam(matrix(['_', '_', '_', '_']))).toEqual({ text: '', words: [] });
  });

  it.each<[string, Frame[], string]>([
    ['a letter held over frames is one letter', ['a', 'a', 'a'], 'a'],
    ['a letter repeated across a blank is two', ['a', '_', 'a'], 'aa'],
    ['a letter repeated across a delimiter is two words', ['a', '|', 'a'], 'a a'],
  ])('%s', (_name, frames, text) => {
    expect(beam(matrix(frames)).text).toBe(text);
  });

  it('sums the alignments of a prefix: "a" beats the all-blank path greedy takes', () => {
    // Blank 0.6, "a" 0.4 in both frames. Greedy: blank blank (0.36) → "". The prefix "a" has
    // three alignments: a a, a _, _ a = 0.16 + 0.24 + 0.24 = 0.64.
    const lp = matrix([
      { _: 0.6, a: 0.4 },
      { _: 0.6, a: 0.4 },
    ]);
    expect(greedy(lp).text).toBe('');
    expect(beam(lp).text).toBe('a');
  });

  it('breaks a tie between tokens as greedy argmax does (the lower id), every time', () => {
    const lp = matrix(['_', { a: 0.45, b: 0.45 }, '_']);
    expect(greedy(lp).text).toBe('a');
    const search = new CtcBeamSearch(vocabulary);
    expect(search.decode(lp).text).toBe('a');
    expect(search.decode(lp).text).toBe('a');
  });

  it('times words by the frames their letters were emitted on, and scores the path it took', () => {
    // x i n | c h à o: letters on frames 0,2,4 | 8,10,12,14; "à" was 0.6 sure.
    const frames: Frame[] = ['x', '_', 'i', '_', 'n', '_', '|', '_', 'c', '_', 'h', '_', { à: 0.6, a: 0.3 }, '_', 'o', 'o', '_'];
    const { words } = beam(matrix(frames));
    expect(words.map(({ word, start, end }) => ({ word, start, end }))).toEqual([
      { word: 'xin', start: 0, end: 0.1 },
      { word: 'chào', start: 0.16, end: 0.32 },
    ]);
    // chào: frames 8..15 (8 frames), all at 0.9 but "à" at 0.6.
    expect(words[1].confidence).toBeCloseTo((7 * 0.9 + 0.6) / 8, 3);
  });

  it('refuses a matrix whose size is not frames × vocab, and a width of 0', () => {
    expect(() => beam({ data: new Float32Array(10), frames: 3, vocab: V })).toThrow(/not \[3, /);
    expect(() => new CtcBeamSearch(vocabulary, { beamWidth: 0 })).toThrow(/beamWidth/);
  });
});

describe('hotwords', () => {
  // t u ấ/a n: the model leans to "a" (0.5) over "ấ" (0.4): ln(0.5 / 0.4) = 0.22 apart.
  const tuan = matrix(['t', '_', 'u', '_', { a: 0.5, ấ: 0.4 }, '_', 'n', '_']);

  it('spell a name right when the acoustics are close', () => {
    expect(greedy(tuan).text).toBe('tuan');
    expect(beam(tuan).text).toBe('tuan');
    expect(beam(tuan, { hotwords: ['tuấn'] }).text).toBe('tuấn');
  });

  it('are normalised (NFC, lower case) and report what the vocabulary cannot spell', () => {
    const search = new CtcBeamSearch(vocabulary, { hotwords: ['TUẤN'.normalize('NFD'), "o'brien", { phrase: 'ĐẠT' }] });
    expect(search.decode(tuan).text).toBe('tuấn');
    expect(search.unusableHotwords).toEqual(["o'brien"]);
  });

  it('weigh what their weight says: a small one does not flip the letter', () => {
    expect(beam(tuan, { hotwords: [{ phrase: 'tuấn', weight: 0.1 }] }).text).toBe('tuan');
    expect(beam(tuan, { hotwords: ['tuấn'], hotwordWeight: 0.1 }).text).toBe('tuan');
  });

  it('do not write a name over a word heard clearly', () => {
    expect(beam(matrix(spell('toàn')), { hotwords: ['tuấn'] }).text).toBe('toàn');
  });

  it('as phrases apply only where the whole phrase is spelled', () => {
    const frames = (first: string): Frame[] => [...spell(first), '|', '_', ...spell('văn|t'), { á: 0.5, â: 0.45 }, '_', 'm', '_'];
    expect(greedy(matrix(frames('lê'))).text).toBe('lê văn tám');
    expect(beam(matrix(frames('lê')), { hotwords: ['lê văn tâm'] }).text).toBe('lê văn tâm');
    expect(beam(matrix(frames('ba')), { hotwords: ['lê văn tâm'] }).text).toBe('ba văn tám');
  });
});

describe('a word language model (ARPA)', () => {
  // "con cá" (a fish) is a known bigram; "con ca" backs off to the unigram "ca" (log10 -1 - 0.5).
  const lm = parseArpa(`
\\data\\
ngram 1=6
ngram 2=3

\\1-grams:
-1.0\t<s>\t-0.3
-1.0\tcon\t-0.5
-1.0\tca\t-0.4
-1.2\tcá\t-0.4
-1.0\t</s>
-3.0\t<unk>

\\2-grams:
-0.5\t<s> con
-0.2\tcon cá
-0.4\tcá </s>

\\end\\
`);
  // c o n | c á/a: the model leans to "a" (0.55 over 0.45: ln ratio 0.2).
  const conCa = matrix([...spell('con|c'), { a: 0.55, á: 0.45 }, '_']);

  it('picks the word the language model expects when greedy picked the wrong one', () => {
    expect(greedy(conCa).text).toBe('con ca');
    expect(beam(conCa).text).toBe('con ca');
    // log10: con ca = bow(con) + P(ca) + bow(ca) + P(</s>) = -0.5 - 1.0 - 0.4 - 1.0 = -2.9 past "con";
    // con cá = -0.2 - 0.4 = -0.6: alpha · ln10 · 2.3 = 2.65 nats, far more than the 0.2 against it.
    expect(beam(conCa, { languageModel: lm }).text).toBe('con cá');
  });

  it('leaves a word heard clearly alone', () => {
    expect(beam(matrix(spell('con|ca')), { languageModel: lm }).text).toBe('con ca');
  });

  it('is the acoustics alone at alpha 0 and beta 0 (both words known)', () => {
    expect(beam(conCa, { languageModel: lm, alpha: 0, beta: 0 }).text).toBe('con ca');
  });
});

describe('the bound on work per frame (extensionsPerFrame)', () => {
  const lm = buildKneserNeyModel(['con cá bơi', 'con cá to', 'con chó', 'tuấn nuôi con cá']);
  /** Near-uniform frames: logits of spread 0.5, so every token is about ln(1/V) ≈ -4.6 > -5. */
  function flat(frames: number, seed: number): FrameLogProbs {
    const next = random(seed);
    const logits = Float32Array.from({ length: frames * V }, () => next() - 0.5);
    return { data: logSoftmaxFrames(logits, frames, V), frames, vocab: V };
  }

  /** A model that knows every word and counts its look-ups: one per prefix the search makes. */
  function countingModel(): { lm: WordLanguageModel; lookups: () => number } {
    let lookups = 0;
    const lm: WordLanguageModel = {
      order: 2,
      unknownLogProb: -5,
      logProb: () => (lookups++, -1),
      has: () => true,
      bestPrefixLogProb: () => (lookups++, -1),
    };
    return { lm, lookups: () => lookups };
  }

  it('makes at most extensionsPerFrame new prefixes a frame on flat frames, where all topK tokens pass', () => {
    const frames = 100;
    const beamWidth = 4;
    const lp = flat(frames, 5);
    const made = (extensionsPerFrame?: number): number => {
      const { lm, lookups } = countingModel();
      new CtcBeamSearch(vocabulary, { beamWidth, languageModel: lm, extensionsPerFrame }).decode(lp);
      return lookups();
    };
    // Each new prefix asks the model once; the end asks at most twice a prefix (its last word, </s>).
    const bound = frames * 2 * beamWidth + 2 * beamWidth;
    expect(made()).toBeLessThanOrEqual(bound);
    expect(made(3)).toBeLessThanOrEqual(frames * 3 + 2 * beamWidth);
    // Without the bound (every prefix × every one of the 8 tokens) the same frames make far more.
    expect(made(beamWidth * 8)).toBeGreaterThan(2 * bound);
  });

  it('never binds on frames with at most two tokens above the threshold: the same decoding as with no bound', () => {
    // Such a frame lengthens each prefix at most twice, so at most 2 × beamWidth pairs: the bound.
    const all = [...LETTERS, '|', '_'];
    const pool = ['_', '_', '|', 'c', 'o', 'n', 'a', 'á', 't', 'u', 'ấ'];
    for (const seed of [1, 2, 3, 4]) {
      const next = random(seed);
      const lp = matrix(
        Array.from({ length: 200 }, () => {
          const token = pool[Math.floor(next() * pool.length)];
          const other = all[Math.floor(next() * all.length)];
          const win = 0.5 + 0.45 * next();
          return other === token ? { [token]: win } : { [token]: win, [other]: 0.95 - win };
        }),
      );
      for (const options of [{}, { beamWidth: 4, hotwords: ['tuấn', 'con cá'] }, { beamWidth: 16, languageModel: lm, hotwords: ['tuấn'] }] as CtcBeamOptions[]) {
        const unbounded = { ...options, extensionsPerFrame: (options.beamWidth ?? 32) * 8 };
        expect(new CtcBeamSearch(vocabulary, options).decodeAligned(lp)).toEqual(new CtcBeamSearch(vocabulary, unbounded).decodeAligned(lp));
      }
    }
  });

  it('keeps the words around a stretch of noise, as with no bound', () => {
    const speech = matrix([...spell('con|'), ...Array.from({ length: 30 }, () => '_'), ...spell('|c'), { a: 0.55, á: 0.45 }, '_']);
    speech.data.set(flat(30, 9).data, spell('con|').length * V);
    for (const extensionsPerFrame of [undefined, 64]) {
      const { text } = new CtcBeamSearch(vocabulary, { beamWidth: 8, languageModel: lm, extensionsPerFrame }).decode(speech);
      expect(text.startsWith('con ')).toBe(true);
      expect(text.endsWith(' cá')).toBe(true);
    }
  });

  it('asks the language model nothing more about a word in progress once no known word starts with it', () => {
    // Noise with the word delimiter improbable (a hum): one word grows over every frame. Asking
    // about each longer spelling of it hashed all of it, every frame: quadratic in its length.
    const lp = flat(300, 11);
    for (let f = 0; f < lp.frames; f++) lp.data[f * V + vocabulary.delimiterId] = -20;
    const asked: string[] = [];
    const counting: WordLanguageModel = {
      order: lm.order,
      unknownLogProb: lm.unknownLogProb,
      logProb: (context, word) => lm.logProb(context, word),
      has: (word) => lm.has(word),
      bestPrefixLogProb: (prefix) => (asked.push(prefix), lm.bestPrefixLogProb(prefix)),
    };
    const { text } = new CtcBeamSearch(vocabulary, { beamWidth: 8, languageModel: counting }).decode(lp);
    expect([...text].length).toBeGreaterThan(100);
    // The longest known word is 4 letters ("tuấn", "nuôi"): what is asked is at most one longer.
    expect(Math.max(...asked.map((prefix) => [...prefix].length))).toBeLessThanOrEqual(5);
  });

  it('refuses a bound of 0', () => {
    expect(() => new CtcBeamSearch(vocabulary, { extensionsPerFrame: 0 })).toThrow(/extensionsPerFrame/);
  });
});

describe('logSoftmaxFrames', () => {
  it('gives rows whose probabilities sum to 1 and keeps the order', () => {
    const logits = Float32Array.from([0, 0, Math.log(3), /* frame 2 */ 5, 1, 1]);
    const lp = logSoftmaxFrames(logits, 2, 3);
    expect(Math.exp(lp[2])).toBeCloseTo(3 / 5, 6);
    for (let f = 0; f < 2; f++) expect(Math.exp(lp[f * 3]) + Math.exp(lp[f * 3 + 1]) + Math.exp(lp[f * 3 + 2])).toBeCloseTo(1, 6);
  });
});
