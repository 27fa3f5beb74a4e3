import { SttError, fileTooLarge, toSttError } from '../src/core/errors.js';
import type { AudioInput, Transcriber, Transcript } from '../src/core/types.js';
import type { Logger } from '../src/logger.js';
import type { QueueTranscribeOptions } from '../src/queue/queue-transcriber.js';
import type { HandedOverOutcome, ReplyTicket } from '../src/queue/reply-handover.js';
import type { ChatKey, Store } from '../src/store/index.js';
import { toWritten } from '../src/text/written.js';
import { answerFrom } from './chat-settings.js';
import { errorReply, progressReply, queuedReply, text, type EffectiveSettings, type ReplyLanguage, type ReplyLimits } from './replies.js';
import { BOT_STOP_GRACE_MS, DownloadError, UserRateLimiter, splitMessage } from './shared.js';

/**
 * The one life of a bot's job, whichever platform it came from: declared limits and the rate
 * limit answered at once, then a capped download, the transcription in the shared queue (with
 * the author as owner, for fair turns), a placeholder that shows the queue and the words so far,
 * the transcript split and delivered in the chat's order, an error boundary around it all, and
 * a stop that lets jobs finish within a grace. The platforms only say what their media and their
 * replies are.
 *
 * With a shared queue, a job's reply also travels with it as data (a {@link ReplyRecord}): should
 * the front that took it die, the front that holds the platform rebuilds the reply from it and
 * hands it to its own runner ({@link JobRunner.adopt}); one delivery record per job lets exactly
 * one of them answer.
 */

/** A piece of audio as the platform describes it before any download. */
export interface MediaRef {
  /** Bytes, when the platform says. */
  size?: number;
  /** Seconds, when the platform says. */
  duration?: number;
  /** Fetches the audio, capped at MAX_UPLOAD_MB and timed; `signal` stops it. */
  download(signal: AbortSignal): Promise<AudioInput>;
}

/** Where a job's answer goes, in the platform's own calls. */
export interface ReplyTarget {
  /** Sends the one message later edited: the queue, then the words so far, then the transcript. */
  placeholder(text: string): Promise<void>;
  /** Replaces the placeholder's text. */
  edit(text: string): Promise<void>;
  /** Sends a further message (a reply to the audio, or a follow-up). */
  send(text: string): Promise<void>;
  /** Sends the whole transcript as a text file. */
  sendDocument(name: string, text: string): Promise<void>;
  /**
   * Where it answers now, as data (the placeholder's id once sent), for a target another front
   * can rebuild.
   * @defaultValue none: only this process can answer
   */
  address?(): ReplyAddress;
}

/** Where a job's answer goes, in a platform's ids: each platform has its own (chat, message, placeholder). */
export interface ReplyAddress {
  platform: string;
  /** The placeholder's id once sent: a front that delivers for another edits it into the answer. */
  placeholderId?: string | number;
}

/**
 * What a platform tells {@link JobRunner.adopt} about a record another front handed over: all
 * that differs between platforms.
 */
export interface ReplyPlatform<A extends ReplyAddress> {
  /** Whether a record's address (JSON read back from the queue) is one of this platform's. */
  isAddress(address: ReplyAddress): address is A;
  /** Where the answer goes, rebuilt from the address's ids alone. */
  target(address: A): ReplyTarget;
  /** Where the chat's history is kept, when the record says it keeps it. */
  store: Store;
}

/** Records adopted that are remembered, so that one handed over twice is answered once. */
const ADOPTED_REMEMBERED = 1000;

/**
 * A job's answer as data, JSON through and through: what a front needs to deliver it, where it
 * goes and how the chat reads it. A platform rebuilds the {@link JobAnswer} from it with its own
 * target (see `answerFrom` in chat-settings.ts), on the front that took the job and on any other.
 */
export interface ReplyRecord<A extends ReplyAddress = ReplyAddress> {
  id: string;
  chat: string;
  address: A;
  language: ReplyLanguage;
  messageLimit: number;
  heading?: string;
  documentAfterParts?: number;
  documentName?: string;
  /** How the chat reads its transcripts. */
  style: Pick<EffectiveSettings, 'textStyle' | 'timestamps'>;
  /** Where the delivered transcript is kept, when the chat keeps its history. */
  history?: { chat: ChatKey; messageRef: string; authorId: string };
  context: Record<string, string | number | undefined>;
}

/** What delivering a job's answer needs: where it goes and how it reads. */
export interface JobAnswer {
  /** Correlates the job's log lines. */
  id: string;
  /** The conversation: replies keep its order of arrival, and its edits share one pace. */
  chat: string;
  reply: ReplyTarget;
  language: ReplyLanguage;
  /** The platform's message limit in characters. */
  messageLimit: number;
  /** Put before the first part (the file's name when a message has several). */
  heading?: string;
  /**
   * Past this many messages the whole text also comes as a document.
   * @defaultValue never
   */
  documentAfterParts?: number;
  /** The document's file name. */
  documentName?: string;
  /**
   * Turns the model's words into what the chat reads.
   * @defaultValue the written form of the text, for the final transcript and the words so far alike
   */
  render?: { final(transcript: Transcript): string; partial(words: string): string };
  /** Told once the transcript is delivered (history keeps it); its failure is logged only. */
  onDelivered?: (transcript: Transcript, shown: string) => Promise<void>;
  /** Beside the job id, what the log lines of this job carry. */
  context: Record<string, unknown>;
}

/** One piece of audio to transcribe and where its answer goes. */
export interface JobRequest extends JobAnswer {
  /** Who sent it (`telegram:5001`): people take turns in the queue and are rate limited. */
  owner?: string;
  media: MediaRef;
  /** Shows the platform's "typing…" until the returned function is called. */
  typing?: () => () => void;
  /**
   * The answer as data, for a queue that keeps it with the job so that another front can deliver
   * it should this one die; its address is kept current from `reply.address()`.
   * @defaultValue none: only this process can answer
   */
  record?: ReplyRecord;
  /**
   * The chat's own hotwords, decoded for on top of HOTWORDS (as the HTTP `hotwords` field).
   * @defaultValue none: HOTWORDS only
   */
  hotwords?: readonly string[];
}

/** What {@link JobRunner} needs. */
export interface JobRunnerOptions {
  transcriber: Transcriber;
  /** `telegram` or `discord`: the job's source label and the logs' prefix. */
  source: string;
  limits: ReplyLimits & { maxUploadBytes: number };
  /** Jobs one owner may start per window (`USER_RATE_LIMIT`; 0: no cap). */
  rateLimit: { count: number; windowSec: number };
  /** The least time between two edits in one chat (`PROGRESS_EDIT_SEC`). */
  progressEditMs: number;
  logger: Logger;
  /** An error as the logs may show it: the platform scrubs its token from it. */
  describeError: (error: unknown) => unknown;
  /** The platform's own reply for an error it knows better (Telegram's 20 MB getFile limit). */
  replyFor?: (error: unknown, language: ReplyLanguage) => string | undefined;
  /**
   * How long stop() lets jobs in flight finish before it cancels them.
   * @defaultValue {@link BOT_STOP_GRACE_MS}
   */
  stopGraceMs?: number;
}

/** How a job ended, for the chat's delivery order. */
type Outcome = { ok: true; transcript: Transcript; text: string } | { ok: false; error: unknown };

/** Runs every job of one bot. */
export class JobRunner {
  private readonly rateLimiter: UserRateLimiter;
  private readonly shutdown = new AbortController();
  private readonly inflight = new Set<Promise<void>>();
  /** Per chat, the promise of the last accepted job's delivery. */
  private readonly chatTails = new Map<string, Promise<void>>();
  /** Per chat, the last intake task of {@link inOrder}. */
  private readonly intakeTails = new Map<string, Promise<void>>();
  /** Per chat, when its last edit went out (epoch ms). */
  private readonly lastEdit = new Map<string, number>();
  /** The ids of the records adopted lately, oldest first. */
  private readonly adopted = new Set<string>();
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: JobRunnerOptions) {
    this.rateLimiter = new UserRateLimiter(options.rateLimit.count, options.rateLimit.windowSec * 1000);
  }

  /** Aborted when stop()'s grace is over. */
  get signal(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Jobs and replies still running. */
  get running(): number {
    return this.inflight.size;
  }

  /**
   * Takes a job in and returns at once: what needs no download (the declared size and length,
   * the rate limit) is answered now; the rest runs in the background, its reply in the chat's
   * order. The promise it returns settles when the job has answered (for tests and stop()).
   */
  submit(request: JobRequest): Promise<void> {
    const refusal = this.refusal(request);
    if (refusal) return this.track(this.answer(request, refusal));
    this.log().debug({ ...request.context, jobId: request.id, size: request.media.size, duration: request.media.duration }, `${this.options.source} job accepted`);
    return this.inChatOrder(request.chat, (turn) => this.run(request, turn));
  }

  /**
   * Delivers the answer of a job another front took and can no longer answer (it is gone), from
   * the record that travelled with the job, in this chat's order: the placeholder it left, if any,
   * edited into the transcript, the rest after it, the history told, as for a job of this
   * runner's own. `platform` checks the record's address and rebuilds its target. A record
   * adopted already (the same job handed over twice) is not answered again; one that is not this
   * platform's is refused.
   */
  adopt<A extends ReplyAddress>(record: object, outcome: HandedOverOutcome, platform: ReplyPlatform<A>): Promise<void> {
    if (!isReplyRecord(record) || !platform.isAddress(record.address)) return Promise.reject(new Error(`not a ${this.options.source} reply record`));
    const address = record.address;
    if (this.adopted.has(record.id)) {
      this.log().info({ ...record.context, jobId: record.id }, `${this.options.source} answer handed over again: answered already`);
      return Promise.resolve();
    }
    this.adopted.add(record.id);
    if (this.adopted.size > ADOPTED_REMEMBERED) this.adopted.delete(this.adopted.values().next().value as string);
    const answer = answerFrom(record, platform.target(address), platform.store);
    return this.inChatOrder(answer.chat, async (turn) => {
      const result: Outcome = outcome.ok ? { ok: true, transcript: outcome.transcript, text: (answer.render ?? defaultRender).final(outcome.transcript) } : outcome;
      this.log().info({ ...answer.context, jobId: answer.id, ok: outcome.ok }, `${this.options.source} answer handed over`);
      await turn;
      await this.deliver(answer, result, this.progressOf(answer, address.placeholderId !== undefined), undefined);
    });
  }

  /**
   * Runs `task` after the chat's earlier intake tasks, in the background: what a platform does
   * before {@link submit} (reading the chat's settings) can take its time without two messages
   * of one chat swapping places.
   */
  inOrder(chat: string, task: () => Promise<void>): Promise<void> {
    const previous = this.intakeTails.get(chat) ?? Promise.resolve();
    const next = previous.then(task);
    const tail = next.catch(() => undefined);
    this.intakeTails.set(chat, tail);
    void tail.then(() => {
      if (this.intakeTails.get(chat) === tail) this.intakeTails.delete(chat);
    });
    return this.track(next);
  }

  /** Runs `task` as background work that stop() waits for; its errors are logged. */
  track(task: Promise<void>): Promise<void> {
    const running: Promise<void> = task
      .catch((error: unknown) => this.log().error({ error: this.options.describeError(error) }, `${this.options.source} background task failed`))
      .finally(() => this.inflight.delete(running));
    this.inflight.add(running);
    return running;
  }

  /** Waits for every job to answer; jobs still running after the grace are cancelled and told so. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = setTimeout(() => this.shutdown.abort(new SttError('shutting_down')), this.options.stopGraceMs ?? BOT_STOP_GRACE_MS);
      try {
        while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      } finally {
        clearTimeout(grace);
      }
    })();
    return this.stopping;
  }

  /** Runs `work` as a job of `chat`: it is handed the previous job's delivery, to wait for before its own. */
  private inChatOrder(chat: string, work: (turn: Promise<void>) => Promise<void>): Promise<void> {
    const previous = this.chatTails.get(chat) ?? Promise.resolve();
    let done!: () => void;
    const delivered = new Promise<void>((resolve) => (done = resolve));
    const tail = previous.then(() => delivered);
    this.chatTails.set(chat, tail);
    const release = (): void => {
      done();
      if (this.chatTails.get(chat) === tail) this.chatTails.delete(chat);
    };
    return this.track(work(previous).finally(release));
  }

  private progressOf(answer: JobAnswer, placeholderShown: boolean, onShown?: () => void): Progress {
    const onError = (error: unknown): void =>
      this.log().warn({ ...answer.context, jobId: answer.id, error: this.options.describeError(error) }, `${this.options.source} progress edit failed`);
    return new Progress(answer, this.options.progressEditMs, this.lastEdit, onError, { placeholderShown, onShown });
  }

  /** What refuses a job before any download, as the reply to send. */
  private refusal(request: JobRequest): string | undefined {
    const { limits } = this.options;
    const { media, language } = request;
    if (media.duration !== undefined && media.duration > limits.maxDurationSec) return errorReply(new SttError('audio_too_long'), language, limits);
    if (media.size !== undefined && media.size > limits.maxUploadBytes) return errorReply(fileTooLarge(limits.maxUploadMb), language, limits);
    if (request.owner !== undefined && !this.rateLimiter.take(request.owner)) {
      this.log().info({ ...request.context, owner: request.owner }, `${this.options.source} user over the rate limit`);
      return text('rateLimited', request.language);
    }
    return undefined;
  }

  /** Sends a refusal; its own failure is logged. */
  private async answer(request: JobAnswer, reply: string): Promise<void> {
    try {
      await request.reply.send(reply);
    } catch (error) {
      this.log().error({ ...request.context, jobId: request.id, error: this.options.describeError(error) }, `${this.options.source} reply failed`);
    }
  }

  private async run(request: JobRequest, turn: Promise<void>): Promise<void> {
    // With a shared queue, the record travels with the job and follows the placeholder.
    let ticket: ReplyTicket | undefined;
    let placeholderUp = false;
    const record = request.record;
    const keepRecord = (): void => {
      if (!ticket || !record || !placeholderUp) return;
      const current: ReplyRecord = { ...record, address: request.reply.address?.() ?? record.address };
      ticket.update(current).catch((error: unknown) =>
        this.log().warn({ ...request.context, jobId: request.id, error: this.options.describeError(error) }, `${this.options.source} could not record the placeholder with the job`),
      );
    };
    const progress = this.progressOf(request, false, () => {
      placeholderUp = true;
      keepRecord();
    });
    const stopTyping = request.typing?.() ?? (() => {});
    const render = request.render ?? defaultRender;
    let outcome: Outcome;
    try {
      const input = await request.media.download(this.shutdown.signal);
      const options: QueueTranscribeOptions = {
        jobId: request.id,
        source: this.options.source,
        signal: this.shutdown.signal,
        // People take turns in the queue: one person's batch does not hold up another's note.
        owner: request.owner,
        // A shared queue picks the job's length class from what the platform declared.
        durationHint: request.media.duration,
        hotwords: request.hotwords,
        // A chat can be answered late: with no worker alive, its job waits for one to come back.
        waitForWorker: true,
        reply: record && {
          platform: record.address.platform,
          record,
          onTicket: (handed) => {
            ticket = handed;
            keepRecord();
          },
        },
        onQueued: (ahead) => {
          if (ahead > 0) progress.show(queuedReply(ahead, request.language));
        },
        onPartial: ({ text: words, windowsDone, windows }) => {
          if (windowsDone >= windows) return;
          const shown = render.partial(words);
          if (shown) progress.show(progressReply(shown, windowsDone, windows, request.messageLimit));
        },
      };
      const transcript = await this.options.transcriber.transcribe(input, options);
      outcome = { ok: true, transcript, text: render.final(transcript) };
      this.log().info({ ...request.context, jobId: request.id, duration: transcript.duration, processingMs: transcript.processingMs, chars: outcome.text.length }, `${this.options.source} message transcribed`);
    } catch (error) {
      // A job cut short by stop() is told the service is restarting, whatever layer saw the abort.
      const failure = this.shutdown.signal.aborted ? new SttError('shutting_down', undefined, { cause: error }) : error;
      outcome = { ok: false, error: failure };
      this.logFailure(failure, request);
    } finally {
      stopTyping();
    }
    await turn;
    await this.deliver(request, outcome, progress, ticket);
  }

  /**
   * Whether this front answers a job another could answer too: it takes the job's delivery
   * record, and stays silent when another front took it. A record that cannot be reached (Redis
   * away) errs towards answering.
   */
  private async claim(ticket: ReplyTicket, request: JobAnswer): Promise<boolean> {
    try {
      if (await ticket.claim()) return true;
      this.log().info({ ...request.context, jobId: request.id }, `${this.options.source} answer sent by another front`);
      return false;
    } catch (error) {
      this.log().warn({ ...request.context, jobId: request.id, error: this.options.describeError(error) }, `${this.options.source} could not take the delivery record; answering anyway`);
      return true;
    }
  }

  /** The transcript (or the error's reply): the placeholder edited into the first part, the rest after it. */
  private async deliver(request: JobAnswer, outcome: Outcome, progress: Progress, ticket: ReplyTicket | undefined): Promise<void> {
    if (ticket && !(await this.claim(ticket, request))) return;
    try {
      await this.send(request, outcome, progress);
    } finally {
      await ticket?.delivered().catch(() => undefined);
    }
  }

  private async send(request: JobAnswer, outcome: Outcome, progress: Progress): Promise<void> {
    const { limits } = this.options;
    const prefix = request.heading ? `🎧 ${request.heading}\n` : '';
    let parts: string[];
    if (!outcome.ok) parts = [this.options.replyFor?.(outcome.error, request.language) ?? errorReply(outcome.error, request.language, limits)];
    else if (outcome.text) parts = splitMessage(outcome.text, request.messageLimit - prefix.length);
    else parts = [text('noSpeech', request.language)];
    parts[0] = prefix + parts[0];
    let sent = 0;
    try {
      for (const part of parts) {
        if (sent === 0) await progress.finish(part);
        else await request.reply.send(part);
        sent++;
      }
      if (outcome.ok && request.documentAfterParts !== undefined && parts.length > request.documentAfterParts) {
        await request.reply.sendDocument(request.documentName ?? 'transcript.txt', `${outcome.text}\n`);
      }
    } catch (error) {
      // Once part of the answer is out, a second one would only confuse: the failure is logged.
      this.log().error({ ...request.context, jobId: request.id, partsSent: sent, error: this.options.describeError(error) }, `${this.options.source} reply failed`);
      if (sent === 0 && outcome.ok) await this.answer(request, errorReply(error, request.language, limits));
      return;
    }
    if (outcome.ok && request.onDelivered) {
      try {
        await request.onDelivered(outcome.transcript, outcome.text);
      } catch (error) {
        this.log().error({ ...request.context, jobId: request.id, error: this.options.describeError(error) }, `${this.options.source} could not keep the transcript`);
      }
    }
  }

  /** User-caused errors (too long, too big, queue full…) at info, the rest as warnings or errors. */
  private logFailure(error: unknown, request: JobAnswer): void {
    const { source } = this.options;
    const context = { ...request.context, jobId: request.id, error: this.options.describeError(error) };
    if (error instanceof SttError && error.code !== 'internal') this.log().info({ ...context, code: error.code }, `${source} job refused`);
    else if (error instanceof DownloadError) this.log().warn(context, `${source} file download failed`);
    else if (this.options.replyFor?.(error, 'both') !== undefined) this.log().info(context, `${source} job refused`);
    else this.log().error({ ...context, code: toSttError(error).code }, `${source} job failed`);
  }

  private log(): Logger {
    return this.options.logger;
  }
}

/** The written form of the text, for the final transcript and the words so far alike. */
const defaultRender: NonNullable<JobAnswer['render']> = { final: (t: Transcript) => toWritten(t.text).trim(), partial: (words: string) => toWritten(words).trim() };

/**
 * One job's placeholder: shown once, then edited at the chat's pace. Edits go out one at a
 * time; one asked for while another is under way, or before the chat's pace allows, waits, and
 * only the newest text waiting is sent. The final text waits for the edit under way and skips
 * the pace, so that nothing stale lands after it.
 */
class Progress {
  /** The placeholder's send, then each edit, in order; resolves to whether a placeholder is up. */
  private chain: Promise<boolean> | undefined;
  /** The text the placeholder shows (or will, once the chain is through). */
  private shown: string | undefined;
  /** The newest text waiting for the pace. */
  private waiting: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  /**
   * @param options.placeholderShown the placeholder is up already (sent by the front that took the job).
   * @param options.onShown told once the placeholder is up.
   */
  constructor(
    private readonly request: JobAnswer,
    private readonly paceMs: number,
    private readonly lastEdit: Map<string, number>,
    private readonly onError: (error: unknown) => void,
    private readonly options: { placeholderShown: boolean; onShown?: () => void },
  ) {
    if (options.placeholderShown) this.chain = Promise.resolve(true);
  }

  /** Shows `text` as soon as the chat's pace allows. */
  show(text: string): void {
    if (this.finished) return;
    if (!this.chain) {
      this.shown = text;
      this.lastEdit.set(this.request.chat, Date.now());
      this.chain = this.request.reply.placeholder(text).then(
        () => {
          this.options.onShown?.();
          return true;
        },
        (error: unknown) => {
          this.onError(error);
          return false;
        },
      );
      return;
    }
    this.waiting = text;
    if (this.timer) return;
    const due = (this.lastEdit.get(this.request.chat) ?? 0) + this.paceMs;
    this.timer = setTimeout(() => this.flush(), Math.max(0, due - Date.now()));
    this.timer.unref();
  }

  /** Replaces the placeholder with the first part of the answer, or sends it when there is none. */
  async finish(text: string): Promise<void> {
    this.finished = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting = undefined;
    const up = (await this.chain) ?? false;
    if (!up) return this.request.reply.send(text);
    if (this.shown === text) return;
    this.lastEdit.set(this.request.chat, Date.now());
    try {
      await this.request.reply.edit(text);
    } catch (error) {
      // The placeholder is gone or cannot be edited: the answer comes as a message of its own.
      this.onError(error);
      await this.request.reply.send(text);
    }
  }

  private flush(): void {
    this.timer = undefined;
    const text = this.waiting;
    this.waiting = undefined;
    if (text === undefined || this.finished || !this.chain) return;
    const due = (this.lastEdit.get(this.request.chat) ?? 0) + this.paceMs;
    if (Date.now() < due) {
      // Another job of this chat edited meanwhile: wait for the pace again.
      this.show(text);
      return;
    }
    this.lastEdit.set(this.request.chat, Date.now());
    this.chain = this.chain.then(async (up) => {
      if (!up || this.finished || text === this.shown) return up;
      try {
        await this.request.reply.edit(text);
        this.shown = text;
      } catch (error) {
        this.onError(error);
      }
      return up;
    });
  }
}

/** Whether a handed-over record (JSON read back from the queue) has a record's shape, whichever platform's. */
function isReplyRecord(record: object): record is ReplyRecord {
  const { id, chat, address } = record as Partial<ReplyRecord>;
  return typeof id === 'string' && typeof chat === 'string' && typeof address === 'object' && address !== null && typeof address.platform === 'string';
}
