import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import { requestHotwords } from '../core/beam-hotwords.js';
import { SttError } from '../core/errors.js';
import { jobJson } from '../jobs/job-json.js';
import type { JobBackend } from '../jobs/types.js';
import { printable } from './body.js';
import { sendTranscript } from './send-transcript.js';

export interface JobRoutesOptions {
  /** Where jobs live; the routes do not know which backend it is. */
  backend: JobBackend;
  /** A request's audio as POST /wav2vec2 reads it (file, raw body or path), with the name to echo as `path` and its fields. */
  audioOf(request: FastifyRequest): Promise<{ data: Uint8Array; label: string; fields: Record<string, string> }>;
}

const JOB_FORMATS = ['json', 'srt', 'vtt', 'txt'] as const;
type JobFormat = (typeof JOB_FORMATS)[number];
const ENDED: ReadonlySet<string> = new Set(['done', 'failed', 'cancelled']);
/** How often `GET /jobs/<id>/events` looks at a job beside what the backend tells (a queued job's place, any backend's state). */
const EVENTS_LOOK_MS = 1000;

/**
 * The async job API: `POST /jobs` takes what `POST /wav2vec2` takes (plus `callback_url` and
 * `history`) and answers `202` at once; `GET /jobs/<id>` says where the job stands and, once
 * done, carries the `/wav2vec2` body or renders srt, vtt or txt; `GET /jobs/<id>/events` sends
 * the same JSON as server-sent events each time it changes, until the job ends; `DELETE
 * /jobs/<id>` cancels.
 */
export function registerJobRoutes<Log extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Log>,
  options: JobRoutesOptions,
): void {
  const { backend } = options;

  app.post('/jobs', { config: { audio: true } }, async (request, reply) => {
    const { data, label, fields } = await options.audioOf(request);
    const callbackUrl = fields.callback_url ?? queryString(request, 'callback_url');
    const history = flag('history', fields.history ?? queryString(request, 'history'));
    const hotwords = requestHotwords(fields.hotwords ?? queryString(request, 'hotwords'));
    const view = await backend.submit(data, { source: 'http', filename: label, callbackUrl, history, hotwords });
    reply.code(202).header('location', `/jobs/${view.id}`);
    return { id: view.id, status: view.status, position: view.position, eta_sec: view.etaSec ?? null };
  });

  app.get('/jobs/:id', async (request, reply) => {
    const format = jobFormat(queryString(request, 'format') ?? 'json');
    const view = await backend.get(idOf(request));
    if (!view) throw new SttError('job_not_found');
    if (format === 'json') return jobJson(view);
    if (view.status !== 'done' || !view.transcript) {
      throw new SttError('job_not_done', `The job is ${view.status}: ?format=${format} is there once its status is done.`);
    }
    return sendTranscript(reply, view.transcript, format, (spoken) => spoken, () => undefined);
  });

  app.get('/jobs/:id/events', async (request, reply) => {
    const id = idOf(request);
    // A client may leave during the first lookup (a round trip to Redis): then nothing is followed.
    let gone = false;
    const leave = (): void => void (gone = true);
    reply.raw.once('close', leave);
    const found = await backend.get(id);
    reply.raw.off('close', leave);
    if (gone) throw new SttError('cancelled');
    if (!found) throw new SttError('job_not_found');
    const events = new PassThrough();
    let last = '';
    let looking = false;
    let again = false;
    let stopped = false;
    // One look at a time; a change told during a look is looked at right after it.
    const look = async (): Promise<void> => {
      if (stopped) return;
      if (looking) {
        again = true;
        return;
      }
      looking = true;
      try {
        do {
          again = false;
          const view = await backend.get(id);
          const data = view ? JSON.stringify(jobJson(view)) : undefined;
          if (stopped) return;
          if (data && data !== last) events.write(`event: job\ndata: ${data}\n\n`);
          last = data ?? last;
          if (!view || ENDED.has(view.status)) return stop();
        } while (again);
      } catch (error) {
        request.log.warn({ err: error, jobId: id }, 'could not follow the job');
        stop();
      } finally {
        looking = false;
      }
    };
    const timer = setInterval(() => void look(), EVENTS_LOOK_MS);
    const unwatch = backend.watch?.(id, () => void look());
    function stop(): void {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      unwatch?.();
      events.end();
    }
    reply.raw.once('close', stop);
    void reply.code(200).header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache').send(events);
    await look();
    return reply;
  });

  app.delete('/jobs/:id', async (request) => {
    const view = await backend.cancel(idOf(request));
    if (!view) throw new SttError('job_not_found');
    return jobJson(view);
  });
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

function queryString(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

function jobFormat(value: string): JobFormat {
  if ((JOB_FORMATS as readonly string[]).includes(value)) return value as JobFormat;
  throw new SttError('bad_request', `Unknown format "${printable(value)}": a job's transcript comes as ${JOB_FORMATS.join(', ')}.`);
}

function flag(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new SttError('bad_request', `The field "${name}" must be true or false.`);
}
