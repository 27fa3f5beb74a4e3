/**
 * What the CTC prefix beam search (src/core/ctc-beam.ts) costs next to inference: greedy CTC and
 * the beam search with hotwords, with a language model, and with both, at the service's default
 * width, over the frames of 60 s of audio, each as a share of the float32 `session.run` time of
 * the same 60 s on a model with wav2vec2-base's shape and cost (random weights, the model
 * bench/bench.ts builds and caches).
 *
 * Two kinds of frames:
 * - peaked: the designed tone model (testkit/tone-model.ts) run through onnxruntime on
 *   synthesised speech, some letters blended so that the model is unsure between two: what a
 *   trained wav2vec2 gives, mostly blank at > 0.9;
 * - flat: near-uniform frames (logits of spread 0.5 over 110 tokens, every token about -4.7 in
 *   log-probability), what noise can give, where every token passes the search's per-frame
 *   threshold; and the same with the word delimiter improbable (a hum, music), the worst case:
 *   no word ever ends, so the word being spelled grows for the whole minute.
 *
 * The language model is built with the project's own Kneser–Ney builder from a small Vietnamese
 * corpus written here, and read back from its ARPA text, as the service reads `lm.arpa`.
 *
 * `npx tsx bench/beam.ts [--inference-sec S]` prints the rows as JSON lines and a table;
 * bench/bench.ts (or anything else) can call {@link benchBeam} with an inference time of its own.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import { loadConfig } from '../src/config.js';
import { argmaxFrames, buildVocabulary, decodeCtc, type CtcVocabulary } from '../src/core/ctc.js';
import { CtcBeamSearch, logSoftmaxFrames, type CtcBeamOptions } from '../src/core/ctc-beam.js';
import { peakNormalize, zeroMeanUnitVariance } from '../src/core/normalize.js';
import { parseArpa } from '../src/text/arpa.js';
import { buildArpa } from '../src/text/kneser-ney.js';
import { buildToneModel, synthesizeSpeech, toneVocabulary } from '../testkit/tone-model.js';
import { MODEL_DIR, baseVocab, ensureBaseModel, openSession } from './base-model.js';

/** One decoder on one kind of frames. */
export interface BeamBenchRow {
  /** Whose frames: `peaked (tone model)`, `flat (noise)` or `flat, no word break`. */
  frames: string;
  decoder: 'greedy' | 'beam, hotwords' | 'beam, LM' | 'beam, LM + hotwords';
  /** The beam's width (null for greedy). */
  beamWidth: number | null;
  audioSec: number;
  /**
   * Median milliseconds, over the timed runs after one warm-up, from logits to words: argmax and
   * greedy CTC, or log-softmax (the inference worker's part of the beam path) and the search.
   */
  decodeMs: number;
  /** The first (cold) decode, before the JIT has warmed to it: what a fresh beam thread pays once. */
  firstMs: number;
  /** The inference time it is compared with, in seconds. */
  inferenceSec: number;
  /** decodeMs ÷ inference time, in percent. */
  shareOfInferencePct: number;
  /** The start of the transcript, to show what the frames say. */
  text: string;
}

export interface BeamBenchOptions {
  /**
   * Seconds of float32 inference of `audioSec` of audio to compare with. @defaultValue measured
   * here: the `session.run` time of the audio in the service's windows (CHUNK_SEC) on the
   * base-shaped model, with the service's thread count, after a warm-up.
   */
  inferenceSec?: number;
  /** Seconds of audio whose frames are decoded. @defaultValue 60, a minute, as the main bench's rows */
  audioSec?: number;
  /** @defaultValue the service's BEAM_WIDTH default */
  beamWidth?: number;
  /** Timed runs per row after the warm-up. @defaultValue 5 */
  runs?: number;
}

/**
 * A team's text, as `viet-stt lm:build` would be given it: one sentence a line, the names and
 * terms of the hotwords among them.
 */
const CORPUS = [
  'xin chào các bạn hôm nay trời đẹp quá',
  'cuộc họp giao ban bắt đầu lúc chín giờ sáng mai',
  'anh tuấn gửi báo cáo cho chị khánh linh',
  'chuyển khoản qua techcombank trước ngày mười lăm',
  'chị phương phụ trách khách hàng ở đà nẵng',
  'anh lộc đang đi công tác ở hà nội',
  'nhóm kỹ thuật sẽ cập nhật phần mềm vào tuần sau',
  'mọi người nhớ gửi hóa đơn cho phòng kế toán',
  'khách hàng hỏi về hợp đồng mới',
  'em sẽ gọi lại cho anh sau buổi họp',
  'tôi đã nhận được tin nhắn của bạn',
  'hôm qua chúng tôi đi ăn trưa ở quán cơm gần văn phòng',
  'dự án cần thêm hai người nữa',
  'bạn có thể gửi tài liệu qua email không',
  'chiều nay anh minh châu nghỉ phép',
  'lịch họp đã chuyển sang thứ năm',
  'cảm ơn mọi người đã tham gia cuộc họp',
  'ngân hàng vietcombank báo giao dịch thành công',
  'chị khánh linh sẽ trình bày kế hoạch quý tới',
  'anh tuấn và anh lộc phụ trách dự án ở đà nẵng',
  'phòng kế toán cần báo cáo trước thứ sáu',
  'hôm nay chúng ta bàn về ngân sách năm sau',
  'tôi sẽ gửi email cho khách hàng chiều nay',
  'chị phương đã xác nhận lịch họp với techcombank',
  'các bạn nhớ cập nhật tiến độ công việc mỗi ngày',
];

/** Names and terms to favour, as HOTWORDS would give them. */
const HOTWORDS = ['Tuấn', 'Khánh Linh', 'Techcombank', 'Vietcombank', 'Lộc', 'Phương', 'Minh Châu', 'Đà Nẵng', 'Hà Nội', 'họp giao ban'];

const SAMPLE_RATE = 16_000;

/**
 * Seconds of `session.run` over `samples` cut into windows of `chunkSec` (each normalised as the
 * service does), on the base-shaped model, after a warm-up run.
 */
async function inferenceSecOf(samples: Float32Array, threads: number, chunkSec: number): Promise<number> {
  await ensureBaseModel();
  const session = await openSession(MODEL_DIR, threads);
  try {
    const run = (piece: Float32Array) => session.run({ [session.inputNames[0]]: new ort.Tensor('float32', piece, [1, piece.length]) });
    await run(zeroMeanUnitVariance(samples.subarray(0, 5 * SAMPLE_RATE)));
    let total = 0;
    for (let start = 0; start < samples.length; start += chunkSec * SAMPLE_RATE) {
      const input = zeroMeanUnitVariance(samples.subarray(start, Math.min(samples.length, start + chunkSec * SAMPLE_RATE)));
      const t0 = performance.now();
      await run(input);
      total += performance.now() - t0;
    }
    return total / 1000;
  } finally {
    await session.release();
  }
}

/** `seconds` of synthesised speech of the corpus, a few letters blended so the tone model is unsure. */
function speech(seconds: number): Float32Array {
  const blend = { ấ: { with: 'a', share: 0.45 }, ộ: { with: 'ọ', share: 0.45 }, ư: { with: 'u', share: 0.4 }, ẵ: { with: 'ă', share: 0.45 } };
  const parts: Float32Array[] = [];
  let length = 0;
  for (let i = 0; length < seconds * SAMPLE_RATE; i++) {
    const part = synthesizeSpeech(`${CORPUS[i % CORPUS.length]}|`, { padMs: 200, blend });
    parts.push(part);
    length += part.length;
  }
  const out = new Float32Array(seconds * SAMPLE_RATE);
  let at = 0;
  for (const part of parts) {
    out.set(part.subarray(0, out.length - at), at);
    at += part.length;
    if (at >= out.length) break;
  }
  return peakNormalize(out);
}

interface Frames {
  name: string;
  vocabulary: CtcVocabulary;
  logits: Float32Array;
  frames: number;
  vocab: number;
}

/** The tone model's logits for `samples`, in one pass. */
async function peakedFrames(samples: Float32Array): Promise<Frames> {
  const session = await openSession(buildToneModel(), 1);
  try {
    const outputs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', zeroMeanUnitVariance(samples), [1, samples.length]) });
    const output = outputs[session.outputNames[0]];
    const [, frames, vocab] = output.dims as number[];
    return { name: 'peaked (tone model)', vocabulary: buildVocabulary({ vocab: toneVocabulary() }), logits: output.data as Float32Array, frames, vocab };
  } finally {
    await session.release();
  }
}

/**
 * Near-uniform logits over the base model's 110 tokens (seeded, so every run decodes the same);
 * with `breaks: false` the word delimiter is far below the rest (a hum, music), so that no word
 * ever ends and the word being spelled grows for the whole minute.
 */
function flatFrames(frames: number, breaks: boolean): Frames {
  const vocab = baseVocab();
  const size = Object.keys(vocab).length;
  const logits = new Float32Array(frames * size);
  let state = 12345;
  const uniform = (): number => (state = (state * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < logits.length; i++) logits[i] = 0.5 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  if (!breaks) for (let f = 0; f < frames; f++) logits[f * size + vocab['|']] -= 15;
  return { name: breaks ? 'flat (noise)' : 'flat, no word break', vocabulary: buildVocabulary({ vocab }), logits, frames, vocab: size };
}

interface Timed<T> {
  firstMs: number;
  medianMs: number;
  result: T;
}

/** The first run, then the median of `runs` more, in ms; and what the last run returned. */
function timed<T>(runs: number, fn: () => T): Timed<T> {
  let t0 = performance.now();
  let result = fn();
  const firstMs = performance.now() - t0;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    t0 = performance.now();
    result = fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { firstMs, medianMs: times[Math.floor(times.length / 2)], result };
}

/** Greedy and the beam search (hotwords, LM, both) on peaked and on flat frames of `audioSec`. */
export async function benchBeam(options: BeamBenchOptions = {}): Promise<BeamBenchRow[]> {
  const audioSec = options.audioSec ?? 60;
  const runs = options.runs ?? 5;
  const config = loadConfig({ ...process.env, MODEL_DIR });
  const { decoding } = config;
  const beamWidth = options.beamWidth ?? decoding.beamWidth;
  const samples = speech(audioSec);
  const inferenceSec = options.inferenceSec ?? (await inferenceSecOf(samples, config.inference.threads, config.inference.chunkSec));
  const languageModel = parseArpa(buildArpa(CORPUS, 3));
  const base: CtcBeamOptions = { beamWidth, hotwordWeight: decoding.hotwordWeight, alpha: decoding.lmAlpha, beta: decoding.lmBeta };
  const beams: [BeamBenchRow['decoder'], CtcBeamOptions][] = [
    ['beam, hotwords', { ...base, hotwords: HOTWORDS }],
    ['beam, LM', { ...base, languageModel }],
    ['beam, LM + hotwords', { ...base, languageModel, hotwords: HOTWORDS }],
  ];

  const peaked = await peakedFrames(samples);
  const rows: BeamBenchRow[] = [];
  for (const set of [peaked, flatFrames(peaked.frames, true), flatFrames(peaked.frames, false)]) {
    const { logits, frames, vocab, vocabulary } = set;
    const row = (decoder: BeamBenchRow['decoder'], width: number | null, time: Timed<{ text: string }>): BeamBenchRow => ({
      frames: set.name,
      decoder,
      beamWidth: width,
      audioSec,
      decodeMs: +time.medianMs.toFixed(1),
      firstMs: +time.firstMs.toFixed(1),
      inferenceSec: +inferenceSec.toFixed(2),
      shareOfInferencePct: +((time.medianMs / (inferenceSec * 1000)) * 100).toFixed(2),
      text: time.result.text.slice(0, 60),
    });
    rows.push(row('greedy', null, timed(runs, () => decodeCtc(argmaxFrames(logits, frames, vocab), vocabulary))));
    for (const [decoder, beamOptions] of beams) {
      const search = new CtcBeamSearch(vocabulary, beamOptions);
      rows.push(row(decoder, beamWidth, timed(runs, () => search.decodeAligned({ data: logSoftmaxFrames(logits, frames, vocab), frames, vocab }))));
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  // `--inference-sec S` skips measuring inference (the slow part) and compares with S.
  const at = process.argv.indexOf('--inference-sec');
  const rows = await benchBeam({ inferenceSec: at > 0 ? Number(process.argv[at + 1]) : undefined });
  for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  console.table(rows.map(({ text: _text, ...row }) => row));
}
