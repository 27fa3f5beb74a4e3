import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import type { Config } from '../config.js';
import { SttError, toSttError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { toSrt, toVtt, wordsToCues } from '../core/subtitles.js';
import type { Transcriber, Transcript } from '../core/types.js';
import type { Logger } from '../logger.js';
import { resolveAudioPath } from './audio-path.js';
import { isNonAudioType } from '../core/sniff.js';
import type { Readable } from 'node:stream';

export interface AppOptions {
  config: Config;
  transcriber: Transcriber;
  logger: Logger;
  metrics: Metrics;
}

/** Where the upload page's static files live. */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

const OUTPUT_FORMATS = ['json', 'text', 'txt', 'srt', 'vtt', 'verbose_json'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The audio a request carries, and the fields that came with it. */
interface AudioRequest {
  audio?: { data: Uint8Array | Readable; name: string; type?: string } | { path: string };
  fields: Record<string, string>;
}

/**
 * Builds the HTTP service (not listening): `GET/POST /wav2vec2`, the OpenAI-compatible
 * `POST /v1/audio/transcriptions`, `GET /healthz`, `GET /metrics` and the upload page at `/`.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>> {
  const { config, transcriber, metrics } = options;
  const app = Fastify({
    loggerInstance: options.logger,
    genReqId: () => randomUUID(),
    bodyLimit: config.limits.maxUploadBytes,
    forceCloseConnections: 'idle',
    // Shutdown answers in the catalogue's shape (below), not Fastify's own 503 body.
    return503OnClosing: false,
  });

  // From close() on: new requests get `shutting_down`, and every response closes its connection,
  // so a keep-alive socket whose request finishes during the drain does not hold the exit.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  await app.register(formbody);
  await app.register(multipart, {
    limits: { fileSize: config.limits.maxUploadBytes, files: 1, fields: 10, fieldSize: 4096 },
  });
  // A raw audio body is handed on as a stream: the job is admitted (or refused as busy) before
  // the body is read, and the read stops at MAX_UPLOAD_MB.
  app.addContentTypeParser(['application/octet-stream'], (_request, payload, done) => done(null, payload));
  app.addContentTypeParser(/^(audio|video)\//, (_request, payload, done) => done(null, payload));

  app.addHook('onRequest', async (request, reply) => {
    if (closing && request.url !== '/healthz') return sendError(reply, new SttError('shutting_down'), request);
    if (!config.apiKey || isPublicRoute(request)) return;
    if (!bearerMatches(request.headers.authorization, config.apiKey)) {
      return sendError(reply, new SttError('unauthorized'), request);
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({ route: request.routeOptions.url ?? 'unknown', method: request.method, status: String(reply.statusCode) });
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new SttError('not_found', `No route ${request.method} ${request.url.split('?')[0]}.`), request));
  app.setErrorHandler((error, request, reply) => sendError(reply, fromFastifyError(error), request));

  app.get('/healthz', async () => {
    const status = transcriber.status();
    return { status: 'ok', model: status.model, device: status.device, queue: { waiting: status.queued, running: status.running, max: status.maxPending } };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const wav2vec2 = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const audioRequest = await readAudioRequest(request);
    const format = outputFormat(audioRequest.fields.format ?? queryString(request, 'format') ?? 'json');
    const { transcript, label } = await runTranscription(request, reply, audioRequest);
    return sendTranscript(reply, transcript, format, (t) => ({
      status: 'success',
      transcript: t.text,
      path: label,
      duration: t.duration,
      processing_ms: t.processingMs,
      device: t.device,
      words: t.words,
    }));
  };
  app.get('/wav2vec2', wav2vec2);
  app.post('/wav2vec2', wav2vec2);

  app.post('/v1/audio/transcriptions', async (request, reply) => {
    const audioRequest = await readAudioRequest(request);
    if (!audioRequest.audio || 'path' in audioRequest.audio) {
      throw new SttError('no_audio', 'Send the audio as the multipart field "file".');
    }
    const format = outputFormat(audioRequest.fields.response_format ?? 'json');
    const { transcript } = await runTranscription(request, reply, audioRequest);
    return sendTranscript(reply, transcript, format, (t) =>
      format === 'verbose_json'
        ? {
            task: 'transcribe',
            language: 'vietnamese',
            duration: t.duration,
            text: t.text,
            segments: wordsToCues(t.words).map((cue, id) => ({ id, start: cue.start, end: cue.end, text: cue.text })),
            words: t.words.map(({ word, start, end }) => ({ word, start, end })),
          }
        : { text: t.text },
    );
  });

  if (existsSync(PUBLIC_DIR)) {
    await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: '1h' });
  }

  /** Runs one transcription, cancelled when the client goes away. */
  async function runTranscription(
    request: FastifyRequest,
    reply: FastifyReply,
    audioRequest: AudioRequest,
  ): Promise<{ transcript: Transcript; label: string }> {
    const { audio } = audioRequest;
    if (!audio) throw new SttError('no_audio');
    const controller = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableEnded) controller.abort();
    };
    reply.raw.on('close', onClose);
    try {
      if ('path' in audio) {
        const file = await resolveAudioPath(config.audioDir, audio.path);
        const transcript = await transcriber.transcribe({ kind: 'file', path: file }, { signal: controller.signal, jobId: request.id, source: 'http' });
        return { transcript, label: audio.path };
      }
      if (isNonAudioType(audio.type)) throw new SttError('unsupported_media_type');
      const input = audio.data instanceof Uint8Array ? { kind: 'buffer' as const, data: audio.data } : { kind: 'stream' as const, stream: audio.data };
      const transcript = await transcriber.transcribe(input, { signal: controller.signal, jobId: request.id, source: 'http' });
      return { transcript, label: audio.name };
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  return app;
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

/** Collects the audio from a multipart upload, a raw audio body, or a `path` in the query or form. */
async function readAudioRequest(request: FastifyRequest): Promise<AudioRequest> {
  const fields: Record<string, string> = {};
  let audio: AudioRequest['audio'];
  if (request.isMultipart()) {
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          const data = await part.toBuffer();
          if (part.fieldname === 'file' && !audio) audio = { data, name: safeName(part.filename), type: part.mimetype };
        } else if (typeof part.value === 'string') {
          fields[part.fieldname] = part.value;
        }
      }
    } catch (error) {
      // The form's own faults (no boundary, a body cut off, too many parts) are the client's.
      const known = fromFastifyError(error);
      throw known instanceof SttError ? known : new SttError('bad_request', 'The multipart form could not be read.', { cause: error });
    }
  } else if (isReadable(request.body)) {
    audio = { data: request.body, name: safeName(queryString(request, 'filename') ?? 'upload'), type: request.headers['content-type'] };
  } else if (request.body && typeof request.body === 'object') {
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) {
      if (typeof value === 'string') fields[key] = value;
    }
  }
  const requestedPath = fields.path ?? queryString(request, 'path');
  if (requestedPath !== undefined) {
    if (audio) throw new SttError('bad_request', 'Send either a file or a path, not both.');
    audio = { path: requestedPath };
  }
  return { audio, fields };
}

function isReadable(value: unknown): value is Readable {
  return typeof value === 'object' && value !== null && typeof (value as Readable).pipe === 'function';
}

function safeName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  return base.replace(/[^\p{L}\p{N}._ -]/gu, '_').slice(0, 200) || 'upload';
}

function sendTranscript(
  reply: FastifyReply,
  transcript: Transcript,
  format: OutputFormat,
  json: (t: Transcript) => unknown,
): FastifyReply {
  switch (format) {
    case 'srt':
      return reply.type('application/x-subrip; charset=utf-8').send(toSrt(transcript.words));
    case 'vtt':
      return reply.type('text/vtt; charset=utf-8').send(toVtt(transcript.words));
    case 'txt':
    case 'text':
      return reply.type('text/plain; charset=utf-8').send(`${transcript.text}\n`);
    default:
      return reply.send(json(transcript));
  }
}

/**
 * The one error response: `{status, error, message}`, or OpenAI's `{error: {message, type,
 * param, code}}` under /v1 so that OpenAI clients show the message.
 */
function sendError(reply: FastifyReply, error: unknown, request: FastifyRequest): FastifyReply {
  const stt = toSttError(error);
  if (stt.code === 'internal') request.log.error({ err: error }, 'request failed');
  if (stt.retryAfterSec) reply.header('retry-after', String(stt.retryAfterSec));
  // The rest of a stalled upload is not waited for: the connection ends with the answer.
  if (stt.code === 'upload_timeout') reply.header('connection', 'close');
  reply.code(stt.status);
  if (request.url.startsWith('/v1/')) {
    const type = stt.status >= 500 ? 'server_error' : 'invalid_request_error';
    return reply.send({ error: { message: stt.message, type, param: null, code: stt.code } });
  }
  return reply.send({ status: 'error', error: stt.code, message: stt.message });
}

/** Fastify's and its plugins' own errors, in the catalogue's terms. */
function fromFastifyError(error: unknown): unknown {
  if (error instanceof SttError || !(error instanceof Error)) return error;
  const code = (error as Error & { code?: string }).code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new SttError('payload_too_large', 'The upload is larger than the limit.', { cause: error });
    case 'FST_FILES_LIMIT':
      return new SttError('bad_request', 'Send one file, in the field "file".', { cause: error });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SttError('unsupported_media_type', 'Send audio as multipart/form-data, audio/*, or application/octet-stream.', { cause: error });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
    case 'FST_PROTO_VIOLATION':
      return new SttError('bad_request', undefined, { cause: error });
  }
  const status = (error as Error & { statusCode?: number }).statusCode;
  if (status && status >= 400 && status < 500) return new SttError('bad_request', undefined, { cause: error });
  return error;
}
