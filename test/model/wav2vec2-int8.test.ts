import { readFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTorchZip } from '../../src/model/checkpoint/torch-zip.js';
import { ELEMENT_TYPE } from '../../src/onnx/graph-builder.js';
import { buildWav2Vec2Onnx, parseWav2Vec2Config } from '../../src/model/wav2vec2-graph.js';
import { randomWav2Vec2Weights } from '../../testkit/random-weights.js';
import { argmax, HF_REFERENCE, maxAbsDiff, readCase, REFERENCE_INPUTS, REFERENCE_MODELS, runLogits } from './support/reference.js';

/**
 * `--quantize int8`: which MatMuls are int8 and how their weights are scaled, and how far the
 * int8 graph's logits move from the float32 graph's on the transformers reference checkpoints.
 */

describe('the int8 graph', () => {
  const config = parseWav2Vec2Config({
    model_type: 'wav2vec2',
    hidden_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    intermediate_size: 40,
    conv_dim: [16, 16, 20],
    conv_kernel: [10, 3, 2],
    conv_stride: [5, 2, 2],
    num_conv_pos_embeddings: 6,
    num_conv_pos_embedding_groups: 4,
    vocab_size: 12,
  });
  const model = onnxProto.onnx.ModelProto.decode(buildWav2Vec2Onnx(config, randomWav2Vec2Weights(config, 5), { quantize: 'int8' }));
  const nodes = model.graph?.node ?? [];
  const initializers = new Map((model.graph?.initializer ?? []).map((t) => [t.name as string, t]));
  const producer = new Map(nodes.flatMap((n) => (n.output as string[]).map((out) => [out, n] as const)));

  it('quantises the encoder layers\' four MatMuls; the feature projection and lm_head stay float32', () => {
    const integer = nodes.filter((n) => n.opType === 'MatMulInteger');
    expect(integer).toHaveLength(4 * config.num_hidden_layers);
    const float = nodes.filter((n) => n.opType === 'MatMul').map((n) => (n.input as string[])[1]);
    expect(float.sort()).toEqual(['lm_head.weight_t', 'wav2vec2.feature_projection.projection.weight_t']);
    for (const name of float) expect(initializers.get(name)?.dataType).toBe(ELEMENT_TYPE.float);
  });

  it('stores each quantised weight as int8 [in, out] with one float32 scale per output channel', () => {
    for (const node of nodes.filter((n) => n.opType === 'MatMulInteger')) {
      const weight = initializers.get((node.input as string[])[1]);
      expect(weight?.dataType).toBe(ELEMENT_TYPE.int8);
      const [, columns] = (weight?.dims ?? []).map(Number);
      // MatMulInteger → Cast → Mul(·, x_scale · w_scale)
      const cast = nodes.find((n) => n.opType === 'Cast' && (n.input as string[])[0] === node.output?.[0]);
      const rescale = nodes.find((n) => n.opType === 'Mul' && (n.input as string[])[0] === cast?.output?.[0]);
      const scaleMul = producer.get((rescale?.input as string[])[1]);
      expect(scaleMul?.opType).toBe('Mul');
      const scale = initializers.get((scaleMul?.input as string[])[1]);
      expect(scale?.dataType).toBe(ELEMENT_TYPE.float);
      expect((scale?.dims ?? []).map(Number)).toEqual([columns]);
    }
  });
});

describe.each(REFERENCE_MODELS)('%s: int8 against float32', (name) => {
  let float: ort.InferenceSession;
  let int8: ort.InferenceSession;
  beforeAll(async () => {
    const dir = path.join(HF_REFERENCE, name);
    const config = parseWav2Vec2Config(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')));
    const weights = await readTorchZip(path.join(dir, 'pytorch_model.bin'));
    float = await ort.InferenceSession.create(buildWav2Vec2Onnx(config, weights), { graphOptimizationLevel: 'all' });
    int8 = await ort.InferenceSession.create(buildWav2Vec2Onnx(config, weights, { quantize: 'int8' }), { graphOptimizationLevel: 'all' });
  });

  it.each(REFERENCE_INPUTS)('%s: logits within 0.02 of float32; every frame not a near tie keeps its token', async (input) => {
    const { inputValues } = await readCase(name, input);
    const reference = await runLogits(float, inputValues);
    const quantised = await runLogits(int8, inputValues);
    expect(quantised.dims).toEqual(reference.dims);
    // Measured: up to 0.0031 (logits up to 8.7); quantising the feature projection too gave 0.11.
    expect(maxAbsDiff(quantised.data, reference.data)).toBeLessThan(0.02);
    // A frame whose float32 top two are more than twice that bound apart cannot change token,
    // whatever the CPU's int8 kernel rounds; they are over 90% of the frames.
    const vocab = reference.dims[2];
    const ids = argmax(quantised.data, vocab);
    const clear = argmax(reference.data, vocab).flatMap((id, t) => (topTwoGap(reference.data.subarray(t * vocab, (t + 1) * vocab)) > 0.04 ? [[id, ids[t]]] : []));
    expect(clear.length / ids.length).toBeGreaterThan(0.9);
    for (const [a, b] of clear) expect(b).toBe(a);
  });
});

/** The difference between a frame's largest and second largest logit. */
function topTwoGap(logits: Float32Array): number {
  const [first, second] = [...logits].sort((a, b) => b - a);
  return first - second;
}
