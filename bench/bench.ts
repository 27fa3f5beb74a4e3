/**
 * `npm run bench`: speed and memory of the transcription core on a model with wav2vec2-base's
 * shape and cost (random weights, built here on demand), and of the converter.
 *
 * - wall time, real-time factor and peak RSS for 10 s, 60 s and 300 s of speech with pauses
 *   between phrases, windowed (CHUNK_SEC=20, cut at pauses), and the ratio of that time to the
 *   bare `session.run` time of the same windows, timed inside the worker (the floor: what
 *   decoding, normalising, queueing, the worker hop and CTC add on top); up to 60 s, each time
 *   is the median of three runs, on a service and a one-pass session that have already run
 *   inputs of that size (see {@link measureRow})
 * - per row, the seconds of audio the model was fed (windows overlap only where speech runs
 *   through a cut), and the wall time over one bare `session.run` of the whole file on this
 *   thread (what one pass would cost; up to {@link ONE_PASS_MAX_SEC})
 * - 60 s of speech that never pauses (every cut overlaps by STRIDE_SEC, as Hugging Face's)
 * - the 60 s with pauses again in the settings for words rather than speed: windows of
 *   {@link WORDS_CHUNK_SEC} with {@link WORDS_PAUSE_CONTEXT_SEC} of context at each pause cut
 * - the same 60 s in one pass, as the service it replaces did, for the memory comparison
 * - 60 s on the int8-quantised model, and how far its logits and argmax move from float32; its
 *   row also times the float32 model's one pass in the same process, so that the int8 ratio
 *   (int8 windowed ÷ float32 one pass) is taken under one machine load rather than across rows
 * - what windowing and int8 do to the words: the character edit distance of the 60 s windowed
 *   transcript to the one-pass one, and of the int8 transcript to the float32 one, as shares of
 *   the reference's length (the model's weights are random, so these transcripts are strings
 *   of tokens, not Vietnamese: the figure says how much the cuts and int8 move the decoded
 *   output, not a word error rate)
 * - greedy and beam decoding (hotwords, a language model, both) of a minute's frames, peaked and
 *   flat, as a share of that minute's float32 inference (bench/beam.ts)
 * - /healthz latency while each file is transcribing (the event loop must stay free)
 * - 20 concurrent 10 s uploads over HTTP: throughput and p50/p95 latency
 * - checkpoint → ONNX conversion time and peak RSS
 *
 * Results go to stdout and to test-output/bench.json.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import ort from 'onnxruntime-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createCore } from '../src/core/create-transcriber.js';
import { Metrics } from '../src/core/metrics.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/logger.js';
import { synthesizeSpeech } from '../testkit/tone-model.js';
import { encodeWav } from '../src/core/wav.js';
import { SAMPLE_RATE, decodeAudio, resolveFfmpegPath } from '../src/core/decode.js';
import { peakNormalize, zeroMeanUnitVariance } from '../src/core/normalize.js';
import { windowsFor, type WindowSettings } from '../src/core/transcriber.js';
import { INT8_MODEL_DIR, MODEL_DIR, editDistance, ensureBaseModel, openSession } from './base-model.js';
import { benchBeam } from './beam.js';
import { benchConvert } from './convert.js';

/** Samples this process's RSS (worker threads included) until stopped. */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
    },
  };
}

/**
 * `seconds` of synthesised speech: one sentence (about 6 s) over and over, with a 0.4 s pause
 * after each as people make between phrases, or with `pauses: false` run on with no pause.
 */
function speechOf(seconds: number, pauses = true): Uint8Array {
  const words = 'xin chào các bạn hôm nay trời đẹp quá';
  const count = Math.ceil(seconds / 6);
  const audio = pauses ? repeat(synthesizeSpeech(`${words}|`, { padMs: 200 }), count) : synthesizeSpeech(Array.from({ length: count }, () => words).join(' '));
  return encodeWav(audio.subarray(0, seconds * 16_000));
}

function repeat(part: Float32Array, count: number): Float32Array {
  const out = new Float32Array(part.length * count);
  for (let i = 0; i < count; i++) out.set(part, i * part.length);
  return out;
}

/** The decoded, peak-normalised samples of `data`, as the service sees them. */
async function samplesOf(data: Uint8Array): Promise<Float32Array> {
  return peakNormalize(await decodeAudio(data, { ffmpegPath: resolveFfmpegPath(process.env.FFMPEG_PATH), maxSeconds: 3600 }));
}

/**
 * Files longer than this get no one-pass time: one pass over 300 s (15,000 frames) would need
 * 15,000² × 12 heads × 4 bytes ≈ 10.8 GB for one layer's attention scores alone.
 */
const ONE_PASS_MAX_SEC = 60;

/** Timed runs per measurement; the median is reported, which a busy moment on a shared VM moves less than one run. */
const ROUNDS = 3;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * One bare `session.run` over the whole of `samples` on this thread, in seconds: the median of
 * {@link ROUNDS} runs after two warm-up runs of the same length. onnxruntime lays out its memory
 * for an input size over the first two runs of that size (each about 1.5× a settled run), so
 * both sides of the ratio are taken settled, as in a service that has already run a file.
 */
async function onePassRunSec(samples: Float32Array, modelDir: string, threads: number): Promise<number> {
  const session = await openSession(modelDir, threads);
  try {
    const input = zeroMeanUnitVariance(samples);
    const run = async (): Promise<number> => {
      const t0 = performance.now();
      await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, input.length]) });
      return (performance.now() - t0) / 1000;
    };
    for (let i = 0; i < 2; i++) await run();
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) times.push(await run());
    return median(times);
  } finally {
    await session.release();
  }
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

const CHUNK_SEC = 20;
const STRIDE_SEC = 4;
/**
 * The row for words rather than speed: longer windows (fewer cuts) and, at each cut in a pause,
 * the positional conv's reach each way (128 frames of 20 ms, halved) as context.
 */
const WORDS_CHUNK_SEC = 30;
const WORDS_PAUSE_CONTEXT_SEC = 1.28;

/**
 * What int8 quantisation changes: on one 20 s window of `data`, the largest logit difference
 * from float32 and the share of frames whose argmax (the token CTC decodes) stays the same.
 */
async function int8Deviation(data: Uint8Array, threads: number): Promise<{ maxAbsLogitDiff: number; sameArgmax: number }> {
  const samples = await samplesOf(data);
  const piece = zeroMeanUnitVariance(samples.subarray(0, CHUNK_SEC * SAMPLE_RATE));
  const logits = [];
  for (const dir of [MODEL_DIR, INT8_MODEL_DIR]) {
    const session = await openSession(dir, threads);
    const outputs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', piece, [1, piece.length]) });
    const output = outputs[session.outputNames[0]];
    logits.push({ data: output.data as Float32Array, vocab: output.dims[2] });
    await session.release();
  }
  const [float, int8] = logits;
  let maxAbsLogitDiff = 0;
  let same = 0;
  const frames = float.data.length / float.vocab;
  for (let t = 0; t < frames; t++) {
    let a = 0;
    let b = 0;
    for (let v = 0; v < float.vocab; v++) {
      const i = t * float.vocab + v;
      maxAbsLogitDiff = Math.max(maxAbsLogitDiff, Math.abs(float.data[i] - int8.data[i]));
      if (float.data[i] > float.data[t * float.vocab + a]) a = v;
      if (int8.data[i] > int8.data[t * float.vocab + b]) b = v;
    }
    if (a === b) same++;
  }
  return { maxAbsLogitDiff: +maxAbsLogitDiff.toFixed(3), sameArgmax: +(same / frames).toFixed(3) };
}

async function startBenchService({ chunkSec, strideSec, pauseContextSec = 0 }: WindowSettings, modelDir = MODEL_DIR) {
  const logger = createLogger({ level: 'warn' });
  const config = loadConfig({
    ...process.env,
    MODEL_DIR: modelDir,
    CHUNK_SEC: String(chunkSec),
    STRIDE_SEC: String(strideSec),
    PAUSE_CONTEXT_SEC: String(pauseContextSec),
    PORT: '0',
    HOST: '127.0.0.1',
    MAX_DURATION_SEC: '600',
    MAX_UPLOAD_MB: '100',
    QUEUE_MAX_PENDING: '64',
  });
  const metrics = new Metrics({ defaultMetrics: false });
  const core = await createCore(config, logger, { metrics });
  const app = await buildApp({ config, transcriber: core.transcriber, logger, metrics });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    config,
    core,
    url,
    async close() {
      await app.close();
      await core.close();
    },
  };
}

/** One row of the transcription table: what runs, in a process of its own. */
interface RowSpec {
  onePass: boolean;
  int8: boolean;
  seconds: number;
  /** Speech with pauses between phrases (true) or none at all. */
  pauses: boolean;
  /** `CHUNK_SEC`; default {@link CHUNK_SEC}. */
  chunkSec?: number;
  /** `PAUSE_CONTEXT_SEC`; default 0. */
  pauseContextSec?: number;
}

/**
 * Measures one row in this process: a fresh service, warmed up, one transcription of
 * `spec.seconds` of audio while /healthz is probed, then {@link ROUNDS} timed transcriptions
 * (one for files past {@link ONE_PASS_MAX_SEC}) whose median is reported. The warm-up
 * transcribes twice what the row will feed the model at once (two full windows, or the whole
 * file in one pass), so that the timed runs find onnxruntime's memory laid out for that size,
 * as in a service that has already run a long file; the one-pass floor is taken the same way.
 * Called in a child process per row, so that each row's peak RSS (sampled throughout) is its
 * own and not the high-water mark of the rows before it.
 */
async function measureRow(spec: RowSpec) {
  const windows: Required<WindowSettings> = spec.onePass
    ? { chunkSec: 1000, strideSec: 0, pauseContextSec: 0 }
    : { chunkSec: spec.chunkSec ?? CHUNK_SEC, strideSec: STRIDE_SEC, pauseContextSec: spec.pauseContextSec ?? 0 };
  const { chunkSec, pauseContextSec } = windows;
  const modelDir = spec.int8 ? INT8_MODEL_DIR : MODEL_DIR;
  const service = await startBenchService(windows, modelDir);
  try {
    const warmUp = speechOf(Math.min(spec.seconds, spec.onePass ? spec.seconds : 2 * chunkSec), spec.pauses);
    for (let i = 0; i < 2; i++) await service.core.transcriber.transcribe({ kind: 'buffer', data: warmUp });
    const data = speechOf(spec.seconds, spec.pauses);
    const sampler = rssSampler();
    // /healthz is probed in a run of its own: on two cores the probe's requests would take CPU
    // from onnxruntime's threads in the timed runs.
    const latencies: number[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t0 = performance.now();
        await fetch(`${service.url}/healthz`).then((r) => r.arrayBuffer());
        latencies.push(performance.now() - t0);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await service.core.transcriber.transcribe({ kind: 'buffer', data });
    probing = false;
    await probe;
    const runs = [];
    for (let i = 0; i < (spec.seconds <= ONE_PASS_MAX_SEC ? ROUNDS : 1); i++) {
      const started = performance.now();
      const transcript = await service.core.transcriber.transcribe({ kind: 'buffer', data });
      runs.push({ wall: performance.now() - started, transcript });
    }
    const peakRssMb = sampler.stop();
    const { wall, transcript } = runs.sort((a, b) => a.wall - b.wall)[Math.floor(runs.length / 2)];
    const samples = await samplesOf(data);
    const modelInputSec = windowsFor(samples, windows).reduce((n, c) => n + c.end - c.start, 0) / SAMPLE_RATE;
    const threads = service.config.inference.threads;
    const onePass = spec.seconds <= ONE_PASS_MAX_SEC ? await onePassRunSec(samples, modelDir, threads) : undefined;
    // The float32 floor for the int8 row, timed here, under the same load as the row itself.
    const floatOnePass = spec.int8 && spec.seconds <= ONE_PASS_MAX_SEC ? await onePassRunSec(samples, MODEL_DIR, threads) : undefined;
    return {
      timedRuns: runs.length,
      mode: `${spec.onePass ? 'one pass' : `windows of ${chunkSec} s`}${pauseContextSec ? `, ${pauseContextSec} s context at pauses` : ''}${spec.int8 ? ', int8' : ''}${spec.pauses ? '' : ', no pauses'}`,
      audioSec: spec.seconds,
      modelInputSec: +modelInputSec.toFixed(1),
      seconds: +(wall / 1000).toFixed(2),
      rtf: +(wall / 1000 / spec.seconds).toFixed(3),
      sessionRunSec: +(transcript.inferenceMs / 1000).toFixed(2),
      overFloor: +(wall / transcript.inferenceMs).toFixed(2),
      onePassRunSec: onePass === undefined ? null : +onePass.toFixed(2),
      overOnePass: onePass === undefined ? null : +(wall / 1000 / onePass).toFixed(2),
      ...(floatOnePass === undefined
        ? {}
        : { floatOnePassRunSec: +floatOnePass.toFixed(2), overFloatOnePass: +(wall / 1000 / floatOnePass).toFixed(2) }),
      peakRssMb,
      device: transcript.device,
      healthzP50Ms: +percentile(latencies, 50).toFixed(1),
      healthzP99Ms: +percentile(latencies, 99).toFixed(1),
      healthzMaxMs: +Math.max(...latencies).toFixed(1),
      text: transcript.text,
    };
  } finally {
    await service.close();
  }
}

type Row = Awaited<ReturnType<typeof measureRow>>;

/** Runs {@link measureRow} in a child process and returns its row. */
async function rowInChild(spec: RowSpec): Promise<Row> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--row', JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the bench row ${JSON.stringify(spec)} exited with ${code}`);
  const row = JSON.parse(out.trim().split('\n').pop() ?? '') as Row;
  const { text, ...shown } = row;
  process.stdout.write(`${JSON.stringify({ ...shown, textChars: text.length })}\n`);
  return row;
}

/** `count` uploads of `seconds` of audio, all at once, over HTTP. */
async function benchConcurrentHttp(count: number, seconds: number) {
  const service = await startBenchService({ chunkSec: CHUNK_SEC, strideSec: STRIDE_SEC });
  try {
    const data = speechOf(seconds);
    for (let i = 0; i < 2; i++) await service.core.transcriber.transcribe({ kind: 'buffer', data });
    const started = performance.now();
    const latencies = await Promise.all(
      Array.from({ length: count }, async () => {
        const t0 = performance.now();
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(data)]), 'note.wav');
        const response = await fetch(`${service.url}/wav2vec2`, { method: 'POST', body: form });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`an upload answered ${response.status}`);
        return performance.now() - t0;
      }),
    );
    const wall = (performance.now() - started) / 1000;
    const row = {
      requests: count,
      audioSecEach: seconds,
      concurrency: service.config.queue.concurrency,
      wallSec: +wall.toFixed(2),
      requestsPerSec: +(count / wall).toFixed(2),
      audioSecPerSec: +((count * seconds) / wall).toFixed(1),
      p50Sec: +(percentile(latencies, 50) / 1000).toFixed(2),
      p95Sec: +(percentile(latencies, 95) / 1000).toFixed(2),
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
    return row;
  } finally {
    await service.close();
  }
}

/** The character (code point) edit distance from `text` to `reference`, and as a share of the reference's length. */
function transcriptChange(text: string, reference: string): { editDistance: number; referenceChars: number; share: number } {
  const [a, b] = [Array.from(text), Array.from(reference)];
  const distance = editDistance(a, b);
  return { editDistance: distance, referenceChars: b.length, share: +(distance / Math.max(1, b.length)).toFixed(4) };
}

async function main(): Promise<void> {
  await ensureBaseModel();
  const rows = [];
  for (const seconds of [10, 60, 300]) rows.push(await rowInChild({ onePass: false, int8: false, seconds, pauses: true }));
  const windowed = rows[1];
  rows.push(await rowInChild({ onePass: false, int8: false, seconds: 60, pauses: false }));
  const withContext = await rowInChild({ onePass: false, int8: false, seconds: 60, pauses: true, chunkSec: WORDS_CHUNK_SEC, pauseContextSec: WORDS_PAUSE_CONTEXT_SEC });
  rows.push(withContext);
  const onePass = await rowInChild({ onePass: true, int8: false, seconds: 60, pauses: true });
  const int8 = await rowInChild({ onePass: false, int8: true, seconds: 60, pauses: true });
  rows.push(onePass, int8);
  const int8Change = await int8Deviation(speechOf(20), loadConfig({ ...process.env, MODEL_DIR }).inference.threads);
  process.stdout.write(`${JSON.stringify({ int8Change })}\n`);
  const words = {
    note: 'random weights: the transcripts are token strings, not Vietnamese; this is how far the cuts and int8 move the decoded text, not a word error rate',
    windowedVsOnePass60s: transcriptChange(windowed.text, onePass.text),
    withPauseContextVsOnePass60s: transcriptChange(withContext.text, onePass.text),
    int8VsFloat60s: transcriptChange(int8.text, windowed.text),
  };
  process.stdout.write(
    `words (60 s, character edit distance, ${words.note}): windowed vs one pass ${(100 * words.windowedVsOnePass60s.share).toFixed(2)}% (goal ≤ 2%), windows of ${WORDS_CHUNK_SEC} s with ${WORDS_PAUSE_CONTEXT_SEC} s context at pauses ${(100 * words.withPauseContextVsOnePass60s.share).toFixed(2)}%, int8 vs float32 windowed ${(100 * words.int8VsFloat60s.share).toFixed(2)}%\n`,
  );
  // The decoders' cost, against the float32 session.run time of the windowed minute above.
  const beam = (await benchBeam({ inferenceSec: windowed.sessionRunSec })).map(({ text: _text, ...row }) => row);
  for (const row of beam) process.stdout.write(`${JSON.stringify(row)}\n`);
  const http = await benchConcurrentHttp(20, 10);
  const conversion = await benchConvert();
  process.stdout.write(`${JSON.stringify({ conversion })}\n`);
  const results = {
    date: new Date().toISOString(),
    cpus: (await import('node:os')).cpus().length,
    rows: rows.map(({ text, ...row }) => ({ ...row, textChars: text.length })),
    int8Change,
    words,
    beam,
    http,
    conversion,
  };
  await mkdir('test-output', { recursive: true });
  await writeFile('test-output/bench.json', `${JSON.stringify(results, null, 2)}\n`);
  console.table(results.rows.map(({ textChars: _chars, ...row }) => row));
  console.table(beam);
  console.table([http]);
  console.table([conversion]);
}

const rowArg = process.argv.indexOf('--row');
if (rowArg > 0) {
  process.stdout.write(`${JSON.stringify(await measureRow(JSON.parse(process.argv[rowArg + 1]) as RowSpec))}\n`);
} else {
  await main();
}
