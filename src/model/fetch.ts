import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import { LM_FILE, MODEL_FOLDER, modelFolderFiles } from '../core/model-files.js';
import type { Logger } from '../logger.js';
import { HubClient, HubHttpError, HubNetworkError, HubResponseError, type HubFile, type RepoListing } from './hub.js';

/** The model the service uses when MODEL_ID is not set. */
export const DEFAULT_MODEL_ID = 'khanhld/wav2vec2-base-vietnamese-160h';

/**
 * Commits that repos are pinned to when no revision is given, so a push to `main` cannot change
 * the model under a running deployment. khanhld/wav2vec2-base-vietnamese-160h: commit 1361aed
 * ("Update README.md", May 2022); its weights (`pytorch_model.bin`, 378 MB, commit "update") are
 * the ones `main` still serves: later commits only edit the README.
 */
export const PINNED_REVISIONS: Readonly<Record<string, string>> = Object.freeze({
  [DEFAULT_MODEL_ID]: '1361aed7e4d96d39f68efa2d089571809e89affa',
});

/** The revision to fetch: the one given, else the repo's pinned commit, else `main`. */
export function resolveRevision(repo: string, revision: string | undefined): string {
  return revision || PINNED_REVISIONS[repo] || 'main';
}

/**
 * The converter's signature (`convertCheckpoint` of src/model/convert.ts): reads a checkpoint
 * dir, writes `model.onnx` (and may copy the side files) into outDir. Its result is not used.
 */
export type ConvertCheckpoint = (srcDir: string, outDir: string, options?: { quantize?: 'int8' }) => Promise<unknown>;

/** Called with each download's progress when `progress` is a function. */
export interface ProgressEvent {
  file: string;
  /** Bytes of the file on disk so far (a resumed download starts above 0). */
  bytes: number;
  total: number | undefined;
  phase: 'start' | 'data' | 'done';
}

/**
 * How downloads report progress. `auto` (the default): a progress bar on stderr when stderr is
 * a TTY, log lines otherwise; `log`: a line per 10 % of each weights file; `off`: nothing.
 */
export type ProgressMode = 'auto' | 'bar' | 'log' | 'off' | ((event: ProgressEvent) => void);

export interface FetchModelOptions {
  /** `owner/name` on the hub. */
  repo: string;
  /** Branch, tag or commit; see `resolveRevision`. */
  revision: string;
  /** The hub's base URL (HF_ENDPOINT). */
  endpoint: string;
  /** HF_TOKEN, for gated or private repos; sent to the hub only, never logged. */
  token: string | undefined;
  /** MODEL_DIR: receives `model.onnx` and the tokenizer files. */
  dir: string;
  logger: Logger;
  /** Default `auto`. */
  progress?: ProgressMode;
  /** Where the progress bar is drawn; default process.stderr. */
  progressStream?: Writable & { isTTY?: boolean };
  /** Quantise a converted checkpoint's MatMul weights to int8 (not applied to a repo's own ONNX). */
  quantize?: 'int8';
  /** The converter; default `convertCheckpoint` from ./convert.js, loaded only when needed. */
  convert?: ConvertCheckpoint;
  /** Resumes after a broken connection before giving up, counted per file since its last progress; default 5. */
  retries?: number;
  /** Wait before the n-th resume: n × this; default 1000 ms. */
  retryDelayMs?: number;
  /** A download silent for this long is treated as a broken connection; default 60 000 ms. */
  idleTimeoutMs?: number;
  /** Bound on getting a connection to the hub or its CDN; see `HubClientOptions.connectTimeoutMs` (default 15 000 ms). */
  connectTimeoutMs?: number;
  /** Bound on the answer once connected; see `HubClientOptions.responseTimeoutMs` (default 30 000 ms). */
  responseTimeoutMs?: number;
  /** How often `still waiting for the hub` is logged while a request waits; default 10 000 ms. */
  waitLogIntervalMs?: number;
  signal?: AbortSignal;
}

export interface FetchResult {
  repo: string;
  revision: string;
  /** The commit the revision resolved to: every file came from it. */
  commit: string;
  dir: string;
  /** `onnx`: the repo's own ONNX was used; otherwise the checkpoint format that was converted. */
  source: 'onnx' | 'safetensors' | 'pytorch';
  /** Repo paths that were downloaded. */
  downloaded: string[];
  /** File names now in `dir` that this fetch wrote. */
  files: string[];
  /** Bytes received over the network (less than the files' size after a resume). */
  bytesReceived: number;
}

/** Why a fetch failed; `message` says what to do about it. */
export type ModelFetchErrorReason =
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'unreachable'
  | 'network'
  | 'corrupt'
  | 'unsupported'
  | 'conversion'
  | 'hub';

/** A model fetch failed. The message is safe to print: it never holds the token. */
export class ModelFetchError extends Error {
  override readonly name = 'ModelFetchError';
  constructor(
    readonly reason: ModelFetchErrorReason,
    message: string,
    readonly repo: string,
    readonly revision: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** What to download from a repo and how to use it. */
export interface DownloadPlan {
  source: FetchResult['source'];
  /** The ONNX file, or the checkpoint's weights (or, for a sharded checkpoint, its index). */
  model: HubFile;
  /** Files that go with `model`: ONNX external data (`model.onnx_data`) or a checkpoint's shards. */
  companions: HubFile[];
  /** The files of `MODEL_FOLDER.files` the repo has. */
  tokenizer: HubFile[];
}

/**
 * Chooses the files to fetch: a repo's own ONNX as it is, otherwise `model.safetensors`
 * (preferred) or `pytorch_model.bin` to convert (or, failing both, a sharded checkpoint: its
 * `*.index.json` and the `model-0000N-of-0000M` shards transformers writes); plus the tokenizer
 * and config files present. Throws `ModelFetchError('unsupported')` when the repo lacks what a
 * wav2vec2 CTC model needs.
 */
export function planDownload(listing: RepoListing): DownloadPlan {
  const { repo, revision } = listing;
  const byPath = new Map(listing.files.map((f) => [f.path, f]));
  const onnx = MODEL_FOLDER.onnx.map((p) => byPath.get(p)).find((f) => f !== undefined);
  const weights = byPath.get('model.safetensors') ?? byPath.get('pytorch_model.bin');
  const index = byPath.get('model.safetensors.index.json') ?? byPath.get('pytorch_model.bin.index.json');
  const model = onnx ?? weights ?? index;
  if (!model) {
    throw new ModelFetchError(
      'unsupported',
      `model repo ${repo} at revision ${revision} has no ${[...MODEL_FOLDER.onnx, 'model.safetensors'].join(', ')} or pytorch_model.bin`,
      repo,
      revision,
    );
  }
  const source: DownloadPlan['source'] = onnx ? 'onnx' : model.path.startsWith('model.safetensors') ? 'safetensors' : 'pytorch';
  let companions: HubFile[] = [];
  if (onnx) {
    companions = listing.files.filter((f) => f.path.startsWith(`${onnx.path}_data`) || f.path === `${onnx.path}.data`);
  } else if (model === index) {
    const shard = source === 'safetensors' ? /^model-\d+-of-\d+\.safetensors$/ : /^pytorch_model-\d+-of-\d+\.bin$/;
    companions = listing.files.filter((f) => shard.test(f.path));
    if (companions.length === 0) {
      throw new ModelFetchError(
        'unsupported',
        `model repo ${repo} at revision ${revision} has a shard index (${model.path}) but no shards named like ${shard.source}`,
        repo,
        revision,
      );
    }
  }
  const needed = modelFolderFiles('load', 'fetch');
  const forConversion = source === 'onnx' ? [] : modelFolderFiles('convert');
  const missing = [...needed, ...forConversion].filter((name) => !byPath.has(name));
  if (missing.length > 0) {
    throw new ModelFetchError(
      'unsupported',
      `model repo ${repo} at revision ${revision} has no ${missing.join(', ')}: a wav2vec2 CTC model needs ` +
        `${needed.join(' and ')}${forConversion.length === 0 ? '' : `, and ${forConversion.join(' and ')} to convert its checkpoint`}`,
      repo,
      revision,
    );
  }
  const tokenizer = MODEL_FOLDER.files.map((t) => byPath.get(t.name)).filter((f): f is HubFile => f !== undefined);
  return { source, model, companions, tokenizer };
}

/**
 * Downloads a model from a Hugging Face hub into `dir`, ready to serve: `model.onnx` plus the
 * files of `MODEL_FOLDER` the repo has (it must have those the service and fetching need).
 *
 * A repo that ships ONNX is used as it is. A PyTorch or safetensors checkpoint is downloaded
 * into `<dir>/.download/<commit>/`, converted to ONNX there, and the weights are removed.
 * Downloads stream to `<file>.part`, resume with a `Range` request after a broken connection
 * (within this run, or in the next one), are checked against the size and sha256 (LFS) or git
 * blob id the hub lists, and are renamed into place only once they check out: a partial or
 * corrupt file never becomes the model. `model.onnx` lands last, so a directory holding it is
 * complete.
 */
export async function fetchModel(options: FetchModelOptions): Promise<FetchResult> {
  const { repo, revision, logger } = options;
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const dir = path.resolve(options.dir);
  const client = new HubClient({
    endpoint,
    token: options.token,
    idleTimeoutMs: options.idleTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    responseTimeoutMs: options.responseTimeoutMs,
    waitLogIntervalMs: options.waitLogIntervalMs,
    logger,
  });
  const context: Context = {
    repo,
    revision,
    endpoint,
    dir,
    hasToken: client.hasToken,
    client,
    logger,
    progress: createProgress(options.progress ?? 'auto', logger, options.progressStream ?? process.stderr),
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 1000,
    signal: options.signal,
    bytesReceived: 0,
  };

  let listing: RepoListing;
  try {
    listing = await client.listFiles(repo, revision, options.signal);
  } catch (error) {
    throw explain(error, context, undefined);
  }
  const plan = planDownload(listing);
  const commit = listing.commit;
  logger.info(
    { repo, revision, commit, endpoint, source: plan.source, model: plan.model.path },
    plan.source === 'onnx'
      ? `fetching ${repo}@${shortRevision(revision)}: using its ${plan.model.path}`
      : `fetching ${repo}@${shortRevision(revision)}: ${plan.model.path} will be converted to ONNX`,
  );

  const downloadRoot = path.join(dir, '.download');
  const cache = path.join(downloadRoot, /^[0-9a-f]{40}$/i.test(commit) ? commit : encodeURIComponent(commit));
  await mkdir(cache, { recursive: true });
  const files = [plan.model, ...plan.companions, ...plan.tokenizer];
  for (const file of files) {
    await downloadFile(context, commit, file, safeJoin(cache, file.path));
  }

  const placed: string[] = [];
  const place = async (from: string, name: string): Promise<void> => {
    await rename(from, path.join(dir, name));
    placed.push(name);
  };

  if (plan.source === 'onnx') {
    for (const file of plan.tokenizer) await place(safeJoin(cache, file.path), file.path);
    for (const file of plan.companions) await place(safeJoin(cache, file.path), path.posix.basename(file.path));
    await place(safeJoin(cache, plan.model.path), MODEL_FOLDER.onnx[0]);
  } else {
    const staged = `${cache}.onnx`;
    await rm(staged, { recursive: true, force: true });
    await mkdir(staged, { recursive: true });
    const convert = options.convert ?? (await loadConverter());
    const started = Date.now();
    logger.info({ repo, commit, weights: plan.model.path, quantize: options.quantize }, `converting ${plan.model.path} to ONNX`);
    try {
      await convert(cache, staged, options.quantize ? { quantize: options.quantize } : undefined);
    } catch (error) {
      throw new ModelFetchError(
        'conversion',
        `converting ${plan.model.path} of ${repo}@${shortRevision(revision)} to ONNX failed: ${messageOf(error)}`,
        repo,
        revision,
        { cause: error },
      );
    }
    const produced = (await readdir(staged, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    if (!produced.includes(MODEL_FOLDER.onnx[0])) {
      throw new ModelFetchError('conversion', `the converter wrote no ${MODEL_FOLDER.onnx[0]} for ${repo}`, repo, revision);
    }
    logger.info({ repo, commit, ms: Date.now() - started }, 'converted to ONNX');
    for (const file of plan.tokenizer) {
      if (!produced.includes(file.path)) await place(safeJoin(cache, file.path), file.path);
    }
    for (const name of produced) if (name !== MODEL_FOLDER.onnx[0]) await place(path.join(staged, name), name);
    await place(path.join(staged, MODEL_FOLDER.onnx[0]), MODEL_FOLDER.onnx[0]);
  }

  // Optional files left from an earlier model would describe the wrong one; a team's own
  // language model is theirs, whatever model it sits beside.
  for (const { name } of MODEL_FOLDER.files) {
    if (!placed.includes(name) && name !== LM_FILE) await rm(path.join(dir, name), { force: true });
  }
  await rm(downloadRoot, { recursive: true, force: true });
  logger.info({ repo, commit, dir, files: placed }, `model ${repo} is ready in ${dir}`);
  return {
    repo,
    revision,
    commit,
    dir,
    source: plan.source,
    downloaded: files.map((f) => f.path),
    files: placed,
    bytesReceived: context.bytesReceived,
  };
}

interface Context {
  repo: string;
  revision: string;
  endpoint: string;
  dir: string;
  hasToken: boolean;
  client: HubClient;
  logger: Logger;
  progress: Progress;
  retries: number;
  retryDelayMs: number;
  signal: AbortSignal | undefined;
  bytesReceived: number;
}

/**
 * Downloads one file to `dest` through `dest.part`: resumes a part left on disk, resumes after a
 * broken connection, checks size and hash, and renames only a verified file into place.
 */
async function downloadFile(ctx: Context, commit: string, file: HubFile, dest: string): Promise<void> {
  const { logger } = ctx;
  const part = `${dest}.part`;
  await mkdir(path.dirname(dest), { recursive: true });
  const expected = file.size;
  if (expected !== undefined && (await sizeOf(dest)) === expected && (await verifyWhole(dest, file))) {
    logger.debug({ file: file.path }, `${file.path} is already downloaded`);
    return;
  }

  const check = new Checker(file);
  let offset = (await sizeOf(part)) ?? 0;
  if (offset > 0 && expected !== undefined && offset > expected) {
    await rm(part, { force: true });
    offset = 0;
  }
  if (offset > 0) {
    // A part left by an earlier run: its bytes go into the hash before the rest arrives.
    await hashInto(part, check);
    logger.info({ file: file.path, bytes: offset, total: expected }, `resuming ${file.path} from byte ${offset}`);
  }

  const fh = await open(part, 'a');
  ctx.progress.start(file, offset);
  try {
    try {
      offset = await receiveWithRetries(ctx, commit, file, fh, check, offset);
    } finally {
      await fh.close();
      ctx.progress.finish();
    }
  } catch (error) {
    // Bytes that contradict the listing are worthless for a resume.
    if (error instanceof ModelFetchError && error.reason === 'corrupt') await rm(part, { force: true });
    throw error;
  }

  const problem = check.problem(offset);
  if (problem) {
    await rm(part, { force: true });
    throw new ModelFetchError(
      'corrupt',
      `the download of ${file.path} from model repo ${ctx.repo} is corrupt: ${problem}; ` +
        'the partial file was deleted, run the fetch again',
      ctx.repo,
      ctx.revision,
    );
  }
  await rename(part, dest);
  logger.info({ file: file.path, bytes: offset }, `downloaded ${file.path} (${formatBytes(offset)}), verified`);
}

/** Receives the rest of a file, resuming after broken connections; returns the final offset. */
async function receiveWithRetries(
  ctx: Context,
  commit: string,
  file: HubFile,
  fh: FileHandle,
  check: Checker,
  start: number,
): Promise<number> {
  const { logger } = ctx;
  const expected = file.size;
  // Shared with `receive`, which moves it chunk by chunk: after a broken connection it is
  // exactly what the part file and the hash hold.
  const state = { offset: start };
  let failures = 0;
  while (expected === undefined || state.offset < expected) {
    const before = state.offset;
    try {
      await receive(ctx, commit, file, fh, check, state);
      if (expected === undefined || state.offset === expected) break;
      throw new HubNetworkError(
        `the connection closed after ${state.offset} of ${expected} bytes`,
        new URL(ctx.endpoint).origin,
        'EPREMATURECLOSE',
        { phase: 'body' },
      );
    } catch (error) {
      if (!retryable(error) || ctx.signal?.aborted) throw explain(error, ctx, file);
      const offset = state.offset;
      if (offset > before) failures = 0;
      failures += 1;
      if (failures > ctx.retries) {
        // No answer at all, however often asked: the server is out of reach, not flaky.
        if (error instanceof HubNetworkError && error.phase === 'request') throw explain(error, ctx, file);
        throw new ModelFetchError(
          'network',
          `downloading ${file.path} of ${ctx.repo} failed after ${failures} attempts: ${messageOf(error)}; ` +
            `run the fetch again to resume from byte ${offset}`,
          ctx.repo,
          ctx.revision,
          { cause: error },
        );
      }
      logger.warn(
        { file: file.path, bytes: offset, total: expected, attempt: failures, error: messageOf(error) },
        `download of ${file.path} interrupted at byte ${offset}; resuming`,
      );
      if (ctx.retryDelayMs > 0) await delay(ctx.retryDelayMs * failures, undefined, { signal: ctx.signal });
    }
  }
  return state.offset;
}

/** One request: appends the body from `state.offset` on to the part file, moving the offset with each chunk. */
async function receive(
  ctx: Context,
  commit: string,
  file: HubFile,
  fh: FileHandle,
  check: Checker,
  state: { offset: number },
): Promise<void> {
  const offset = state.offset;
  const download = await ctx.client.download(ctx.repo, commit, file.path, { start: offset, signal: ctx.signal });
  if (download.start !== offset) {
    if (download.start !== 0) {
      await download.cancel();
      throw new HubResponseError(`asked for ${file.path} from byte ${offset}, got byte ${download.start}`, ctx.endpoint);
    }
    // The server ignored the Range header: start over.
    ctx.logger.info({ file: file.path }, `the server cannot resume ${file.path}; downloading it again from the start`);
    await fh.truncate(0);
    check.reset();
    state.offset = 0;
    ctx.progress.start(file, 0);
  }
  if (file.size !== undefined && download.totalSize !== undefined && download.totalSize !== file.size) {
    await download.cancel();
    throw new ModelFetchError(
      'corrupt',
      `the hub serves ${download.totalSize} bytes for ${file.path} of ${ctx.repo} but lists ${file.size}; ` +
        'the partial file was deleted, run the fetch again',
      ctx.repo,
      ctx.revision,
    );
  }
  for await (const chunk of download.chunks()) {
    if (file.size !== undefined && state.offset + chunk.length > file.size) {
      throw new ModelFetchError(
        'corrupt',
        `the hub sent more than the ${file.size} bytes it lists for ${file.path} of ${ctx.repo}; ` +
          'the partial file was deleted, run the fetch again',
        ctx.repo,
        ctx.revision,
      );
    }
    await fh.write(chunk);
    check.update(chunk);
    state.offset += chunk.length;
    ctx.bytesReceived += chunk.length;
    ctx.progress.advance(chunk.length);
  }
}

/** Hashes a file as it streams: sha256 for LFS files, git's blob sha1 for plain ones. */
class Checker {
  private hash!: Hash;
  constructor(private readonly file: HubFile) {
    this.reset();
  }

  reset(): void {
    if (this.file.lfs) {
      this.hash = createHash('sha256');
    } else {
      this.hash = createHash('sha1');
      if (this.file.size !== undefined) this.hash.update(`blob ${this.file.size}\0`);
    }
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  /** What is wrong with the received bytes, or undefined when size and hash match the listing. */
  problem(bytes: number): string | undefined {
    const { file } = this;
    if (file.size !== undefined && bytes !== file.size) return `it has ${bytes} bytes, the hub lists ${file.size}`;
    const digest = this.hash.digest('hex');
    if (file.lfs && digest !== file.lfs.sha256) return `its sha256 is ${digest}, the hub lists ${file.lfs.sha256}`;
    if (!file.lfs && file.blobId && file.size !== undefined && digest !== file.blobId) {
      return `its git blob id is ${digest}, the hub lists ${file.blobId}`;
    }
    return undefined;
  }
}

async function hashInto(file: string, check: Checker): Promise<void> {
  for await (const chunk of createReadStream(file)) check.update(chunk as Buffer);
}

async function verifyWhole(file: string, hubFile: HubFile): Promise<boolean> {
  const check = new Checker(hubFile);
  await hashInto(file, check);
  return check.problem(hubFile.size ?? 0) === undefined;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

function retryable(error: unknown): boolean {
  if (error instanceof HubNetworkError) return true;
  return error instanceof HubHttpError && (error.status >= 500 || error.status === 429 || error.status === 408);
}

/** Turns a hub client error into a ModelFetchError whose message says what to do. */
function explain(error: unknown, ctx: Context, file: HubFile | undefined): Error {
  if (error instanceof ModelFetchError) return error;
  const { repo, revision, endpoint, hasToken } = ctx;
  const fail = (reason: ModelFetchErrorReason, message: string): ModelFetchError =>
    new ModelFetchError(reason, message, repo, revision, { cause: error });
  if (error instanceof HubHttpError) {
    const code = error.errorCode;
    if (code === 'EntryNotFound' && file) {
      return fail('not_found', `file ${file.path} not found in model repo ${repo} at revision ${revision} on ${endpoint}`);
    }
    if (code === 'RevisionNotFound') {
      return fail(
        'not_found',
        `model repo ${repo} not found at revision ${revision} on ${endpoint}: the repo has no such branch, tag or commit`,
      );
    }
    if (code === 'RepoNotFound' || error.status === 404) {
      return fail(
        'not_found',
        `model repo ${repo} not found at revision ${revision} on ${endpoint}` +
          (hasToken ? '' : ' (if it is private, set HF_TOKEN)'),
      );
    }
    if ((error.status === 401 || error.status === 403) && !hasToken) {
      return fail(
        'unauthorized',
        `model repo ${repo} on ${endpoint} needs authentication: set HF_TOKEN to a Hugging Face access token ` +
          'that can read it (for a gated repo, accept its conditions on the hub first)',
      );
    }
    if (error.status === 401) {
      return fail(
        'unauthorized',
        `HF_TOKEN was rejected by ${endpoint} (401) for model repo ${repo}: it is wrong or expired; ` +
          'set HF_TOKEN to a valid access token',
      );
    }
    if (error.status === 403) {
      return fail(
        'forbidden',
        `HF_TOKEN cannot read model repo ${repo} on ${endpoint} (403): ` +
          'request access to the gated repo with the account that owns the token, or use another token',
      );
    }
    return fail('hub', `the hub at ${endpoint} answered ${error.status} for ${file ? file.path : `${repo}@${revision}`}`);
  }
  if (error instanceof HubNetworkError) {
    if (error.phase === 'body') return fail('network', `${error.message}: check the network and run the fetch again`);
    const why = describeNetworkDetail(error.detail);
    const hub = error.origin === new URL(endpoint).origin;
    const where = hub
      ? `could not reach the Hugging Face hub at ${endpoint}${why}`
      : `could not reach ${error.origin}${why}, where ${endpoint} sends downloads of ${repo}`;
    return fail('unreachable', offlineMessage(where, ctx.dir));
  }
  if (error instanceof HubResponseError) return fail('hub', `the hub at ${endpoint} gave an unusable answer: ${error.message}`);
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The message for a hub that cannot be reached: what failed, then the three ways to a model
 * without it. The one place this advice is written; `npm start` and `npm run model:fetch` both
 * print it as it is.
 */
export function offlineMessage(what: string, dir: string): string {
  return (
    `${what}. Check the network and HF_ENDPOINT; without the hub, a model gets into MODEL_DIR (${dir}) one of three ways:\n` +
    `  1. copy a converted model folder (${[MODEL_FOLDER.onnx[0], ...modelFolderFiles('load', 'fetch')].join(', ')}) into MODEL_DIR ` +
    'and set MODEL_AUTO_FETCH=false;\n' +
    '  2. convert a checkpoint you have: npm run model:convert -- <checkpoint dir> <out dir>, then set MODEL_DIR to <out dir>;\n' +
    '  3. set HF_ENDPOINT to a mirror of the hub.'
  );
}

/** A network failure's detail in words where the code alone says little to most people. */
function describeNetworkDetail(detail: string | undefined): string {
  if (!detail) return '';
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'DNS lookup failed',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  return ` (${words[detail] ? `${words[detail]}, ${detail}` : detail})`;
}

/** The converter, loaded on first use: a repo with its own ONNX never needs it. */
async function loadConverter(): Promise<ConvertCheckpoint> {
  const { convertCheckpoint } = await import('./convert.js');
  return convertCheckpoint;
}

/** Joins a repo path under a directory, refusing paths that would leave it. */
function safeJoin(root: string, repoPath: string): string {
  const joined = path.resolve(root, ...repoPath.split('/'));
  if (!joined.startsWith(root + path.sep)) throw new Error(`refusing the repo path ${repoPath}`);
  return joined;
}

function shortRevision(revision: string): string {
  return /^[0-9a-f]{40}$/i.test(revision) ? revision.slice(0, 7) : revision;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`;
}

interface Progress {
  start(file: HubFile, bytes: number): void;
  advance(bytes: number): void;
  finish(): void;
}

function createProgress(mode: ProgressMode, logger: Logger, stream: Writable & { isTTY?: boolean }): Progress {
  if (typeof mode === 'function') return new CallbackProgress(mode);
  if (mode === 'off') return { start() {}, advance() {}, finish() {} };
  if (mode === 'bar' || (mode === 'auto' && stream.isTTY === true)) return new BarProgress(stream);
  return new LogProgress(logger);
}

class CallbackProgress implements Progress {
  private file = '';
  private total: number | undefined;
  private bytes = 0;
  constructor(private readonly emit: (event: ProgressEvent) => void) {}
  start(file: HubFile, bytes: number): void {
    this.file = file.path;
    this.total = file.size;
    this.bytes = bytes;
    this.emit({ file: this.file, bytes, total: this.total, phase: 'start' });
  }
  advance(bytes: number): void {
    this.bytes += bytes;
    this.emit({ file: this.file, bytes: this.bytes, total: this.total, phase: 'data' });
  }
  finish(): void {
    this.emit({ file: this.file, bytes: this.bytes, total: this.total, phase: 'done' });
  }
}

/** Log lines at each 10 % of a weights (LFS) file; small files get only their "downloaded" line. */
class LogProgress implements Progress {
  private file: HubFile | undefined;
  private bytes = 0;
  private nextStep = 1;
  constructor(private readonly logger: Logger) {}
  start(file: HubFile, bytes: number): void {
    this.file = file.lfs && file.size ? file : undefined;
    this.bytes = bytes;
    if (this.file?.size) this.nextStep = Math.floor((bytes / this.file.size) * 10) + 1;
  }
  advance(bytes: number): void {
    this.bytes += bytes;
    const file = this.file;
    if (!file?.size) return;
    const step = Math.floor((this.bytes / file.size) * 10);
    if (step >= this.nextStep) {
      this.nextStep = step + 1;
      this.logger.info(
        { file: file.path, bytes: this.bytes, total: file.size, percent: step * 10 },
        `downloading ${file.path}: ${step * 10}% of ${formatBytes(file.size)}`,
      );
    }
  }
  finish(): void {
    this.file = undefined;
  }
}

/** A one-line bar redrawn at most ten times a second. */
class BarProgress implements Progress {
  private name = '';
  private total: number | undefined;
  private bytes = 0;
  private startBytes = 0;
  private started = 0;
  private drawn = 0;
  private active = false;
  constructor(private readonly stream: Writable) {}
  start(file: HubFile, bytes: number): void {
    if (this.active) this.stream.write('\n');
    this.name = file.path;
    this.total = file.size;
    this.bytes = bytes;
    this.startBytes = bytes;
    this.started = Date.now();
    this.active = true;
    this.draw();
  }
  advance(bytes: number): void {
    this.bytes += bytes;
    if (Date.now() - this.drawn >= 100) this.draw();
  }
  finish(): void {
    if (!this.active) return;
    this.draw();
    this.stream.write('\n');
    this.active = false;
  }
  private draw(): void {
    this.drawn = Date.now();
    const seconds = Math.max(0.001, (this.drawn - this.started) / 1000);
    const rate = `${formatBytes(Math.round((this.bytes - this.startBytes) / seconds))}/s`;
    let line = `${this.name} ${formatBytes(this.bytes)}`;
    if (this.total) {
      const share = Math.min(1, this.bytes / this.total);
      const width = 24;
      const filled = Math.round(share * width);
      line =
        `${this.name} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ` +
        `${formatBytes(this.bytes)}/${formatBytes(this.total)}`;
    }
    this.stream.write(`\r\u001b[2K${line} ${rate}`);
  }
}
