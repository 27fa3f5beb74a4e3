import type { Word } from './types.js';

/** The tokenizer facts greedy CTC decoding needs, read from the model's tokenizer files. */
export interface CtcVocabulary {
  /** id → token. */
  tokens: string[];
  /** The CTC blank: the tokenizer's pad token (khanhld's vocabulary puts it last, not at 0). */
  blankId: number;
  /** The word delimiter token's id (`|`), or -1 when the vocabulary has none. */
  delimiterId: number;
  /** Special tokens that never reach the text (`<s>`, `</s>`, `<unk>`, `<bos>`, `<eos>`, the pad). */
  specialIds: ReadonlySet<number>;
}

/** The tokenizer files as Hugging Face writes them; every field optional. */
export interface TokenizerFiles {
  vocab: Record<string, number>;
  tokenizerConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

/**
 * Builds the vocabulary from vocab.json and the tokenizer files. The blank is the pad token
 * named by tokenizer_config.json or special_tokens_map.json (default `<pad>`), falling back to
 * config.json's `pad_token_id`.
 */
export function buildVocabulary(files: TokenizerFiles): CtcVocabulary {
  const entries = Object.entries(files.vocab);
  if (entries.length === 0) throw new Error('vocab.json is empty');
  const size = Math.max(...entries.map(([, id]) => id)) + 1;
  const tokens: string[] = new Array<string>(size).fill('');
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || id < 0) throw new Error(`vocab.json: token ${JSON.stringify(token)} has id ${id}`);
    tokens[id] = token;
  }
  const idOf = (token: string | undefined): number => (token !== undefined && token in files.vocab ? files.vocab[token] : -1);
  const pick = (key: string): string | undefined =>
    tokenName(files.tokenizerConfig?.[key]) ?? tokenName(files.specialTokensMap?.[key]);

  let blankId = idOf(pick('pad_token') ?? '<pad>');
  if (blankId < 0 && typeof files.config?.pad_token_id === 'number') blankId = files.config.pad_token_id;
  if (blankId < 0 || blankId >= size) throw new Error('the vocabulary has no pad token to use as the CTC blank');

  const delimiterId = idOf(pick('word_delimiter_token') ?? '|');
  const specialIds = new Set<number>([blankId]);
  for (const name of [pick('bos_token'), pick('eos_token'), pick('unk_token'), '<s>', '</s>', '<unk>', '<bos>', '<eos>']) {
    const id = idOf(name);
    if (id >= 0 && id !== delimiterId) specialIds.add(id);
  }
  return { tokens, blankId, delimiterId, specialIds };
}

function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'content' in value && typeof value.content === 'string') return value.content;
  return undefined;
}

/** Per-frame argmax ids and the softmax probability of each frame's winner. */
export interface FramePredictions {
  ids: Int32Array;
  probs: Float32Array;
}

/** Argmax and max-softmax probability of each frame of a `[frames, vocab]` logits matrix. */
export function argmaxFrames(logits: Float32Array, frames: number, vocab: number): FramePredictions {
  const ids = new Int32Array(frames);
  const probs = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    const row = f * vocab;
    let best = 0;
    let max = logits[row];
    for (let v = 1; v < vocab; v++) {
      if (logits[row + v] > max) {
        max = logits[row + v];
        best = v;
      }
    }
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
    ids[f] = best;
    probs[f] = 1 / sum;
  }
  return { ids, probs };
}

/** Seconds per logits frame of wav2vec2 at 16 kHz (320 samples). */
export const FRAME_SECONDS = 0.02;

/**
 * Greedy CTC decoding as Hugging Face's Wav2Vec2CTCTokenizer does it: collapse repeated ids,
 * drop the blank, then drop the special tokens and turn the word delimiter into a space. A letter
 * repeated across a blank stays doubled. Runs of spaces are folded into one and the ends trimmed.
 * Word times come from frame offsets; a word's confidence is the mean winner probability over its
 * frames.
 */
export function decodeCtc(
  predictions: FramePredictions,
  vocabulary: CtcVocabulary,
  frameSeconds = FRAME_SECONDS,
): { text: string; words: Word[] } {
  const { ids, probs } = predictions;
  const words: Word[] = [];
  let current: { chars: string[]; startFrame: number; endFrame: number } | undefined;

  const finish = (): void => {
    if (!current) return;
    let sum = 0;
    for (let f = current.startFrame; f < current.endFrame; f++) sum += probs[f];
    words.push({
      word: current.chars.join(''),
      start: round3(current.startFrame * frameSeconds),
      end: round3(current.endFrame * frameSeconds),
      confidence: round3(sum / (current.endFrame - current.startFrame)),
    });
    current = undefined;
  };

  let f = 0;
  while (f < ids.length) {
    const id = ids[f];
    let end = f + 1;
    while (end < ids.length && ids[end] === id) end++;
    if (id === vocabulary.delimiterId) {
      finish();
    } else if (!vocabulary.specialIds.has(id)) {
      const token = vocabulary.tokens[id] ?? '';
      if (/\s/.test(token)) {
        finish();
      } else if (token !== '') {
        current ??= { chars: [], startFrame: f, endFrame: end };
        current.chars.push(token);
        current.endFrame = end;
      }
    }
    f = end;
  }
  finish();
  return { text: words.map((w) => w.word).join(' '), words };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
