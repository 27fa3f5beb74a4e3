import { describe, expect, it } from 'vitest';
import { planChunks } from '../../src/core/chunking.js';
import { peakNormalize } from '../../src/core/normalize.js';
import { SILENCE_DB, findPauses, frameLevelsDb, pauseThresholdDb, type Pause } from '../../src/core/pauses.js';
import { windowsFor } from '../../src/core/transcriber.js';
import { encodeWav } from '../../src/core/wav.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { testCore } from '../support/core.js';

const fill = (...runs: [value: number, count: number][]): Float32Array => Float32Array.from(runs.flatMap(([v, n]) => Array<number>(n).fill(v)));
const levels = (...runs: [db: number, frames: number][]): Float32Array => fill(...runs);

describe('frame levels', () => {
  it.each<[string, Float32Array, number, number[]]>([
    ['a frame at the peak is 0 dB', fill([1, 320], [-1, 320]), 320, [0, 0]],
    ['half the peak is 6 dB down', fill([1, 320], [0.5, 320]), 320, [0, -6.02]],
    ['the levels are relative to the peak, not to full scale', fill([0.25, 320], [0.125, 320]), 320, [0, -6.02]],
    ['digital silence is the floor', fill([0, 320], [0.5, 320]), 320, [SILENCE_DB, 0]],
    ['all-zero audio is all floor', fill([0, 700]), 320, [SILENCE_DB, SILENCE_DB, SILENCE_DB]],
    ['a short last frame is the mean of what it has', fill([1, 320], [0.5, 100]), 320, [0, -6.02]],
    ['other frame lengths', fill([1, 4], [0.1, 4]), 4, [0, -20]],
    ['no samples, no frames', new Float32Array(0), 320, []],
  ])('%s', (_name, samples, frame, expected) => {
    const out = frameLevelsDb(samples, frame);
    expect(out.length).toBe(expected.length);
    expected.forEach((db, i) => expect(out[i]).toBeCloseTo(db, 2));
  });
});

describe('pause threshold from the file itself', () => {
  it.each<[string, Float32Array, number]>([
    // min(floor + 10, speech − 25), never under −60.
    ['clean speech and digital silence: −60 dB', levels([-3, 70], [SILENCE_DB, 30]), -60],
    ['steady noise 50 dB down: 10 dB over it', levels([-3, 70], [-50, 30]), -40],
    ['loud noise 20 dB down: 25 dB under the speech, so the noise is no pause', levels([-3, 70], [-20, 30]), -28],
    ['no quiet frames at all: 25 dB under the speech', levels([-3, 100]), -28],
    ['mostly silence (its percentiles all silence): −60 dB still', levels([SILENCE_DB, 97], [-3, 3]), -60],
    ['no frames', new Float32Array(0), -60],
  ])('%s', (_name, input, expected) => {
    expect(pauseThresholdDb(input)).toBeCloseTo(expected, 5);
  });

  it('takes its percentiles and margins as options', () => {
    expect(pauseThresholdDb(levels([-3, 70], [-50, 30]), { floorMarginDb: 5 })).toBeCloseTo(-45, 5);
    expect(pauseThresholdDb(levels([-3, 100]), { minDepthDb: 40, absoluteDb: -30 })).toBeCloseTo(-30, 5);
  });
});

describe('pauses are runs of quiet frames', () => {
  it.each<[string, Float32Array, number, Pause[]]>([
    ['one run long enough', levels([-3, 1], [-80, 3], [-3, 1]), 3, [{ from: 1, to: 4 }]],
    ['a run one frame short', levels([-3, 1], [-80, 3], [-3, 1]), 4, []],
    ['runs at both ends', levels([-80, 2], [-3, 1], [-80, 2]), 2, [{ from: 0, to: 2 }, { from: 3, to: 5 }]],
    ['a frame at the threshold is not quiet', levels([-60, 5]), 1, []],
    ['all quiet', levels([-70, 4]), 2, [{ from: 0, to: 4 }]],
    ['nothing', new Float32Array(0), 1, []],
  ])('%s', (_name, input, minFrames, expected) => {
    expect(findPauses(input, -60, minFrames)).toEqual(expected);
  });
});

const SENTENCES = ['xin chào các bạn', 'hôm nay trời đẹp quá', 'một hai ba bốn năm sáu bảy', 'kem nhé', 'ngoài trời mưa to lắm'];

/** Speech with a pause after every phrase, as people talk: phrases of 1–5 s, pauses of 0.3–0.7 s. */
function pausedSpeech(seconds: number): { samples: Float32Array; text: string } {
  const parts: Float32Array[] = [];
  const phrases: string[] = [];
  let length = 0;
  for (let i = 0; length < seconds * 16_000; i++) {
    const phrase = SENTENCES[i % SENTENCES.length];
    // The trailing `|` is the word delimiter a real model emits at the end of a phrase.
    const part = synthesizeSpeech(`${phrase}|`, { padMs: 150 + (i % 3) * 100 });
    parts.push(part);
    phrases.push(phrase);
    length += part.length;
  }
  const samples = new Float32Array(length);
  parts.reduce((at, part) => (samples.set(part, at), at + part.length), 0);
  return { samples, text: phrases.join(' ') };
}

/** Letters with no silence between them, and no letter twice in a row: speech that never pauses. */
function unbrokenSpeech(seconds: number): { samples: Float32Array; text: string } {
  const words = 'một hai ba bốn năm sáu bảy tám chín mười'.split(' ');
  const perWord = 0.5;
  const text = Array.from({ length: Math.ceil(seconds / perWord) }, (_, i) => words[(i * 3) % words.length]).join(' ');
  return { samples: synthesizeSpeech(text, { gapMs: 0, padMs: 0 }), text };
}

const inputSeconds = (samples: Float32Array): number => windowsFor(peakNormalize(samples.slice()), { chunkSec: 20, strideSec: 4 }).reduce((n, c) => n + c.end - c.start, 0) / 16_000;

describe('fewer model inputs, same words (tone model)', () => {
  it.each([60, 300])('speech with regular pauses: the model hears at most 1.1× the audio (%i s)', (seconds) => {
    const { samples } = pausedSpeech(seconds);
    const duration = samples.length / 16_000;
    const before = planChunks(samples.length, 16_000 * 20, 16_000 * 4).reduce((n, c) => n + c.end - c.start, 0) / 16_000;
    expect(before / duration).toBeGreaterThan(1.45);
    expect(inputSeconds(samples) / duration).toBeLessThanOrEqual(1.1);
  });

  it('speech that never pauses: windows overlap by strides, as before', () => {
    const { samples } = unbrokenSpeech(120);
    const chunks = windowsFor(peakNormalize(samples.slice()), { chunkSec: 20, strideSec: 4 });
    expect(chunks).toEqual(planChunks(samples.length, 16_000 * 20, 16_000 * 4));
  });

  it('transcribes both exactly, with the words and times of one pass', async () => {
    const windowed = await testCore();
    const onePass = await testCore({ CHUNK_SEC: '1000', STRIDE_SEC: '0' });
    try {
      for (const { samples, text } of [pausedSpeech(150), unbrokenSpeech(100)]) {
        const partials: { text: string; windows: number }[] = [];
        const data = encodeWav(samples);
        const result = await windowed.core.transcriber.transcribe({ kind: 'buffer', data }, { onPartial: (p) => partials.push(p) });
        expect(result.text).toBe(text);
        const reference = await onePass.core.transcriber.transcribe({ kind: 'buffer', data });
        expect(result.words.map(({ word, start, end }) => ({ word, start, end }))).toEqual(reference.words.map(({ word, start, end }) => ({ word, start, end })));
        // Each partial is final as far as it goes: a prefix of the text, and never shorter than the one before.
        const plan = windowsFor(peakNormalize(samples.slice()), { chunkSec: 20, strideSec: 4 });
        expect(partials.length).toBe(plan.length);
        expect(partials[0].windows).toBe(plan.length);
        expect(partials.at(-1)?.text).toBe(text);
        partials.reduce((previous, p) => (expect(text.startsWith(p.text)).toBe(true), expect(p.text.length).toBeGreaterThanOrEqual(previous.length), p.text), '');
      }
    } finally {
      await windowed.core.close();
      await onePass.core.close();
    }
  });

  it('with context past the pause cuts (PAUSE_CONTEXT_SEC=1.28): more model input, the same words and times as one pass', async () => {
    const withContext = await testCore({ PAUSE_CONTEXT_SEC: '1.28' });
    const onePass = await testCore({ CHUNK_SEC: '1000', STRIDE_SEC: '0' });
    try {
      const { samples, text } = pausedSpeech(150);
      const plan = windowsFor(peakNormalize(samples.slice()), { chunkSec: 20, strideSec: 4, pauseContextSec: 1.28 });
      const cuts = plan.length - 1;
      // Each cut adds its context on both sides.
      expect(plan.reduce((n, c) => n + c.end - c.start, 0) - samples.length).toBe(cuts * (2 * 20_480 + 320));
      const data = encodeWav(samples);
      const result = await withContext.core.transcriber.transcribe({ kind: 'buffer', data });
      expect(result.text).toBe(text);
      const reference = await onePass.core.transcriber.transcribe({ kind: 'buffer', data });
      expect(result.words.map(({ word, start, end }) => ({ word, start, end }))).toEqual(reference.words.map(({ word, start, end }) => ({ word, start, end })));
    } finally {
      await withContext.core.close();
      await onePass.core.close();
    }
  });
});
