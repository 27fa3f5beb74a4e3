import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { argsProblem } from '../cli-args.js';
import { toWritten } from './written.js';

/** `viet-stt normalize --help`. */
export const NORMALIZE_USAGE = `Usage: viet-stt normalize [<text>...]

Prints the written form of spoken Vietnamese: numbers, money, measures, times, dates and digit
strings in digits ("hai mươi mốt" → "21", "năm trăm nghìn đồng" → "500.000 đồng").
The arguments are one text, joined by spaces. With none, reads stdin and writes one line for
each line read. Put -- before text that starts with "-".

  -h, --help   print this help
`;

/** Where `runNormalizeCli` reads and writes; the process's own streams by default. */
export interface NormalizeCliIo {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

/**
 * `viet-stt normalize [<text>...]`. Returns the exit code: 0 done, 1 stdin or stdout failed,
 * 2 bad usage (one line on stderr).
 */
export async function runNormalizeCli(argv: readonly string[], io: NormalizeCliIo = {}): Promise<number> {
  const stdin = io.stdin ?? process.stdin;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let parsed: { help: boolean; positionals: string[] };
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { help: { type: 'boolean', short: 'h' } },
    });
    parsed = { help: values.help === true, positionals };
  } catch (error) {
    const message = argsProblem(error);
    stderr.write(`viet-stt normalize: ${message}; see viet-stt normalize --help\n`);
    return 2;
  }
  if (parsed.help) {
    await written(stdout, NORMALIZE_USAGE);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    await written(stdout, `${toWritten(parsed.positionals.join(' '))}\n`);
    return 0;
  }
  return normalizeLines(stdin, stdout, stderr);
}

/**
 * Writes and resolves once the text has left the stream. The caller exits the process as soon
 * as it has the exit code, and a pipe or socket stdout writes asynchronously: what is still
 * queued then is lost.
 */
function written(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve) => {
    stream.write(text, () => resolve());
  });
}

/** One written line for each line of `stdin`, as they come (so it works interactively too). */
async function normalizeLines(stdin: Readable, stdout: Writable, stderr: Writable): Promise<number> {
  const lines = createInterface({ input: stdin, crlfDelay: Infinity, terminal: false });
  let failure: Error | undefined;
  const onError = (error: Error) => {
    failure ??= error;
    lines.close();
  };
  stdout.on('error', onError);
  stdin.on('error', onError);
  let last: Promise<void> = Promise.resolve();
  try {
    for await (const line of lines) {
      if (failure) break;
      last = written(stdout, `${toWritten(line)}\n`);
      if (stdout.writableNeedDrain) await Promise.race([once(stdout, 'drain'), once(stdout, 'close')]);
    }
    if (!failure) await last;
  } catch (error) {
    failure ??= error instanceof Error ? error : new Error(String(error));
  } finally {
    stdout.off('error', onError);
    stdin.off('error', onError);
  }
  if (!failure) return 0;
  // A reader that stopped early (`| head`) is not an error of ours.
  if ((failure as NodeJS.ErrnoException).code === 'EPIPE') return 0;
  stderr.write(`viet-stt normalize: ${failure.message}\n`);
  return 1;
}
