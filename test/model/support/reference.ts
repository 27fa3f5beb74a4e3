import path from 'node:path';
import ort from 'onnxruntime-node';
import { HF_REFERENCE, readF32, readReference } from '../../support/fixtures.js';

export { HF_REFERENCE };

/** The reference models and their inputs. */
export const REFERENCE_MODELS = ['fixture-tiny', 'fixture-tiny-padlast'] as const;
export const REFERENCE_INPUTS = ['xin_chao', 'xin_chao_f32', 'sine440_3s'] as const;

/** One reference case: the model input, transformers' logits and argmax ids. */
export async function readCase(
  model: string,
  input: string,
): Promise<{ inputValues: Float32Array; logits: Float32Array; dims: number[]; argmax: number[] }> {
  const dir = path.join(HF_REFERENCE, model, 'reference');
  const meta = await readReference(model, input);
  return {
    inputValues: await readF32(path.join(dir, `${input}.input_values.f32.bin`)),
    logits: await readF32(path.join(dir, `${input}.logits.f32.bin`)),
    dims: meta.logits_dims,
    argmax: meta.argmax_ids,
  };
}

/** Runs an ONNX model on one [batch, samples] input; returns the logits and their dims. */
export async function runLogits(
  session: ort.InferenceSession,
  input: Float32Array,
  batch = 1,
): Promise<{ data: Float32Array; dims: number[] }> {
  const out = await session.run({ input_values: new ort.Tensor('float32', input, [batch, input.length / batch]) });
  return { data: out.logits.data as Float32Array, dims: [...out.logits.dims] };
}

/** Per-frame argmax over the last axis. */
export function argmax(logits: Float32Array, vocab: number): number[] {
  const ids: number[] = [];
  for (let t = 0; t < logits.length / vocab; t++) {
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
    ids.push(best);
  }
  return ids;
}

/** max |a − b|. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
