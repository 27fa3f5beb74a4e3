import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Replaces every occurrence of the given secrets (bot tokens, API keys) with a marker. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/**
 * The service's structured logger. Secrets given here are scrubbed from every line, whatever
 * field they hide in (a Telegram file URL holds the bot token); headers that carry keys are
 * dropped by path.
 */
export function createLogger(
  options: { level?: string; secrets?: readonly (string | undefined)[] } = {},
  destination?: DestinationStream,
): Logger {
  const secrets = (options.secrets ?? []).filter((s): s is string => Boolean(s && s.length >= 4));
  const scrub: DestinationStream | undefined =
    secrets.length === 0
      ? destination
      : {
          write(line: string) {
            (destination ?? process.stdout).write(redactSecrets(line, secrets));
          },
        };
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.token'], censor: '[redacted]' },
    },
    scrub,
  );
}
