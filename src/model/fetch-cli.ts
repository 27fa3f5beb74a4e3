import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Writable } from 'node:stream';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createLogger, redactSecrets, type Logger } from '../logger.js';
import { fetchModel, resolveRevision, type FetchModelOptions, type FetchResult } from './fetch.js';

const USAGE = `Usage: npm run model:fetch [-- <repo id>] [--revision <rev>] [--quantize int8]

Downloads a wav2vec2 CTC model from the Hugging Face hub into MODEL_DIR (a repo's own ONNX as it
is; a PyTorch or safetensors checkpoint converted to model.onnx).

  <repo id>          owner/name on the hub; default MODEL_ID
  --revision <rev>   branch, tag or commit; default MODEL_REVISION, else the pinned commit of the
                     default model, else main
  --quantize int8    quantise a converted checkpoint's MatMul weights to int8

Settings read from the environment: MODEL_DIR, MODEL_ID, MODEL_REVISION, HF_ENDPOINT, HF_TOKEN,
LOG_LEVEL.
`;

/** What `runFetchCli` writes to and uses; every field has a default for the real command. */
export interface FetchCliDeps {
  stdout?: Writable;
  stderr?: Writable & { isTTY?: boolean };
  /** Default: `createLogger` at LOG_LEVEL with HF_TOKEN as a secret, in plain lines (`viet-stt: …`) on `stderr`. */
  logger?: Logger;
  fetch?: (options: FetchModelOptions) => Promise<FetchResult>;
  /** Extra options for the fetcher (tests: small timeouts, retry delays). */
  fetchOptions?: Partial<FetchModelOptions>;
}

interface ParsedArgs {
  repo?: string;
  revision?: string;
  quantize?: 'int8';
  help: boolean;
}

/**
 * `npm run model:fetch [-- <repo id> [--revision <rev>]]`: fetches a model into MODEL_DIR,
 * replacing what is there. Returns the exit code: 0 done, 1 the fetch failed (the reason is
 * printed to stderr), 2 bad arguments or settings.
 */
export async function runFetchCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv | Record<string, string | undefined>,
  deps: FetchCliDeps = {},
): Promise<number> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    stdout.write(USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const secrets = [config.model.hfToken];
  // A person reads this: plain lines on stderr, as `transcribe` writes them; stdout says only where the model is.
  const logger = deps.logger ?? createLogger({ level: config.logLevel, secrets, plain: 'viet-stt' }, stderr);
  const repo = args.repo ?? config.model.id;
  // MODEL_REVISION belongs to MODEL_ID: another repo named here starts from its own default.
  const revision = args.revision ?? resolveRevision(repo, repo === config.model.id ? config.model.revision : undefined);
  try {
    const result = await (deps.fetch ?? fetchModel)({
      progressStream: stderr,
      ...deps.fetchOptions,
      repo,
      revision,
      endpoint: config.model.hfEndpoint,
      token: config.model.hfToken,
      dir: config.model.dir,
      logger,
      quantize: args.quantize,
    });
    stdout.write(`${result.repo}@${result.commit} is ready in ${path.relative(process.cwd(), result.dir) || '.'}\n`);
    return 0;
  } catch (error) {
    logger.debug({ err: error }, 'model:fetch failed');
    const message = error instanceof Error ? error.message : String(error);
    stderr.write(`model:fetch failed: ${redactSecrets(message, secrets)}\n`);
    return 1;
  }
}

function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { help: false };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--help' || flag === '-h') out.help = true;
    else if (flag === '--revision' || flag === '-r') out.revision = value();
    else if (flag === '--quantize') {
      const v = value();
      if (v !== 'int8') throw new Error(`--quantize takes int8, not ${v}`);
      out.quantize = v;
    } else if (flag === '--') continue;
    else if (flag.startsWith('-')) throw new Error(`unknown option ${flag}`);
    else positional.push(arg);
  }
  if (positional.length > 1) throw new Error(`one repo id at most, got ${positional.join(' ')}`);
  if (positional[0] !== undefined) {
    if (!/^[\w.-]+\/[\w.-]+$/.test(positional[0])) throw new Error(`not a repo id (owner/name): ${positional[0]}`);
    out.repo = positional[0];
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await runFetchCli(process.argv.slice(2), process.env);
}
