import { readFile, stat } from 'node:fs/promises';
import type { Config } from '../config.js';
import { SttError, fileTooLarge, toSttError } from '../core/errors.js';
import type { AudioInput, TranscribeOptions, Transcriber, TranscriberStatus, Transcript } from '../core/types.js';
import type { Logger } from '../logger.js';
import type { QueueFront } from './queue-front.js';
import type { ReplyTicket } from './reply-handover.js';

export interface QueueTranscriberOptions {
  front: QueueFront;
  config: Config;
  logger: Logger;
  /** What /healthz names as the model (a front loads none): the workers' model folder's name. */
  modelName: string;
}

/** Extra, per call: what the bots know before the audio is decoded. */
export interface QueueTranscribeOptions extends TranscribeOptions {
  /** The audio's length in seconds as the platform states it; it picks the job's length class. */
  durationHint?: number;
  /**
   * A bot job's reply as data: it travels with the job, so that the front holding the platform
   * can deliver the answer should this one die. `onTicket` is handed what keeps the record
   * current and takes the job's delivery record, once the job is queued.
   */
  reply?: { platform: string; record: object; onTicket(ticket: ReplyTicket): void };
  /**
   * Waits for a worker however long none is alive, instead of `no_worker` after `NO_WORKER_SEC`
   * (`config.distributed.noWorkerMs`): for a caller whose answer may come late (a bot's chat),
   * not for one holding a connection open.
   * @defaultValue false
   */
  waitForWorker?: boolean;
}

/**
 * The Transcriber a front hands to its routes and bots when QUEUE_URL is set: each call becomes a
 * BullMQ job that some worker runs, and its answer (or its failure, with the same catalogue code
 * the embedded core would give) comes back through the queue's events.
 *
 * The front decodes nothing: a job's length class comes from `durationHint` when the caller knows
 * it (the bots do, from the platform), else it is queued as a voice note; a long file so queued
 * holds voice notes behind it only for as long as it runs, and a job that waits too long is
 * promoted either way. While no worker is alive, a call is given up with `no_worker` once it has
 * waited `NO_WORKER_SEC` (unless it asked to wait for one).
 */
export class QueueTranscriber implements Transcriber {
  private waiting = 0;
  private running = 0;

  constructor(private readonly options: QueueTranscriberOptions) {}

  status(): TranscriberStatus {
    const { config, front, modelName } = this.options;
    return {
      model: modelName,
      device: front.lastDevice,
      waiting: this.waiting,
      running: this.running,
      maxPending: config.queue.maxPending,
      maxDurationSec: config.limits.maxDurationSec,
      maxUploadMb: config.limits.maxUploadMb,
    };
  }

  /** Whether Redis answers: /healthz says so. */
  get connected(): boolean {
    return this.options.front.connected;
  }

  async transcribe(input: AudioInput, options: QueueTranscribeOptions = {}): Promise<Transcript> {
    const { front, logger } = this.options;
    const log = logger.child({ jobId: options.jobId, source: options.source ?? 'unknown' });
    const signal = options.signal;
    let phase: 'waiting' | 'running' | undefined;
    const enter = (next: 'waiting' | 'running' | undefined): void => {
      if (phase === 'waiting') this.waiting--;
      if (phase === 'running') this.running--;
      phase = next;
      if (phase === 'waiting') this.waiting++;
      if (phase === 'running') this.running++;
    };
    let id: string | undefined;
    const onAbort = (): void => {
      if (id) void front.cancel(id, toSttError(signal?.reason));
    };
    try {
      signal?.throwIfAborted();
      const audio = await this.bytesOf(input);
      signal?.throwIfAborted();
      enter('waiting');
      const reply = options.reply;
      const submitted = await front.submit(
        audio,
        {
          source: options.source ?? 'unknown',
          owner: options.owner,
          ...(options.hotwords?.length ? { hotwords: options.hotwords } : {}),
          logId: options.jobId,
          createdAt: new Date().toISOString(),
          ...(reply ? { reply: { platform: reply.platform, front: front.replies.frontId, record: reply.record } } : {}),
        },
        {
          durationSec: options.durationHint,
          watch: {
            onActive: () => enter('running'),
            onProgress: (progress) => options.onPartial?.(progress),
            noWorkerMs: options.waitForWorker ? undefined : this.options.config.distributed.noWorkerMs,
          },
        },
      );
      id = submitted.id;
      reply?.onTicket(front.replies.ticket(reply.platform, id));
      log.debug({ queueJobId: id, ahead: submitted.ahead }, 'queued');
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
      options.onQueued?.(submitted.ahead);
      return await (submitted.result as Promise<Transcript>);
    } catch (error) {
      const stt = error instanceof Error && error.name === 'AbortError' && signal?.aborted ? toSttError(signal.reason) : toSttError(error);
      if (stt.code === 'internal') log.error({ err: stt.cause ?? error }, 'transcription failed');
      else log.info({ code: stt.code }, 'transcription refused');
      throw stt;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      enter(undefined);
    }
  }

  /**
   * The audio's bytes: the front reads a server file itself (workers may run elsewhere), and
   * refuses what the core would refuse before decoding, without a trip through Redis.
   */
  private async bytesOf(input: AudioInput): Promise<Uint8Array> {
    const { limits } = this.options.config;
    let data: Uint8Array;
    if (input.kind === 'file') {
      const info = await stat(input.path).catch((error: unknown) => {
        throw new SttError('file_not_found', undefined, { cause: error });
      });
      if (info.size > limits.maxUploadBytes) throw fileTooLarge(limits.maxUploadMb);
      data = await readFile(input.path);
    } else {
      data = input.data;
    }
    if (data.length === 0) throw new SttError('no_audio', 'The audio file is empty.');
    if (data.length > limits.maxUploadBytes) throw fileTooLarge(limits.maxUploadMb);
    return data;
  }
}
