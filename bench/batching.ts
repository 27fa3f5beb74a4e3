/**
 * `npm run bench:batching`: whether running a job's windows as one batched `session.run`
 * ([windows, samples], zero-padded to the longest) pays on CPU against running them one by one,
 * and what the window length (`CHUNK_SEC`) and the context at pause cuts (`PAUSE_CONTEXT_SEC`)
 * do to the model's time and to the tokens.
 *
 * The model has wav2vec2-base's shape and cost (random weights, built in memory, float32 or
 * with `--int8` the int8 model); the audio is synthesised speech with the pauses people make
 * between phrases, cut into windows by the transcriber's own plan (`windowsFor`). For each
 * window length it times, interleaved round by round so that a busy machine slows every way
 * alike, the model's time for the whole job:
 *
 * - one by one: one `session.run` per window, as the service runs them
 * - batched: every window in one run
 * - batched by length: windows within 10% of each other's length in one run, the others alone
 *
 * and reports medians as ratios to one by one at the first window length, with what batching
 * changes in the transcript: padding lengthens the group-normalised first conv layer's input and
 * the frames attention sees, so a batched window's logits differ from its own run's.
 *
 *   npm run bench:batching -- [--seconds 60] [--chunk 20,15,10:2] [--ways one,batched,length]
 *     [--rounds 5] [--threads 2] [--int8] [--no-pauses]
 *
 * `--chunk` takes CHUNK_SEC values, each with `:STRIDE_SEC` where it is not 4 and then
 * `:PAUSE_CONTEXT_SEC` where it is not 0 (`30:4:1.28`); one longer than the audio makes one
 * window, a one-pass reference (`--chunk 1000,20`).
 */
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { keptFrames, type Chunk } from '../src/core/chunking.js';
import { SAMPLE_RATE } from '../src/core/decode.js';
import { peakNormalize, zeroMeanUnitVariance } from '../src/core/normalize.js';
import { windowsFor } from '../src/core/transcriber.js';
import { buildWav2Vec2Onnx, type Wav2Vec2Config } from '../src/model/wav2vec2-graph.js';
import { randomWav2Vec2Weights, wav2vec2BaseConfig } from '../testkit/random-weights.js';
import { synthesizeSpeech } from '../testkit/tone-model.js';
import { editDistance } from './base-model.js';

/** The transcriber's default STRIDE_SEC, for window lengths given without one. */
const STRIDE_SEC = 4;
const VOCAB = 110;
const BLANK = VOCAB - 1;

/** How a job's windows go to the model: groups of window indices, one `session.run` each. */
type Grouping = (windows: readonly Chunk[]) => number[][];

const GROUPINGS: Record<string, { name: string; grouping: Grouping }> = {
  one: { name: 'one by one', grouping: (windows) => windows.map((_, i) => [i]) },
  batched: { name: 'batched', grouping: (windows) => [windows.map((_, i) => i)] },
  length: { name: 'batched by length', grouping: byLength },
};

/** Windows within 10% of the longest in their group share a run. */
function byLength(windows: readonly Chunk[]): number[][] {
    const groups: number[][] = [];
    const length = (i: number): number => windows[i].end - windows[i].start;
    for (const i of windows.map((_, i) => i).sort((a, b) => length(b) - length(a))) {
      const group = groups.find((g) => length(i) >= 0.9 * length(g[0]));
      if (group) group.push(i);
      else groups.push([i]);
    }
    return groups;
}

/** The frames the conv stack makes of `samples` input samples. */
function framesOf(config: Wav2Vec2Config, samples: number): number {
  return config.conv_kernel.reduce((n, k, i) => Math.floor((n - k) / config.conv_stride[i]) + 1, samples);
}

/**
 * `seconds` of speech: one sentence of about 6 s with a 0.4 s pause after it, over and over, or
 * with `pauses` false words that run on with no pause.
 */
function speech(seconds: number, pauses: boolean): Float32Array {
  const words = 'xin chào các bạn hôm nay trời đẹp quá';
  const sentence = pauses ? synthesizeSpeech(`${words}|`, { padMs: 200 }) : synthesizeSpeech(Array.from({ length: Math.ceil(seconds / 5) }, () => words).join(' '));
  const out = new Float32Array(seconds * SAMPLE_RATE);
  for (let at = 0; at < out.length; at += sentence.length) out.set(sentence.subarray(0, out.length - at), at);
  return peakNormalize(out);
}

/** Runs `windows` of `samples` in `groups`; returns the kept frames' argmax ids, in order. */
async function runGroups(
  session: ort.InferenceSession,
  config: Wav2Vec2Config,
  samples: Float32Array,
  windows: readonly Chunk[],
  groups: readonly number[][],
): Promise<number[]> {
  const ids: number[][] = [];
  for (const group of groups) {
    const pieces = group.map((i) => zeroMeanUnitVariance(samples.subarray(windows[i].start, windows[i].end)));
    const longest = Math.max(...pieces.map((p) => p.length));
    const input = new Float32Array(group.length * longest);
    pieces.forEach((p, b) => input.set(p, b * longest));
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [group.length, longest]) });
    const logits = out[session.outputNames[0]];
    const [, frames, vocab] = logits.dims;
    const data = logits.data as Float32Array;
    group.forEach((i, b) => {
      const { from, to } = keptFrames(windows[i], framesOf(config, pieces[b].length));
      const kept: number[] = [];
      for (let t = from; t < to; t++) {
        const row = (b * frames + t) * vocab;
        let best = 0;
        for (let v = 1; v < vocab; v++) if (data[row + v] > data[row + best]) best = v;
        kept.push(best);
      }
      ids[i] = kept;
    });
  }
  return ids.flat();
}

/** Greedy CTC over ids: repeats merged, blanks dropped. */
function collapse(ids: readonly number[]): number[] {
  return ids.filter((id, t) => id !== BLANK && id !== ids[t - 1]);
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      chunk: { type: 'string', default: '20' },
      ways: { type: 'string', default: 'one,batched,length' },
      'no-pauses': { type: 'boolean', default: false },
      rounds: { type: 'string', default: '5' },
      threads: { type: 'string', default: '2' },
      int8: { type: 'boolean', default: false },
    },
  });
  const plans = (values.chunk ?? '20').split(',').map((spec) => {
    const [chunkSec, strideSec = STRIDE_SEC, pauseContextSec = 0] = spec.split(':').map(Number);
    return { chunkSec, strideSec, pauseContextSec, label: `${chunkSec}:${strideSec}:${pauseContextSec}` };
  });
  const ways = (values.ways ?? '').split(',').map((way) => {
    const found = GROUPINGS[way];
    if (!found) throw new Error(`--ways: ${way} is not one of ${Object.keys(GROUPINGS).join(', ')}`);
    return found;
  });
  const rounds = Number(values.rounds);
  const config = wav2vec2BaseConfig(VOCAB);
  process.stdout.write(`building the random wav2vec2-base model${values.int8 ? ' (int8)' : ''}… `);
  const model = buildWav2Vec2Onnx(config, randomWav2Vec2Weights(config), { quantize: values.int8 ? 'int8' : undefined });
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(values.threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  process.stdout.write('done\n');
  const samples = speech(Number(values.seconds), !values['no-pauses']);

  const cases = plans.flatMap(({ chunkSec, strideSec, pauseContextSec, label }) => {
    const windows = windowsFor(samples, { chunkSec, strideSec, pauseContextSec });
    return ways.map(({ name, grouping }) => ({ label, name, windows, groups: grouping(windows) }));
  });
  for (const { label } of plans) {
    const windows = cases.find((c) => c.label === label)?.windows ?? [];
    const lengths = windows.map((w) => ((w.end - w.start) / SAMPLE_RATE).toFixed(1));
    console.log(`CHUNK_SEC:STRIDE_SEC:PAUSE_CONTEXT_SEC ${label}: ${windows.length} windows of ${lengths.join(', ')} s`);
  }

  // Warm-up, and the transcripts each way gives; each is compared with one by one of its plan.
  const reference = new Map<string, number[]>();
  const transcripts = new Map<(typeof cases)[number], number[]>();
  for (const c of cases) {
    const ids = await runGroups(session, config, samples, c.windows, c.groups);
    transcripts.set(c, ids);
    if (!reference.has(c.label)) reference.set(c.label, ids);
  }

  const times = new Map<(typeof cases)[number], number[]>(cases.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t0 = performance.now();
      await runGroups(session, config, samples, c.windows, c.groups);
      times.get(c)?.push((performance.now() - t0) / 1000);
    }
  }
  await session.release();

  const base = median(times.get(cases[0]) ?? []);
  const rows = cases.map((c) => {
    const ids = transcripts.get(c) ?? [];
    const own = reference.get(c.label) ?? [];
    const sameFrames = ids.length === own.length ? ids.filter((id, t) => id === own[t]).length / ids.length : Number.NaN;
    const tokens = collapse(own);
    const first = collapse(transcripts.get(cases[0]) ?? []);
    return {
      'chunk:stride:context': c.label,
      way: c.name,
      runs: c.groups.length,
      modelInputSec: +(c.groups.reduce((n, g) => n + g.length * Math.max(...g.map((i) => c.windows[i].end - c.windows[i].start)), 0) / SAMPLE_RATE).toFixed(1),
      medianSec: +median(times.get(c) ?? []).toFixed(2),
      overOneByOne: +(median(times.get(c) ?? []) / base).toFixed(3),
      sameArgmax: +sameFrames.toFixed(4),
      tokenEditRate: +(editDistance(collapse(ids), tokens) / Math.max(1, tokens.length)).toFixed(4),
      tokenEditRateToFirstRow: +(editDistance(collapse(ids), first) / Math.max(1, first.length)).toFixed(4),
    };
  });
  console.table(rows);
  console.log(
    `time: medians of ${rounds} interleaved rounds, as a ratio to the first row; sameArgmax and tokenEditRate: against the first way of the same plan`,
  );
}

await main();
