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
 * only ever put in that header: it is in no URL, message or error this module makes.
 */

import { StreamLimitError, limitStream } from '../core/read-stream.js';

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

/** The hub (or its CDN) could not be reached, or the connection broke or stalled mid-body. */
export class HubNetworkError extends Error {
  override readonly name = 'HubNetworkError';
  constructor(
    message: string,
    /** Origin of the server that failed (`https://huggingface.co`). */
    readonly origin: string,
    /** A system error code when there is one (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `UND_ERR_SOCKET`). */
    readonly code: string | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }

  /** The code, or else the innermost cause's message (fetch's own refusals, like `bad port`, have no code). */
  get detail(): string | undefined {
    return this.code ?? innermostMessage(this.cause);
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
  /** The fetch implementation; default Node's global fetch. Tests hand in their own. */
  fetch?: typeof fetch;
  /**
   * A download whose body brings no byte for this long is aborted as stalled, so a dead
   * connection is resumed instead of hanging. Default 60 000 ms: a slow CDN still sends a
   * chunk a second; a minute of silence is a dead socket.
   */
  idleTimeoutMs?: number;
  /** The most redirects followed for one request; default 10 (the hub uses one or two). */
  maxRedirects?: number;
  /** `User-Agent`; default `viet-stt`. */
  userAgent?: string;
}

/** Reads repo listings and files from a Hugging Face hub. */
export class HubClient {
  readonly endpoint: string;
  private readonly origin: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly idleTimeoutMs: number;
  private readonly maxRedirects: number;
  private readonly userAgent: string;

  constructor(options: HubClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.origin = new URL(this.endpoint).origin;
    this.token = options.token || undefined;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
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
    const res = await this.request(url, { accept: 'application/json' }, signal);
    let body: unknown;
    try {
      body = await res.json();
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
    const outer = options.signal;
    const onAbort = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    outer?.addEventListener('abort', onAbort, { once: true });

    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (start > 0) headers.range = `bytes=${start}-`;
    let res: Response;
    let first: Response;
    try {
      ({ res, first } = await this.follow(this.resolveUrl(repo, revision, file), headers, controller.signal));
    } catch (error) {
      outer?.removeEventListener('abort', onAbort);
      throw error;
    }

    const contentLength = intHeader(res.headers.get('content-length'));
    let bodyStart = 0;
    let totalSize: number | undefined;
    if (res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!range) {
        await res.body?.cancel().catch(() => undefined);
        outer?.removeEventListener('abort', onAbort);
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
        outer?.removeEventListener('abort', onAbort);
        await body?.cancel().catch(() => undefined);
      },
      chunks() {
        return readBody(body, controller, idleTimeoutMs, origin, () => outer?.removeEventListener('abort', onAbort));
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
      let res: Response;
      try {
        res = await this.fetchImpl(url, { headers: sent, redirect: 'manual', signal });
      } catch (error) {
        if (signal?.aborted) throw error;
        throw networkError(error, target.origin);
      }
      first ??= res;
      if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= this.maxRedirects) {
          throw new HubResponseError(`more than ${this.maxRedirects} redirects`, stripQuery(startUrl));
        }
        url = new URL(res.headers.get('location') ?? '', url).toString();
        continue;
      }
      if (!res.ok) throw await httpError(res, url);
      return { res, first };
    }
  }
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
 * A download's body under the idle timeout, by {@link limitStream}: no cap (the caller checks the
 * size the listing gave) and no deadline or minimum rate (a model file is hundreds of MB, and
 * a stall is caught by the idle timeout and resumed). Any early end aborts the request.
 */
async function* readBody(
  body: ReadableStream<Uint8Array> | null,
  controller: AbortController,
  idleTimeoutMs: number,
  origin: string,
  done: () => void,
): AsyncGenerator<Uint8Array> {
  /** Whether the request was already aborted (from outside) when the read ended. */
  let abortedBefore = false;
  try {
    if (!body) return;
    // Node's web streams are async iterable; the DOM typings the project compiles against do not say so.
    yield* limitStream(body as unknown as AsyncIterable<Uint8Array>, {
      maxBytes: Infinity,
      idleMs: idleTimeoutMs,
      signal: controller.signal,
      stop: (reason) => {
        abortedBefore = controller.signal.aborted;
        controller.abort(reason);
      },
    });
  } catch (error) {
    if (error instanceof StreamLimitError) {
      throw new HubNetworkError(`the download from ${origin} stalled: no data for ${idleTimeoutMs} ms`, origin, 'ETIMEDOUT', {
        cause: error,
      });
    }
    if (abortedBefore) throw error;
    throw networkError(error, origin, 'broke');
  } finally {
    done();
  }
}

async function httpError(res: Response, url: string): Promise<HubHttpError> {
  const errorCode = res.headers.get('x-error-code') ?? undefined;
  let hubMessage = res.headers.get('x-error-message') ?? undefined;
  try {
    const text = (await res.text()).slice(0, 2000);
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

/** Wraps a fetch failure: undici's `fetch failed` / `terminated` hide the system error in `cause`. */
function networkError(error: unknown, origin: string, phase: 'connect' | 'broke' = 'connect'): HubNetworkError {
  const code = systemCode(error);
  const detail = code ?? innermostMessage(error);
  const what = phase === 'connect' ? `could not reach ${origin}` : `the connection to ${origin} broke mid-download`;
  return new HubNetworkError(`${what}${detail ? ` (${detail})` : ''}`, origin, code, { cause: error });
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

function isRecord(value: unknown): value is Record<string, unknown> & { cause?: unknown } {
  return typeof value === 'object' && value !== null;
}
