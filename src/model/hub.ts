/**
 * A small client for the Hugging Face hub's two read endpoints, as huggingface_hub and
 * huggingface.js use them:
 *
 * - `GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true` lists a revision's files with
 *   their sizes, git blob ids and, for LFS files, the sha256 of the content;
 * - `GET {endpoint}/{repo}/resolve/{rev}/{path}` serves a file, LFS files by a redirect to a CDN.
 *
 * Redirects are followed by hand so that the `Authorization` header never leaves the hub's
 * origin (a signed CDN URL needs none) and a `Range` header survives every hop. The token is
 * only ever put in that header: it is in no URL, message, log line or error this module makes.
 *
 * Requests go through node:http(s), not fetch, so that the wait for an answer is bounded in its
 * two phases, as a user sees them: getting a connection (DNS, TCP, TLS) and, once connected,
 * getting the response's headers. Bodies are read under an idle timeout by `limitStream`.
 */

import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { StreamLimitError, limitStream } from '../core/read-stream.js';
import type { Logger } from '../logger.js';

/** One file of a repo revision, as the revision API lists it with `blobs=true`. */
export interface HubFile {
  /** Path inside the repo, `/`-separated (`onnx/model.onnx`). */
  path: string;
  /** Size in bytes of the content (for an LFS file: of the real file, not the pointer). */
  size: number | undefined;
  /** Git blob id: the sha1 of `blob <size>\0<content>` for a plain file, of the pointer for LFS. */
  blobId: string | undefined;
  /** Present for files stored with git LFS: the content's sha256 and size. */
  lfs: { sha256: string; size: number } | undefined;
}

/** A repo revision: the commit it resolves to and its files. */
export interface RepoListing {
  repo: string;
  /** The revision asked for (branch, tag or commit). */
  revision: string;
  /** The 40-hex commit the revision resolved to; downloads use it so every file comes from one commit. */
  commit: string;
  files: HubFile[];
}

/** An open download: the response's metadata and its body, from `start` on. */
export interface HubDownload {
  /** The byte offset the body starts at: the requested `start` on a 206, 0 on a 200. */
  start: number;
  /** Bytes the body will carry, when the server said. */
  contentLength: number | undefined;
  /** Size of the whole file, from `Content-Range` or, on a 200, `Content-Length`. */
  totalSize: number | undefined;
  /** `X-Repo-Commit` from the hub's answer. */
  commit: string | undefined;
  /** The content's ETag without quotes (`X-Linked-Etag` on an LFS redirect: the sha256). */
  etag: string | undefined;
  /** The body; a broken or stalled connection surfaces as a `HubNetworkError`. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Drops the body without reading it. */
  cancel(): Promise<void>;
}

/** The hub answered with an error status. `errorCode` is its `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`). */
export class HubHttpError extends Error {
  override readonly name = 'HubHttpError';
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode: string | undefined,
    /** The URL asked for, without its query string (a CDN URL's query holds a signature). */
    readonly url: string,
    /** The hub's own explanation (`X-Error-Message` or the body's `error`), when it gave one. */
    readonly hubMessage: string | undefined,
  ) {
    super(message);
  }
}

/**
 * Where a request failed: `request` before any answer came (refused, DNS, a connect or response
 * timeout: the server could not be reached), `body` after the headers (broke or stalled mid-body).
 */
export type HubNetworkPhase = 'request' | 'body';

/** The hub (or its CDN) could not be reached, or the connection broke or stalled mid-body. */
export class HubNetworkError extends Error {
  override readonly name = 'HubNetworkError';
  /** See {@link HubNetworkPhase}. */
  readonly phase: HubNetworkPhase;
  private readonly explicitDetail: string | undefined;
  constructor(
    message: string,
    /** Origin of the server that failed (`https://huggingface.co`). */
    readonly origin: string,
    /** A system error code when there is one (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, `ETIMEDOUT`). */
    readonly code: string | undefined,
    options: { cause?: unknown; phase?: HubNetworkPhase; detail?: string } = {},
  ) {
    super(message, { cause: options.cause });
    this.phase = options.phase ?? 'request';
    this.explicitDetail = options.detail;
  }

  /**
   * What went wrong, in a few words: for a timeout, which one (`no connection within 15 s`);
   * otherwise the code, or else the innermost cause's message (some refusals have no code).
   */
  get detail(): string | undefined {
    return this.explicitDetail ?? this.code ?? innermostMessage(this.cause);
  }
}

/** The hub answered 2xx with something this client cannot read. */
export class HubResponseError extends Error {
  override readonly name = 'HubResponseError';
  constructor(
    message: string,
    readonly url: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

export interface HubClientOptions {
  /** The hub's base URL, e.g. `https://huggingface.co` (`HF_ENDPOINT`). */
  endpoint: string;
  /** Sent as `Authorization: Bearer <token>` to the hub's own origin only (`HF_TOKEN`). */
  token?: string;
  /**
   * How long getting a connection may take: DNS lookup, TCP and TLS handshakes. Past it the
   * request fails with a `HubNetworkError` (code `ETIMEDOUT`) that says no connection came.
   * @defaultValue 15 000 ms: the hub and its CDN connect in well under a second from anywhere;
   * 15 s leaves room for a slow resolver or a far mirror and still tells an offline machine
   * within seconds, not minutes.
   */
  connectTimeoutMs?: number;
  /**
   * How long, once connected, the server may take to send the response's headers. Past it the
   * request fails with a `HubNetworkError` (code `ETIMEDOUT`) that says the server took the
   * connection but did not answer (a hung proxy, a captive portal, a mirror that is down).
   * @defaultValue 30 000 ms: the hub answers its API and its redirects in well under a second;
   * 30 s allows a cold mirror, where Node's fetch would wait 300 s in silence.
   */
  responseTimeoutMs?: number;
  /**
   * A download whose body brings no byte for this long is aborted as stalled, so a dead
   * connection is resumed instead of hanging. Also bounds the listing's body.
   * @defaultValue 60 000 ms: a slow CDN still sends a chunk a second; a minute of silence is a
   * dead socket.
   */
  idleTimeoutMs?: number;
  /**
   * Gets an info line `still waiting for the hub` (`{ url, waitedSec }`, the URL without its
   * query) every {@link HubClientOptions.waitLogIntervalMs} while a request waits for an answer.
   * @defaultValue none: no such lines
   */
  logger?: Pick<Logger, 'info'>;
  /**
   * How often the `still waiting for the hub` line is logged while a request waits.
   * @defaultValue 10 000 ms: a quick answer logs nothing; a slow one shows life every 10 s.
   */
  waitLogIntervalMs?: number;
  /**
   * The agents requests go through, per protocol (keep-alive pooling, a proxy agent; tests hand
   * in one with their own DNS lookup).
   * @defaultValue Node's global agents
   */
  agents?: { http?: http.Agent; https?: https.Agent };
  /** The most redirects followed for one request; default 10 (the hub uses one or two). */
  maxRedirects?: number;
  /** `User-Agent`; default `viet-stt`. */
  userAgent?: string;
}

/** The listing's JSON may be this large; a repo of thousands of files lists in a few MB. */
const MAX_LISTING_BYTES = 32 * 1024 * 1024;
/** Of an error answer's body, this much is read for the hub's explanation. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Reads repo listings and files from a Hugging Face hub. */
export class HubClient {
  readonly endpoint: string;
  private readonly origin: string;
  private readonly token: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly logger: Pick<Logger, 'info'> | undefined;
  private readonly waitLogIntervalMs: number;
  private readonly agents: { http?: http.Agent; https?: https.Agent };
  private readonly maxRedirects: number;
  private readonly userAgent: string;

  constructor(options: HubClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.origin = new URL(this.endpoint).origin;
    this.token = options.token || undefined;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.logger = options.logger;
    this.waitLogIntervalMs = options.waitLogIntervalMs ?? 10_000;
    this.agents = options.agents ?? {};
    this.maxRedirects = options.maxRedirects ?? 10;
    this.userAgent = options.userAgent ?? 'viet-stt';
  }

  /** Whether a token will be sent to the hub. */
  get hasToken(): boolean {
    return this.token !== undefined;
  }

  /** The URL of the revision API for a repo. */
  revisionUrl(repo: string, revision: string): string {
    return `${this.endpoint}/api/models/${repoPath(repo)}/revision/${encodeURIComponent(revision)}?blobs=true`;
  }

  /** The URL a file is served from. */
  resolveUrl(repo: string, revision: string, file: string): string {
    const filePath = file.split('/').map(encodeURIComponent).join('/');
    return `${this.endpoint}/${repoPath(repo)}/resolve/${encodeURIComponent(revision)}/${filePath}`;
  }

  /** Lists a revision's files with their sizes and hashes. */
  async listFiles(repo: string, revision: string, signal?: AbortSignal): Promise<RepoListing> {
    const url = this.revisionUrl(repo, revision);
    const controller = new AbortController();
    const unlink = linkAbort(signal, controller);
    let text: string;
    try {
      const res = await this.request(url, { accept: 'application/json' }, controller.signal);
      text = await readText(
        readBody(res.body, {
          controller,
          idleTimeoutMs: this.idleTimeoutMs,
          maxBytes: MAX_LISTING_BYTES,
          origin: new URL(res.url || url).origin,
        }),
      );
    } catch (error) {
      if (error instanceof StreamLimitError) {
        throw new HubResponseError(`the hub's answer for ${repo}@${revision} is larger than ${MAX_LISTING_BYTES} bytes`, stripQuery(url), {
          cause: error,
        });
      }
      throw error;
    } finally {
      unlink();
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new HubResponseError(`the hub's answer for ${repo}@${revision} is not JSON`, stripQuery(url), {
        cause: error,
      });
    }
    return parseListing(repo, revision, body, stripQuery(url));
  }

  /**
   * Opens a file for download, from byte `start` on (a `Range` request when `start` > 0). The
   * caller checks `start` on the result: a server that ignores ranges sends the whole file.
   */
  async download(
    repo: string,
    revision: string,
    file: string,
    options: { start?: number; signal?: AbortSignal } = {},
  ): Promise<HubDownload> {
    const start = options.start ?? 0;
    const controller = new AbortController();
    const unlink = linkAbort(options.signal, controller);

    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (start > 0) headers.range = `bytes=${start}-`;
    let res: Response;
    let first: Response;
    try {
      ({ res, first } = await this.follow(this.resolveUrl(repo, revision, file), headers, controller.signal));
    } catch (error) {
      unlink();
      throw error;
    }

    const contentLength = intHeader(res.headers.get('content-length'));
    let bodyStart = 0;
    let totalSize: number | undefined;
    if (res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!range) {
        await res.body?.cancel().catch(() => undefined);
        unlink();
        throw new HubResponseError(`a 206 answer for ${file} has no usable Content-Range`, stripQuery(res.url));
      }
      bodyStart = Number(range[1]);
      totalSize = range[3] === '*' ? undefined : Number(range[3]);
    } else {
      totalSize = contentLength;
    }
    const etag = unquote(first.headers.get('x-linked-etag') ?? res.headers.get('etag') ?? undefined);
    const commit = first.headers.get('x-repo-commit') ?? res.headers.get('x-repo-commit') ?? undefined;
    const idleTimeoutMs = this.idleTimeoutMs;
    const origin = new URL(res.url || this.endpoint).origin;
    const body = res.body;

    return {
      start: bodyStart,
      contentLength,
      totalSize,
      commit,
      etag,
      async cancel() {
        unlink();
        await body?.cancel().catch(() => undefined);
      },
      chunks() {
        return readBody(body, { controller, idleTimeoutMs, maxBytes: Infinity, origin, done: unlink });
      },
    };
  }

  /** A GET that must end in a 2xx; error statuses become HubHttpError. */
  private async request(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const { res } = await this.follow(url, headers, signal);
    return res;
  }

  /**
   * Follows redirects by hand. The token goes only to the hub's own origin; the other headers
   * (`Range`) go everywhere. Returns the final response and the first one (the hub's, which
   * carries `X-Repo-Commit` and `X-Linked-Etag`).
   */
  private async follow(
    startUrl: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<{ res: Response; first: Response }> {
    let url = startUrl;
    let first: Response | undefined;
    for (let hop = 0; ; hop++) {
      const target = new URL(url);
      const sent: Record<string, string> = { 'user-agent': this.userAgent, ...headers };
      if (this.token && target.origin === this.origin) sent.authorization = `Bearer ${this.token}`;
      const res = await this.send(target, sent, signal);
      first ??= res;
      if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= this.maxRedirects) {
          throw new HubResponseError(`more than ${this.maxRedirects} redirects`, stripQuery(startUrl));
        }
        url = new URL(res.headers.get('location') ?? '', url).toString();
        continue;
      }
      if (!res.ok) throw await httpError(res, url, this.idleTimeoutMs);
      return { res, first };
    }
  }

  /**
   * One GET, bounded until its headers arrive: {@link HubClientOptions.connectTimeoutMs} to get a
   * connection, then {@link HubClientOptions.responseTimeoutMs} for the answer. While it waits, a
   * `still waiting for the hub` line every {@link HubClientOptions.waitLogIntervalMs}. The body
   * stays tied to `signal`.
   */
  private async send(target: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Response> {
    const origin = target.origin;
    const shown = stripQuery(target.href);
    const timeout = new AbortController();
    const started = performance.now();
    const expire = (detail: string, message: string): void => {
      timeout.abort(new HubNetworkError(message, origin, 'ETIMEDOUT', { phase: 'request', detail }));
    };
    let timer = setTimeout(() => {
      const detail = `no connection within ${seconds(this.connectTimeoutMs)}`;
      expire(detail, `could not reach ${origin}: ${detail}`);
    }, this.connectTimeoutMs);
    const onConnected = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const detail = `connected, but no answer within ${seconds(this.responseTimeoutMs)}`;
        expire(detail, `could not reach ${origin}: it took the connection but sent no answer to ${shown} within ${seconds(this.responseTimeoutMs)}`);
      }, this.responseTimeoutMs);
    };
    const logger = this.logger;
    const waiting = logger
      ? setInterval(() => {
          const waitedSec = Math.round((performance.now() - started) / 100) / 10;
          logger.info({ url: shown, waitedSec }, 'still waiting for the hub');
        }, this.waitLogIntervalMs)
      : undefined;
    try {
      const agent = target.protocol === 'https:' ? this.agents.https : this.agents.http;
      return await get(target, headers, signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal, agent, onConnected);
    } catch (error) {
      if (timeout.signal.aborted) throw timeout.signal.reason;
      if (signal?.aborted) throw error;
      throw networkError(error, origin);
    } finally {
      clearTimeout(timer);
      clearInterval(waiting);
    }
  }
}

/**
 * A GET through node:http(s), answered as a fetch `Response` (`url` set, no redirect followed).
 * `onConnected` is called once the connection is up: at once on a reused keep-alive socket,
 * after the TLS handshake on a new https one.
 */
function get(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
  agent: http.Agent | undefined,
  onConnected: () => void,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') {
      reject(new Error(`unsupported protocol ${url.protocol}`));
      return;
    }
    const req = (secure ? https : http).request(url, { method: 'GET', headers, signal, ...(agent ? { agent } : {}) });
    req.once('socket', (socket) => {
      if (req.reusedSocket || (!secure && !socket.connecting)) onConnected();
      else socket.once(secure ? 'secureConnect' : 'connect', onConnected);
    });
    req.once('response', (res) => {
      try {
        resolve(toResponse(res, url.href));
      } catch (error) {
        res.destroy();
        reject(error);
      }
    });
    // Not `once`: a later error (the socket destroyed mid-body) reaches the body, and must not
    // find the request without a listener.
    req.on('error', reject);
    req.end();
  });
}

/** Statuses whose Response may not have a body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function toResponse(res: http.IncomingMessage, url: string): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const status = res.statusCode ?? 0;
  let body: ReadableStream<Uint8Array> | null = null;
  if (NULL_BODY_STATUSES.has(status)) res.resume();
  // node:stream/web's ReadableStream is the global one; the DOM typings name it apart.
  else body = Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
  const response = new Response(body, { status, statusText: res.statusMessage ?? '', headers });
  Object.defineProperty(response, 'url', { value: url });
  return response;
}

/** Builds a listing from the revision API's JSON, checking the fields it relies on. */
function parseListing(repo: string, revision: string, body: unknown, url: string): RepoListing {
  if (!isRecord(body) || typeof body.sha !== 'string' || !Array.isArray(body.siblings)) {
    throw new HubResponseError(`the hub's answer for ${repo}@${revision} has no sha and siblings`, url);
  }
  const files: HubFile[] = [];
  for (const entry of body.siblings) {
    if (!isRecord(entry) || typeof entry.rfilename !== 'string') continue;
    const lfs = isRecord(entry.lfs) && typeof entry.lfs.sha256 === 'string' && typeof entry.lfs.size === 'number'
      ? { sha256: entry.lfs.sha256.toLowerCase(), size: entry.lfs.size }
      : undefined;
    files.push({
      path: entry.rfilename,
      size: typeof entry.size === 'number' ? entry.size : lfs?.size,
      blobId: typeof entry.blobId === 'string' ? entry.blobId.toLowerCase() : undefined,
      lfs,
    });
  }
  return { repo, revision, commit: body.sha, files };
}

/**
 * A body under the idle timeout, by {@link limitStream}: for a download no cap (the caller
 * checks the size the listing gave) and no deadline or minimum rate (a model file is hundreds of
 * MB, and a stall is caught by the idle timeout and resumed). Any early end aborts the request.
 * A stall becomes a `HubNetworkError`; passing `maxBytes` throws the `StreamLimitError` itself.
 */
async function* readBody(
  body: ReadableStream<Uint8Array> | null,
  options: { controller: AbortController; idleTimeoutMs: number; maxBytes: number; origin: string; done?: () => void },
): AsyncGenerator<Uint8Array> {
  const { controller, idleTimeoutMs, origin } = options;
  /** Whether the request was already aborted (from outside) when the read ended. */
  let abortedBefore = false;
  try {
    if (!body) return;
    // Node's web streams are async iterable; the DOM typings the project compiles against do not say so.
    yield* limitStream(body as unknown as AsyncIterable<Uint8Array>, {
      maxBytes: options.maxBytes,
      idleMs: idleTimeoutMs,
      signal: controller.signal,
      stop: (reason) => {
        abortedBefore = controller.signal.aborted;
        controller.abort(reason);
      },
    });
  } catch (error) {
    if (error instanceof StreamLimitError && error.reason === 'too_large') throw error;
    if (error instanceof StreamLimitError) {
      throw new HubNetworkError(`the download from ${origin} stalled: no data for ${idleTimeoutMs} ms`, origin, 'ETIMEDOUT', {
        cause: error,
        phase: 'body',
      });
    }
    if (abortedBefore) throw error;
    throw networkError(error, origin, 'body');
  } finally {
    options.done?.();
  }
}

/** Collects a body as UTF-8 text. */
async function readText(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString('utf8');
}

/** Aborts `controller` when `outer` aborts; returns the function that undoes the link. */
function linkAbort(outer: AbortSignal | undefined, controller: AbortController): () => void {
  if (!outer) return () => undefined;
  const onAbort = (): void => controller.abort(outer.reason);
  if (outer.aborted) controller.abort(outer.reason);
  outer.addEventListener('abort', onAbort, { once: true });
  return () => outer.removeEventListener('abort', onAbort);
}

async function httpError(res: Response, url: string, idleTimeoutMs: number): Promise<HubHttpError> {
  const errorCode = res.headers.get('x-error-code') ?? undefined;
  let hubMessage = res.headers.get('x-error-message') ?? undefined;
  try {
    const controller = new AbortController();
    const body = readBody(res.body, { controller, idleTimeoutMs, maxBytes: MAX_ERROR_BODY_BYTES, origin: new URL(url).origin });
    const text = (await readText(body)).slice(0, 2000);
    if (!hubMessage && text) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (isRecord(parsed) && typeof parsed.error === 'string') hubMessage = parsed.error;
      } catch {
        // Not JSON: an HTML error page says nothing useful.
      }
    }
  } catch {
    // The error body is a courtesy; the status says enough.
  }
  const clean = stripQuery(url);
  const detail = [errorCode, hubMessage].filter(Boolean).join(': ');
  return new HubHttpError(
    `${res.status} ${res.statusText || 'error'} for ${clean}${detail ? ` (${detail})` : ''}`,
    res.status,
    errorCode,
    clean,
    hubMessage,
  );
}

/** Wraps a socket or DNS failure, finding the system error code where it hides in `cause`. */
function networkError(error: unknown, origin: string, phase: HubNetworkPhase = 'request'): HubNetworkError {
  const code = systemCode(error);
  const detail = code ?? innermostMessage(error);
  const what = phase === 'request' ? `could not reach ${origin}` : `the connection to ${origin} broke mid-download`;
  return new HubNetworkError(`${what}${detail ? ` (${detail})` : ''}`, origin, code, { cause: error, phase });
}

function innermostMessage(error: unknown): string | undefined {
  let message: string | undefined;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) message = e.message;
  return message;
}

function systemCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; isRecord(e) && depth < 5; e = e.cause, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

function repoPath(repo: string): string {
  return repo.split('/').map(encodeURIComponent).join('/');
}

function stripQuery(url: string): string {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  u.username = '';
  u.password = '';
  return u.toString();
}

function unquote(value: string | undefined): string | undefined {
  return value?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function intHeader(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

function isRecord(value: unknown): value is Record<string, unknown> & { cause?: unknown } {
  return typeof value === 'object' && value !== null;
}
