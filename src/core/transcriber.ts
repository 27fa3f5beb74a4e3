import { randomUUID } from 'node:crypto';
import { access, rename, rm, writeFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import os from 'node:os';
import PQueue from 'p-queue';
import type { Logger } from '../logger.js';
import { keptFrames, planWindows, type Chunk } from './chunking.js';
import type { BeamDecoder } from './beam-decoder.js';
import { decodeCtc } from './ctc.js';
import { buildSegments } from './segments.js';
import { SAMPLE_RATE, decodeAudio } from './decode.js';
import { SttError, fileTooLarge, toSttError } from './errors.js';
import type { InferencePool } from './inference-pool.js';
import type { Job, JobQueue } from './job-queue.js';
import type { Metrics } from './metrics.js';
import type { ModelFiles } from './model-files.js';
import { peakNormalize, zeroMeanUnitVariance } from './normalize.js';
import { encodeWav } from './wav.js';
import type { AudioInput, TranscribeOptions, Transcriber, TranscriberStatus, Transcript } from './types.js';

/** Audio shorter than this is refused with `audio_too_short`. */
export const MIN_DURATION_SEC = 0.1;
/** The model's receptive field: a chunk is padded with silence to at least this many samples. */
const MIN_CHUNK_SAMPLES = 400;

export interface SpeechTranscriberOptions {
  model: ModelFiles;
  pool: InferencePool;
  queue: JobQueue;
  ffmpegPath: string;
  limits: Config['limits'];
  /** How long audio is cut into windows. */
  windows: WindowSettings;
  /** Where to write a debug copy of the last normalised input (16 kHz WAV); off when unset. */
  saveNormalizedWav?: string;
  logger: Logger;
  metrics?: Metrics;
  /** ffmpeg processes at once; default the number of cores. */
  decodeConcurrency?: number;
  /**
   * The beam search, for jobs with hotwords (configured or their own) or when a language model
   * is loaded. Unset: greedy CTC for every job.
   */
  beam?: BeamDecoder;
}

/** How long audio is cut into windows, in seconds (`CHUNK_SEC`, `STRIDE_SEC`, `PAUSE_CONTEXT_SEC`). */
export interface WindowSettings {
  /** The longest window. */
  chunkSec: number;
  /** Overlap dropped at each side of a window cut where no pause was found. */
  strideSec: number;
  /** Audio given to each side of a cut in a pause past the cut, dropped from the output; default 0. */
  pauseContextSec?: number;
}

/**
 * The windows `infer` runs for peak-normalised `samples`: at most `chunkSec` long, each ended
 * in a pause where there is one (with `pauseContextSec` past it), with `strideSec` of overlap
 * where speech runs through.
 */
export function windowsFor(samples: Float32Array, { chunkSec, strideSec, pauseContextSec = 0 }: WindowSettings): Chunk[] {
  return planWindows(samples, {
    maxSamples: chunkSec * SAMPLE_RATE,
    strideSamples: strideSec * SAMPLE_RATE,
    contextSamples: pauseContextSec * SAMPLE_RATE,
  });
}

/**
 * Ties the core together, for audio that is already in (bytes in memory, or a file): admit → decode → peak-normalise → queue → per-chunk feature
 * normalisation and inference → stitch → greedy CTC, or the beam search (hotwords, language
 * model) in its own thread.
 */
export class SpeechTranscriber implements Transcriber {
  private readonly decoders: PQueue;
  /** Decodes waiting or running per owner: a new decode's turn. */
  private readonly decoding = new Map<string, number>();

  constructor(private readonly options: SpeechTranscriberOptions) {
    this.decoders = new PQueue({ concurrency: options.decodeConcurrency ?? Math.max(2, os.availableParallelism()) });
  }

  status(): TranscriberStatus {
    const { queue, pool, model, limits } = this.options;
    return {
      model: model.name,
      device: pool.device,
      waiting: queue.waiting,
      running: queue.running,
      maxPending: queue.maxPending,
      maxDurationSec: limits.maxDurationSec,
      maxUploadMb: limits.maxUploadMb,
    };
  }

  async transcribe(input: AudioInput, options: TranscribeOptions = {}): Promise<Transcript> {
    const source = options.source ?? 'unknown';
    const log = this.options.logger.child({ jobId: options.jobId, source });
    const { metrics } = this.options;
    const started = performance.now();
    try {
      const job = this.options.queue.admit({ id: options.jobId, source, owner: options.owner, signal: options.signal });
      this.updateGauges();
      options.onAdmitted?.(job);
      try {
        const samples = await this.decode(input, job);
        const duration = samples.length / SAMPLE_RATE;
        if (duration < MIN_DURATION_SEC) throw new SttError('audio_too_short');
        peakNormalize(samples);
        if (this.options.saveNormalizedWav) await this.saveDebugCopy(samples, log);
        log.debug({ duration }, 'decoded, queueing');
        const transcript = await job.run(
          async () => {
            this.updateGauges();
            return this.infer(samples, duration, started, job, options);
          },
          { durationSec: duration, onQueued: options.onQueued },
        );
        metrics?.requests.inc({ source, outcome: 'ok' });
        metrics?.processingSeconds.observe({ source }, transcript.processingMs / 1000);
        metrics?.audioSeconds.inc({ source }, duration);
        metrics?.realTimeFactor.observe(transcript.processingMs / 1000 / duration);
        log.info({ duration, processingMs: transcript.processingMs, words: transcript.words.length }, 'transcribed');
        return transcript;
      } finally {
        job.release();
        this.updateGauges();
      }
    } catch (error) {
      const stt = toSttError(error);
      metrics?.requests.inc({ source, outcome: stt.code });
      if (stt.code === 'internal') log.error({ err: error }, 'transcription failed');
      else log.info({ code: stt.code, err: stt.cause ?? undefined }, 'transcription refused');
      throw stt;
    }
  }

  private async decode(input: AudioInput, job: Job): Promise<Float32Array> {
    const { ffmpegPath, limits } = this.options;
    const { signal, owner } = job;
    const data = input.kind === 'buffer' ? input.data : { path: input.path };
    if (!(data instanceof Uint8Array)) {
      await access(data.path).catch((error: unknown) => {
        throw new SttError('file_not_found', undefined, { cause: error });
      });
    } else {
      if (data.length === 0) throw new SttError('no_audio', 'The audio file is empty.');
      if (data.length > limits.maxUploadBytes) throw fileTooLarge(limits.maxUploadMb);
    }
    // Decoding takes turns by owner too, so that one person's batch of notes does not hold up
    // another's at the door of the queue.
    const turn = owner === undefined ? 0 : (this.decoding.get(owner) ?? 0);
    if (owner !== undefined) this.decoding.set(owner, turn + 1);
    try {
      return (await this.decoders.add(() => decodeAudio(data, { ffmpegPath, maxSeconds: limits.maxDurationSec, timeoutMs: limits.decodeTimeoutMs, signal }), {
        signal,
        priority: -turn,
      })) as Float32Array;
    } finally {
      if (owner !== undefined) {
        const left = (this.decoding.get(owner) ?? 1) - 1;
        if (left === 0) this.decoding.delete(owner);
        else this.decoding.set(owner, left);
      }
    }
  }

  /**
   * Runs the job's windows one after another through the pool, which serves them by the job's
   * priority as it stands (a promoted job's windows go first there too); a cancelled job stops
   * before its next window.
   */
  private async infer(samples: Float32Array, duration: number, started: number, job: Job, options: TranscribeOptions): Promise<Transcript> {
    const { model, pool, windows, beam } = this.options;
    const { onPartial } = options;
    const hotwords = options.hotwords ?? [];
    const useBeam = beam !== undefined && (beam.always || hotwords.length > 0);
    const { signal } = job;
    const chunks = windowsFor(samples, windows);
    job.windows = chunks.length;
    const ids: Int32Array[] = [];
    const probs: Float32Array[] = [];
    const logProbs: Float32Array[] = [];
    let vocab = 0;
    let inferenceMs = 0;
    for (const chunk of chunks) {
      signal.throwIfAborted();
      let piece = samples.subarray(chunk.start, chunk.end);
      piece = model.doNormalize ? zeroMeanUnitVariance(piece) : piece.slice();
      if (piece.length < MIN_CHUNK_SAMPLES) {
        const padded = new Float32Array(MIN_CHUNK_SAMPLES);
        padded.set(piece);
        piece = padded;
      }
      const result = await pool.run(piece, job, useBeam ? { logProbs: chunks.length === 1 ? 'all' : chunk } : {});
      job.windowsDone++;
      inferenceMs += result.runMs;
      const { from, to } = chunks.length === 1 ? { from: 0, to: result.frames } : keptFrames(chunk, result.frames);
      ids.push(result.ids.subarray(from, to));
      probs.push(result.probs.subarray(from, to));
      if (result.logProbs) logProbs.push(result.logProbs);
      vocab = result.vocab;
      if (onPartial && ids.length < chunks.length) {
        // The last word heard may go on in the next window: only the words before it are final.
        const heard = decodeCtc({ ids: concat(ids, Int32Array), probs: concat(probs, Float32Array) }, model.vocabulary).words;
        onPartial({ text: heard.slice(0, -1).map((w) => w.word).join(' '), windowsDone: ids.length, windows: chunks.length });
      }
    }
    let frames = { ids: concat(ids, Int32Array), probs: concat(probs, Float32Array) };
    let decoded = decodeCtc(frames, model.vocabulary);
    if (useBeam) {
      signal.throwIfAborted();
      // The windows' kept frames, stitched as ids and probabilities are: one matrix, handed to the search.
      const data = logProbs.length === 1 ? logProbs[0] : concat(logProbs, Float32Array);
      const aligned = await beam.decode({ data, frames: frames.ids.length, vocab }, hotwords);
      decoded = { text: aligned.text, words: aligned.words };
      frames = aligned.alignment;
    }
    const { text, words } = decoded;
    onPartial?.({ text, windowsDone: chunks.length, windows: chunks.length });
    return {
      text,
      words,
      segments: buildSegments(words, frames, model.vocabulary),
      duration: Math.round(duration * 1000) / 1000,
      processingMs: Math.round(performance.now() - started),
      inferenceMs: Math.round(inferenceMs),
      device: pool.device,
    };
  }

  private async saveDebugCopy(samples: Float32Array, log: Logger): Promise<void> {
    const target = this.options.saveNormalizedWav as string;
    // A name of its own per job: jobs run side by side, and the last rename wins whole.
    const temp = `${target}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, encodeWav(samples, SAMPLE_RATE));
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      log.warn({ err: error }, 'could not write SAVE_NORMALIZED_WAV');
    }
  }

  private updateGauges(): void {
    this.options.metrics?.waiting.set(this.options.queue.waiting);
    this.options.metrics?.running.set(this.options.queue.running);
  }
}

function concat<T extends Int32Array | Float32Array>(parts: T[], Type: { new (length: number): T }): T {
  const out = new Type(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
