import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MS_DOMAIN } from '../../src/onnx/graph-builder.js';
import { buildWav2Vec2Onnx, parseWav2Vec2Config } from '../../src/model/wav2vec2-graph.js';
import { randomWav2Vec2Weights } from '../../testkit/random-weights.js';

/**
 * The graph's speed rests on fused kernels: MultiHeadAttention, which the converter writes
 * itself, and the ones onnxruntime's CPU optimiser makes at level 'all' from the patterns the
 * converter writes for them (Gelu and BiasGelu from the erf GELU, DynamicQuantizeMatMul from the
 * int8 MatMuls). These tests hold both to their op types, so that a change to the graph that
 * quietly falls back to elementary ops fails here rather than only in the benchmark.
 */

/** op type (prefixed with its domain when not the default one) → count. */
function opCounts(bytes: Uint8Array): Map<string, number> {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const counts = new Map<string, number>();
  for (const node of model.graph?.node ?? []) {
    const key = node.domain ? `${node.domain}:${node.opType}` : (node.opType as string);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const BASE = {
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
};

const CASES = [
  { name: 'post-LN, group-norm conv layer', config: { feat_extract_norm: 'group', do_stable_layer_norm: false } },
  { name: 'pre-LN, layer-norm conv layers, conv_bias', config: { feat_extract_norm: 'layer', do_stable_layer_norm: true, conv_bias: true } },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fusion-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What onnxruntime's CPU provider makes of `bytes` at graph optimisation level 'all'. */
async function optimised(bytes: Uint8Array, name: string): Promise<Map<string, number>> {
  const file = path.join(dir, `${name}.onnx`);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    optimizedModelFilePath: file,
    logSeverityLevel: 3, // the saved model's "hardware specific" warning
  });
  await session.release();
  return opCounts(await readFile(file));
}

describe.each(CASES)('$name', ({ name, config: overrides }) => {
  const config = parseWav2Vec2Config({ ...BASE, ...overrides });
  const layers = config.num_hidden_layers;
  const weights = randomWav2Vec2Weights(config, 3);
  const float = buildWav2Vec2Onnx(config, weights);
  const int8 = buildWav2Vec2Onnx(config, weights, { quantize: 'int8' });

  it('writes one MultiHeadAttention per layer, imports its domain, and no elementary attention', () => {
    const model = onnxProto.onnx.ModelProto.decode(float);
    expect(model.opsetImport.map(({ domain, version }) => [domain, Number(version)])).toEqual([
      ['', 17],
      [MS_DOMAIN, 1],
    ]);
    const ops = opCounts(float);
    expect(ops.get(`${MS_DOMAIN}:MultiHeadAttention`)).toBe(layers);
    expect(ops.has('Softmax')).toBe(false);
    // Every LayerNorm is one LayerNormalization node: two per layer, the feature projection's,
    // the encoder's, and for feat_extract_norm "layer" one per conv layer.
    const convNorms = config.feat_extract_norm === 'layer' ? config.conv_dim.length : 0;
    expect(ops.get('LayerNormalization')).toBe(2 * layers + 2 + convNorms);
  });

  it("float32: onnxruntime fuses every GELU (BiasGelu after intermediate_dense) and keeps the attention fused", async () => {
    const ops = await optimised(float, `${name}-float`);
    expect(ops.get(`${MS_DOMAIN}:MultiHeadAttention`)).toBe(layers);
    expect(ops.get(`${MS_DOMAIN}:BiasGelu`)).toBe(layers);
    // The conv stack's and the positional conv's GELUs.
    expect(ops.get(`${MS_DOMAIN}:Gelu`)).toBe(config.conv_dim.length + 1);
    for (const op of ['Erf', 'Softmax', 'Div']) expect(ops.has(op)).toBe(false);
  });

  it('int8: every quantised MatMul becomes one of onnxruntime\'s fused int8 kernels, with its per-column scales', async () => {
    const ops = await optimised(int8, `${name}-int8`);
    expect(ops.get(`${MS_DOMAIN}:MultiHeadAttention`)).toBe(layers);
    // Per layer: qkv, out_proj, intermediate_dense, output_dense.
    expect(ops.get(`${MS_DOMAIN}:DynamicQuantizeMatMul`)).toBe(4 * layers);
    for (const op of ['MatMulInteger', 'DynamicQuantizeLinear', 'Cast', 'Erf', 'Softmax']) expect(ops.has(op)).toBe(false);
    expect(ops.get('MatMul')).toBe(2); // the feature projection and lm_head stay float32
    // b_scale holds one scale per column of B.
    const model = onnxProto.onnx.ModelProto.decode(await readFile(path.join(dir, `${name}-int8.onnx`)));
    const dims = new Map((model.graph?.initializer ?? []).map((t) => [t.name as string, (t.dims ?? []).map(Number)]));
    const fused = (model.graph?.node ?? []).filter((n) => n.opType === 'DynamicQuantizeMatMul');
    for (const node of fused) {
      const [, b, scale] = node.input as string[];
      const columns = (dims.get(b) ?? [])[1];
      expect(columns).toBeGreaterThan(1);
      expect(dims.get(scale)).toEqual([columns]);
    }
    // The biases of out_proj and both feed-forward MatMuls are folded in (DynamicQuantizeMatMul's
    // fifth input; q/k/v's is MultiHeadAttention's), so the Adds left are the two residuals per
    // layer, the positional embedding's, and the float feature projection's and lm_head's biases.
    expect(fused.filter((n) => (n.input as string[])[4]).length).toBe(3 * layers);
    expect(ops.get('Add')).toBe(2 * layers + 3);
  });
});
