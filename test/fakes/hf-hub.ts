import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';

/**
 * A fake Hugging Face hub on 127.0.0.1 that speaks the protocol the real one does, as far as a
 * model download sees it:
 *
 * - `GET /api/models/{repo}/revision/{rev}[?blobs=true]` → `{ id, sha, siblings: [{ rfilename,
 *   size, blobId, lfs: { sha256, size, pointerSize } }] }` (sizes and hashes only with blobs);
 * - `GET|HEAD /{repo}/resolve/{rev}/{path}`: a plain file is served directly with `ETag` (its
 *   git blob id) and `X-Repo-Commit`; an LFS file gets a 302 to a signed URL on a separate "CDN"
 *   server (another port, so another origin), with `X-Linked-Etag` (the sha256), `X-Linked-Size`
 *   and `X-Repo-Commit`, as the real hub redirects to its CDN;
 * - `Accept-Ranges: bytes`, `Range: bytes=N-` → 206 with `Content-Range`, 416 past the end;
 * - 404 with `X-Error-Code: RepoNotFound` / `RevisionNotFound` / `EntryNotFound`;
 * - a gated repo: 401 `GatedRepo` without a token, 403 `GatedRepo` for a valid token without
 *   access; an unknown token: 401 (the hub's "Invalid credentials in Authorization header").
 *
 * Fault injection: cut the connection after N bytes of a file (the first `times` responses),
 * stall after N bytes with the connection open, or serve it with flipped bytes. Every request is
 * recorded.
 */

/** A file of a fake repo: its bytes, or a path on disk read in place. */
export interface FakeFile {
  path: string;
  content?: Uint8Array | string;
  /** Absolute path of a file to serve (read when the repo is added, never copied). */
  source?: string;
  /** Stored with git LFS; default: by extension (.bin, .safetensors, .onnx, .onnx_data, .pt). */
  lfs?: boolean;
}

export interface FakeRepo {
  /** `owner/name`. */
  id: string;
  files: FakeFile[];
  /** The branch name the repo answers to; default `main`. */
  branch?: string;
  /** Needs a token from `allowedTokens`. */
  gated?: boolean;
  /** Tokens that may read a gated repo. */
  allowedTokens?: string[];
}

/** One request the fake saw. */
export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  /** Path and query. */
  url: string;
  range: string | undefined;
  authorization: string | undefined;
  status: number;
}

interface StoredFile {
  path: string;
  data: Buffer;
  lfs: boolean;
  sha256: string;
  blobId: string;
}

interface StoredRepo {
  id: string;
  branch: string;
  commit: string;
  gated: boolean;
  allowedTokens: Set<string>;
  files: Map<string, StoredFile>;
}

interface Fault {
  repo: string;
  path: string;
  kind: 'cut' | 'stall' | 'corrupt';
  /** For a cut or a stall: the file offset where sending stops. */
  afterBytes: number;
  /** Responses left to affect. */
  remaining: number;
}

const LFS_EXTENSIONS = /\.(bin|safetensors|onnx|onnx_data|pt|pth|h5|msgpack)$/;

/** The fake hub: `url` is what HF_ENDPOINT gets. */
export class FakeHfHub {
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Tokens the hub knows (any gated repo's allowed tokens, plus these). */
  readonly validTokens = new Set<string>();
  private readonly repos = new Map<string, StoredRepo>();
  private readonly blobs = new Map<string, StoredFile>();
  private readonly faults: Fault[] = [];

  private constructor(
    private readonly hub: http.Server,
    private readonly cdn: http.Server,
  ) {}

  /** Starts the hub and its CDN on ephemeral ports of 127.0.0.1. */
  static async start(repos: FakeRepo[] = []): Promise<FakeHfHub> {
    const hubServer = http.createServer();
    const cdnServer = http.createServer();
    const fake = new FakeHfHub(hubServer, cdnServer);
    hubServer.on('request', (req, res) => fake.onHub(req, res));
    cdnServer.on('request', (req, res) => fake.onCdn(req, res));
    await Promise.all([listen(hubServer), listen(cdnServer)]);
    for (const repo of repos) fake.addRepo(repo);
    return fake;
  }

  /** The hub's base URL (HF_ENDPOINT). */
  get url(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  /** The CDN's base URL. */
  get cdnUrl(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  /** Adds (or replaces) a repo; returns its commit sha. */
  addRepo(repo: FakeRepo): string {
    const files = new Map<string, StoredFile>();
    for (const f of repo.files) {
      const data = f.source !== undefined ? readFileSync(f.source) : Buffer.from(f.content ?? '');
      const stored: StoredFile = {
        path: f.path,
        data,
        lfs: f.lfs ?? LFS_EXTENSIONS.test(f.path),
        sha256: createHash('sha256').update(data).digest('hex'),
        blobId: gitBlobId(data),
      };
      if (stored.lfs) stored.blobId = gitBlobId(Buffer.from(lfsPointer(stored)));
      files.set(f.path, stored);
      if (stored.lfs) this.blobs.set(stored.sha256, stored);
    }
    const commit = createHash('sha1')
      .update(`${repo.id}\n${[...files.values()].map((f) => `${f.path} ${f.sha256}`).join('\n')}`)
      .digest('hex');
    for (const token of repo.allowedTokens ?? []) this.validTokens.add(token);
    this.repos.set(repo.id, {
      id: repo.id,
      branch: repo.branch ?? 'main',
      commit,
      gated: repo.gated ?? false,
      allowedTokens: new Set(repo.allowedTokens ?? []),
      files,
    });
    return commit;
  }

  /** The commit sha a repo's branch points at. */
  commitOf(repo: string): string {
    const stored = this.repos.get(repo);
    if (!stored) throw new Error(`no fake repo ${repo}`);
    return stored.commit;
  }

  /** The sha256 of a file of a repo. */
  sha256Of(repo: string, path: string): string {
    const file = this.repos.get(repo)?.files.get(path);
    if (!file) throw new Error(`no file ${path} in fake repo ${repo}`);
    return file.sha256;
  }

  /** The next `times` responses carrying `path` send `afterBytes` bytes, then the socket is destroyed. */
  cutConnection(repo: string, path: string, afterBytes: number, times = 1): void {
    this.faults.push({ repo, path, kind: 'cut', afterBytes, remaining: times });
  }

  /** The next `times` responses carrying `path` send `afterBytes` bytes, then nothing more, with the connection left open. */
  stall(repo: string, path: string, afterBytes: number, times = 1): void {
    this.faults.push({ repo, path, kind: 'stall', afterBytes, remaining: times });
  }

  /** The next `times` responses carrying `path` have flipped bytes (same length). Default: every one. */
  corrupt(repo: string, path: string, times = Number.POSITIVE_INFINITY): void {
    this.faults.push({ repo, path, kind: 'corrupt', afterBytes: 0, remaining: times });
  }

  /** Drops every queued fault. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Requests for one file (on the hub and, for LFS, the CDN). */
  requestsFor(repo: string, path: string): RecordedRequest[] {
    const file = this.repos.get(repo)?.files.get(path);
    return this.requests.filter(
      (r) => (r.server === 'hub' && r.url.includes(`/resolve/`) && r.url.endsWith(`/${path}`)) ||
        (r.server === 'cdn' && file !== undefined && r.url.includes(file.sha256)),
    );
  }

  /** Stops both servers, dropping open connections. */
  async close(): Promise<void> {
    await Promise.all([this.hub, this.cdn].map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    })));
  }

  private record(server: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse): void {
    const entry: RecordedRequest = {
      server,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      range: req.headers.range,
      authorization: req.headers.authorization,
      status: 0,
    };
    this.requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    res.on('close', () => (entry.status ||= res.statusCode));
  }

  private onHub(req: IncomingMessage, res: ServerResponse): void {
    this.record('hub', req, res);
    const url = new URL(req.url ?? '/', this.url);
    const pathname = url.pathname;
    const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(pathname);
    if (api) {
      const repo = this.access(decodeURIComponent(api[1]), req, res);
      if (!repo) return;
      const revision = decodeURIComponent(api[2]);
      if (revision !== repo.branch && revision !== repo.commit) return revisionNotFound(res, revision);
      const blobs = url.searchParams.get('blobs') === 'true' || url.searchParams.get('blobs') === '1';
      const siblings = [...repo.files.values()].map((f) =>
        blobs
          ? {
              rfilename: f.path,
              size: f.data.length,
              blobId: f.blobId,
              ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.data.length, pointerSize: lfsPointer(f).length } } : {}),
            }
          : { rfilename: f.path },
      );
      return json(res, 200, {
        _id: repo.commit.slice(0, 24),
        id: repo.id,
        modelId: repo.id,
        sha: repo.commit,
        private: false,
        gated: repo.gated ? 'manual' : false,
        disabled: false,
        library_name: 'transformers',
        tags: ['transformers', 'wav2vec2', 'automatic-speech-recognition', 'vi'],
        pipeline_tag: 'automatic-speech-recognition',
        siblings,
      });
    }

    const resolve = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(pathname);
    if (resolve) {
      const repo = this.access(decodeURIComponent(resolve[1]), req, res);
      if (!repo) return;
      const revision = decodeURIComponent(resolve[2]);
      if (revision !== repo.branch && revision !== repo.commit) return revisionNotFound(res, revision);
      const filePath = resolve[3].split('/').map(decodeURIComponent).join('/');
      const file = repo.files.get(filePath);
      if (!file) {
        return error(res, 404, 'EntryNotFound', `${filePath} does not exist on "${revision}"`);
      }
      res.setHeader('X-Repo-Commit', repo.commit);
      if (file.lfs) {
        const location = `${this.cdnUrl}/repos/${file.sha256.slice(0, 2)}/${file.sha256.slice(2, 4)}/${file.sha256}` +
          `?response-content-disposition=attachment%3B+filename%3D%22${encodeURIComponent(filePath.split('/').pop() ?? '')}%22` +
          `&Expires=4102444800&Signature=fake-signature&Key-Pair-Id=FAKE`;
        res.writeHead(302, {
          Location: location,
          ETag: `"${file.blobId}"`,
          'X-Linked-Etag': `"${file.sha256}"`,
          'X-Linked-Size': String(file.data.length),
          'Content-Type': 'text/plain; charset=utf-8',
        });
        res.end(req.method === 'HEAD' ? undefined : `Found. Redirecting to ${location}`);
        return;
      }
      return this.serve(repo.id, file, `"${file.blobId}"`, req, res);
    }
    return error(res, 404, undefined, 'Not Found');
  }

  private onCdn(req: IncomingMessage, res: ServerResponse): void {
    this.record('cdn', req, res);
    const url = new URL(req.url ?? '/', this.cdnUrl);
    const match = /^\/repos\/[0-9a-f]{2}\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(url.pathname);
    const blob = match ? this.blobs.get(match[1]) : undefined;
    if (!blob || url.searchParams.get('Signature') === null) {
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code></Error>');
      return;
    }
    const repo = [...this.repos.values()].find((r) => [...r.files.values()].includes(blob));
    this.serve(repo?.id ?? '', blob, `"${blob.sha256}"`, req, res);
  }

  /** Serves a file's bytes, honouring `Range` and the faults queued for it. */
  private serve(repo: string, file: StoredFile, etag: string, req: IncomingMessage, res: ServerResponse): void {
    const size = file.data.length;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(end, Number(m[2]));
      }
      if (start >= size || start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    let body = file.data.subarray(start, end + 1);
    const headers: Record<string, string> = {
      'Accept-Ranges': 'bytes',
      'Content-Length': String(body.length),
      'Content-Type': 'application/octet-stream',
      ETag: etag,
    };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }

    const corrupt = this.takeFault(repo, file.path, 'corrupt');
    if (corrupt) {
      body = Buffer.from(body);
      for (let i = 0; i < body.length; i += 997) body[i] ^= 0xff;
    }
    const cut = this.takeFault(repo, file.path, 'cut');
    if (cut) {
      const sent = Math.max(0, Math.min(body.length, cut.afterBytes - start));
      res.write(body.subarray(0, sent), () => res.socket?.destroy());
      return;
    }
    const stall = this.takeFault(repo, file.path, 'stall');
    if (stall) {
      // Hold the connection open until the client gives up (or close() drops it).
      res.write(body.subarray(0, Math.max(0, Math.min(body.length, stall.afterBytes - start))));
      return;
    }
    res.end(body);
  }

  private takeFault(repo: string, path: string, kind: Fault['kind']): Fault | undefined {
    const fault = this.faults.find((f) => f.repo === repo && f.path === path && f.kind === kind && f.remaining > 0);
    if (fault) fault.remaining -= 1;
    return fault;
  }

  /** The repo when the request may read it; otherwise answers as the hub does and returns undefined. */
  private access(id: string, req: IncomingMessage, res: ServerResponse): StoredRepo | undefined {
    const repo = this.repos.get(id);
    if (!repo) {
      error(res, 404, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    if (token !== undefined && !this.validTokens.has(token)) {
      error(res, 401, undefined, 'Invalid credentials in Authorization header');
      return undefined;
    }
    if (repo.gated && token === undefined) {
      error(res, 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      return undefined;
    }
    if (repo.gated && token !== undefined && !repo.allowedTokens.has(token)) {
      error(res, 403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. Visit https://huggingface.co/${id} to ask for access.`);
      return undefined;
    }
    return repo;
  }
}

/** A hub that takes the connection and never answers (a hung proxy, a captive portal, a dead mirror). */
export interface SilentHub {
  /** Its base URL (HF_ENDPOINT). */
  url: string;
  /** The server's side of the connections still open. */
  open: Set<net.Socket>;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that accepts every connection, reads what comes, and never writes a byte. */
export async function startSilentHub(): Promise<SilentHub> {
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    // Read (and drop) the request, so that the client hanging up ends and closes this side.
    socket.resume();
    socket.on('close', () => open.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The URL of a port on 127.0.0.1 that was listening a moment ago and is closed now: connecting is refused. */
export async function refusedEndpoint(): Promise<string> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function revisionNotFound(res: ServerResponse, revision: string): void {
  error(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
}

function error(res: ServerResponse, status: number, code: string | undefined, message: string): void {
  const headers: Record<string, string> = { 'X-Error-Message': message };
  if (code) headers['X-Error-Code'] = code;
  json(res, status, { error: message }, headers);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function lfsPointer(file: StoredFile): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${file.sha256}\nsize ${file.data.length}\n`;
}

/** Git's object id of a blob: sha1 of `blob <size>\0<content>`. */
export function gitBlobId(data: Uint8Array): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
