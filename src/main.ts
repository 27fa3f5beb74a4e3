import { pathToFileURL } from 'node:url';
import dotenv from 'dotenv';
import { createDiscordBot, type DiscordBot, type DiscordBotOptions } from '../adapters/discord.js';
import { createTelegramBot, mountTelegramWebhook, type TelegramBot, type TelegramBotOptions } from '../adapters/telegram.js';
import { loadConfig, type Config } from './config.js';
import { createCore, type Core } from './core/create-transcriber.js';
import { Metrics } from './core/metrics.js';
import { buildApp } from './http/app.js';
import { createLogger, type Logger } from './logger.js';
import { ensureModel } from './model/ensure-model.js';

/** A running service: the HTTP app, the core, and the bots that are on. */
export interface Service {
  config: Config;
  app: Awaited<ReturnType<typeof buildApp>>;
  core: Core;
  url: string;
  telegram: TelegramBot | undefined;
  discord: DiscordBot | undefined;
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

/**
 * Builds everything from the environment and starts listening: the model (fetched on first
 * start), the core, the HTTP app, and each bot whose token is set. Any failure on the way stops
 * what was already started.
 */
export async function startService(env: NodeJS.ProcessEnv, options: ServiceOptions = {}): Promise<Service> {
  const config = loadConfig(env);
  const log =
    options.logger ??
    createLogger({
      level: config.logLevel,
      secrets: [config.telegram.token, config.discord.token, config.apiKey, config.model.hfToken, config.telegram.webhookSecret],
    });
  await ensureModel(config.model, log);
  const metrics = new Metrics();
  const core = await createCore(config, log, { metrics });
  const app = await buildApp({ config, transcriber: core.transcriber, logger: log, metrics });
  // The bots cancel what is left when the cancel deadline below passes, as the HTTP app does.
  const shared = { stopGraceMs: cancelAfterMs(config.shutdownGraceMs), config, transcriber: core.transcriber, logger: log };
  const telegram = config.telegram.token ? createTelegramBot({ ...shared, ...options.telegram }) : undefined;
  const discord = config.discord.token ? createDiscordBot({ ...shared, ...options.discord }) : undefined;
  if (telegram) mountTelegramWebhook(app, telegram);

  const stopAll = async (): Promise<void> => {
    // Intake stops everywhere first, while the listener stays open and answers 503; what was
    // taken in finishes and replies, or is cancelled (and told so) at the deadline. Then the
    // listener closes, and the core last.
    const deadline = AbortSignal.timeout(cancelAfterMs(config.shutdownGraceMs));
    await Promise.all([telegram?.stop(), discord?.stop(), app.drain(deadline)]);
    await app.close();
    await core.close();
  };

  let url: string;
  try {
    url = await app.listen({ port: config.port, host: config.host });
    log.info({ url }, 'listening');
    await Promise.all([telegram?.start(), discord?.start()]);
  } catch (error) {
    await stopAll().catch((stopError: unknown) => log.error({ err: stopError }, 'could not stop after a failed start'));
    throw error;
  }
  log.info(
    { telegram: telegram ? telegram.mode : 'off (TELEGRAM_BOT_TOKEN is unset)', discord: discord ? 'on' : 'off (DISCORD_BOT_TOKEN is unset)' },
    'bots',
  );

  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    core,
    url,
    telegram,
    discord,
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
    const bots = [service.telegram ? 'Telegram on' : 'Telegram off', service.discord ? 'Discord on' : 'Discord off'].join(', ');
    process.stderr.write(`viet-stt is ready: the page is at ${where} (${bots}).\n`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`viet-stt could not start: ${message}\n`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void run();
