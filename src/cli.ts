import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { argsProblem } from './cli-args.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createCore } from './core/create-transcriber.js';
import { toSttError } from './core/errors.js';
import { toSrt, toVtt } from './core/subtitles.js';
import type { Transcript } from './core/types.js';
import { createLogger } from './logger.js';
import { runConvertCli } from './model/convert-cli.js';
import { ensureModel } from './model/ensure-model.js';
import { runFetchCli } from './model/fetch-cli.js';
import { runLmBuildCli } from './text/lm-build-cli.js';
import { runNormalizeCli } from './text/normalize-cli.js';
import { toWritten } from './text/written.js';

const USAGE = `Usage: viet-stt <command>

  transcribe <files...> [--format text|json|srt|vtt] [--output-dir <dir>]
                                                        print (or write) the transcripts of audio files
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
type Format = (typeof FORMATS)[number];

/** What a file written with --output-dir is named after: the input's base name and this. */
const EXTENSIONS: Record<Format, string> = { text: '.txt', txt: '.txt', json: '.json', srt: '.srt', vtt: '.vtt' };

const TRANSCRIBE_USAGE = `Usage: viet-stt transcribe <files...> [--format text|json|srt|vtt] [--output-dir <dir>]

Prints the transcript of each audio or video file, with the same engine as the service.
With several files, text lines start with the file's name and json is one object a line (each
with its "path"); srt and vtt need --output-dir, one subtitle file for each input.

  -f, --format <format>    text (default; txt too), json (as the HTTP API answers: the words
                           and their times, the written form), srt or vtt
  -o, --output-dir <dir>   write one file for each input into <dir> (made if missing) instead of
                           printing: the input's name with .txt, .json, .srt or .vtt; a file
                           already there is replaced, unless its input fails
  -h, --help               print this help

Progress and warnings go to stderr; LOG_LEVEL=warn keeps it to warnings.
`;

/** `viet-stt transcribe`: the same core as the service, on local files. Returns the exit code. */
async function transcribe(argv: string[]): Promise<number> {
  const usage = (message: string): number => {
    process.stderr.write(`viet-stt transcribe: ${message}; see viet-stt transcribe --help\n`);
    return 2;
  };
  let values: { format?: string; 'output-dir'?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: 'string', short: 'f', default: 'text' },
        'output-dir': { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return usage(argsProblem(error));
  }
  if (values.help) {
    process.stdout.write(TRANSCRIBE_USAGE);
    return 0;
  }
  const format = values.format as Format;
  if (!FORMATS.includes(format)) return usage(`--format must be ${FORMATS.slice(0, -1).join(', ')} or ${FORMATS.at(-1)}, not "${String(values.format)}"`);
  if (positionals.length === 0) return usage('name at least one audio file');
  for (const file of positionals) {
    if (await isDirectory(file)) return usage(`${file} is a directory, not an audio file`);
  }
  const outputDir = values['output-dir'];
  // Subtitle files one after another on stdout would be one invalid file.
  if (outputDir === undefined && positionals.length > 1 && (format === 'srt' || format === 'vtt')) {
    return usage(`several files in ${format} need --output-dir <dir>, where each gets its own .${format} file`);
  }
  const targets = outputDir === undefined ? undefined : outputPaths(positionals, outputDir, EXTENSIONS[format]);
  if (typeof targets === 'string') return usage(targets);
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`viet-stt transcribe: invalid settings: ${error.problems.join('; ')}\n`);
    return 2;
  }
  if (outputDir !== undefined) {
    const problem = await makeDirectory(outputDir);
    if (problem) return usage(problem);
  }
  const logger = createLogger({ level: config.logLevel, secrets: [config.model.hfToken], plain: 'viet-stt' }, process.stderr);
  logger.info(`loading the model from ${shown(config.model.dir)}`);
  await ensureModel(config.model, logger);
  // The core's own start-up lines (which ffmpeg, the model loaded) are for the service's log; a
  // person at the command line sees its warnings, such as the CUDA fallback.
  const core = await createCore(config, logger.child({}, { level: config.logLevel === 'info' ? 'warn' : config.logLevel }));
  let failures = 0;
  try {
    for (const [index, file] of positionals.entries()) {
      try {
        const transcript = await core.transcriber.transcribe({ kind: 'file', path: file }, { source: 'cli' });
        const text = render(format, transcript, file);
        const target = targets?.[index];
        if (target) {
          await replaceFile(target, text);
          logger.info(`wrote ${shown(target)}`);
        } else {
          process.stdout.write(positionals.length > 1 && format !== 'json' ? `${file}: ${text}` : text);
        }
      } catch (error) {
        failures++;
        if (error instanceof OutputError) {
          process.stderr.write(`${file}: ${error.message}\n`);
          continue;
        }
        const stt = toSttError(error);
        process.stderr.write(`${file}: ${stt.message} (${stt.code})\n`);
      }
    }
  } finally {
    await core.close();
  }
  return failures === 0 ? 0 : 1;
}

/** One transcript in one format, as printed or written. */
function render(format: Format, transcript: Transcript, file: string): string {
  switch (format) {
    case 'json': {
      // The keys of the HTTP API's answer, so that scripts read both the same way.
      const { text, duration, processingMs, device, words } = transcript;
      const answer = { status: 'success', transcript: text, written: toWritten(text), path: file, duration, processing_ms: processingMs, device, words };
      return `${JSON.stringify(answer)}\n`;
    }
    case 'srt':
      return toSrt(transcript.words);
    case 'vtt':
      return toVtt(transcript.words);
    default:
      return `${transcript.text}\n`;
  }
}

/**
 * Where each input's transcript is written in `dir`, or what stops it: two inputs with one base
 * name (`a/voice.ogg` and `b/voice.mp3`) would write one file, and the second would silently
 * replace the first.
 */
function outputPaths(files: readonly string[], dir: string, extension: string): string[] | string {
  const targets = files.map((file) => path.join(dir, `${path.parse(file).name}${extension}`));
  for (const [index, target] of targets.entries()) {
    const first = targets.indexOf(target);
    if (first !== index) return `${files[first]} and ${files[index]} would both be written to ${target}`;
  }
  return targets;
}

/** Makes --output-dir when it is missing; what went wrong, if anything. */
async function makeDirectory(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true });
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EEXIST' || code === 'ENOTDIR' ? `${dir} is not a directory` : `cannot make the directory ${dir} (${code ?? 'unknown error'})`;
  }
}

/** A transcript that could not be written where --output-dir says. */
class OutputError extends Error {
  override readonly name = 'OutputError';
}

/**
 * Writes beside the target and renames it into place, so that the old file stays whole until
 * the new one is complete, and an interrupted run never leaves half a subtitle file.
 */
async function replaceFile(target: string, text: string): Promise<void> {
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, text);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new OutputError(`cannot write ${target} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { cause: error });
  }
}

/** A path as a person at this directory names it: relative inside it, absolute elsewhere. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : path.resolve(file);
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
