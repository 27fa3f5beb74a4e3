import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ConfigError, SETTING_NAMES, loadConfig } from '../src/config.js';

/** The project's own folder, where the default model lives whatever the working directory. */
const PROJECT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('gives every setting its documented default', () => {
    const config = loadConfig({});
    const cores = Math.max(1, os.availableParallelism());
    expect(config).toMatchObject({
      port: 8789,
      host: '0.0.0.0',
      logLevel: 'info',
      model: {
        dir: path.join(PROJECT, 'models/wav2vec2-base-vietnamese-160h'),
        id: 'khanhld/wav2vec2-base-vietnamese-160h',
        revision: undefined,
        autoFetch: true,
        hfEndpoint: 'https://huggingface.co',
        hfToken: undefined,
      },
      inference: { device: 'auto', workers: 1, threads: cores, chunkSec: 20, strideSec: 4, pauseContextSec: 0 },
      queue: { concurrency: 2, maxPending: 32 },
      distributed: { url: undefined, role: 'all', failoverMs: 15_000, noWorkerMs: 30_000 },
      limits: {
        maxDurationSec: 300,
        maxUploadMb: 25,
        maxUploadBytes: 25 * 1024 * 1024,
        uploadIdleMs: 30_000,
        uploadDeadlineMs: 300_000,
        uploadMinBytesPerSec: 8 * 1024,
        maxUploadsInFlight: 16,
        decodeTimeoutMs: 60_000,
      },
      shutdownGraceMs: 30_000,
      ffmpegPath: undefined,
      audioDir: undefined,
      apiKey: undefined,
      telegram: { token: undefined, apiRoot: 'https://api.telegram.org', allowedChatIds: [], groupMode: 'auto', webhookUrl: undefined },
      discord: { token: undefined, apiRoot: 'https://discord.com/api', channelIds: [] },
      userRateLimit: { count: 30, windowSec: 60 },
    });
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(Object.isFrozen(config.telegram.allowedChatIds)).toBe(true);
  });

  it('finds the default model in the project from any working directory; a MODEL_DIR set by hand is taken from the working directory', async () => {
    const elsewhere = await realpath(await mkdtemp(path.join(os.tmpdir(), 'viet-stt-cwd-')));
    const before = process.cwd();
    try {
      process.chdir(elsewhere);
      expect(loadConfig({}).model.dir).toBe(path.join(PROJECT, 'models/wav2vec2-base-vietnamese-160h'));
      expect(loadConfig({ MODEL_DIR: 'my-model' }).model.dir).toBe(path.join(elsewhere, 'my-model'));
      expect(loadConfig({ MODEL_DIR: '/srv/models/vi' }).model.dir).toBe('/srv/models/vi');
    } finally {
      process.chdir(before);
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('reads lists, numbers, booleans and URLs; an empty value counts as unset', () => {
    const config = loadConfig({
      TELEGRAM_ALLOWED_CHAT_IDS: ' -100123, 42 ,,',
      DISCORD_CHANNEL_IDS: '111,222',
      MAX_UPLOAD_MB: '0.5',
      MODEL_AUTO_FETCH: 'no',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:8081/',
      HF_ENDPOINT: 'https://hf-mirror.example/',
      API_KEY: '',
      INFERENCE_WORKERS: '2',
      QUEUE_CONCURRENCY: '',
      NO_WORKER_SEC: '2.5',
    });
    expect(config.telegram.allowedChatIds).toEqual(['-100123', '42']);
    expect(config.discord.channelIds).toEqual(['111', '222']);
    expect(config.limits.maxUploadBytes).toBe(524_288);
    expect(config.model.autoFetch).toBe(false);
    expect(config.telegram.apiRoot).toBe('http://127.0.0.1:8081');
    expect(config.model.hfEndpoint).toBe('https://hf-mirror.example');
    expect(config.apiKey).toBeUndefined();
    expect(config.queue.concurrency).toBe(4);
    expect(config.distributed.noWorkerMs).toBe(2500);
  });

  it('lists every problem at once, naming the variable', () => {
    expect(
      problems({
        PORT: '70000',
        DEVICE: 'tpu',
        MAX_DURATION_SEC: '-1',
        TELEGRAM_WEBHOOK_URL: 'not a url',
        TELEGRAM_WEBHOOK_SECRET: 'has spaces!',
        MODEL_AUTO_FETCH: 'maybe',
      }).map((p) => p.split(':')[0]),
    ).toEqual(['PORT', 'MODEL_AUTO_FETCH', 'DEVICE', 'MAX_DURATION_SEC', 'TELEGRAM_WEBHOOK_URL', 'TELEGRAM_WEBHOOK_SECRET']);
    expect(problems({ TELEGRAM_WEBHOOK_SECRET: 'has spaces!' })).toEqual([
      'TELEGRAM_WEBHOOK_SECRET: must be 1-256 characters of A-Z, a-z, 0-9, _ and -',
    ]);
  });

  it('refuses strides that leave a window nothing to keep', () => {
    expect(problems({ CHUNK_SEC: '8', STRIDE_SEC: '4' })).toEqual(['STRIDE_SEC: twice the stride must be shorter than CHUNK_SEC']);
    expect(problems({ CHUNK_SEC: '8', STRIDE_SEC: '3' })).toEqual([]);
    expect(problems({ CHUNK_SEC: '8', STRIDE_SEC: '3', PAUSE_CONTEXT_SEC: '2.5' })).toEqual(['PAUSE_CONTEXT_SEC: must be at most a quarter of CHUNK_SEC']);
    expect(problems({ CHUNK_SEC: '8', PAUSE_CONTEXT_SEC: '2', STRIDE_SEC: '3' })).toEqual([]);
  });

  it('says what is wrong in a message fit for the start-up error', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^Invalid configuration:\n {2}- PORT: /);
  });

  it('is the settings table the README documents, variable for variable', async () => {
    const readme = await readFile('README.md', 'utf8');
    const table = readme.slice(readme.indexOf('## Settings'), readme.indexOf('\n## ', readme.indexOf('## Settings') + 1));
    const documented = [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...SETTING_NAMES].sort());
  });
});
