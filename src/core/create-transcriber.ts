import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { BeamDecoder } from './beam-decoder.js';
import { describeFfmpeg } from './decode.js';
import { InferencePool, type InferencePoolOptions } from './inference-pool.js';
import { JobQueue, type JobQueueOptions } from './job-queue.js';
import type { Metrics } from './metrics.js';
import { loadModelFiles } from './model-files.js';
import { SpeechTranscriber } from './transcriber.js';

/** The transcription core, built from config: the model loaded in its workers and the one queue. */
export interface Core {
  transcriber: SpeechTranscriber;
  queue: JobQueue;
  pool: InferencePool;
  beam: BeamDecoder;
  /** Stops taking work, finishes every admitted job, then stops the workers. */
  close(): Promise<void>;
}

/** Loads the model from `config.model.dir` into the worker pool and builds the queue around it. */
export async function createCore(
  config: Config,
  logger: Logger,
  options: {
    metrics?: Metrics;
    /** Where an `ffmpeg` is looked for when FFMPEG_PATH is not set. Default: the process's `PATH`. */
    ffmpegSearchPath?: string;
  } & Pick<InferencePoolOptions, 'workerUrl' | 'restartDelayMs'> &
    Pick<JobQueueOptions, 'maxWaitMs'> = {},
): Promise<Core> {
  const ffmpeg = await describeFfmpeg(config.ffmpegPath, { searchPath: options.ffmpegSearchPath });
  logger.info({ ffmpeg: ffmpeg.path, version: ffmpeg.version, source: ffmpeg.source }, 'ffmpeg');
  if (ffmpeg.source === 'bundled') {
    logger.warn(
      { ffmpeg: ffmpeg.path, version: ffmpeg.version },
      `ffmpeg: using the bundled static build (${ffmpeg.version}), which gets no security fixes and parses strangers' files; install a maintained ffmpeg (e.g. apt-get install ffmpeg) or set FFMPEG_PATH`,
    );
  }
  const model = await loadModelFiles(config.model.dir);
  const pool = await InferencePool.start({
    onnxPath: model.onnxPath,
    modelName: model.name,
    device: config.inference.device,
    workers: config.inference.workers,
    threads: config.inference.threads,
    logger,
    workerUrl: options.workerUrl,
    restartDelayMs: options.restartDelayMs,
  });
  const { decoding } = config;
  let beam: BeamDecoder;
  try {
    beam = await BeamDecoder.start({
      vocabulary: model.vocabulary,
      lmPath: decoding.lmPath ?? model.lmPath,
      hotwords: decoding.hotwords,
      hotwordWeight: decoding.hotwordWeight,
      beamWidth: decoding.beamWidth,
      alpha: decoding.lmAlpha,
      beta: decoding.lmBeta,
      logger,
    });
  } catch (error) {
    await pool.close();
    throw error;
  }
  const queue = new JobQueue({ concurrency: config.queue.concurrency, maxPending: config.queue.maxPending, maxWaitMs: options.maxWaitMs });
  const transcriber = new SpeechTranscriber({
    model,
    pool,
    queue,
    ffmpegPath: ffmpeg.path,
    limits: config.limits,
    windows: config.inference,
    saveNormalizedWav: config.saveNormalizedWav,
    logger,
    metrics: options.metrics,
    beam,
  });
  return {
    transcriber,
    queue,
    pool,
    beam,
    async close() {
      await queue.drain();
      await pool.close();
      await beam.close();
    },
  };
}
