import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { argmaxFrames, buildVocabulary, decodeCtc, type CtcVocabulary } from '../../src/core/ctc.js';
import { HF_REFERENCE, readReference } from '../support/fixtures.js';

// khanhld's layout in miniature: letters first, `|` among them, specials, and `<pad>` last.
const vocabulary: CtcVocabulary = buildVocabulary({
  vocab: { a: 0, b: 1, '|': 2, 'ạ': 3, '<unk>': 4, '<s>': 5, '</s>': 6, '<pad>': 7 },
  tokenizerConfig: { pad_token: '<pad>', unk_token: '<unk>', bos_token: '<s>', eos_token: '</s>', word_delimiter_token: '|' },
});
const [A, B, SPACE, A_DOT, UNK, BOS, EOS, BLANK] = [0, 1, 2, 3, 4, 5, 6, 7];

function decode(ids: number[]): string {
  return decodeCtc({ ids: Int32Array.from(ids), probs: new Float32Array(ids.length).fill(1) }, vocabulary).text;
}

describe('greedy CTC decoding follows Wav2Vec2CTCTokenizer', () => {
  it('takes the blank from the pad token, not id 0', () => {
    expect(vocabulary.blankId).toBe(BLANK);
    expect(vocabulary.delimiterId).toBe(SPACE);
  });

  it.each<[string, number[], string]>([
    ['nothing', [], ''],
    ['only blanks', [BLANK, BLANK, BLANK], ''],
    ['repeats collapse', [A, A, A, B, B], 'ab'],
    ['a letter doubled across a blank stays doubled', [A, BLANK, A], 'aa'],
    ['blanks between different letters vanish', [BLANK, A, BLANK, BLANK, B, BLANK], 'ab'],
    ['the delimiter is a space', [A, SPACE, B], 'a b'],
    ['repeated delimiters are one space', [A, SPACE, SPACE, BLANK, SPACE, B], 'a b'],
    ['leading and trailing delimiters are trimmed', [SPACE, A, B, SPACE], 'ab'],
    ['special tokens are dropped', [BOS, A, UNK, B, EOS], 'ab'],
    ['specials are dropped after repeats collapse', [A, BOS, A], 'aa'],
    ['a special between words leaves one space', [A, SPACE, BOS, SPACE, B], 'a b'],
    ['precomposed diacritics come through', [A_DOT, A_DOT, BLANK, SPACE, B, A], 'ạ ba'],
  ])('%s', (_name, ids, text) => {
    expect(decode(ids)).toBe(text);
  });

  it('gives word times from frame offsets (20 ms a frame) and mean confidence', () => {
    const ids = Int32Array.from([BLANK, A, A, BLANK, B, SPACE, SPACE, A_DOT, BLANK]);
    const probs = Float32Array.from([1, 0.9, 0.7, 1, 0.8, 1, 1, 0.5, 1]);
    expect(decodeCtc({ ids, probs }, vocabulary).words).toEqual([
      { word: 'ab', start: 0.02, end: 0.1, confidence: 0.85 },
      { word: 'ạ', start: 0.14, end: 0.16, confidence: 0.5 },
    ]);
  });

  it('argmaxFrames picks each frame winner and its softmax probability', () => {
    const logits = Float32Array.from([0, 0, Math.log(3), /* frame 2 */ 5, 1, 1]);
    const { ids, probs } = argmaxFrames(logits, 2, 3);
    expect([...ids]).toEqual([2, 0]);
    expect(probs[0]).toBeCloseTo(3 / 5, 6);
    expect(probs[1]).toBeCloseTo(Math.exp(5) / (Math.exp(5) + 2 * Math.E), 6);
  });
});

describe('decoding Hugging Face reference ids gives its transcripts', () => {
  it.each([
    ['fixture-tiny', 'xin_chao'],
    ['fixture-tiny', 'sine440_3s'],
    ['fixture-tiny-padlast', 'xin_chao'],
    ['fixture-tiny-padlast', 'sine440_3s'],
  ])('%s / %s', async (model, input) => {
    const read = async (file: string) => JSON.parse(await readFile(path.join(HF_REFERENCE, model, file), 'utf8')) as Record<string, never>;
    const vocab = buildVocabulary({
      vocab: await read('vocab.json'),
      tokenizerConfig: await read('tokenizer_config.json'),
      specialTokensMap: await read('special_tokens_map.json'),
    });
    const reference = await readReference(model, input);
    const ids = Int32Array.from(reference.argmax_ids);
    const { text } = decodeCtc({ ids, probs: new Float32Array(ids.length).fill(1) }, vocab);
    // transformers keeps <s>, </s> and <unk> as literal text; the product drops them.
    const expected = reference.text.replace(/<s>|<\/s>|<unk>/g, '').replace(/ +/g, ' ').trim();
    expect(text).toBe(expected);
  });
});
