import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { fetchModel, resolveRevision, type FetchModelOptions, type FetchResult } from './fetch.js';
import { findOnnx, modelFolderFiles, modelFolderNeeds } from '../core/model-files.js';
import { pathExists } from '../path-exists.js';

/** The command that downloads the model by hand. */
export const FETCH_COMMAND = 'npm run model:fetch';

/** MODEL_DIR holds no model and MODEL_AUTO_FETCH=false forbids downloading one. */
export class ModelMissingError extends Error {
  override readonly name = 'ModelMissingError';
  constructor(
    readonly dir: string,
    readonly modelId: string,
  ) {
    super(
      `no model in ${dir} (it needs ${modelFolderNeeds()}) and MODEL_AUTO_FETCH=false ` +
        `forbids downloading one: run \`${FETCH_COMMAND}\` to fetch ${modelId}, or set MODEL_AUTO_FETCH=true`,
    );
  }
}

/** The files of a usable model directory. */
export interface LocalModel {
  /** The first of `MODEL_FOLDER.onnx` present. */
  onnx: string;
  vocab: string;
}

/**
 * The model's files in `dir`, or undefined when it lacks one that the service cannot load
 * without (`MODEL_FOLDER`): what the service can load is what counts as present.
 */
export async function findModel(dir: string): Promise<LocalModel | undefined> {
  for (const name of modelFolderFiles('load')) if (!(await pathExists(path.join(dir, name)))) return undefined;
  const onnx = await findOnnx(dir);
  return onnx ? { onnx, vocab: path.join(dir, 'vocab.json') } : undefined;
}

export interface EnsureModelOptions {
  /** The fetcher; default `fetchModel`. */
  fetch?: (options: FetchModelOptions) => Promise<FetchResult>;
  /** Extra options for the fetcher (progress display, retries, timeouts). */
  fetchOptions?: Partial<Omit<FetchModelOptions, 'repo' | 'revision' | 'endpoint' | 'token' | 'dir' | 'logger'>>;
}

/**
 * Makes sure MODEL_DIR holds a model before the service starts: returns at once when
 * `findModel` finds one; otherwise fetches MODEL_ID at
 * MODEL_REVISION (or the pinned commit) from HF_ENDPOINT, unless MODEL_AUTO_FETCH is false,
 * where it throws a `ModelMissingError` that names the command to run. A hub out of reach
 * (refused, DNS, a connect or response timeout) fails with `ModelFetchError('unreachable')`,
 * whose message is the whole offline advice (`offlineMessage`): main.ts prints it as it is.
 */
export async function ensureModel(
  config: Config['model'],
  logger: Logger,
  options: EnsureModelOptions = {},
): Promise<void> {
  const found = await findModel(config.dir);
  if (found) {
    logger.debug({ dir: config.dir, model: found.onnx }, 'model present');
    return;
  }
  if (!config.autoFetch) throw new ModelMissingError(config.dir, config.id);
  const revision = resolveRevision(config.id, config.revision);
  logger.info(
    { dir: config.dir, repo: config.id, revision, endpoint: config.hfEndpoint },
    `no model in ${config.dir}: fetching ${config.id}`,
  );
  await (options.fetch ?? fetchModel)({
    ...options.fetchOptions,
    repo: config.id,
    revision,
    endpoint: config.hfEndpoint,
    token: config.hfToken,
    dir: config.dir,
    logger,
  });
}
