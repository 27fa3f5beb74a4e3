import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { hotwordProblem, splitHotwords } from './core/beam-hotwords.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const positive = z.coerce.number().positive();
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const idList = optionalString.transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []));
const url = optionalString.pipe(z.url().optional());
const hotwordList = optionalString
  .transform((v) => (v ? splitHotwords(v) : []))
  .superRefine((hotwords, context) => {
    const problem = hotwordProblem(hotwords);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

/** Where the model lives when MODEL_DIR is unset, inside the project's own folder. */
const DEFAULT_MODEL_DIR = 'models/wav2vec2-base-vietnamese-160h';

/**
 * The project's folder: the nearest one above this module that holds a package.json, whether it
 * runs from its source or compiled. The default model is found there rather than in the working
 * directory, so the command run from anywhere and the service use one model, not a fresh download
 * per directory.
 */
function projectRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/**
 * Prefixes the beam search keeps (BEAM_WIDTH): on 3000 frames (60 s) of peaked wav2vec2-like
 * output with an n-gram model and hotwords, 16 decodes in about 10–20 ms on one core, well under
 * 1% of inference, and leaves a hotword or an LM-preferred spelling room to survive until its
 * word ends.
 */
const DEFAULT_BEAM_WIDTH = 16;

/** Every setting the service reads, with its default. The README's settings table mirrors this. */
const schema = z.object({
  PORT: int(0, 65535).default(8789),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  MODEL_DIR: optionalString,
  MODEL_ID: z.string().default('khanhld/wav2vec2-base-vietnamese-160h'),
  MODEL_REVISION: optionalString,
  MODEL_AUTO_FETCH: bool.default(true),
  HF_ENDPOINT: z.url().default('https://huggingface.co'),
  HF_TOKEN: optionalString,

  DEVICE: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  INFERENCE_WORKERS: int(1, 64).default(1),
  INFERENCE_THREADS: int(0, 256).default(0),
  CHUNK_SEC: positive.default(20),
  STRIDE_SEC: z.coerce.number().min(0).default(4),
  PAUSE_CONTEXT_SEC: z.coerce.number().min(0).default(0),
  BEAM_WIDTH: int(1, 256).default(DEFAULT_BEAM_WIDTH),
  HOTWORDS: hotwordList,
  HOTWORD_WEIGHT: positive.default(5),
  LM_PATH: optionalString,
  LM_ALPHA: z.coerce.number().min(0).default(0.5),
  LM_BETA: z.coerce.number().default(1),

  QUEUE_CONCURRENCY: int(0, 256).default(0),
  QUEUE_MAX_PENDING: int(1).default(32),
  QUEUE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\/./, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  ROLE: z.enum(['all', 'front', 'worker']).default('all'),
  FAILOVER_SEC: positive.default(15),
  NO_WORKER_SEC: positive.default(30),
  JOB_TTL_SEC: positive.default(3600),
  CALLBACK_SECRET: optionalString,
  CALLBACK_ALLOWED_HOSTS: idList,
  MAX_DURATION_SEC: positive.default(300),
  MAX_UPLOAD_MB: positive.default(25),
  UPLOAD_IDLE_SEC: positive.default(30),
  UPLOAD_DEADLINE_SEC: positive.default(300),
  UPLOAD_MIN_RATE_KBPS: z.coerce.number().min(0).default(8),
  MAX_UPLOADS_IN_FLIGHT: int(1).default(16),
  DECODE_TIMEOUT_SEC: positive.default(60),
  SHUTDOWN_GRACE_SEC: positive.default(30),
  FFMPEG_PATH: optionalString,

  AUDIO_DIR: optionalString,
  API_KEY: optionalString,
  SAVE_NORMALIZED_WAV: optionalString,

  DATA_DIR: optionalString,
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\/./, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  HISTORY_DAYS: int(1, 3650).default(30),

  TELEGRAM_BOT_TOKEN: optionalString,
  TELEGRAM_API_ROOT: z.url().default('https://api.telegram.org'),
  TELEGRAM_ALLOWED_CHAT_IDS: idList,
  TELEGRAM_GROUP_MODE: z.enum(['auto', 'on-demand']).default('auto'),
  TELEGRAM_WEBHOOK_URL: url,
  // What Telegram allows in a secret_token: 1-256 of A-Z, a-z, 0-9, _ and -.
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 characters of A-Z, a-z, 0-9, _ and -')
      .optional(),
  ),

  DISCORD_BOT_TOKEN: optionalString,
  DISCORD_API_ROOT: z.url().default('https://discord.com/api'),
  DISCORD_CHANNEL_IDS: idList,

  USER_RATE_LIMIT: int(0).default(30),
  USER_RATE_WINDOW_SEC: positive.default(60),
  REPLY_LANGUAGE: z.enum(['vi', 'en', 'both']).default('both'),
  PROGRESS_EDIT_SEC: positive.default(2),
});

type Env = z.infer<typeof schema>;

/** Every environment variable the service reads; the README's settings table lists each. */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.keys(schema.shape));

/** The validated, frozen configuration. Built once by `loadConfig`; nothing else reads process.env. */
export interface Config {
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  model: {
    dir: string;
    id: string;
    revision: string | undefined;
    autoFetch: boolean;
    hfEndpoint: string;
    hfToken: string | undefined;
  };
  inference: {
    device: Env['DEVICE'];
    workers: number;
    /** onnxruntime intra-op threads per worker. */
    threads: number;
    chunkSec: number;
    strideSec: number;
    pauseContextSec: number;
  };
  /**
   * How the model's frames become words: greedy CTC, unless hotwords or a language model are
   * given (here, or hotwords per request), then a CTC prefix beam search.
   */
  decoding: {
    beamWidth: number;
    /** Words and phrases every transcription favours (a team's names), lower-case or not. */
    hotwords: string[];
    /** The natural-log bonus for completing a hotword. */
    hotwordWeight: number;
    /** An ARPA n-gram model; unset: `lm.arpa` in the model folder when it holds one. */
    lmPath: string | undefined;
    /** Weight of the language model's log-probability. */
    lmAlpha: number;
    /** Bonus per word when a language model is used. */
    lmBeta: number;
  };
  queue: { concurrency: number; maxPending: number };
  /** The BullMQ queue on Redis, when QUEUE_URL is set; what this process does with it. */
  distributed: {
    /** Unset: the embedded in-process queue (and ROLE must be `all`). */
    url: string | undefined;
    role: Env['ROLE'];
    /**
     * How long a process that stopped answering keeps what it holds: a worker's lock on its jobs
     * and a front's lease on a bot are renewed well within it, and taken over by another once it
     * has run out.
     */
    failoverMs: number;
    /**
     * How long a synchronous call (`/wav2vec2`, the OpenAI route) waits while no worker is alive
     * before it is withdrawn and answered `no_worker`: within a load balancer's timeout, and long
     * enough for a worker restarting to come back.
     */
    noWorkerMs: number;
  };
  /** Async jobs (POST /jobs): how long results are kept, and where their callbacks may go. */
  jobs: {
    /** A finished job is forgotten this long after it ended. */
    ttlMs: number;
    /** Signs every callback (HMAC-SHA256); unset: callback_url is refused. */
    callbackSecret: string | undefined;
    /** The only `host[:port]` a callback_url may name, matched exactly (lowercase). */
    callbackAllowedHosts: string[];
  };
  limits: {
    maxDurationSec: number;
    maxUploadBytes: number;
    maxUploadMb: number;
    /** An upload or download that sends nothing for this long is given up. */
    uploadIdleMs: number;
    /** The whole of an upload's or download's body must arrive within this long. */
    uploadDeadlineMs: number;
    /**
     * Once a body has taken longer than `uploadIdleMs`, its average rate must stay at or above
     * this many bytes a second (0: no minimum), so a trickle cannot hold a connection for the
     * whole deadline.
     */
    uploadMinBytesPerSec: number;
    /** Request bodies on the transcription routes read at once; past it, `too_many_uploads`. */
    maxUploadsInFlight: number;
    /** ffmpeg is stopped, and the job fails, when one decode runs longer than this. */
    decodeTimeoutMs: number;
  };
  /** From SIGTERM, how long accepted work may take before what is left is cancelled and the process exits. */
  shutdownGraceMs: number;
  ffmpegPath: string | undefined;
  audioDir: string | undefined;
  apiKey: string | undefined;
  saveNormalizedWav: string | undefined;
  /** Chat settings and opt-in transcript history. */
  store: {
    /** Holds the SQLite file when `databaseUrl` is unset. */
    dataDir: string;
    /** PostgreSQL, shared by every front; holds a password, so it is never logged. */
    databaseUrl: string | undefined;
    /** Remembered transcripts are deleted this many days after they were made. */
    historyDays: number;
  };
  telegram: {
    token: string | undefined;
    apiRoot: string;
    allowedChatIds: string[];
    groupMode: Env['TELEGRAM_GROUP_MODE'];
    webhookUrl: string | undefined;
    webhookSecret: string | undefined;
  };
  discord: { token: string | undefined; apiRoot: string; channelIds: string[] };
  userRateLimit: { count: number; windowSec: number };
  /** What the bots reply in where a chat has not chosen: Vietnamese, English, or both. */
  replyLanguage: Env['REPLY_LANGUAGE'];
  /** The least time between two progress edits of the bots' messages in one chat. */
  progressEditMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Validates the environment and returns a frozen Config. Every problem is listed at once.
 * Unknown variables are ignored; an empty value counts as unset.
 */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.STRIDE_SEC * 2 >= e.CHUNK_SEC) problems.push('STRIDE_SEC: twice the stride must be shorter than CHUNK_SEC');
  if (e.PAUSE_CONTEXT_SEC * 4 > e.CHUNK_SEC) problems.push('PAUSE_CONTEXT_SEC: must be at most a quarter of CHUNK_SEC');
  if (e.UPLOAD_IDLE_SEC > e.UPLOAD_DEADLINE_SEC) problems.push('UPLOAD_IDLE_SEC: must not be longer than UPLOAD_DEADLINE_SEC');
  if (problems.length > 0) throw new ConfigError(problems);

  const workers = e.INFERENCE_WORKERS;
  const cores = Math.max(1, os.availableParallelism());
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    model: {
      dir: e.MODEL_DIR ? path.resolve(e.MODEL_DIR) : path.join(projectRoot(), DEFAULT_MODEL_DIR),
      id: e.MODEL_ID,
      revision: e.MODEL_REVISION,
      autoFetch: e.MODEL_AUTO_FETCH,
      hfEndpoint: e.HF_ENDPOINT.replace(/\/+$/, ''),
      hfToken: e.HF_TOKEN,
    },
    inference: {
      device: e.DEVICE,
      workers,
      threads: e.INFERENCE_THREADS || Math.max(1, Math.floor(cores / workers)),
      chunkSec: e.CHUNK_SEC,
      strideSec: e.STRIDE_SEC,
      pauseContextSec: e.PAUSE_CONTEXT_SEC,
    },
    decoding: {
      beamWidth: e.BEAM_WIDTH,
      hotwords: e.HOTWORDS,
      hotwordWeight: e.HOTWORD_WEIGHT,
      lmPath: e.LM_PATH ? path.resolve(e.LM_PATH) : undefined,
      lmAlpha: e.LM_ALPHA,
      lmBeta: e.LM_BETA,
    },
    // Two jobs per worker by default: one decodes or waits while the other's chunks run, and the
    // pool gives a short job's chunks precedence over a long one's.
    queue: { concurrency: e.QUEUE_CONCURRENCY || workers * 2, maxPending: e.QUEUE_MAX_PENDING },
    distributed: { url: e.QUEUE_URL, role: e.ROLE, failoverMs: Math.round(e.FAILOVER_SEC * 1000), noWorkerMs: Math.round(e.NO_WORKER_SEC * 1000) },
    jobs: {
      ttlMs: Math.round(e.JOB_TTL_SEC * 1000),
      callbackSecret: e.CALLBACK_SECRET,
      callbackAllowedHosts: e.CALLBACK_ALLOWED_HOSTS.map((host) => host.toLowerCase()),
    },
    limits: {
      maxDurationSec: e.MAX_DURATION_SEC,
      maxUploadMb: e.MAX_UPLOAD_MB,
      maxUploadBytes: Math.round(e.MAX_UPLOAD_MB * 1024 * 1024),
      uploadIdleMs: Math.round(e.UPLOAD_IDLE_SEC * 1000),
      uploadDeadlineMs: Math.round(e.UPLOAD_DEADLINE_SEC * 1000),
      uploadMinBytesPerSec: Math.round(e.UPLOAD_MIN_RATE_KBPS * 1024),
      maxUploadsInFlight: e.MAX_UPLOADS_IN_FLIGHT,
      decodeTimeoutMs: Math.round(e.DECODE_TIMEOUT_SEC * 1000),
    },
    shutdownGraceMs: Math.round(e.SHUTDOWN_GRACE_SEC * 1000),
    ffmpegPath: e.FFMPEG_PATH,
    audioDir: e.AUDIO_DIR ? path.resolve(e.AUDIO_DIR) : undefined,
    apiKey: e.API_KEY,
    saveNormalizedWav: e.SAVE_NORMALIZED_WAV ? path.resolve(e.SAVE_NORMALIZED_WAV) : undefined,
    store: { dataDir: e.DATA_DIR ? path.resolve(e.DATA_DIR) : path.join(projectRoot(), 'data'), databaseUrl: e.DATABASE_URL, historyDays: e.HISTORY_DAYS },
    telegram: {
      token: e.TELEGRAM_BOT_TOKEN,
      apiRoot: e.TELEGRAM_API_ROOT.replace(/\/+$/, ''),
      allowedChatIds: e.TELEGRAM_ALLOWED_CHAT_IDS,
      groupMode: e.TELEGRAM_GROUP_MODE,
      webhookUrl: e.TELEGRAM_WEBHOOK_URL,
      webhookSecret: e.TELEGRAM_WEBHOOK_SECRET,
    },
    discord: {
      token: e.DISCORD_BOT_TOKEN,
      apiRoot: e.DISCORD_API_ROOT.replace(/\/+$/, ''),
      channelIds: e.DISCORD_CHANNEL_IDS,
    },
    userRateLimit: { count: e.USER_RATE_LIMIT, windowSec: e.USER_RATE_WINDOW_SEC },
    replyLanguage: e.REPLY_LANGUAGE,
    progressEditMs: Math.round(e.PROGRESS_EDIT_SEC * 1000),
  };
  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
