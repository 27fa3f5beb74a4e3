import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { convertCheckpoint } from './convert.js';

const USAGE = `Usage: npm run model:convert -- <checkpoint dir> <out dir> [--quantize int8]

Converts a Hugging Face Wav2Vec2ForCTC checkpoint (config.json with model.safetensors or
pytorch_model.bin) into <out dir>/model.onnx plus its tokenizer and preprocessor files.
  --quantize int8   dynamic int8 quantisation of the Linear weights (smaller, faster on CPU)`;

/** Where the CLI writes; process.stdout/stderr by default. */
export interface CliOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultOutput: CliOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * `model:convert <checkpoint dir> <out dir> [--quantize int8]`. Returns the exit code: 0 when
 * converted, 1 when the conversion failed (the error and its causes are printed), 2 for bad usage.
 */
export async function runConvertCli(argv: string[], output: CliOutput = defaultOutput): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    output.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    output.out(USAGE);
    return 0;
  }
  const [src, out] = parsed.positionals;
  const quantize = parsed.values.quantize;
  if (parsed.positionals.length !== 2 || (quantize !== undefined && quantize !== 'int8')) {
    output.err(USAGE);
    return 2;
  }
  try {
    const result = await convertCheckpoint(src, out, { quantize });
    output.out(
      `converted ${result.weightsFile} → ${result.modelPath} (${(result.bytes / 1e6).toFixed(1)} MB` +
        `${quantize ? `, ${quantize}` : ''}) in ${result.seconds.toFixed(1)} s; copied ${result.copied.join(', ') || 'nothing'}`,
    );
    if (result.missing.includes('vocab.json')) {
      output.err('warning: the checkpoint has no vocab.json; the service cannot decode this model without it');
    }
    return 0;
  } catch (error) {
    output.err(`model:convert failed: ${describe(error)}`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: { quantize: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
}

/** An error's message followed by those of its causes that add something. */
function describe(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    if (!lines.some((line) => line.includes(message))) {
      lines.push(current instanceof Error ? `${current.name}: ${message}` : message);
    }
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join('\n  caused by ');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await runConvertCli(process.argv.slice(2));
}
