import { Busboy, type BusboyConfig } from '@fastify/busboy';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { SttError, fileTooLarge } from '../core/errors.js';
import { StreamLimitError, readStream } from '../core/read-stream.js';

/** A request body, read whole and parsed by its Content-Type (see {@link readBody}). */
export type RequestBody =
  | { kind: 'form'; source: 'multipart' | 'urlencoded'; fields: Record<string, string>; lists: Record<string, string[]>; file?: UploadedFile }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; data: Buffer; type: string | undefined };

export interface UploadedFile {
  data: Buffer;
  /** The file name the client gave, reduced to safe characters and no folder. */
  name: string;
}

/** The most a form may carry beside its file: 20 fields of up to 4 KiB each. */
const MAX_FIELDS = 20;
const MAX_FIELD_BYTES = 4096;
/** What a multipart form may add to its file: boundaries, part headers and the fields. */
const FORM_OVERHEAD_BYTES = 128 * 1024;

/** The most a form or JSON body carrying only fields may hold. */
export const FIELDS_BYTES = 64 * 1024;

/** How a body is read: what its route takes, and the deadlines it must keep. */
export interface BodyRules {
  limits: Config['limits'];
  /** True on the transcription routes: audio comes raw or as a form's file, fields as a form or JSON. */
  audio: boolean;
  /** The cap of every other route's body (its Fastify `bodyLimit`). */
  maxBytes: number;
  /** When the request arrived (performance.now()): the deadline and the rate count from there. */
  startedAt: number;
  signal?: AbortSignal;
}

/** What the message of a 415 says to someone who sent text, JSON or a form without audio. */
export const HOW_TO_SEND_AUDIO =
  "That is not audio. Send a file as multipart/form-data (curl -F file=@voice.ogg) or as a raw body with an audio type (curl --data-binary @voice.ogg -H 'Content-Type: audio/ogg').";

/**
 * Reads a request's body whole, under its cap and deadlines, then parses it by Content-Type:
 * multipart and URL-encoded forms, JSON, and anything else as raw bytes (audio, most often,
 * whatever label it came with: what the bytes are is decided later, by the sniffer and ffmpeg).
 *
 * Past the cap the rest of the body is read and dropped, so the client still gets its 413; a
 * stalled, too slow or too long body is `upload_timeout`, and the connection is closed with the
 * answer.
 */
export async function readBody(request: FastifyRequest, rules: BodyRules): Promise<RequestBody> {
  const { limits } = rules;
  const type = request.headers['content-type'];
  const essence = type?.split(';')[0].trim().toLowerCase() ?? '';
  const kind: 'multipart' | 'form' | 'json' | 'text' | 'raw' =
    essence === 'multipart/form-data'
      ? 'multipart'
      : essence === 'application/x-www-form-urlencoded'
        ? 'form'
        : essence === 'application/json' || essence.endsWith('+json')
          ? 'json'
          : essence.startsWith('text/')
            ? 'text'
            : 'raw';
  // On the transcription routes, text is never audio, and a form or JSON only carries fields
  // (a path, a format): an audio file sent that way (curl --data-binary without a type) is told how.
  if (rules.audio && kind === 'text') throw new SttError('unsupported_media_type', HOW_TO_SEND_AUDIO);
  const maxBytes = !rules.audio
    ? rules.maxBytes
    : kind === 'multipart'
      ? limits.maxUploadBytes + FORM_OVERHEAD_BYTES
      : kind === 'raw'
        ? limits.maxUploadBytes
        : FIELDS_BYTES;
  const overCap = (): SttError =>
    rules.audio && (kind === 'form' || kind === 'json')
      ? new SttError('unsupported_media_type', HOW_TO_SEND_AUDIO)
      : fileTooLarge(rules.audio ? limits.maxUploadMb : mb(rules.maxBytes));

  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  if (declared > maxBytes) throw overCap();
  const raw = request.raw;
  let data: Buffer;
  try {
    data = await readStream(raw.iterator({ destroyOnReturn: false }), {
      maxBytes,
      idleMs: limits.uploadIdleMs,
      deadlineMs: limits.uploadDeadlineMs,
      minBytesPerSec: limits.uploadMinBytesPerSec,
      startedAt: rules.startedAt,
      signal: rules.signal,
      // A refused body is drained, not cut, so that the answer reaches the client; a stalled one
      // is not waited for (its connection closes with the 408).
      stop: (reason) => {
        if (reason instanceof StreamLimitError && reason.reason === 'too_large') raw.resume();
      },
    });
  } catch (error) {
    throw fromReadError(error, overCap);
  }
  switch (kind) {
    case 'multipart':
      return parseMultipart(data, type as string, limits.maxUploadBytes, limits.maxUploadMb);
    case 'form':
      // A real URL-encoded form is printable ASCII (everything else is percent-encoded): bytes
      // beyond it are a file sent with curl's default type.
      if (rules.audio && !isPrintableAscii(data)) throw overCap();
      return parseUrlEncoded(data);
    case 'json':
      return { kind: 'json', value: parseJson(data) };
    default:
      return { kind: 'raw', data, type };
  }
}

function isPrintableAscii(data: Buffer): boolean {
  return data.every((byte) => (byte >= 0x20 && byte < 0x7f) || byte === 0x09 || byte === 0x0a || byte === 0x0d);
}

function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 100) / 100;
}

function fromReadError(error: unknown, overCap: () => SttError): unknown {
  if (error instanceof SttError) return error;
  if (!(error instanceof StreamLimitError)) {
    // The client went away (or its connection broke) before the body was in.
    return error instanceof Error && error.name === 'AbortError' ? error : new SttError('cancelled', 'The upload was interrupted.', { cause: error });
  }
  switch (error.reason) {
    case 'too_large':
      return overCap();
    case 'idle':
      return new SttError('upload_timeout', undefined, { cause: error });
    case 'deadline':
      return new SttError('upload_timeout', `The upload took longer than ${seconds(error.limit)} s.`, { cause: error });
    case 'too_slow':
      return new SttError('upload_timeout', `The upload arrived too slowly (under ${Math.round(error.limit / 1024)} KB/s).`, { cause: error });
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

/** JSON as Fastify parses it: `__proto__` and `constructor.prototype` keys are refused. */
function parseJson(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'), (key, value: unknown) => {
      if (key === '__proto__' || (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)) {
        throw new SyntaxError('forbidden key');
      }
      return value;
    });
  } catch (error) {
    throw new SttError('bad_request', 'The JSON body could not be parsed.', { cause: error });
  }
}

function parseUrlEncoded(data: Buffer): RequestBody {
  const form: Extract<RequestBody, { kind: 'form' }> = { kind: 'form', source: 'urlencoded', fields: {}, lists: {} };
  const params = new URLSearchParams(data.toString('utf8'));
  let count = 0;
  for (const [name, value] of params) {
    if (++count > MAX_FIELDS) throw new SttError('bad_request', `A form may carry at most ${MAX_FIELDS} fields.`);
    addField(form, name, value);
  }
  return form;
}

/** A field's value; a name ending in `[]` may repeat (OpenAI's `timestamp_granularities[]`), others may not. */
function addField(form: Extract<RequestBody, { kind: 'form' }>, name: string, value: string): void {
  if (name.endsWith('[]')) {
    (form.lists[name.slice(0, -2)] ??= []).push(value);
    return;
  }
  if (Object.hasOwn(form.fields, name)) throw new SttError('bad_request', `The field "${printable(name)}" is given twice.`);
  form.fields[name] = value;
}

/** A client-supplied name, cut short and reduced to characters that are safe to echo. */
export function printable(name: string): string {
  return name.replace(/[^\p{L}\p{N}_.[\]-]/gu, '_').slice(0, 40);
}

/**
 * Parses a multipart form held in memory. The file part's own Content-Type is not trusted
 * (Python's requests sends none, and browsers guess from the name): what the bytes are decides.
 */
function parseMultipart(data: Buffer, contentType: string, maxFileBytes: number, maxFileMb: number): Promise<RequestBody> {
  return new Promise((resolve, reject) => {
    const form: Extract<RequestBody, { kind: 'form' }> = { kind: 'form', source: 'multipart', fields: {}, lists: {} };
    let failure: unknown;
    const fail = (error: unknown): void => {
      failure ??= error;
    };
    const config: BusboyConfig = {
      headers: { 'content-type': contentType },
      limits: { files: 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, fileSize: maxFileBytes, parts: MAX_FIELDS + 1 },
    };
    let parser: InstanceType<typeof Busboy>;
    try {
      parser = new Busboy(config);
    } catch (error) {
      reject(new SttError('bad_request', 'The multipart form has no boundary.', { cause: error }));
      return;
    }
    parser.on('file', (field, stream, filename) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => fail(fileTooLarge(maxFileMb)));
      // A part cut off by the end of the form; the form's own error follows.
      stream.on('error', (error: unknown) => fail(new SttError('bad_request', 'The multipart form ends inside a part.', { cause: error })));
      stream.on('end', () => {
        if (field !== 'file') return;
        form.file = { data: Buffer.concat(chunks), name: safeName(filename) };
      });
    });
    parser.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) fail(new SttError('bad_request', `The field "${printable(name)}" is longer than ${MAX_FIELD_BYTES} bytes.`));
      try {
        addField(form, name, value);
      } catch (error) {
        fail(error);
      }
    });
    parser.on('filesLimit', () => fail(new SttError('bad_request', 'Send one file, in the field "file".')));
    parser.on('fieldsLimit', () => fail(new SttError('bad_request', `A form may carry at most ${MAX_FIELDS} fields.`)));
    parser.on('partsLimit', () => fail(new SttError('bad_request', `A form may carry at most ${MAX_FIELDS + 1} parts.`)));
    parser.on('error', (error: unknown) => reject(failure ?? new SttError('bad_request', 'The multipart form could not be read.', { cause: error })));
    parser.on('finish', () => (failure ? reject(failure) : resolve(form)));
    parser.end(data);
  });
}

/** A file name from a client: its last path segment, reduced to safe characters. */
export function safeName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  return base.replace(/[^\p{L}\p{N}._ -]/gu, '_').slice(0, 200) || 'upload';
}
