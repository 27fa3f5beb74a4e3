import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import dotenv from 'dotenv';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { createDiscordBot, type DiscordBot, type DiscordBotOptions } from '../adapters/discord.js';
import { createTelegramBot, mountTelegramWebhook, type TelegramBot, type TelegramBotOptions } from '../adapters/telegram.js';
import { loadConfig, type Config } from './config.js';
import { createCore, type Core } from './core/create-transcriber.js';
import { Metrics } from './core/metrics.js';
import type { Transcriber, Transcript } from './core/types.js';
import { buildApp } from './http/app.js';
import { rememberHttpTranscript } from './http/transcripts.js';
import { CallbackSender } from './jobs/callback.js';
import { MemoryJobBackend } from './jobs/memory-backend.js';
import type { JobBackend } from './jobs/types.js';
import { createLogger, type Logger } from './logger.js';
import { ensureModel } from './model/ensure-model.js';
import { openStore, type Store } from './store/index.js';
import { Lease } from './queue/lease.js';
import { QueueFront } from './queue/queue-front.js';
import { QueueTranscriber } from './queue/queue-transcriber.js';
import { startQueueWorker, type QueueWorker } from './queue/queue-worker.js';
import { printableRedisUrl, openRedis } from './queue/redis-connection.js';
import { ReplyCourier, type HandedOverOutcome } from './queue/reply-handover.js';
import { RedisJobBackend, deliverCallbacks } from './queue/redis-job-backend.js';
import { buildWorkerApp } from './queue/worker-app.js';

/** A running service: its HTTP listener, the core when it runs jobs, and the bots that are on. */
export interface Service {
  config: Config;
  /** The HTTP app: every route for a front, only /healthz and /metrics for a worker. */
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;
  /** The model and its queue: set where jobs run here (ROLE all or worker). */
  core: Core | undefined;
  url: string;
  /** The Telegram bot running in this process now (with QUEUE_URL, only while this front holds its lease). */
  readonly telegram: TelegramBot | undefined;
  /** The Discord bot running in this process now (with QUEUE_URL, only while this front holds the gateway's lease). */
  readonly discord: DiscordBot | undefined;
  /** Stops taking work, lets running jobs finish and reply, then stops everything. */
  close(): Promise<void>;
}

/** What tests (or an embedding program) may hand in beside the environment. */
export interface ServiceOptions {
  /** @defaultValue a pino logger at `LOG_LEVEL` that scrubs every configured secret */
  logger?: Logger;
  /** Extra options for the Telegram bot (its config, core and logger come from here). */
  telegram?: Partial<Omit<TelegramBotOptions, 'config' | 'transcriber' | 'logger'>>;
  /** Extra options for the Discord bot (its config, core and logger come from here). */
  discord?: Partial<Omit<DiscordBotOptions, 'config' | 'transcriber' | 'logger'>>;
}

/** A bot as main.ts drives it: started once, stopped once. */
interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A bot that delivers the answers of jobs another front took. */
interface Adopter {
  adopt(record: object, outcome: HandedOverOutcome): Promise<void>;
}

/**
 * Builds everything from the environment and starts listening, by role (ROLE, with QUEUE_URL):
 *
 * - embedded (no QUEUE_URL): the model, the core, the HTTP app and each bot whose token is set,
 *   all in this process, as always;
 * - `front`: the HTTP app and the bots on a QueueTranscriber; no model. Long polling and the
 *   Discord gateway run only while this front holds their lease in Redis;
 * - `worker`: the model and a BullMQ worker, with only /healthz and /metrics;
 * - `all`: both, on the one Redis.
 *
 * Any failure on the way stops what was already started.
 */
export async function startService(env: NodeJS.ProcessEnv, options: ServiceOptions = {}): Promise<Service> {
  const config = loadConfig(env);
  const { url: queueUrl, role } = config.distributed;
  if (role !== 'all' && !queueUrl) {
    throw new Error(`ROLE=${role} needs a queue: set QUEUE_URL to a Redis (redis://host:6379), or leave ROLE unset to run everything in one process`);
  }
  const log =
    options.logger ??
    createLogger({
      level: config.logLevel,
      secrets: [config.telegram.token, config.discord.token, config.apiKey, config.model.hfToken, config.telegram.webhookSecret, config.jobs.callbackSecret, urlPassword(queueUrl), urlPassword(config.store.databaseUrl)],
    });
  const runsJobs = role !== 'front';
  const runsFront = role !== 'worker';
  const metrics = new Metrics();
  // What stops, in this order: intake first (bots, routes), then the queue's ends, the core last.
  const closers: { name: string; close: (deadline: AbortSignal) => Promise<void> }[] = [];
  const deadlineOf = (): AbortSignal => AbortSignal.timeout(cancelAfterMs(config.shutdownGraceMs));
  const stopAll = async (): Promise<void> => {
    const deadline = deadlineOf();
    for (const step of closers.splice(0).reverse()) {
      await step.close(deadline).catch((error: unknown) => log.error({ err: error, step: step.name }, 'could not stop cleanly'));
    }
  };

  try {
    let core: Core | undefined;
    if (runsJobs) {
      await ensureModel(config.model, log);
      core = await createCore(config, log, { metrics });
      const started = core;
      closers.push({ name: 'core', close: () => started.close() });
    }
    if (queueUrl) log.info({ queue: printableRedisUrl(queueUrl), role }, 'queue');

    let worker: QueueWorker | undefined;
    if (queueUrl && core) {
      worker = await startQueueWorker({ url: queueUrl, transcriber: core.transcriber, concurrency: config.queue.concurrency, failoverMs: config.distributed.failoverMs, logger: log });
      const started = worker;
      closers.push({ name: 'queue worker', close: (deadline) => started.close(deadline) });
    }
    const callbacks = (): CallbackSender => new CallbackSender({ secret: config.jobs.callbackSecret, allowedHosts: config.jobs.callbackAllowedHosts, logger: log });
    if (worker) deliverCallbacks(worker, callbacks(), log);

    if (!runsFront) {
      const queueWorker = worker as QueueWorker;
      const app = buildWorkerApp({ transcriber: (core as Core).transcriber, metrics, logger: log, queueConnected: () => queueWorker.connected });
      // Closed last: /healthz answers `draining` while the jobs finish.
      closers.unshift({
        name: 'http',
        close: async () => {
          await app.close();
        },
      });
      // A worker says it is leaving before its jobs stop.
      closers.push({ name: 'health', close: async () => app.startDraining() });
      const url = await app.listen({ port: config.port, host: config.host });
      log.info({ url, role }, 'listening');
      return service(config, app, core, url, () => undefined, () => undefined, stopAll, log);
    }

    // Chat settings and the opt-in history, for the bots and the HTTP routes: SQLite in DATA_DIR
    // beside an embedded service, PostgreSQL (DATABASE_URL) when fronts share them. Closed after
    // the routes and the jobs that may still write to it.
    const store: Store = await openStore({ ...config.store, logger: log });
    closers.push({ name: 'store', close: () => store.close() });
    const remember = (transcript: Transcript): Promise<string> => rememberHttpTranscript(store, transcript);

    let transcriber: Transcriber;
    let jobs: JobBackend;
    let front: QueueFront | undefined;
    let leaseRedis: Redis | undefined;
    if (queueUrl) {
      const opened = await QueueFront.open({
        url: queueUrl,
        logger: log,
        maxPending: config.queue.maxPending,
        audioTtlMs: config.jobs.ttlMs + AUDIO_TTL_MARGIN_MS,
        keepFinishedSec: Math.ceil(config.jobs.ttlMs / 1000),
        presenceMs: config.distributed.failoverMs,
      });
      front = opened;
      closers.push({ name: 'queue front', close: () => opened.close() });
      transcriber = new QueueTranscriber({ front: opened, config, logger: log, modelName: core?.transcriber.status().model ?? path.basename(config.model.dir) });
      const redis = openRedis(queueUrl, 'front');
      redis.on('error', () => undefined);
      leaseRedis = redis;
      closers.push({ name: 'redis', close: async () => redis.disconnect() });
      jobs = new RedisJobBackend({ front: opened, redis, callbacks: callbacks(), ttlMs: config.jobs.ttlMs, logger: log, remember });
    } else {
      transcriber = (core as Core).transcriber;
      jobs = new MemoryJobBackend({ transcriber, ttlMs: config.jobs.ttlMs, callbacks: callbacks(), logger: log, remember });
    }
    const backend = jobs;
    closers.push({ name: 'jobs', close: () => backend.close() });

    const queueFront = front;
    const app = await buildApp({ config, transcriber, logger: log, metrics, jobs, store, queueConnected: queueFront && (() => queueFront.connected) });
    closers.push({ name: 'http', close: async () => app.close() });

    // The bots cancel what is left when the cancel deadline passes, as the HTTP app does.
    const shared = { stopGraceMs: cancelAfterMs(config.shutdownGraceMs), config, transcriber, logger: log, store };
    const makeTelegram = (): TelegramBot => createTelegramBot({ ...shared, ...options.telegram });
    const makeDiscord = (): DiscordBot => createDiscordBot({ ...shared, ...options.discord });
    // With a queue, the front that holds a platform also answers for the fronts that died.
    const courierOf =
      queueFront &&
      ((platform: string, bot: Adopter): ReplyCourier =>
        new ReplyCourier({ book: queueFront.replies, queue: queueFront.queue, platform, deliver: (record, outcome) => bot.adopt(record, outcome), logger: log }));
    const telegramCourier = courierOf && ((bot: TelegramBot) => courierOf('telegram', bot));
    let telegram: BotSlot<TelegramBot> | undefined;
    let discord: BotSlot<DiscordBot> | undefined;
    if (config.telegram.token) {
      // Telegram lets one process long-poll a bot at a time; webhooks go to any front.
      telegram =
        leaseRedis && !config.telegram.webhookUrl
          ? leasedBot('telegram-polling', makeTelegram, leaseRedis, config, log, telegramCourier)
          : fixedBot(makeTelegram(), telegramCourier);
      const current = telegram.current;
      if (current && current.mode === 'webhook') mountTelegramWebhook(app, current);
    }
    if (config.discord.token) {
      // One gateway connection per bot token (one shard): one front holds it.
      discord = leaseRedis
        ? leasedBot('discord-gateway', makeDiscord, leaseRedis, config, log, courierOf && ((bot: DiscordBot) => courierOf('discord', bot)))
        : fixedBot(makeDiscord());
    }
    const bots = [telegram, discord].filter((b): b is BotSlot<TelegramBot> | BotSlot<DiscordBot> => b !== undefined);
    // Intake stops everywhere at once: the routes drain (the listener stays open and answers
    // 503) while the bots stop; what was taken in finishes and replies, or is cancelled (and
    // told so) at the deadline.
    closers.push({ name: 'intake', close: async (deadline) => void (await Promise.all([...bots.map((b) => b.stop()), app.drain(deadline)])) });
    const url = await app.listen({ port: config.port, host: config.host });
    log.info({ url, role: queueUrl ? role : 'embedded' }, 'listening');
    await Promise.all(bots.map((b) => b.start()));
    log.info(
      {
        telegram: telegram ? botState(telegram, telegram.current?.mode ?? 'polling') : 'off (TELEGRAM_BOT_TOKEN is unset)',
        discord: discord ? botState(discord, 'on') : 'off (DISCORD_BOT_TOKEN is unset)',
      },
      'bots',
    );
    return service(config, app, core, url, () => telegram?.current, () => discord?.current, stopAll, log);
  } catch (error) {
    await stopAll().catch((stopError: unknown) => log.error({ err: stopError }, 'could not stop after a failed start'));
    throw error;
  }
}

/** A job's audio outlives its job's result by this much, so that no worker finds it gone while the job is still kept. */
const AUDIO_TTL_MARGIN_MS = 60_000;

/** A bot as this process holds it: always (embedded, webhooks) or while it holds the bot's lease. */
interface BotSlot<B extends Startable> {
  readonly current: B | undefined;
  /** Whether the bot waits for its lease (held by another front now). */
  readonly standby: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A bot this process always runs; with `courierOf`, its courier runs beside it (webhooks: every front delivers). */
function fixedBot<B extends Startable>(bot: B, courierOf?: (bot: B) => ReplyCourier): BotSlot<B> {
  const courier = courierOf?.(bot);
  return {
    current: bot,
    standby: false,
    start: async () => {
      await bot.start();
      courier?.start();
    },
    stop: async () => {
      await courier?.stop();
      await bot.stop();
    },
  };
}

/**
 * A bot that runs only while this front holds its lease: a fresh bot is built and started each
 * time the lease is taken, and stopped (its jobs replying first) when it is lost or given up.
 * With `courierOf`, the bot's courier runs as long as it does: the lease holder answers for the
 * fronts that died.
 */
function leasedBot<B extends Startable>(name: string, create: () => B, redis: Redis, config: Config, log: Logger, courierOf?: (bot: B) => ReplyCourier): BotSlot<B> {
  let current: B | undefined;
  let courier: ReplyCourier | undefined;
  const lease = new Lease({
    redis,
    name,
    ttlMs: config.distributed.failoverMs,
    logger: log,
    onAcquired: async () => {
      const bot = create();
      current = bot;
      await bot.start();
      courier = courierOf?.(bot);
      courier?.start();
    },
    onLost: async () => {
      const bot = current;
      current = undefined;
      await courier?.stop();
      courier = undefined;
      await bot?.stop();
    },
  });
  return {
    get current() {
      return current;
    },
    get standby() {
      return !lease.held;
    },
    start: () => lease.start(),
    stop: () => lease.stop(),
  };
}

function botState(slot: BotSlot<Startable>, running: string): string {
  return slot.standby ? 'standby (another front holds its lease)' : running;
}

function service(
  config: Config,
  app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>,
  core: Core | undefined,
  url: string,
  telegram: () => TelegramBot | undefined,
  discord: () => DiscordBot | undefined,
  stopAll: () => Promise<void>,
  log: Logger,
): Service {
  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    core,
    url,
    get telegram() {
      return telegram();
    },
    get discord() {
      return discord();
    },
    close() {
      closing ??= (async () => {
        log.info('shutting down: finishing running jobs');
        await stopAll();
        log.info('stopped');
      })();
      return closing;
    },
  };
}

/** A QUEUE_URL's or DATABASE_URL's password, scrubbed from logs like every other secret. */
function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const password = new URL(url).password;
  return password ? decodeURIComponent(password) : undefined;
}

/**
 * When, within a shutdown's grace, work still running is cancelled: early enough that its
 * cancellation is answered and the process has exited by the end of the grace.
 */
function cancelAfterMs(graceMs: number): number {
  return Math.max(graceMs / 2, graceMs - 2000);
}

async function run(): Promise<void> {
  let service: Service | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (!service) {
      // Still starting (perhaps fetching the model, which resumes next time): nothing was
      // accepted yet, so there is nothing to finish.
      process.stderr.write(`viet-stt: ${signal} before the service had started; exiting\n`);
      process.exit(0);
    }
    const running = service;
    running.app.log.info({ signal }, 'signal received');
    // Whatever a client does, the process is gone by the end of the grace period.
    setTimeout(() => {
      running.app.log.error({ graceMs: running.config.shutdownGraceMs }, 'shutdown grace is over; exiting');
      process.exit(1);
    }, running.config.shutdownGraceMs).unref();
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        running.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Installed first, so that docker stop or Ctrl+C during the first start's model download ends
  // the process at once; a second signal falls back to Node's default and ends it regardless.
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // .env fills in what the environment leaves unset; only the program does this, not an import.
  dotenv.config({ quiet: true });
  try {
    service = await startService(process.env);
    // After the JSON log lines, one line for the person who started it.
    const { port, host } = service.config;
    const where = host === '0.0.0.0' || host === '::' ? `http://localhost:${new URL(service.url).port || port}/` : `${service.url}/`;
    const { url: queueUrl, role } = service.config.distributed;
    if (queueUrl && role === 'worker') {
      process.stderr.write(`viet-stt worker is ready: it runs jobs from the queue (health at ${where}healthz).\n`);
    } else {
      const standby = (token: string | undefined, running: unknown): string => (running ? 'on' : token ? 'standby' : 'off');
      const bots = `Telegram ${standby(service.config.telegram.token, service.telegram)}, Discord ${standby(service.config.discord.token, service.discord)}`;
      process.stderr.write(`viet-stt is ready: the page is at ${where} (${bots}).\n`);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`viet-stt could not start: ${message}\n`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void run();
