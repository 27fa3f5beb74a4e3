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
}

export class ModelFilesError extends Error {
  override readonly name = 'ModelFilesError';
}

/** The ONNX file of a model directory, in the order they are looked for. */
export const ONNX_CANDIDATES = ['model.onnx', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'model_quantized.onnx'];

/** Finds the ONNX graph in `dir`, or undefined. */
export async function findOnnx(dir: string): Promise<string | undefined> {
  for (const candidate of ONNX_CANDIDATES) {
    const file = path.join(dir, candidate);
    if (await pathExists(file)) return file;
  }
  return undefined;
}

/**
 * Reads a model directory: the ONNX graph (`model.onnx` or `onnx/model.onnx`), `vocab.json`,
 * `preprocessor_config.json`, and `tokenizer_config.json`, `special_tokens_map.json` and
 * `config.json` where present.
 */
export async function loadModelFiles(dir: string): Promise<ModelFiles> {
  const onnxPath = await findOnnx(dir);
  if (!onnxPath) throw new ModelFilesError(`no model.onnx or onnx/model.onnx in ${dir}`);
  const vocab = await readJson(dir, 'vocab.json', true);
  const preprocessor = (await readJson(dir, 'preprocessor_config.json', false)) ?? {};
  const vocabulary = buildVocabulary({
    vocab: vocab as Record<string, number>,
    tokenizerConfig: await readJson(dir, 'tokenizer_config.json', false),
    specialTokensMap: await readJson(dir, 'special_tokens_map.json', false),
    config: await readJson(dir, 'config.json', false),
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
  };
}

async function readJson(dir: string, file: string, required: true): Promise<Record<string, unknown>>;
async function readJson(dir: string, file: string, required: false): Promise<Record<string, unknown> | undefined>;
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
