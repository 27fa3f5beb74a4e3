import { stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { argsProblem } from './cli-args.js';
import { loadConfig } from './config.js';
import { createCore } from './core/create-transcriber.js';
import { toSttError } from './core/errors.js';
import { toSrt, toVtt } from './core/subtitles.js';
import { createLogger } from './logger.js';
import { runConvertCli } from './model/convert-cli.js';
import { ensureModel } from './model/ensure-model.js';
import { runFetchCli } from './model/fetch-cli.js';
import { runLmBuildCli } from './text/lm-build-cli.js';
import { runNormalizeCli } from './text/normalize-cli.js';
import { toWritten } from './text/written.js';

const USAGE = `Usage: viet-stt <command>

  transcribe <files...> [--format text|json|srt|vtt]   print the transcripts of audio files
  model:fetch [<repo id>] [--revision <rev>]            download (and convert) the model into MODEL_DIR
  model:convert <checkpoint dir> <out dir> [--quantize int8]
                                                        convert a Hugging Face checkpoint to ONNX
  normalize [<text>...]                                 print spoken Vietnamese in written form
                                                        (numbers, money, times, dates); no text: stdin
  lm:build <corpus.txt> -o <lm.arpa> [--order 3]        build a word n-gram language model (ARPA)
                                                        from a team's own text

Settings come from the environment and .env (see README.md).
`;

const FORMATS = ['text', 'txt', 'json', 'srt', 'vtt'] as const;

const TRANSCRIBE_USAGE = `Usage: viet-stt transcribe <files...> [--format text|json|srt|vtt]

Prints the transcript of each audio or video file, with the same engine as the service.

  -f, --format <format>   text (default; txt too), json (as the HTTP API answers: the words
                          and their times, the written form), srt or vtt
  -h, --help              print this help
`;

/** `viet-stt transcribe`: the same core as the service, on local files. Returns the exit code. */
async function transcribe(argv: string[]): Promise<number> {
  const usage = (message: string): number => {
    process.stderr.write(`viet-stt transcribe: ${message}; see viet-stt transcribe --help\n`);
    return 2;
  };
  let values: { format?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { format: { type: 'string', short: 'f', default: 'text' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    return usage(argsProblem(error));
  }
  if (values.help) {
    process.stdout.write(TRANSCRIBE_USAGE);
    return 0;
  }
  const format = values.format as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) return usage(`--format must be ${FORMATS.slice(0, -1).join(', ')} or ${FORMATS.at(-1)}, not "${String(values.format)}"`);
  if (positionals.length === 0) return usage('name at least one audio file');
  for (const file of positionals) {
    if (await isDirectory(file)) return usage(`${file} is a directory, not an audio file`);
  }
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, secrets: [config.model.hfToken] }, process.stderr);
  await ensureModel(config.model, logger);
  const core = await createCore(config, logger);
  let failures = 0;
  try {
    for (const file of positionals) {
      try {
        const transcript = await core.transcriber.transcribe({ kind: 'file', path: file }, { source: 'cli' });
        const label = positionals.length > 1 && format === 'text' ? `${file}: ` : '';
        // The keys of the HTTP API's answer, so that scripts read both the same way.
        if (format === 'json') {
          const { text, duration, processingMs, device, words } = transcript;
          const answer = { status: 'success', transcript: text, written: toWritten(text), path: file, duration, processing_ms: processingMs, device, words };
          process.stdout.write(`${JSON.stringify(answer)}\n`);
        }
        else if (format === 'srt') process.stdout.write(toSrt(transcript.words));
        else if (format === 'vtt') process.stdout.write(toVtt(transcript.words));
        else process.stdout.write(`${label}${transcript.text}\n`);
      } catch (error) {
        failures++;
        const stt = toSttError(error);
        process.stderr.write(`${file}: ${stt.message} (${stt.code})\n`);
      }
    }
  } finally {
    await core.close();
  }
  return failures === 0 ? 0 : 1;
}

async function isDirectory(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isDirectory() === true;
}

/** Runs one command and returns its exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'transcribe':
      return transcribe(rest);
    case 'model:fetch':
      return runFetchCli(rest, process.env);
    case 'model:convert':
      return runConvertCli(rest);
    case 'normalize':
      return runNormalizeCli(rest);
    case 'lm:build':
      return runLmBuildCli(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await import('dotenv/config');
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
