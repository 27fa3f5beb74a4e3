/**
 * What the benches share: the model with wav2vec2-base's shape and cost (random weights, built
 * here on demand, float32 and int8), and a session opened as the inference worker opens one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { buildWav2Vec2Onnx } from '../src/model/wav2vec2-graph.js';
import { randomWav2Vec2Weights, wav2vec2BaseConfig } from '../testkit/random-weights.js';
import { TONE_ALPHABET } from '../testkit/tone-model.js';

/**
 * The cached models are named after the converter's sources and the weights' generator, so a
 * change to the graph it writes or to the weights builds them anew rather than measuring the old.
 */
const GRAPH_VERSION = createHash('sha256')
  .update(readFileSync(fileURLToPath(new URL('../src/model/wav2vec2-graph.ts', import.meta.url))))
  .update(readFileSync(fileURLToPath(new URL('../src/onnx/graph-builder.ts', import.meta.url))))
  .update(readFileSync(fileURLToPath(new URL('../testkit/random-weights.ts', import.meta.url))))
  .digest('hex')
  .slice(0, 10);

/** The base-shaped model, float32. */
export const MODEL_DIR = path.resolve(`.cache/bench-base-model-${GRAPH_VERSION}`);
/** The same weights with int8 dynamic quantisation of the MatMuls (`--quantize int8`). */
export const INT8_MODEL_DIR = path.resolve(`.cache/bench-base-model-${GRAPH_VERSION}-int8`);

/** The base-shaped model's vocabulary: the tone letters, the specials, filler up to 110 tokens, `<pad>` last. */
export function baseVocab(): Record<string, number> {
  const tokens = [...TONE_ALPHABET, '<s>', '</s>', '<unk>'];
  return Object.fromEntries([...tokens, ...Array.from({ length: 110 - tokens.length - 1 }, (_, i) => `x${i}`), '<pad>'].map((t, i) => [t, i]));
}

/** Builds both models (one set of random weights) unless they are there; says so on stderr. */
export async function ensureBaseModel(): Promise<void> {
  if (existsSync(path.join(MODEL_DIR, 'model.onnx')) && existsSync(path.join(INT8_MODEL_DIR, 'model.onnx'))) return;
  const vocab = baseVocab();
  const config = wav2vec2BaseConfig(Object.keys(vocab).length);
  process.stderr.write('building the random wav2vec2-base model, float32 and int8… ');
  const weights = randomWav2Vec2Weights(config);
  for (const [dir, quantize] of [[MODEL_DIR, undefined], [INT8_MODEL_DIR, 'int8']] as const) {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.onnx'), buildWav2Vec2Onnx(config, weights, { quantize }));
    await writeFile(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    await writeFile(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ do_normalize: true, sampling_rate: 16000 }));
  }
  process.stderr.write('done\n');
}

/** A session with the inference worker's options, on this thread: a model folder's model.onnx, or ONNX bytes. */
export function openSession(model: string | Uint8Array, threads: number): Promise<ort.InferenceSession> {
  // As the service's pool does: onnxruntime writes no telemetry files and sends nothing.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  return typeof model === 'string' ? ort.InferenceSession.create(path.join(model, 'model.onnx'), options) : ort.InferenceSession.create(model, options);
}

/** Levenshtein distance between two sequences (token ids, or a string's characters). */
export function editDistance<T>(a: readonly T[], b: readonly T[]): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
}
