import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

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

/** Every setting the service reads, with its default. The README's settings table mirrors this. */
const schema = z.object({
  PORT: int(0, 65535).default(8789),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  MODEL_DIR: z.string().default('models/wav2vec2-base-vietnamese-160h'),
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

  QUEUE_CONCURRENCY: int(0, 256).default(0),
  QUEUE_MAX_PENDING: int(1).default(32),
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
  };
  queue: { concurrency: number; maxPending: number };
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
  if (e.UPLOAD_IDLE_SEC > e.UPLOAD_DEADLINE_SEC) problems.push('UPLOAD_IDLE_SEC: must not be longer than UPLOAD_DEADLINE_SEC');
  if (problems.length > 0) throw new ConfigError(problems);

  const workers = e.INFERENCE_WORKERS;
  const cores = Math.max(1, os.availableParallelism());
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    model: {
      dir: path.resolve(e.MODEL_DIR),
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
    },
    // Two jobs per worker by default: one decodes or waits while the other's chunks run, and the
    // pool gives a short job's chunks precedence over a long one's.
    queue: { concurrency: e.QUEUE_CONCURRENCY || workers * 2, maxPending: e.QUEUE_MAX_PENDING },
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
  };
  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
