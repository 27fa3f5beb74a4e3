import 'dotenv/config';
import { pathToFileURL } from 'node:url';
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
  /** Stops taking work, lets running jobs finish and reply, then stops everything. */
  close(): Promise<void>;
}

/** Builds everything from the environment and starts listening. */
export async function startService(env: NodeJS.ProcessEnv, logger?: Logger): Promise<Service> {
  const config = loadConfig(env);
  const log =
    logger ??
    createLogger({
      level: config.logLevel,
      secrets: [config.telegram.token, config.discord.token, config.apiKey, config.model.hfToken, config.telegram.webhookSecret],
    });
  await ensureModel(config.model, log);
  const metrics = new Metrics();
  const core = await createCore(config, log, { metrics });
  const app = await buildApp({ config, transcriber: core.transcriber, logger: log, metrics });
  const url = await app.listen({ port: config.port, host: config.host });
  log.info({ url }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    core,
    url,
    close() {
      closing ??= (async () => {
        log.info('shutting down: finishing running jobs');
        await Promise.all([core.close(), app.close()]);
        log.info('stopped');
      })();
      return closing;
    },
  };
}

async function run(): Promise<void> {
  let service: Service;
  try {
    service = await startService(process.env);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`viet-stt could not start: ${message}\n`);
    process.exit(1);
  }
  const stop = (signal: NodeJS.Signals): void => {
    service.app.log.info({ signal }, 'signal received');
    service.close().then(
      () => process.exit(0),
      (error: unknown) => {
        service.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void run();
