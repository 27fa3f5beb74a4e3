import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keptFrames, planChunks } from '../../src/core/chunking.js';
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
