import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildVocabulary, type CtcVocabulary } from './ctc.js';
import { pathExists } from '../path-exists.js';

/** A model directory, read and checked: where the ONNX graph is and how to decode its output. */
export interface ModelFiles {
  dir: string;
  /** A short name for logs and results (the directory's name). */
  name: string;
  onnxPath: string;
  vocabulary: CtcVocabulary;
  /** preprocessor_config.json `do_normalize`: zero mean, unit variance per chunk. */
  doNormalize: boolean;
  samplingRate: number;
  /** `lm.arpa` beside the graph, when the folder holds one. */
  lmPath?: string;
}

export class ModelFilesError extends Error {
  override readonly name = 'ModelFilesError';
}

/**
 * Who cannot do without a file of a model folder:
 * - `load`: the service; a folder without it holds no model.
 * - `fetch`: a repo on the hub must have it. The service reads it with defaults when a folder
 *   lacks it, but for a model from the hub the defaults would be a guess at what the repo says.
 * - `convert`: converting a checkpoint; otherwise read where present.
 * - `optional`: read where present.
 */
export type ModelFileNeed = 'load' | 'fetch' | 'convert' | 'optional';

/** One file beside the ONNX graph in a model folder. */
export interface ModelFolderFile {
  name: string;
  need: ModelFileNeed;
  /** What is read from it. */
  what: string;
}

/**
 * What a model folder holds: the one table that loading, fetching, converting and the messages
 * about a missing model read, so that they cannot disagree (README.md's table is held to it).
 */
export const MODEL_FOLDER = {
  /**
   * Where the ONNX graph may be, in the order it is looked for, in a folder and in a hub repo
   * alike: top level first (where fetching and converting write it), then Transformers.js's
   * `onnx/`; full precision before quantised.
   */
  onnx: ['model.onnx', 'onnx/model.onnx', 'model_quantized.onnx', 'onnx/model_quantized.onnx'],
  /** The files beside it. */
  files: [
    { name: 'vocab.json', need: 'load', what: 'the CTC vocabulary, token to id' },
    { name: 'preprocessor_config.json', need: 'fetch', what: '`sampling_rate` (16 kHz only) and `do_normalize`; without the file, 16 kHz and true' },
    { name: 'tokenizer_config.json', need: 'optional', what: 'the pad token (the CTC blank), the word delimiter and the special tokens; by default `<pad>`, `|`, `<s>`, `</s>`, `<unk>`' },
    { name: 'special_tokens_map.json', need: 'optional', what: 'the same tokens, where tokenizer_config.json does not name them' },
    { name: 'config.json', need: 'convert', what: 'the architecture the converter builds the graph from; `pad_token_id` where no tokenizer file names the pad token' },
    { name: 'lm.arpa', need: 'optional', what: 'a word n-gram language model (ARPA, `npx viet-stt lm:build`) for the beam search, unless `LM_PATH` names another' },
  ],
} as const satisfies { onnx: readonly string[]; files: readonly ModelFolderFile[] };

/** The language model's file in a model folder: a team's own, which no checkpoint or hub holds. */
export const LM_FILE = 'lm.arpa' satisfies (typeof MODEL_FOLDER.files)[number]['name'];

/** The names of the files beside the graph whose need is one of `needs`, in the table's order. */
export function modelFolderFiles(...needs: ModelFileNeed[]): string[] {
  return MODEL_FOLDER.files.filter((file) => needs.includes(file.need)).map((file) => file.name);
}

/** What a folder needs to hold a model, in words: `model.onnx, onnx/model.onnx, … or …, and vocab.json`. */
export function modelFolderNeeds(): string {
  const onnx = MODEL_FOLDER.onnx;
  return `${onnx.slice(0, -1).join(', ')} or ${onnx.at(-1)}, and ${modelFolderFiles('load').join(', ')}`;
}

/** Finds the ONNX graph in `dir`, or undefined. */
export async function findOnnx(dir: string): Promise<string | undefined> {
  for (const candidate of MODEL_FOLDER.onnx) {
    const file = path.join(dir, candidate);
    if (await pathExists(file)) return file;
  }
  return undefined;
}

/**
 * Reads a model directory as {@link MODEL_FOLDER} describes it: the first ONNX graph found, the
 * files the service needs, and the others where present.
 */
export async function loadModelFiles(dir: string): Promise<ModelFiles> {
  const onnxPath = await findOnnx(dir);
  if (!onnxPath) throw new ModelFilesError(`no ONNX graph in ${dir}: a model folder holds ${modelFolderNeeds()}`);
  const json: Record<string, Record<string, unknown> | undefined> = {};
  for (const file of MODEL_FOLDER.files) if (file.name.endsWith('.json')) json[file.name] = await readJson(dir, file.name, file.need === 'load');
  const preprocessor = json['preprocessor_config.json'] ?? {};
  const vocabulary = buildVocabulary({
    vocab: json['vocab.json'] as Record<string, number>,
    tokenizerConfig: json['tokenizer_config.json'],
    specialTokensMap: json['special_tokens_map.json'],
    config: json['config.json'],
  });
  const samplingRate = typeof preprocessor.sampling_rate === 'number' ? preprocessor.sampling_rate : 16_000;
  if (samplingRate !== 16_000) throw new ModelFilesError(`the model expects ${samplingRate} Hz audio; only 16 kHz models are supported`);
  return {
    dir,
    name: path.basename(dir),
    onnxPath,
    vocabulary,
    doNormalize: preprocessor.do_normalize !== false,
    samplingRate,
    ...((await pathExists(path.join(dir, LM_FILE))) && { lmPath: path.join(dir, LM_FILE) }),
  };
}

async function readJson(dir: string, file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const full = path.join(dir, file);
  if (!(await pathExists(full))) {
    if (required) throw new ModelFilesError(`${file} is missing from ${dir}`);
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(await readFile(full, 'utf8'));
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new ModelFilesError(`${file} in ${dir} is not valid JSON`, { cause: error });
  }
}
