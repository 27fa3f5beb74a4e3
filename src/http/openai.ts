import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify';
import { MAX_HOTWORD_CHARS, requestHotwords, splitHotwords } from '../core/beam-hotwords.js';
import { SttError, toSttError, type ErrorCode } from '../core/errors.js';
import type { TranscribeOptions, Transcript } from '../core/types.js';
import type { RequestBody } from './body.js';
import { sendTranscript } from './send-transcript.js';
import { toWritten } from '../text/written.js';

/** The one model this server lists, under the name clients pass as `model`. */
export const OPENAI_MODEL_ID = 'wav2vec2';

const RESPONSE_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;
type ResponseFormat = (typeof RESPONSE_FORMATS)[number];
/** The languages a client may name for this model: it hears Vietnamese only. */
const LANGUAGES = new Set(['vi', 'vie', 'vietnamese']);

/** An error in OpenAI's shape that names the field at fault (`error.param`). */
export class ParamError extends SttError {
  constructor(
    readonly param: string,
    message: string,
    code: ErrorCode = 'bad_request',
  ) {
    super(code, message);
  }
}

/** What the OpenAI routes need from the app that mounts them. */
export interface OpenAiRoutesOptions {
  /** Transcribes the request's uploaded file (the app's body reading and limits apply). */
  transcribe(request: FastifyRequest, file: { data: Uint8Array; name: string }, options: Pick<TranscribeOptions, 'onPartial' | 'hotwords'>): Promise<Transcript>;
  /** The model's own name, reported as the listed model's owner. */
  modelName: string;
  /** When the model was loaded (Unix seconds): the listed model's `created`. */
  createdAt: number;
}

/**
 * OpenAI's speech-to-text API as its SDK types it: `POST /v1/audio/transcriptions` (json, text,
 * srt, vtt, verbose_json; `stream: true` as server-sent events; `timestamp_granularities[]`),
 * `GET /v1/models` and `/v1/models/{id}`, and a clear 400 for `/v1/audio/translations`.
 */
export function registerOpenAiRoutes<Log extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Log>,
  options: OpenAiRoutesOptions,
): void {
  const model = { id: OPENAI_MODEL_ID, object: 'model', created: options.createdAt, owned_by: options.modelName };

  app.get('/v1/models', async () => ({ object: 'list', data: [model] }));
  app.get<{ Params: { id: string } }>('/v1/models/:id', async (request) => {
    if (request.params.id !== model.id) {
      throw new SttError('not_found', `No model "${request.params.id.slice(0, 60)}": this server has one, "${model.id}".`);
    }
    return model;
  });

  app.post('/v1/audio/translations', {
    // Refused before the upload is read: there is nothing this route would do with it.
    onRequest: async () => {
      throw new SttError('bad_request', 'This model transcribes Vietnamese and does not translate: use /v1/audio/transcriptions.');
    },
    handler: async () => undefined,
  });

  app.post('/v1/audio/transcriptions', { config: { audio: true } }, async (request, reply) => {
    const body = request.body as RequestBody | undefined;
    if (body?.kind !== 'form' || !body.file) throw new SttError('no_audio', 'Send the audio as the multipart field "file".');
    const { fields, lists } = body;
    const format = responseFormat(fields.response_format);
    if (fields.language !== undefined && !LANGUAGES.has(fields.language.trim().toLowerCase())) {
      throw new ParamError('language', `This model only hears Vietnamese: set language to "vi" or leave it out (not "${fields.language.slice(0, 20)}").`);
    }
    const granularities = lists.timestamp_granularities ?? [];
    for (const value of granularities) {
      if (value !== 'word' && value !== 'segment') throw new ParamError('timestamp_granularities', `timestamp_granularities[] takes "word" or "segment", not "${value.slice(0, 20)}".`);
    }
    if (granularities.length > 0 && format !== 'verbose_json') {
      throw new ParamError('timestamp_granularities', 'timestamp_granularities[] needs response_format "verbose_json".');
    }
    const hotwords = promptHotwords(fields.prompt);
    const stream = fields.stream === 'true';
    if (stream) return streamTranscript(request, reply, body.file, options, hotwords);

    const transcript = await options.transcribe(request, body.file, { hotwords });
    // People read what this route returns: the written form (digits, dates, money), while
    // word timings stay on the words as spoken.
    return sendTranscript(reply, transcript, format, toWritten, (t) =>
      format === 'verbose_json' ? verboseJson(t, granularities) : { text: toWritten(t.text), usage: usage(t) },
    );
  });
}

/** Words held back from a partial text: a number and the unit after it may still be read as one. */
const HELD_BACK_WORDS = 4;

/**
 * The written form of the words heard so far, less the last few and any number words just
 * before them: those may still join the next words ("hai mươi" then "mốt" is 21, "năm" then
 * "ki lô mét" is 5 km), so that what has been streamed is never taken back.
 */
function stableWritten(spoken: string): string {
  const words = spoken.split(' ').filter(Boolean);
  let end = Math.max(0, words.length - HELD_BACK_WORDS);
  while (end > 0 && /^(?:\d+|không|một|mốt|hai|ba|bốn|tư|năm|lăm|nhăm|sáu|bảy|tám|chín|mười|mươi|trăm|nghìn|ngàn|triệu|tỷ|tỉ|linh|lẻ|rưỡi|phẩy|ngày|mùng|tháng|giờ|phút|kém)$/.test(words[end - 1])) end--;
  return end === 0 ? '' : `${toWritten(words.slice(0, end).join(' '))} `;
}

/**
 * `prompt`: the words and names to expect, separated by commas, as hotwords of this request
 * (the way Whisper's prompt is used for spellings); a prompt with no comma is one phrase. A
 * piece too long for a phrase (a sentence, as clients written for Whisper send) gives its words.
 */
function promptHotwords(prompt: string | undefined): string[] {
  try {
    if (prompt === undefined) return [];
    const pieces = splitHotwords(prompt).flatMap((piece) => ([...piece].length > MAX_HOTWORD_CHARS ? piece.split(' ') : [piece]));
    return requestHotwords([...new Set(pieces)].join(','));
  } catch (error) {
    if (error instanceof SttError) throw new ParamError('prompt', error.message, error.code);
    throw error;
  }
}

function responseFormat(value: string | undefined): ResponseFormat {
  if (value === undefined) return 'json';
  if ((RESPONSE_FORMATS as readonly string[]).includes(value)) return value as ResponseFormat;
  throw new ParamError('response_format', `Unknown response_format "${value.slice(0, 20)}": use ${RESPONSE_FORMATS.join(', ')}.`);
}

function usage(transcript: Transcript): { type: 'duration'; seconds: number } {
  return { type: 'duration', seconds: Math.ceil(transcript.duration) };
}

/** `TranscriptionVerbose`: segments unless only words were asked for, words only when asked. */
function verboseJson(transcript: Transcript, granularities: readonly string[]): Record<string, unknown> {
  const segments = granularities.length === 0 || granularities.includes('segment');
  return {
    task: 'transcribe',
    language: 'vietnamese',
    duration: transcript.duration,
    text: toWritten(transcript.text),
    ...(segments ? { segments: transcript.segments.map((segment) => ({ ...segment, text: toWritten(segment.text) })) } : {}),
    ...(granularities.includes('word') ? { words: transcript.words.map(({ word, start, end }) => ({ word, start, end })) } : {}),
    usage: usage(transcript),
  };
}

/**
 * `stream: true`: `transcript.text.delta` events as the model's windows finish, then one
 * `transcript.text.done` with the whole text and its usage. The events start only once the
 * audio has been decoded and the first window has run, so a file that cannot be read is still
 * an ordinary JSON error; a failure after that comes as an `error` event, as OpenAI sends it.
 */
async function streamTranscript(
  request: FastifyRequest,
  reply: FastifyReply,
  file: { data: Uint8Array; name: string },
  options: OpenAiRoutesOptions,
  hotwords: string[],
): Promise<FastifyReply> {
  const events = new PassThrough();
  let sent = '';
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    void reply.code(200).header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache').send(events);
  };
  const send = (event: Record<string, unknown>): void => {
    start();
    events.write(`data: ${JSON.stringify(event)}\n\n`);
  };
  // A delta carries what is new; text that does not extend what was sent waits for more words.
  const delta = (text: string): void => {
    if (text.length <= sent.length || !text.startsWith(sent)) return;
    const next = text.slice(sent.length);
    sent = text;
    send({ type: 'transcript.text.delta', delta: next });
  };
  try {
    const transcript = await options.transcribe(request, file, {
      onPartial: ({ text }) => delta(stableWritten(text)),
      hotwords,
    });
    const text = toWritten(transcript.text);
    delta(text);
    send({ type: 'transcript.text.done', text, usage: usage(transcript) });
    events.end();
    return reply;
  } catch (error) {
    if (!started) throw error;
    const stt = toSttError(error);
    if (stt.code === 'internal') request.log.error({ err: error }, 'streamed transcription failed');
    events.end(`data: ${JSON.stringify({ type: 'error', error: { message: stt.message, type: stt.status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: stt.code } })}\n\n`);
    return reply;
  }
}
