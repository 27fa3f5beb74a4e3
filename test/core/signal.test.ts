import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keptFrames, planChunks, planWindows, type Chunk } from '../../src/core/chunking.js';
import { decodeAudio, resolveFfmpegPath } from '../../src/core/decode.js';
import { peakNormalize, zeroMeanUnitVariance } from '../../src/core/normalize.js';
import { HF_REFERENCE, readF32 } from '../support/fixtures.js';

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('normalisation', () => {
  it.each<[string, number[], number[]]>([
    ['scales the peak to 1', [0.25, -0.5, 0.125], [0.5, -1, 0.25]],
    ['keeps an all-zero signal', [0, 0, 0], [0, 0, 0]],
    ['keeps a signal already at 1', [1, -0.5], [1, -0.5]],
  ])('peak: %s', (_name, input, expected) => {
    expect([...peakNormalize(Float32Array.from(input))]).toEqual(expected);
  });

  it.each<[string, number[], number[]]>([
    ['zero mean, unit population variance', [1, 3], [-1, 1]],
    ['a constant becomes zeros', [0.5, 0.5, 0.5], [0, 0, 0]],
    ['an empty signal stays empty', [], []],
  ])('features: %s', (_name, input, expected) => {
    const out = zeroMeanUnitVariance(Float32Array.from(input));
    expected.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
    expect(out.length).toBe(expected.length);
  });

  it.each(['xin_chao', 'xin_chao_f32', 'sine440_3s'])('ffmpeg decode + both normalisations match transformers on %s', async (name) => {
    const dir = path.join(HF_REFERENCE, 'fixture-tiny');
    const audio = peakNormalize(await decodeAudio({ path: path.join(dir, 'inputs', `${name}.wav`) }, { ffmpegPath: resolveFfmpegPath(undefined), maxSeconds: 60 }));
    const expectedAudio = await readF32(path.join(dir, 'reference', `${name}.audio.f32.bin`));
    expect(audio.length).toBe(expectedAudio.length);
    expect(maxAbsDiff(audio, expectedAudio)).toBeLessThan(1e-6);
    const features = zeroMeanUnitVariance(audio);
    expect(maxAbsDiff(features, await readF32(path.join(dir, 'reference', `${name}.input_values.f32.bin`)))).toBeLessThan(1e-5);
  });
});

describe('chunk plan follows the ASR pipeline', () => {
  it('one window when the audio fits', () => {
    expect(planChunks(16_000 * 10, 16_000 * 20, 16_000 * 4)).toEqual([{ start: 0, end: 160_000, strideLeft: 0, strideRight: 0 }]);
  });

  it('overlapping windows rounded to the 320-sample frame, no left stride first, no right stride last', () => {
    // 20 s windows with 4 s strides step by 12 s.
    const chunks = planChunks(16_000 * 45, 16_000 * 20, 16_000 * 4);
    expect(chunks).toEqual([
      { start: 0, end: 320_000, strideLeft: 0, strideRight: 64_000 },
      { start: 192_000, end: 512_000, strideLeft: 64_000, strideRight: 64_000 },
      { start: 384_000, end: 704_000, strideLeft: 64_000, strideRight: 64_000 },
      { start: 576_000, end: 720_000, strideLeft: 64_000, strideRight: 0 },
    ]);
    for (const c of chunks) expect((c.end - c.start) % 320 === 0 || c === chunks.at(-1)).toBe(true);
  });

  it('rounds odd window and stride lengths to whole frames', () => {
    const [first] = planChunks(1_000_000, 100_100, 10_100);
    expect(first).toEqual({ start: 0, end: 100_160, strideLeft: 0, strideRight: 10_240 });
  });

  it('kept frames tile the audio with no gap and no overlap', () => {
    const length = 16_000 * 45;
    const chunks = planChunks(length, 16_000 * 20, 16_000 * 4);
    let next = 0;
    for (const chunk of chunks) {
      const frames = Math.round((chunk.end - chunk.start) / 320);
      const { from, to } = keptFrames(chunk, frames);
      expect(Math.round(chunk.start / 320) + from).toBe(next);
      next = Math.round(chunk.start / 320) + to;
    }
    expect(next).toBe(length / 320);
  });

  it('refuses strides that eat the whole window', () => {
    expect(() => planChunks(100_000, 16_000, 8_000)).toThrow(RangeError);
  });
});

/** Audio built from parts of `seconds` each: loud speech-like sound, digital silence, a shallow dip, or quiet noise. */
type Part = ['speech' | 'silence' | 'dip' | 'noise', number];
function audio(parts: Part[], background = 0): Float32Array {
  const out = new Float32Array(Math.round(parts.reduce((n, [, s]) => n + s, 0) * 16_000));
  let at = 0;
  let seed = 1;
  const noise = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 30 - 1) * background;
  for (const [kind, seconds] of parts) {
    const n = Math.round(seconds * 16_000);
    const gain = { speech: 0.5, silence: 0, dip: 0.5 * 10 ** (-15 / 20), noise: 0 }[kind];
    for (let i = 0; i < n; i++) out[at + i] = gain * Math.sin((2 * Math.PI * 440 * i) / 16_000) + noise();
    at += n;
  }
  return out;
}

/** Each chunk's kept frames start where the last one's ended, and together they are one pass's frames. */
function expectFramesTile(chunks: Chunk[], length: number, maxSamples: number): void {
  // What wav2vec2's feature encoder gives: one frame per 320 samples past its 400-sample receptive field.
  const modelFrames = (samples: number): number => Math.floor((samples - 400) / 320) + 1;
  let next = 0;
  for (const chunk of chunks) {
    const { from, to } = keptFrames(chunk, modelFrames(chunk.end - chunk.start));
    expect(Math.round(chunk.start / 320) + from).toBe(next);
    expect(chunk.end - chunk.start).toBeLessThanOrEqual(maxSamples);
    next = Math.round(chunk.start / 320) + to;
  }
  expect(next).toBe(modelFrames(length));
}

const WINDOW = { maxSamples: 16_000 * 20, strideSamples: 16_000 * 4 };
const inputSamples = (chunks: Chunk[]): number => chunks.reduce((n, c) => n + c.end - c.start, 0);

describe('windows cut at pauses', () => {
  it.each<[string, Part[], number, Chunk[]]>([
    [
      'a 0.5 s pause in the last 8 s: cut at its middle frame edge, one frame past it dropped',
      [['speech', 15], ['silence', 0.5], ['speech', 10]],
      0,
      [
        { start: 0, end: 763 * 320, strideLeft: 0, strideRight: 320 },
        { start: 762 * 320, end: 408_000, strideLeft: 0, strideRight: 0 },
      ],
    ],
    [
      'the same pause under steady noise 50 dB down',
      [['speech', 15], ['silence', 0.5], ['speech', 10]],
      0.5 * 10 ** (-50 / 20),
      [
        { start: 0, end: 763 * 320, strideLeft: 0, strideRight: 320 },
        { start: 762 * 320, end: 408_000, strideLeft: 0, strideRight: 0 },
      ],
    ],
    [
      'of two pauses the longer, not the later',
      [['speech', 13], ['silence', 0.6], ['speech', 4], ['silence', 0.3], ['speech', 10]],
      0,
      [
        { start: 0, end: 666 * 320, strideLeft: 0, strideRight: 320 },
        { start: 665 * 320, end: 446_400, strideLeft: 0, strideRight: 0 },
      ],
    ],
    [
      'a pause running past the longest end: cut as late as the window allows',
      [['speech', 19], ['silence', 3], ['speech', 10]],
      0,
      [
        { start: 0, end: 320_000, strideLeft: 0, strideRight: 320 },
        { start: 319_680, end: 512_000, strideLeft: 0, strideRight: 0 },
      ],
    ],
    [
      'a pause before the last 8 s is too early: strides, as Hugging Face',
      [['speech', 5], ['silence', 0.5], ['speech', 20]],
      0,
      [
        { start: 0, end: 320_000, strideLeft: 0, strideRight: 64_000 },
        { start: 192_000, end: 408_000, strideLeft: 64_000, strideRight: 0 },
      ],
    ],
    [
      'a 100 ms gap is not a pause (it could be inside a word)',
      [['speech', 15], ['silence', 0.1], ['speech', 10]],
      0,
      [
        { start: 0, end: 320_000, strideLeft: 0, strideRight: 64_000 },
        { start: 192_000, end: 401_600, strideLeft: 64_000, strideRight: 0 },
      ],
    ],
    [
      'a dip only 15 dB down is not a pause',
      [['speech', 15], ['dip', 0.5], ['speech', 10]],
      0,
      [
        { start: 0, end: 320_000, strideLeft: 0, strideRight: 64_000 },
        { start: 192_000, end: 408_000, strideLeft: 64_000, strideRight: 0 },
      ],
    ],
    [
      'after a cut in speech, the next window still ends in a pause',
      [['speech', 30], ['silence', 0.5], ['speech', 19]],
      0,
      [
        { start: 0, end: 320_000, strideLeft: 0, strideRight: 64_000 },
        { start: 192_000, end: 1513 * 320, strideLeft: 64_000, strideRight: 320 },
        { start: 1512 * 320, end: 792_000, strideLeft: 0, strideRight: 0 },
      ],
    ],
    ['audio that fits one window is one window, pauses or not', [['speech', 5], ['silence', 1], ['speech', 5]], 0, [{ start: 0, end: 176_000, strideLeft: 0, strideRight: 0 }]],
  ])('%s', (_name, parts, background, expected) => {
    const samples = audio(parts, background);
    expect(planWindows(samples, WINDOW)).toEqual(expected);
  });

  it('every cut in a pause is on a frame edge inside the silence', () => {
    const parts: Part[] = [];
    for (let i = 0; i < 20; i++) parts.push(['speech', 3 + (i % 4) * 1.7], ['silence', 0.25 + (i % 3) * 0.2]);
    const samples = audio(parts);
    const chunks = planWindows(samples, WINDOW);
    const cuts = chunks.slice(0, -1).filter((c) => c.strideRight === 320);
    expect(cuts.length).toBe(chunks.length - 1);
    for (const c of cuts) {
      const cut = c.end - 320;
      expect(cut % 320).toBe(0);
      // At least 100 ms of digital silence on each side of the cut.
      expect(samples.subarray(cut - 1600, cut + 1600).every((v) => v === 0)).toBe(true);
    }
    expect(inputSamples(chunks) / samples.length).toBeLessThan(1.01);
  });

  it.each([16_000 * 21, 16_000 * 45, 16_000 * 45 + 123, 16_000 * 300])('speech with no pause gets exactly the Hugging Face plan (%i samples)', (length) => {
    const samples = audio([['speech', length / 16_000]]);
    expect(planWindows(samples, WINDOW)).toEqual(planChunks(length, WINDOW.maxSamples, WINDOW.strideSamples));
  });

  it('kept frames tile the audio as one pass would, across both kinds of cut', () => {
    const samples = audio([['speech', 30], ['silence', 0.5], ['speech', 18], ['silence', 0.4], ['speech', 40], ['silence', 2], ['speech', 9.5]]);
    const chunks = planWindows(samples, WINDOW);
    expect(new Set(chunks.slice(0, -1).map((c) => c.strideRight))).toEqual(new Set([320, 64_000]));
    expectFramesTile(chunks, samples.length, WINDOW.maxSamples);
  });

  it('with no stride (STRIDE_SEC=0) a cut in speech is made as one in a pause, so no frame is lost', () => {
    const samples = audio([['speech', 37], ['silence', 0.5], ['speech', 30]]);
    const window = { ...WINDOW, strideSamples: 0 };
    const chunks = planWindows(samples, window);
    expect(chunks.map((c) => [c.start, c.end, c.strideLeft, c.strideRight])).toEqual([
      [0, 320_000, 0, 320], // speech: cut at the longest end
      [319_680, 596_160, 0, 320], // the pause at 37–37.5 s
      [595_840, 915_840, 0, 320], // speech again
      [915_520, samples.length, 0, 0],
    ]);
    expectFramesTile(chunks, samples.length, window.maxSamples);
  });

  it('refuses strides that eat the whole window', () => {
    expect(() => planWindows(new Float32Array(100_000), { maxSamples: 16_000, strideSamples: 8_000 })).toThrow(RangeError);
  });
});

describe('context past pause cuts (PAUSE_CONTEXT_SEC)', () => {
  /** 1.28 s: 64 frames. */
  const WITH_CONTEXT = { ...WINDOW, contextSamples: 20_480 };

  it('each side of a cut in a pause reaches 64 frames into the other window, dropped', () => {
    const samples = audio([['speech', 15], ['silence', 0.5], ['speech', 10]]);
    expect(planWindows(samples, WITH_CONTEXT)).toEqual([
      // The same cut at frame 762 as without context.
      { start: 0, end: (763 + 64) * 320, strideLeft: 0, strideRight: 65 * 320 },
      { start: (762 - 64) * 320, end: 408_000, strideLeft: 64 * 320, strideRight: 0 },
    ]);
  });

  it('a pause running past the longest end: the cut leaves room for the context within the window', () => {
    const samples = audio([['speech', 18], ['silence', 3], ['speech', 10]]);
    expect(planWindows(samples, WITH_CONTEXT)).toEqual([
      { start: 0, end: 320_000, strideLeft: 0, strideRight: 65 * 320 },
      { start: (935 - 64) * 320, end: 496_000, strideLeft: 64 * 320, strideRight: 0 },
    ]);
  });

  it('cuts in speech keep their strides; kept frames tile the audio as one pass would, no window longer than CHUNK_SEC', () => {
    const samples = audio([['speech', 30], ['silence', 0.5], ['speech', 18], ['silence', 0.4], ['speech', 40], ['silence', 2], ['speech', 9.5]]);
    const chunks = planWindows(samples, WITH_CONTEXT);
    expect(new Set(chunks.slice(0, -1).map((c) => c.strideRight))).toEqual(new Set([65 * 320, 64_000]));
    expectFramesTile(chunks, samples.length, WINDOW.maxSamples);
  });

  it('with no stride, a cut in speech gets the context too', () => {
    const samples = audio([['speech', 35.5], ['silence', 0.5], ['speech', 30]]);
    const window = { ...WITH_CONTEXT, strideSamples: 0 };
    const chunks = planWindows(samples, window);
    expect(chunks.map((c) => [c.start / 320, c.end / 320, c.strideLeft / 320, c.strideRight / 320])).toEqual([
      [0, 1000, 0, 65], // speech: cut at frame 935, a frame and the context short of the longest end
      [871, 1787 + 1 + 64, 64, 65], // the pause at 35.5–36 s (frames 1775–1800), cut at its middle
      [1787 - 64, 1723 + 1000, 64, 65], // speech again
      [2658 - 64, 3300, 64, 0],
    ]);
    expectFramesTile(chunks, samples.length, window.maxSamples);
  });

  it('refuses a context that leaves a window nothing to keep', () => {
    expect(() => planWindows(new Float32Array(400_000), { maxSamples: 16_000, strideSamples: 0, contextSamples: 8_000 })).toThrow(RangeError);
  });
});
