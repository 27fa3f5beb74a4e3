import { loadConfig, type Config } from '../../src/config.js';
import { createCore, type Core } from '../../src/core/create-transcriber.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { TONE_MODEL_DIR } from '../../testkit/tone-model.js';

/** The tone test model's directory, built by global-setup.ts. */
export { TONE_MODEL_DIR };

/** A config for tests: the tone model, CPU, one worker, quiet logs; `env` overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ MODEL_DIR: TONE_MODEL_DIR, DEVICE: 'cpu', INFERENCE_THREADS: '1', LOG_LEVEL: 'silent', HOST: '127.0.0.1', PORT: '0', ...env });
}

/** A real core (ffmpeg, worker pool, queue) on the tone model. Close it after the test. */
export async function testCore(
  env: Record<string, string> = {},
  logger?: Logger,
  options: Parameters<typeof createCore>[2] = {},
): Promise<{ core: Core; config: Config }> {
  const config = testConfig(env);
  const core = await createCore(config, logger ?? createLogger({ level: 'silent' }), options);
  return { core, config };
}
