import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** The Hugging Face reference fixtures, read in place from ../shared. */
export const HF_REFERENCE = path.resolve('../shared/fixtures/hf-reference');

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
