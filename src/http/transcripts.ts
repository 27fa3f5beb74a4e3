import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import { SttError } from '../core/errors.js';
import type { Transcript } from '../core/types.js';
import type { ChatKey, SearchHit, Store, StoredTranscript } from '../store/index.js';
import { toWritten } from '../text/written.js';

/**
 * Where every transcript kept over HTTP belongs: one shared history for the whole HTTP API.
 * There is one `API_KEY`, so there is one HTTP caller to tell apart; rotating the key keeps the
 * history, and turning the key on puts what was kept before behind it. A bot chat's history is
 * never reached over HTTP, nor this one from a chat.
 */
export const HTTP_CHAT: ChatKey = Object.freeze({ platform: 'http', chatId: 'default' });

export interface TranscriptRoutesOptions {
  /** Where kept transcripts live (SQLite, or PostgreSQL with DATABASE_URL). */
  store: Store;
}

/** A kept transcript as the routes answer it: the text, its time and length, never the audio. */
interface TranscriptJson {
  id: string;
  transcript: string;
  written: string;
  created_at: string;
  duration: number;
}

/**
 * The transcript history over HTTP: `GET /transcripts?q=&limit=&cursor=` searches what
 * `history=true` kept (the store's folding and ranking, best first), `GET /transcripts/<id>`
 * answers one, `DELETE /transcripts/<id>` removes one (`204`). An id this history does not hold
 * is `404 transcript_not_found`. The API key is checked by the app before any route, as for
 * every other.
 */
export function registerTranscriptRoutes<Log extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Log>,
  options: TranscriptRoutesOptions,
): void {
  const { store } = options;

  app.get('/transcripts', async (request) => {
    const q = queryString(request, 'q');
    if (q === undefined) throw new SttError('bad_query', 'Say what to look for: GET /transcripts?q=<words>.');
    const limit = queryString(request, 'limit');
    const page = await store.search(HTTP_CHAT, q, { limit: limit === undefined ? undefined : pageSize(limit), cursor: queryString(request, 'cursor') });
    return page.nextCursor === undefined ? { results: page.results.map(hitJson) } : { results: page.results.map(hitJson), next_cursor: page.nextCursor };
  });

  app.get('/transcripts/:id', async (request) => {
    const kept = await store.getTranscript(HTTP_CHAT, idOf(request));
    if (!kept) throw new SttError('transcript_not_found');
    return transcriptJson(kept);
  });

  app.delete('/transcripts/:id', async (request, reply) => {
    if (!(await store.deleteTranscript(HTTP_CHAT, idOf(request)))) throw new SttError('transcript_not_found');
    return reply.code(204).send();
  });
}

/**
 * Whether a request asks to keep its transcript (`history`: `true` or `1`; `false`, `0` or
 * absent: not), and where: the store when it does. A value that is neither, or `true` on a
 * server built without a store, is `bad_request`, told before any audio is decoded.
 */
export function historyStore(value: string | undefined, store: Store | undefined): Store | undefined {
  if (value === undefined || value === 'false' || value === '0') return undefined;
  if (value !== 'true' && value !== '1') throw new SttError('bad_request', 'The field "history" must be true or false.');
  if (!store) throw new SttError('bad_request', 'This server keeps no transcript history: send the request without history=true.');
  return store;
}

/**
 * Keeps one HTTP transcript in the HTTP history for `HISTORY_DAYS`: the spoken text, its
 * written form (as `/wav2vec2` answers it), its duration and the time now. No file name, no
 * audio, no caller. Returns its id, the `<id>` of `/transcripts/<id>`. For every route that
 * takes `history=true` (`POST /wav2vec2`, `POST /jobs`).
 */
export function rememberHttpTranscript(store: Store, transcript: Transcript, now: Date = new Date()): Promise<string> {
  return store.remember({
    chat: HTTP_CHAT,
    messageRef: '',
    authorId: '',
    transcript: transcript.text,
    written: toWritten(transcript.text),
    duration: transcript.duration,
    createdAt: now,
  });
}

function transcriptJson(kept: StoredTranscript): TranscriptJson {
  return { id: kept.id, transcript: kept.transcript, written: kept.written, created_at: kept.createdAt.toISOString(), duration: kept.duration };
}

function hitJson(hit: SearchHit): TranscriptJson & { snippet: string } {
  return { ...transcriptJson(hit), snippet: hit.snippet };
}

/** `limit` as given: digits only, so "5abc" or "" is not read as a number; the store says what range it takes. */
function pageSize(value: string): number {
  return /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

function queryString(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}
