import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Config } from '../config.js';
import { requestHotwords } from '../core/beam-hotwords.js';
import { SttError, fileTooLarge, toSttError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { TranscribeOptions, Transcriber, Transcript } from '../core/types.js';
import type { JobBackend } from '../jobs/types.js';
import type { Logger } from '../logger.js';
import { openAudioPath } from './audio-path.js';
import { HOW_TO_SEND_AUDIO, printable, readBody, safeName, type RequestBody } from './body.js';
import { registerJobRoutes } from './jobs.js';
import { ParamError, registerOpenAiRoutes } from './openai.js';
import { sendTranscript, wav2vec2Body } from './send-transcript.js';
import { historyStore, registerTranscriptRoutes, rememberHttpTranscript } from './transcripts.js';
import type { Store } from '../store/index.js';
import { toWritten } from '../text/written.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A transcription route: its body is audio (up to MAX_UPLOAD_MB) and holds an upload slot while it arrives. */
    audio?: boolean;
  }
  interface FastifyRequest {
    /** When the request arrived (performance.now()): body deadlines count from here. */
    receivedAt: number;
  }
  interface FastifyInstance {
    /**
     * Starts draining: new requests are answered `503 shutting_down` (and `/healthz` says
     * `draining`) while the listener stays open; resolves once every request taken in has been
     * answered. When `deadline` aborts, what is still running is cancelled and answered
     * `shutting_down`.
     */
    drain(deadline: AbortSignal): Promise<void>;
  }
}

export interface AppOptions {
  config: Config;
  transcriber: Transcriber;
  logger: Logger;
  metrics: Metrics;
  /** Where async jobs live (POST /jobs): in memory or in Redis. Unset: no /jobs routes. */
  jobs?: JobBackend;
  /**
   * Whether the shared queue (QUEUE_URL) answers: while it does not, /healthz is `503
   * queue_unavailable`, so that an operator (or a load balancer) sees why requests are refused.
   * Unset: the embedded queue, always there.
   */
  queueConnected?: () => boolean;
  /** Where `history=true` keeps transcripts, searched at /transcripts. Unset: no /transcripts routes, and `history=true` is refused. */
  store?: Store;
}

/** Where the upload page's static files live. */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
/** The subtitles module the server uses, served to the page as it is at `/subtitles.js`. */
export const SUBTITLES_MODULE = fileURLToPath(new URL('../core/subtitles.js', import.meta.url));

const OUTPUT_FORMATS = ['json', 'text', 'txt', 'srt', 'vtt', 'verbose_json'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The body cap of every route that takes no audio. */
const DEFAULT_BODY_BYTES = 64 * 1024;
/** After a drain's deadline, how long cancelled requests get to take their answer. */
const CANCEL_ANSWER_MS = 1000;

/** The audio a request carries, and the fields that came with it. */
interface AudioRequest {
  audio?: { data: Uint8Array; name: string } | { path: string };
  fields: Record<string, string>;
}

/**
 * Builds the HTTP service (not listening): `GET/POST /wav2vec2`, the OpenAI-compatible
 * `POST /v1/audio/transcriptions`, `GET /healthz`, `GET /metrics` and the upload page at `/`.
 *
 * Every body is read by one parser, under the same cap, idle timeout, deadline and minimum
 * rate; a transcription's body takes one of `MAX_UPLOADS_IN_FLIGHT` upload slots while it
 * arrives, and its job a place in the queue only once its audio is in.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>> {
  const { config, transcriber, metrics } = options;
  const { limits } = config;
  const app = Fastify({
    loggerInstance: options.logger,
    // Each request's lines name its path, never its query: a query can carry a callback URL's
    // secret path or the words of a search.
    childLoggerFactory: (logger, bindings, opts) => logger.child(bindings, { ...opts, serializers: { ...opts.serializers, req: requestForLog } }),
    genReqId: () => randomUUID(),
    bodyLimit: DEFAULT_BODY_BYTES,
    // close() comes after drain(): whoever is still connected then has had their answer.
    forceCloseConnections: true,
    // Shutdown answers in the catalogue's shape (below), not Fastify's own 503 body.
    return503OnClosing: false,
    // Node's own backstop for a request that never completes; the body reader's deadlines come first.
    requestTimeout: limits.uploadDeadlineMs + 10_000,
    clientErrorHandler,
    frameworkErrors: (error, request, reply) => {
      sendError(reply, new SttError('bad_request', 'The request URL or its headers could not be read.', { cause: error }), request);
    },
  });

  // Requests taken in and not yet answered, each with the controller that cancels its work.
  const inFlight = new Map<string, AbortController>();
  let onSettled: (() => void) | undefined;
  let draining = false;
  const uploads = new UploadSlots(limits.maxUploadsInFlight, (uploading) => metrics.uploading.set(uploading));

  app.decorateRequest('receivedAt', 0);
  app.decorate('drain', async (deadline: AbortSignal) => {
    draining = true;
    const cancelAll = (): void => {
      for (const controller of inFlight.values()) {
        controller.abort(new SttError('shutting_down', 'The server restarted before this request finished: send it again shortly.'));
      }
    };
    if (deadline.aborted) cancelAll();
    else deadline.addEventListener('abort', cancelAll, { once: true });
    try {
      const settled = (async () => {
        while (inFlight.size > 0) await new Promise<void>((resolve) => (onSettled = resolve));
      })();
      // A client that does not take its answer does not hold the exit past the deadline.
      const givenUp = new Promise<void>((resolve) => {
        const late = (): void => void setTimeout(resolve, CANCEL_ANSWER_MS).unref();
        if (deadline.aborted) late();
        else deadline.addEventListener('abort', late, { once: true });
      });
      await Promise.race([settled, givenUp]);
    } finally {
      deadline.removeEventListener('abort', cancelAll);
    }
  });
  app.addHook('preClose', async () => {
    draining = true;
  });
  // While draining every answer closes its connection, so that keep-alive clients reconnect
  // elsewhere and nothing holds the exit.
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });

  app.addHook('onRequest', async (request, reply) => {
    request.receivedAt = performance.now();
    const url = request.url.split('?')[0];
    if (url === '/healthz') return;
    if (draining) return sendError(reply, new SttError('shutting_down'), request);
    // The key is checked before any body is read: an unauthenticated request costs nothing.
    if (config.apiKey && !isPublicRoute(request) && !bearerMatches(request.headers.authorization, config.apiKey)) {
      return sendError(reply, new SttError('unauthorized'), request);
    }
    const repeated = Object.entries((request.query ?? {}) as Record<string, unknown>).find(([, value]) => Array.isArray(value));
    if (repeated) return sendError(reply, new SttError('bad_request', `The query gives "${printable(repeated[0])}" more than once.`), request);
    if (url === '/metrics') return;
    const controller = new AbortController();
    inFlight.set(request.id, controller);
    reply.raw.once('close', () => {
      // The client went away before its answer: its work is cancelled.
      if (!reply.raw.writableEnded) controller.abort(new SttError('cancelled'));
      inFlight.delete(request.id);
      if (inFlight.size === 0) onSettled?.();
    });
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({ route: request.routeOptions.url ?? 'unknown', method: request.method, status: String(reply.statusCode) });
  });

  // One parser for every body: read whole under the limits, then parsed by its type (body.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (request: FastifyRequest) => {
    // No route: the 404 is the answer, whatever the body (left unread, as for any refusal).
    if (request.is404) return undefined;
    const audio = request.routeOptions.config.audio === true;
    const slot = audio ? uploads.take() : undefined;
    try {
      return await readBody(request, {
        limits,
        audio,
        maxBytes: request.routeOptions.bodyLimit ?? DEFAULT_BODY_BYTES,
        startedAt: request.receivedAt,
        signal: inFlight.get(request.id)?.signal,
      });
    } finally {
      slot?.release();
    }
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new SttError('not_found', `No route ${request.method} ${printablePath(request.url)}.`), request));
  app.setErrorHandler((error, request, reply) => sendError(reply, fromFastifyError(error), request));

  app.get('/healthz', async (_request, reply) => {
    const status = transcriber.status();
    const queueDown = options.queueConnected?.() === false;
    if (draining || queueDown) reply.code(503);
    return {
      status: draining ? 'draining' : queueDown ? 'queue_unavailable' : 'ok',
      model: status.model,
      device: status.device,
      queue: { waiting: status.waiting, running: status.running, max: status.maxPending },
      uploads: { uploading: uploads.uploading, max: uploads.max },
      // What the page checks before it uploads, states next to the file picker, and stops a recording at.
      limits: { max_upload_mb: limits.maxUploadMb, max_duration_sec: limits.maxDurationSec },
    };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const wav2vec2 = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const audioRequest = audioRequestOf(request);
    const format = outputFormat(audioRequest.fields.format ?? queryString(request, 'format') ?? 'json');
    const text = textStyle(audioRequest.fields.text ?? queryString(request, 'text') ?? 'spoken');
    const keep = historyStore(audioRequest.fields.history ?? queryString(request, 'history'), options.store);
    const hotwords = requestHotwords(audioRequest.fields.hotwords ?? queryString(request, 'hotwords'));
    const { transcript, label } = await runTranscription(request, audioRequest, { hotwords });
    // The kept transcript's id, for GET and DELETE /transcripts/<id>.
    const historyId = keep && (await rememberHttpTranscript(keep, transcript));
    return sendTranscript(reply, transcript, format, text, (t) => ({ ...wav2vec2Body(t, label), ...(historyId && { history_id: historyId }) }));
  };
  app.get('/wav2vec2', wav2vec2);
  app.post('/wav2vec2', { config: { audio: true } }, wav2vec2);

  registerOpenAiRoutes(app, {
    modelName: transcriber.status().model,
    createdAt: Math.floor(Date.now() / 1000),
    transcribe: async (request, file, { onPartial, hotwords }) => (await runTranscription(request, { audio: file, fields: {} }, { onPartial, hotwords })).transcript,
  });

  if (options.store) registerTranscriptRoutes(app, { store: options.store });

  if (options.jobs) {
    registerJobRoutes(app, {
      backend: options.jobs,
      audioOf: async (request) => {
        const { audio, fields } = audioRequestOf(request);
        // The same rule as /wav2vec2's: history=true on a server without a store is refused up front.
        historyStore(fields.history ?? queryString(request, 'history'), options.store);
        if (!audio) throw new SttError('no_audio');
        if ('data' in audio) return { data: audio.data, label: audio.name, fields };
        const file = await openAudioPath(config.audioDir, audio.path);
        try {
          // A job outlives its request: the file is read whole now, under the upload limit.
          if ((await stat(file.path)).size > limits.maxUploadBytes) throw fileTooLarge(limits.maxUploadMb);
          return { data: await readFile(file.path), label: file.label, fields };
        } finally {
          await file.close();
        }
      },
    });
  }

  if (existsSync(PUBLIC_DIR)) {
    await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: '1h' });
    app.get('/subtitles.js', async (_request, reply) => {
      reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600');
      return readFile(SUBTITLES_MODULE);
    });
  }

  /** Runs one transcription; cancelled when the client goes away or the drain's deadline passes. */
  async function runTranscription(
    request: FastifyRequest,
    audioRequest: AudioRequest,
    { onPartial, hotwords }: Pick<TranscribeOptions, 'onPartial' | 'hotwords'> = {},
  ): Promise<{ transcript: Transcript; label: string }> {
    const { audio } = audioRequest;
    if (!audio) throw new SttError('no_audio');
    const signal = inFlight.get(request.id)?.signal;
    const options = { signal, jobId: request.id, source: 'http', onPartial, hotwords };
    if ('path' in audio) {
      const file = await openAudioPath(config.audioDir, audio.path);
      try {
        return { transcript: await transcriber.transcribe({ kind: 'file', path: file.path }, options), label: file.label };
      } finally {
        await file.close();
      }
    }
    return { transcript: await transcriber.transcribe({ kind: 'buffer', data: audio.data }, options), label: audio.name };
  }

  return app;
}

/** A bounded number of request bodies read at once. */
class UploadSlots {
  /** Bodies still arriving. */
  uploading = 0;
  constructor(
    readonly max: number,
    private readonly onChange: (uploading: number) => void,
  ) {}

  /** Takes a slot, or refuses at once with `too_many_uploads`. */
  take(): { release(): void } {
    if (this.uploading >= this.max) throw new SttError('too_many_uploads', undefined, { retryAfterSec: 5 });
    this.onChange(++this.uploading);
    let held = true;
    return {
      release: () => {
        if (held) {
          held = false;
          this.onChange(--this.uploading);
        }
      },
    };
  }
}

/**
 * The audio and fields of a request: a form's file or a raw body, or a `path` in the query, the
 * form or a JSON body. Text, JSON and URL-encoded bodies without a path are not audio.
 */
function audioRequestOf(request: FastifyRequest): AudioRequest {
  const body = request.body as RequestBody | undefined;
  const fields: Record<string, string> = {};
  let audio: AudioRequest['audio'];
  let fieldsOnly = false;
  if (body?.kind === 'form') {
    Object.assign(fields, body.fields);
    if (body.file) audio = { data: body.file.data, name: body.file.name };
    fieldsOnly = body.source === 'urlencoded';
  } else if (body?.kind === 'json') {
    if (typeof body.value !== 'object' || body.value === null || Array.isArray(body.value)) throw new SttError('unsupported_media_type', HOW_TO_SEND_AUDIO);
    for (const [key, value] of Object.entries(body.value)) if (typeof value === 'string') fields[key] = value;
    fieldsOnly = true;
  } else if (body?.kind === 'raw' && body.data.length > 0) {
    audio = { data: body.data, name: safeName(queryString(request, 'filename') ?? 'upload') };
  }
  const requestedPath = fields.path ?? queryString(request, 'path');
  if (requestedPath !== undefined) {
    if (audio) throw new SttError('bad_request', 'Send either a file or a path, not both.');
    audio = { path: requestedPath };
  }
  if (!audio && fieldsOnly) throw new SttError('unsupported_media_type', HOW_TO_SEND_AUDIO);
  return { audio, fields };
}

/** The upload page and its assets, /healthz and the Telegram webhook (it has its own secret) need no API key. */
function isPublicRoute(request: FastifyRequest): boolean {
  const url = request.url.split('?')[0];
  if (url === '/healthz' || url === '/telegram/webhook') return true;
  return request.method === 'GET' && (url === '/' || /^\/[\w.-]+\.(html|js|css|svg|ico|png)$/.test(url));
}

function bearerMatches(header: string | undefined, key: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1].trim()), digest(key));
}

function queryString(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

function outputFormat(value: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw new SttError('bad_request', `Unknown format "${value.slice(0, 20)}": use ${OUTPUT_FORMATS.join(', ')}.`);
}

/** `?text=`: the model's words as it heard them (the default, as the replaced service), or written Vietnamese. */
function textStyle(value: string): (spoken: string) => string {
  if (value === 'spoken') return (spoken) => spoken;
  if (value === 'written') return toWritten;
  throw new SttError('bad_request', `Unknown text "${printable(value)}": use spoken or written.`);
}

/**
 * A refused request's body up to this size is read (and dropped) before the answer goes out:
 * fetch in Node 24 (undici) reports a connection closed while it still sends as a failed request
 * (EPIPE), not as the answer, so a file a little over MAX_UPLOAD_MB is read to its end first.
 */
const DRAIN_BEFORE_ANSWER_BYTES = 8 * 1024 * 1024;
/** …for at most this long. */
const DRAIN_BEFORE_ANSWER_MS = 5000;

/**
 * The one error response: `{status, error, message}`, or OpenAI's `{error: {message, type,
 * param, code}}` under /v1 so that OpenAI clients show the message.
 *
 * A request refused before its body was in (no key, busy, shutting down, not audio): a small
 * body is read and dropped first, so that the client, still sending, reads its answer rather
 * than a reset connection; a large one is not waited for: the answer goes out at once and the
 * connection closes after it.
 */
function sendError(reply: FastifyReply, error: unknown, request: FastifyRequest): FastifyReply | Promise<FastifyReply> {
  const stt = toSttError(error);
  if (stt.code === 'internal') request.log.error({ err: error }, 'request failed');
  if (stt.retryAfterSec) reply.header('retry-after', String(stt.retryAfterSec));
  reply.code(stt.status);
  const send = (): FastifyReply => {
    if (request.url.startsWith('/v1/')) {
      const type = stt.status >= 500 ? 'server_error' : 'invalid_request_error';
      const param = error instanceof ParamError ? error.param : null;
      return reply.send({ error: { message: stt.message, type, param, code: stt.code } });
    }
    return reply.send({ status: 'error', error: stt.code, message: stt.message });
  };
  const raw = request.raw;
  if (raw.complete || raw.readableEnded) return send();
  if (stt.code === 'upload_timeout') {
    reply.header('connection', 'close');
    return send();
  }
  raw.resume();
  if (!(Number(request.headers['content-length'] ?? Number.NaN) <= DRAIN_BEFORE_ANSWER_BYTES)) {
    reply.header('connection', 'close');
    return send();
  }
  return once(raw, 'end', { signal: AbortSignal.timeout(DRAIN_BEFORE_ANSWER_MS) }).then(send, () => {
    reply.header('connection', 'close');
    return send();
  });
}

/** Fastify's own errors, in the catalogue's terms. */
function fromFastifyError(error: unknown): unknown {
  if (error instanceof SttError || !(error instanceof Error)) return error;
  const status = (error as Error & { statusCode?: number }).statusCode;
  if (status === 413) return new SttError('payload_too_large', undefined, { cause: error });
  if (status === 415) return new SttError('unsupported_media_type', HOW_TO_SEND_AUDIO, { cause: error });
  if (status === 416) return new SttError('range_not_satisfiable', undefined, { cause: error });
  if (status && status >= 400 && status < 500) return new SttError('bad_request', undefined, { cause: error });
  return error;
}

/** A request as its log lines show it: Fastify's fields, the URL without its query. */
function requestForLog(request: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }): Record<string, unknown> {
  return { method: request.method, url: request.url?.split('?')[0], host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort };
}

/** A URL's path, cut short and without its query, for a 404's message. */
function printablePath(url: string): string {
  return url.split('?')[0].replace(/[^\w./%-]/g, '_').slice(0, 100);
}

/**
 * Errors below the routes (a malformed request line, bad chunked encoding, oversized headers,
 * Node's request timeout), answered in the catalogue's shape on the raw socket, then closed.
 */
function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const stt =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new SttError('headers_too_large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new SttError('upload_timeout', 'The request took too long to arrive.')
        : new SttError('bad_request', 'The request is not valid HTTP.');
  this.log.debug({ code: error.code }, 'client error');
  // A response already under way on this socket cannot be replaced; the connection just ends.
  const current = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !current?.headersSent) {
    const body = JSON.stringify({ status: 'error', error: stt.code, message: stt.message });
    socket.write(
      `HTTP/1.1 ${stt.status} ${STATUS_CODES[stt.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
