import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readSafetensors } from './checkpoint/safetensors.js';
import { CheckpointError, type StateDict } from './checkpoint/state-dict.js';
import { readTorchZip } from './checkpoint/torch-zip.js';
import { buildWav2Vec2Onnx, parseWav2Vec2Config, Wav2Vec2ConversionError } from './wav2vec2-graph.js';
import { LM_FILE, MODEL_FOLDER } from '../core/model-files.js';
import { pathExists } from '../path-exists.js';

/** Options of convertCheckpoint. */
export interface ConvertOptions {
  /**
   * `int8`: dynamic int8 quantisation of the encoder's Linear weights, per output channel; the
   * feature projection and lm_head stay float32 (smaller, faster on CPU, slightly less exact).
   * Default: float32.
   */
  quantize?: 'int8';
}

/** What convertCheckpoint did. */
export interface ConvertResult {
  /** The written ONNX file (`<outDir>/model.onnx`). */
  modelPath: string;
  /** Its size in bytes. */
  bytes: number;
  /** The weights file that was read (model.safetensors, pytorch_model.bin, or a shard index). */
  weightsFile: string;
  /** Files of `MODEL_FOLDER.files` copied into outDir. */
  copied: string[];
  /** Files of `MODEL_FOLDER.files` the checkpoint lacks (vocab.json missing means the model cannot be decoded). */
  missing: string[];
  /** Wall-clock seconds the conversion took. */
  seconds: number;
}

/** Weights files in the order they are preferred: safetensors never runs a pickle. */
const WEIGHTS_FILES = [
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
] as const;

/**
 * Converts a Hugging Face `Wav2Vec2ForCTC` checkpoint directory (config.json plus
 * model.safetensors or pytorch_model.bin, sharded or not) into a model directory the service
 * loads: `outDir/model.onnx` (written to a temporary name, then renamed, so a half-written file
 * never becomes the model) and copies of the checkpoint's files of `MODEL_FOLDER.files`.
 * Throws CheckpointError for unreadable files and Wav2Vec2ConversionError for unsupported configs.
 */
export async function convertCheckpoint(srcDir: string, outDir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const started = performance.now();
  const configPath = path.join(srcDir, 'config.json');
  let configJson: unknown;
  try {
    configJson = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (error) {
    throw new CheckpointError(`cannot read ${configPath}: a checkpoint directory needs its config.json`, configPath, {
      cause: error,
    });
  }
  const config = parseWav2Vec2Config(configJson);
  const { file: weightsFile, weights } = await readCheckpoint(srcDir);
  let onnx: Uint8Array;
  try {
    onnx = buildWav2Vec2Onnx(config, weights, { quantize: options.quantize });
  } catch (error) {
    if (error instanceof Wav2Vec2ConversionError) {
      throw new Wav2Vec2ConversionError(`${weightsFile}: ${error.message}`, error.problems, { cause: error });
    }
    throw error;
  }
  weights.clear();

  await mkdir(outDir, { recursive: true });
  const modelPath = path.join(outDir, MODEL_FOLDER.onnx[0]);
  await atomically(modelPath, (temp) => writeFile(temp, onnx));

  const copied: string[] = [];
  const missing: string[] = [];
  const sameDir = path.resolve(srcDir) === path.resolve(outDir);
  for (const { name } of MODEL_FOLDER.files) {
    const from = path.join(srcDir, name);
    if (!(await pathExists(from))) {
      if (name !== LM_FILE) missing.push(name);
      continue;
    }
    if (!sameDir) {
      // The copies are the service's own files: writable by their owner even when the source was not.
      await atomically(path.join(outDir, name), async (temp) => {
        await copyFile(from, temp);
        await chmod(temp, 0o644);
      });
    }
    copied.push(name);
  }
  return { modelPath, bytes: onnx.byteLength, weightsFile, copied, missing, seconds: (performance.now() - started) / 1000 };
}

/**
 * Reads the weights of a checkpoint directory: model.safetensors if present, else
 * pytorch_model.bin, else a sharded index (`*.index.json` with its `weight_map`).
 */
export async function readCheckpoint(dir: string): Promise<{ file: string; weights: StateDict }> {
  for (const name of WEIGHTS_FILES) {
    const file = path.join(dir, name);
    if (!(await pathExists(file))) continue;
    if (!name.endsWith('.index.json')) {
      return { file, weights: name.endsWith('.safetensors') ? await readSafetensors(file) : await readTorchZip(file) };
    }
    const shards = await shardFiles(file);
    const weights: StateDict = new Map();
    for (const shard of shards) {
      const part = shard.endsWith('.safetensors') ? await readSafetensors(path.join(dir, shard)) : await readTorchZip(path.join(dir, shard));
      for (const [key, tensor] of part) weights.set(key, tensor);
    }
    return { file, weights };
  }
  throw new CheckpointError(
    `no model weights in ${dir}: expected one of ${WEIGHTS_FILES.join(', ')}`,
    path.join(dir, WEIGHTS_FILES[0]),
  );
}

/** The shard files a `*.index.json` names, each once, in order. */
async function shardFiles(indexFile: string): Promise<string[]> {
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexFile, 'utf8'));
  } catch (error) {
    throw new CheckpointError(`cannot read the shard index ${indexFile}`, indexFile, { cause: error });
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object') throw new CheckpointError(`${indexFile} has no weight_map`, indexFile);
  const shards = [...new Set(Object.values(map))];
  if (!shards.every((s): s is string => typeof s === 'string' && path.basename(s) === s)) {
    throw new CheckpointError(`${indexFile} names a shard outside its directory`, indexFile);
  }
  return shards;
}

/** Writes `target` through a temporary file in the same directory, renamed into place when complete. */
async function atomically(target: string, write: (temp: string) => Promise<void>): Promise<void> {
  const temp = `${target}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  try {
    await write(temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
