import type { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import type { CtcVocabulary } from './ctc.js';
import type { CtcAlignedDecoding, FrameLogProbs } from './ctc-beam.js';
import { coreWorkerUrl, startWorkerThread } from './inference-pool.js';
import type { Word } from './types.js';

/** What the beam search thread is started with. */
export interface BeamWorkerData {
  tokens: string[];
  blankId: number;
  delimiterId: number;
  specialIds: number[];
  lmPath: string | undefined;
  hotwords: string[];
  hotwordWeight: number;
  beamWidth: number;
  alpha: number;
  beta: number;
}

export interface BeamRequest {
  id: number;
  logProbs: Float32Array;
  frames: number;
  vocab: number;
  /** Hotwords of this request, added to the configured ones. */
  hotwords: string[];
}

export type BeamReply =
  | { type: 'ready'; unusableHotwords: string[]; lmOrder: number | undefined }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; text: string; words: Word[]; ids: Int32Array; probs: Float32Array; unusableHotwords: string[] }
  | { type: 'error'; id: number; message: string };

export interface BeamDecoderOptions {
  vocabulary: CtcVocabulary;
  /** An ARPA file to fuse; undefined: hotwords only. */
  lmPath: string | undefined;
  /** Hotwords of every transcription. */
  hotwords: readonly string[];
  hotwordWeight: number;
  beamWidth: number;
  alpha: number;
  beta: number;
  logger: Logger;
  /** The thread's script; default the project's beam-worker. */
  workerUrl?: URL;
}

interface Pending {
  resolve: (decoding: CtcAlignedDecoding) => void;
  reject: (error: Error) => void;
}

/**
 * The CTC prefix beam search (ctc-beam.ts) in a worker thread of its own, so that a long file's
 * search never holds the event loop; the language model is read there once. Matrices are
 * transferred, not copied. With no language model and no configured hotwords the thread starts
 * on the first request that brings hotwords of its own; a thread that dies fails what it held
 * and is started again by the next request.
 */
export class BeamDecoder {
  private worker: Promise<Worker> | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;

  private constructor(private readonly options: BeamDecoderOptions) {}

  /**
   * Builds the decoder; with a language model or hotwords configured, starts its thread and waits
   * until the model is read, so that a bad LM_PATH stops the service at start-up.
   */
  static async start(options: BeamDecoderOptions): Promise<BeamDecoder> {
    const decoder = new BeamDecoder(options);
    if (decoder.always) await decoder.thread();
    return decoder;
  }

  /** Whether every transcription is beam-searched (a language model or hotwords are configured). */
  get always(): boolean {
    return this.options.lmPath !== undefined || this.options.hotwords.length > 0;
  }

  /** Beam-searches one `[frames, vocab]` log-softmax matrix, whose buffer is handed over. */
  async decode(logProbs: FrameLogProbs, hotwords: readonly string[] = []): Promise<CtcAlignedDecoding> {
    if (this.closed) throw new Error('the beam decoder is closed');
    const worker = await this.thread();
    const id = this.seq++;
    return new Promise<CtcAlignedDecoding>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: BeamRequest = { id, logProbs: logProbs.data, frames: logProbs.frames, vocab: logProbs.vocab, hotwords: [...hotwords] };
      worker.postMessage(request, [logProbs.data.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the beam decoder closed'));
    if (worker) await (await worker.catch(() => undefined))?.terminate();
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private thread(): Promise<Worker> {
    this.worker ??= this.spawn();
    return this.worker;
  }

  private spawn(): Promise<Worker> {
    const { vocabulary, logger } = this.options;
    const data: BeamWorkerData = {
      tokens: vocabulary.tokens,
      blankId: vocabulary.blankId,
      delimiterId: vocabulary.delimiterId,
      specialIds: [...vocabulary.specialIds],
      lmPath: this.options.lmPath,
      hotwords: [...this.options.hotwords],
      hotwordWeight: this.options.hotwordWeight,
      beamWidth: this.options.beamWidth,
      alpha: this.options.alpha,
      beta: this.options.beta,
    };
    const worker = startWorkerThread(this.options.workerUrl ?? coreWorkerUrl('beam-worker'), data);
    const started = new Promise<Worker>((resolve, reject) => {
      let ready = false;
      worker.on('message', (reply: BeamReply) => {
        if (reply.type === 'ready') {
          ready = true;
          if (reply.unusableHotwords.length > 0) logger.warn({ hotwords: reply.unusableHotwords }, 'HOTWORDS the model cannot spell are left out');
          logger.info({ lm: this.options.lmPath, lmOrder: reply.lmOrder, hotwords: this.options.hotwords.length, beamWidth: this.options.beamWidth }, 'beam search ready');
          resolve(worker);
        } else if (reply.type === 'failed') {
          reject(new Error(`the beam search could not start: ${reply.message}`));
        } else {
          const pending = this.pending.get(reply.id);
          if (!pending) return;
          this.pending.delete(reply.id);
          if (reply.type === 'error') {
            pending.reject(new Error(`the beam search failed: ${reply.message}`));
            return;
          }
          if (reply.unusableHotwords.length > 0) logger.debug({ hotwords: reply.unusableHotwords }, 'hotwords the model cannot spell were left out');
          pending.resolve({ text: reply.text, words: reply.words, alignment: { ids: reply.ids, probs: reply.probs } });
        }
      });
      const gone = (error: Error): void => {
        if (this.worker === started) this.worker = undefined;
        this.failAll(error);
        if (!ready) reject(error);
        else if (!this.closed) logger.error({ err: error }, 'the beam search thread stopped; the next request starts another');
      };
      worker.on('error', gone);
      worker.on('exit', (code) => gone(new Error(`the beam search thread exited with code ${code}`)));
    });
    started.catch(() => {
      if (this.worker === started) this.worker = undefined;
      void worker.terminate();
    });
    return started;
  }
}
