import { readFile, stat, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { argsProblem } from '../cli-args.js';
import { buildArpa } from './kneser-ney.js';

/** `viet-stt lm:build --help`. */
export const LM_BUILD_USAGE = `Usage: viet-stt lm:build <corpus.txt> -o <lm.arpa> [--order 3]

Builds a word n-gram language model in ARPA format, with interpolated modified Kneser-Ney
smoothing, from a team's own text: one sentence a line (glossaries, documents, past messages).
Text is read as UTF-8, NFC-normalised and lower-cased; punctuation breaks words.

  -o, --output <file>   where to write the ARPA model
      --order <n>       the n-gram order, 1 to 6 (default 3)
  -h, --help            print this help
`;

/**
 * `viet-stt lm:build`. Returns the exit code: 0 written, 1 the corpus or the output could not
 * be read or written (one line on stderr), 2 bad usage.
 */
export async function runLmBuildCli(argv: readonly string[], stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const usage = (message: string): number => {
    stderr.write(`viet-stt lm:build: ${message}; see viet-stt lm:build --help\n`);
    return 2;
  };
  let values: { output?: string; order?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { output: { type: 'string', short: 'o' }, order: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    return usage(argsProblem(error));
  }
  if (values.help) {
    stdout.write(LM_BUILD_USAGE);
    return 0;
  }
  if (positionals.length !== 1) return usage(positionals.length === 0 ? 'name the corpus file' : 'give one corpus file');
  if (!values.output) return usage('give the output file with -o');
  const order = Number(values.order ?? 3);
  if (!Number.isInteger(order) || order < 1 || order > 6) return usage(`--order must be a whole number from 1 to 6, not "${values.order}"`);
  const [corpus] = positionals;
  let text: string;
  try {
    if ((await stat(corpus)).isDirectory()) {
      stderr.write(`viet-stt lm:build: ${corpus} is a directory, not a text file\n`);
      return 1;
    }
    text = await readFile(corpus, 'utf8');
  } catch (error) {
    stderr.write(`viet-stt lm:build: cannot read ${corpus} (${codeOf(error)})\n`);
    return 1;
  }
  const arpa = buildArpa(text.split(/\r?\n/), order);
  try {
    await writeFile(values.output, arpa);
  } catch (error) {
    stderr.write(`viet-stt lm:build: cannot write ${values.output} (${codeOf(error)})\n`);
    return 1;
  }
  const counts = /\\data\\\n((?:ngram \d+=\d+\n)+)/.exec(arpa)?.[1].trim().split('\n').join(', ') ?? '';
  stderr.write(`viet-stt lm:build: wrote ${values.output} (${counts})\n`);
  return 0;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'failed';
}
