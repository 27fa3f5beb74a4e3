import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Hugging Face reference fixtures, kept in the project (test/fixtures/hf-reference, see its
 * README): checkpoints, inputs, and the logits and transcripts transformers computed for them.
 */
export const HF_REFERENCE = fileURLToPath(new URL('../fixtures/hf-reference/', import.meta.url));

/** A raw little-endian float32 file. */
export async function readF32(file: string): Promise<Float32Array> {
  const bytes = await readFile(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export interface ReferenceCase {
  argmax_ids: number[];
  text: string;
  logits_dims: number[];
}

export async function readReference(model: string, input: string): Promise<ReferenceCase> {
  return JSON.parse(await readFile(path.join(HF_REFERENCE, model, 'reference', `${input}.json`), 'utf8')) as ReferenceCase;
}
