import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StateDict } from '../../src/model/checkpoint/state-dict.js';
import { readTorchZip } from '../../src/model/checkpoint/torch-zip.js';
import {
  buildWav2Vec2Onnx,
  parseWav2Vec2Config,
  Wav2Vec2ConversionError,
  wav2vec2Parameters,
  type Wav2Vec2Config,
} from '../../src/model/wav2vec2-graph.js';
import { randomWav2Vec2Weights } from '../../testkit/random-weights.js';
import { argmax, HF_REFERENCE, maxAbsDiff, readCase, REFERENCE_INPUTS, REFERENCE_MODELS, runLogits } from './support/reference.js';

/** transformers' own conv output-length formula. */
function frames(config: Wav2Vec2Config, samples: number): number {
  return config.conv_kernel.reduce((n, k, i) => Math.floor((n - k) / config.conv_stride[i]) + 1, samples);
}

async function loadFixture(model: string): Promise<{ config: Wav2Vec2Config; weights: StateDict }> {
  const dir = path.join(HF_REFERENCE, model);
  return {
    config: parseWav2Vec2Config(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))),
    weights: await readTorchZip(path.join(dir, 'pytorch_model.bin')),
  };
}

describe.each(REFERENCE_MODELS)('%s: parity with transformers', (model) => {
  let fixture: { config: Wav2Vec2Config; weights: StateDict };
  let session: ort.InferenceSession;
  beforeAll(async () => {
    fixture = await loadFixture(model);
    session = await ort.InferenceSession.create(buildWav2Vec2Onnx(fixture.config, fixture.weights));
  });

  it.each(REFERENCE_INPUTS)('%s: logits within 1e-4, argmax ids equal', async (input) => {
    const reference = await readCase(model, input);
    const logits = await runLogits(session, reference.inputValues);
    expect(logits.dims).toEqual(reference.dims);
    expect(maxAbsDiff(logits.data, reference.logits)).toBeLessThan(1e-4);
    expect(argmax(logits.data, fixture.config.vocab_size)).toEqual(reference.argmax);
  });

  it('reads the positional conv under its parametrizations.weight.original0/1 names too', async () => {
    const renamed: StateDict = new Map(
      [...fixture.weights].map(([key, tensor]) => [
        key.replace(/weight_g$/, 'parametrizations.weight.original0').replace(/weight_v$/, 'parametrizations.weight.original1'),
        tensor,
      ]),
    );
    expect([...renamed.keys()].filter((key) => key.includes('original'))).toHaveLength(2);
    const renamedSession = await ort.InferenceSession.create(buildWav2Vec2Onnx(fixture.config, renamed));
    const reference = await readCase(model, 'xin_chao');
    const logits = await runLogits(renamedSession, reference.inputValues);
    expect(maxAbsDiff(logits.data, reference.logits)).toBeLessThan(1e-4);
  });

  it('int8 quantisation keeps the logits close', async () => {
    const quantized = await ort.InferenceSession.create(buildWav2Vec2Onnx(fixture.config, fixture.weights, { quantize: 'int8' }));
    const reference = await readCase(model, 'xin_chao');
    const logits = await runLogits(quantized, reference.inputValues);
    // Measured: 0.06–0.11 max abs on logits up to |8.7|; these untrained models' top-2 margins are tiny.
    expect(maxAbsDiff(logits.data, reference.logits)).toBeLessThan(0.3);
    const ids = argmax(logits.data, fixture.config.vocab_size);
    const agree = ids.filter((id, t) => id === reference.argmax[t]).length / ids.length;
    expect(agree).toBeGreaterThan(0.9);
  });
});

describe('other configurations', () => {
  /** A tiny large-lv60-style model: LayerNorm conv layers, conv bias, pre-LN encoder, odd pos-conv kernel. */
  const stable = parseWav2Vec2Config({
    model_type: 'wav2vec2',
    hidden_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    intermediate_size: 40,
    feat_extract_norm: 'layer',
    do_stable_layer_norm: true,
    conv_bias: true,
    conv_dim: [16, 16, 20],
    conv_kernel: [10, 3, 2],
    conv_stride: [5, 2, 2],
    num_conv_pos_embeddings: 5,
    num_conv_pos_embedding_groups: 4,
    vocab_size: 12,
  });

  it('layer-norm feature encoder with the pre-LN encoder runs with the right output shape', async () => {
    const weights = randomWav2Vec2Weights(stable, 5);
    expect(weights.has('wav2vec2.feature_extractor.conv_layers.2.layer_norm.weight')).toBe(true);
    expect(weights.has('wav2vec2.feature_extractor.conv_layers.1.conv.bias')).toBe(true);
    const session = await ort.InferenceSession.create(buildWav2Vec2Onnx(stable, weights));
    const samples = 3000;
    const input = Float32Array.from({ length: 2 * samples }, (_, i) => Math.sin(i / 7) + (i >= samples ? 0.3 : 0));
    const logits = await runLogits(session, input, 2);
    expect(logits.dims).toEqual([2, frames(stable, samples), 12]);
    expect(logits.data.every(Number.isFinite)).toBe(true);
    // Each batch item is computed on its own: the batch of two equals two runs of one.
    const second = await runLogits(session, input.subarray(samples), 1);
    expect(maxAbsDiff(logits.data.subarray(logits.data.length / 2), second.data)).toBeLessThan(1e-4);
  });

  it('random weights are deterministic and fit their config', () => {
    const a = randomWav2Vec2Weights(stable, 9);
    const b = randomWav2Vec2Weights(stable, 9);
    expect(a.get('lm_head.weight')?.data).toEqual(b.get('lm_head.weight')?.data);
    expect(a.get('lm_head.weight')?.data).not.toEqual(randomWav2Vec2Weights(stable, 10).get('lm_head.weight')?.data);
    for (const [name, shape] of wav2vec2Parameters(stable)) expect(a.get(name)?.shape).toEqual(shape);
  });

  it('lists every missing or mis-shaped parameter at once', () => {
    const weights = randomWav2Vec2Weights(stable);
    weights.delete('lm_head.bias');
    weights.delete('wav2vec2.encoder.layers.1.attention.q_proj.weight');
    weights.set('wav2vec2.encoder.layer_norm.weight', { shape: [7], data: new Float32Array(7) });
    const error = (() => {
      try {
        buildWav2Vec2Onnx(stable, weights);
      } catch (e) {
        return e;
      }
    })() as Wav2Vec2ConversionError;
    expect(error).toBeInstanceOf(Wav2Vec2ConversionError);
    expect(error.problems).toEqual([
      'wav2vec2.encoder.layer_norm.weight has shape [7], expected [24]',
      'missing wav2vec2.encoder.layers.1.attention.q_proj.weight',
      'missing lm_head.bias',
    ]);
  });

  it('refuses configs it cannot build, naming every problem', () => {
    expect(() => parseWav2Vec2Config({ add_adapter: true })).toThrow(/add_adapter/);
    expect(() => parseWav2Vec2Config({ adapter_attn_dim: 16 })).toThrow(/adapter_attn_dim/);
    expect(() => parseWav2Vec2Config({ model_type: 'hubert' })).toThrow(/model_type/);
    expect(() => parseWav2Vec2Config({ feat_extract_norm: 'batch' })).toThrow(/feat_extract_norm/);
    const error = (() => {
      try {
        parseWav2Vec2Config({ hidden_size: 10, num_attention_heads: 3, hidden_act: 'mish', conv_dim: [4, 4] });
      } catch (e) {
        return e;
      }
    })() as Wav2Vec2ConversionError;
    expect(error.problems).toHaveLength(4);
  });

  it('defaults to wav2vec2-base', () => {
    const config = parseWav2Vec2Config({});
    expect(config).toMatchObject({ hidden_size: 768, num_hidden_layers: 12, num_conv_pos_embeddings: 128, feat_extract_norm: 'group' });
  });
});
