import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GraphBuilder } from '../src/onnx/graph-builder.js';

/**
 * A designed, deterministic stand-in for the real model, with its interface (`input_values`
 * [batch, samples] → `logits` [batch, frames, vocab], 400-sample receptive field, 320-sample
 * frames) and a Vietnamese vocabulary whose `<pad>` blank is the last id, as in khanhld's.
 *
 * Every letter (and the word delimiter `|`) owns one tone frequency, a multiple of 40 Hz, so a
 * 400-sample window holds whole periods. The graph is a filterbank: a frame's logit for a letter
 * is 20 × (share of the window's energy at that letter's frequency), the blank's is 10. A frame
 * more than half covered by a letter's tone decodes to that letter; silence decodes to blank.
 * The measure is a ratio, so it does not care about gain, codecs' level changes or per-chunk
 * normalisation. `synthesizeSpeech` makes the matching audio for any text over the alphabet.
 */

const BASE_VOWELS = ['a', 'ă', 'â', 'e', 'ê', 'i', 'o', 'ô', 'ơ', 'u', 'ư', 'y'];
const TONE_MARKS = ['\u0300', '\u0301', '\u0309', '\u0303', '\u0323'];
const CONSONANTS = ['n', 'h', 't', 'c', 'g', 'm', 'đ', 'l', 'b', 'k', 'd', 'v', 'r', 's', 'x', 'p', 'q'];
const FOREIGN = ['f', 'j', 'w', 'z'];

/** The tone tokens in frequency order: `|` lowest, common letters next, rare foreign letters last. */
export const TONE_ALPHABET: readonly string[] = [
  '|',
  ...CONSONANTS,
  ...BASE_VOWELS,
  ...TONE_MARKS.flatMap((mark) => BASE_VOWELS.map((v) => (v + mark).normalize('NFC'))),
  ...FOREIGN,
];

/**
 * Where tests and the load test keep the built tone model: test-output/ (git-ignored) under the
 * working directory, which for both is the project's folder.
 */
export const TONE_MODEL_DIR = path.resolve('test-output/tone-model');

const SPECIALS = ['<s>', '</s>', '<unk>', '<pad>'];
const WINDOW = 400;
const HOP = 320;
const FIRST_BIN = 3;
const BIN_HZ = 40;
/** Energy floor (sum of squares over a window of normalised audio) below which a frame is silence. */
const ENERGY_FLOOR = 10;

/** The frequency in Hz of a token's tone. */
export function toneFrequency(token: string): number {
  const index = TONE_ALPHABET.indexOf(token);
  if (index < 0) throw new RangeError(`no tone for ${JSON.stringify(token)}`);
  return (FIRST_BIN + index) * BIN_HZ;
}

/** vocab.json of the tone model: the tone tokens, then `<s>`, `</s>`, `<unk>`, and `<pad>` last. */
export function toneVocabulary(): Record<string, number> {
  return Object.fromEntries([...TONE_ALPHABET, ...SPECIALS].map((token, id) => [token, id]));
}

/** The ONNX bytes of the tone model. */
export function buildToneModel(): Uint8Array {
  const k = TONE_ALPHABET.length;
  const vocab = k + SPECIALS.length;
  const g = new GraphBuilder('tone_filterbank');
  const input = g.input('input_values', ['batch', 'samples']);

  const filters = new Float32Array(2 * k * WINDOW);
  TONE_ALPHABET.forEach((token, i) => {
    const w = (2 * Math.PI * toneFrequency(token)) / 16_000;
    for (let n = 0; n < WINDOW; n++) {
      filters[i * WINDOW + n] = Math.cos(w * n);
      filters[(k + i) * WINDOW + n] = Math.sin(w * n);
    }
  });
  const x = g.op('Unsqueeze', [input, g.constant([1], 'int64')]);
  const conv = { kernel_shape: [WINDOW], strides: [HOP] };
  const projections = g.op('Conv', [x, g.weight('filterbank', filters, [2 * k, 1, WINDOW])], conv);
  const squared = g.op('Mul', [projections, projections]);
  const pairs = g.op('Reshape', [squared, g.constant([0, 2, k, -1], 'int64')]);
  const toneEnergy = g.op('ReduceSum', [pairs, g.constant([1], 'int64')], { keepdims: 0 });

  const power = g.op('Mul', [x, x]);
  const total = g.op('Conv', [power, g.weight('box', new Float32Array(WINDOW).fill(1), [1, 1, WINDOW])], conv);
  // A whole window of one tone puts (WINDOW / 2) × total into its bin: logit = 20 × share.
  const denominator = g.op('Mul', [g.op('Add', [total, g.constant(ENERGY_FLOOR)]), g.constant(WINDOW / 2 / 20)]);
  const letters = g.op('Div', [toneEnergy, denominator]);
  const zero = g.op('Mul', [total, g.constant(0)]);
  const never = g.op('Add', [zero, g.constant(-10)]);
  const blank = g.op('Add', [zero, g.constant(10)]);
  const all = g.op('Concat', [letters, never, never, never, blank], { axis: 1 });
  const logits = g.op('Transpose', [all], { perm: [0, 2, 1] });
  g.output('logits', logits, ['batch', 'frames', vocab]);
  return g.toBytes({ docString: 'viet-stt tone filterbank test model' });
}

/** Writes a complete model directory (model.onnx and the tokenizer files) for the tone model. */
export async function writeToneModel(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  await writeFile(path.join(dir, 'model.onnx'), buildToneModel());
  await writeFile(path.join(dir, 'vocab.json'), json(toneVocabulary()));
  await writeFile(
    path.join(dir, 'preprocessor_config.json'),
    json({
      do_normalize: true,
      feature_extractor_type: 'Wav2Vec2FeatureExtractor',
      feature_size: 1,
      padding_side: 'right',
      padding_value: 0,
      return_attention_mask: false,
      sampling_rate: 16000,
    }),
  );
  const specials = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' };
  await writeFile(
    path.join(dir, 'tokenizer_config.json'),
    json({ ...specials, word_delimiter_token: '|', tokenizer_class: 'Wav2Vec2CTCTokenizer', do_lower_case: false }),
  );
  await writeFile(path.join(dir, 'special_tokens_map.json'), json(specials));
}

export interface SynthesisOptions {
  /** Output sample rate; default 16000. */
  sampleRate?: number;
  /** Length of each letter's tone in ms; default 100. */
  toneMs?: number;
  /** Silence between tones in ms (it keeps doubled letters apart); default 60. */
  gapMs?: number;
  /** Silence before the first and after the last tone in ms; default 200. */
  padMs?: number;
  amplitude?: number;
  /**
   * Letters sounded as a blend of two tones: `{ ộ: { with: 'ọ', share: 0.55 } }` gives every
   * `ộ` that share of its energy at `ọ`'s tone, so the model is unsure between them (past 0.5
   * greedy hears `ọ`). Default none.
   */
  blend?: Record<string, { with: string; share: number }>;
}

/**
 * The audio the tone model hears as `text`: one tone per letter, `|` for each space, short
 * silences between. Text is NFC-normalised and lower-cased.
 */
export function synthesizeSpeech(text: string, options: SynthesisOptions = {}): Float32Array {
  const rate = options.sampleRate ?? 16_000;
  const tone = Math.round(((options.toneMs ?? 100) * rate) / 1000);
  const gap = Math.round(((options.gapMs ?? 60) * rate) / 1000);
  const pad = Math.round(((options.padMs ?? 200) * rate) / 1000);
  const amplitude = options.amplitude ?? 0.5;
  const tokens = [...text.normalize('NFC').toLowerCase().trim()].map((c) => (c === ' ' ? '|' : c));
  const out = new Float32Array(2 * pad + tokens.length * tone + Math.max(0, tokens.length - 1) * gap);
  const ramp = Math.round(0.005 * rate);
  tokens.forEach((token, i) => {
    const blend = options.blend?.[token];
    const parts = blend
      ? [
          { token, gain: Math.sqrt(1 - blend.share) },
          { token: blend.with, gain: Math.sqrt(blend.share) },
        ]
      : [{ token, gain: 1 }];
    const start = pad + i * (tone + gap);
    for (const part of parts) {
      const w = (2 * Math.PI * toneFrequency(part.token)) / rate;
      for (let n = 0; n < tone; n++) {
        const edge = Math.min(1, n / ramp, (tone - 1 - n) / ramp);
        out[start + n] += amplitude * part.gain * edge * Math.sin(w * n);
      }
    }
  });
  return out;
}
