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

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** pino's level. Default `info`. */
  level?: string;
  /** Scrubbed from every line, whatever field they hide in. */
  secrets?: readonly (string | undefined)[];
  /**
   * Set for a command a person runs: each entry becomes one plain line, `<plain>: <message>`
   * (warnings and errors say so, and name their reason), instead of a JSON line for machines.
   * Default: JSON lines.
   */
  plain?: string;
}

/**
 * The service's structured logger. Secrets given here are scrubbed from every line, whatever
 * field they hide in (a Telegram file URL holds the bot token); headers that carry keys are
 * dropped by path.
 */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const secrets = (options.secrets ?? []).filter((s): s is string => Boolean(s && s.length >= 4));
  const format = options.plain === undefined ? undefined : (line: string) => plainLine(options.plain ?? '', line);
  const scrub: DestinationStream | undefined =
    secrets.length === 0 && !format
      ? destination
      : {
          write(line: string) {
            (destination ?? process.stdout).write(redactSecrets(format ? format(line) : line, secrets));
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

/** pino's numeric levels, as a person reads them: nothing for info and below. */
const LEVEL_WORDS: readonly [number, string][] = [
  [50, 'error: '],
  [40, 'warning: '],
];

/**
 * One JSON line from pino as a person reads it: the message, and for a warning or an error the
 * reason it carries (a `reason` field or an error's first line), never a stack. The other fields
 * are for machines and stay in the JSON form.
 */
function plainLine(prefix: string, json: string): string {
  let entry: { level?: number; msg?: string; reason?: unknown; err?: unknown; error?: unknown };
  try {
    entry = JSON.parse(json) as typeof entry;
  } catch {
    return json;
  }
  const level = LEVEL_WORDS.find(([at]) => (entry.level ?? 0) >= at)?.[1] ?? '';
  const why = (entry.level ?? 0) >= 40 ? firstLine(entry.reason ?? entry.err ?? entry.error) : undefined;
  const message = [entry.msg, why].filter(Boolean).join(': ');
  return `${prefix ? `${prefix}: ` : ''}${level}${message}\n`;
}

function firstLine(value: unknown): string | undefined {
  const text =
    typeof value === 'string'
      ? value
      : value && typeof value === 'object' && 'message' in value && typeof value.message === 'string'
        ? value.message
        : undefined;
  return text?.split('\n')[0];
}
