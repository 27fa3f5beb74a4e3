import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StateDict } from '../../src/model/checkpoint/state-dict.js';
import { readTorchZip } from '../../src/model/checkpoint/torch-zip.js';
import { buildWav2Vec2Onnx, parseWav2Vec2Config, type Wav2Vec2Config } from '../../src/model/wav2vec2-graph.js';
import { randomWav2Vec2Weights } from '../../testkit/random-weights.js';
import { argmax, HF_REFERENCE, maxAbsDiff, readCase, REFERENCE_INPUTS, REFERENCE_MODELS, runLogits } from './support/reference.js';
import { activationFunction, erf, referenceForward } from './support/reference-forward.js';

/**
 * The config branches the transformers fixtures do not cover (LayerNorm conv layers, conv bias,
 * the pre-LN "stable" encoder, even positional-conv kernels, layer_norm_eps, other activations),
 * checked numerically: the ONNX graph against a plain float64 forward pass written from
 * transformers' modeling_wav2vec2.py (support/reference-forward.ts), which is itself checked
 * against transformers' own logits on the fixtures first.
 */

async function loadFixture(model: string): Promise<{ config: Wav2Vec2Config; weights: StateDict }> {
  const dir = path.join(HF_REFERENCE, model);
  return {
    config: parseWav2Vec2Config(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))),
    weights: await readTorchZip(path.join(dir, 'pytorch_model.bin')),
  };
}

describe('the reference forward pass', () => {
  it('computes erf and the activations to float64 accuracy', () => {
    // Python's math.erf to 16 digits.
    const known: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [3.9, 0.9999999652077514],
      [4.2, 0.9999999971445058],
      [5, 0.9999999999984626],
    ];
    for (const [x, value] of known) {
      expect(Math.abs(erf(x) - value)).toBeLessThan(1e-13);
      expect(Math.abs(erf(-x) + value)).toBeLessThan(1e-13);
    }
    // 1 − erf near the switch between the series and the continued fraction (erfc(4) = 1.541725790028002e-8).
    expect(Math.abs(1 - erf(4) - 1.541725790028002e-8)).toBeLessThan(1e-15);
    const gelu = activationFunction('gelu');
    expect(gelu(1)).toBeCloseTo(0.8413447460685429, 14); // Φ(1)
    expect(gelu(-2)).toBeCloseTo(-0.04550026389635842, 14);
    expect(activationFunction('gelu_new')(1)).toBeCloseTo(0.8411919906082768, 14);
  });

  describe.each(REFERENCE_MODELS)('%s', (model) => {
    let fixture: { config: Wav2Vec2Config; weights: StateDict };
    beforeAll(async () => {
      fixture = await loadFixture(model);
    });

    it.each(REFERENCE_INPUTS)("%s: matches transformers' logits within 1e-4, argmax ids equal", async (input) => {
      const reference = await readCase(model, input);
      const ours = referenceForward(fixture.config, fixture.weights, reference.inputValues);
      expect(ours.dims).toEqual(reference.dims);
      const logits = Float32Array.from(ours.data);
      expect(maxAbsDiff(logits, reference.logits)).toBeLessThan(1e-4);
      expect(argmax(logits, fixture.config.vocab_size)).toEqual(reference.argmax);
    });
  });
});

/** A deterministic test signal: two tones and uniform noise, times `scale`. */
function signal(samples: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: samples }, (_, i) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return scale * (Math.sin(i * 0.011 * seed) + 0.5 * Math.sin(i * 0.21 + seed) + (state / 2 ** 32 - 0.5));
  });
}

/** Tiny configs; every variant overrides what it tests. */
const BASE = {
  model_type: 'wav2vec2',
  hidden_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 3,
  intermediate_size: 40,
  conv_dim: [16, 16, 20],
  conv_kernel: [10, 3, 2],
  conv_stride: [5, 2, 2],
  num_conv_pos_embedding_groups: 4,
  vocab_size: 12,
};

interface Variant {
  name: string;
  config: Record<string, unknown>;
  /** Input amplitude: small inputs make the conv-stack norms' eps matter. */
  scale?: number;
}

const VARIANTS: Variant[] = [
  {
    name: '(a) layer-norm conv layers, conv_bias, pre-LN encoder, odd pos-conv kernel (large-lv60 style)',
    config: { feat_extract_norm: 'layer', conv_bias: true, do_stable_layer_norm: true, num_conv_pos_embeddings: 5 },
  },
  {
    name: '(b) layer-norm conv layers, pre-LN encoder, even pos-conv kernel',
    config: { feat_extract_norm: 'layer', conv_bias: false, do_stable_layer_norm: true, num_conv_pos_embeddings: 8 },
  },
  {
    name: '(c) group-norm conv layer, conv_bias, post-LN encoder, even pos-conv kernel',
    config: { feat_extract_norm: 'group', conv_bias: true, do_stable_layer_norm: false, num_conv_pos_embeddings: 6 },
  },
  {
    name: '(d) layer_norm_eps 1e-3, gelu, layer-norm conv layers, post-LN encoder, quiet input',
    config: { feat_extract_norm: 'layer', layer_norm_eps: 1e-3, hidden_act: 'gelu', num_conv_pos_embeddings: 7 },
    scale: 0.01,
  },
  {
    name: '(d) layer_norm_eps 1e-3, group-norm conv layer, pre-LN encoder, quiet input',
    config: { feat_extract_norm: 'group', layer_norm_eps: 1e-3, do_stable_layer_norm: true, num_conv_pos_embeddings: 4 },
    scale: 0.01,
  },
  {
    name: '(e) hidden_act gelu_new, feat_extract_activation relu',
    config: { feat_extract_norm: 'layer', hidden_act: 'gelu_new', feat_extract_activation: 'relu', num_conv_pos_embeddings: 5 },
  },
  {
    name: '(e) hidden_act relu, feat_extract_activation gelu_pytorch_tanh, pre-LN',
    config: {
      feat_extract_norm: 'group',
      hidden_act: 'relu',
      feat_extract_activation: 'gelu_pytorch_tanh',
      do_stable_layer_norm: true,
      num_conv_pos_embeddings: 6,
    },
  },
  {
    name: '(e) hidden_act silu, feat_extract_activation swish, pos-conv groups 1',
    config: {
      feat_extract_norm: 'layer',
      hidden_act: 'silu',
      feat_extract_activation: 'swish',
      num_conv_pos_embeddings: 3,
      num_conv_pos_embedding_groups: 1,
    },
  },
];

/** Inputs: [samples per item, batch]; 450 samples make 19 frames, 2100 make 104, 3000 make 149. */
const INPUTS: [number, number][] = [
  [450, 1],
  [2100, 1],
  [3000, 2],
];

describe.each(VARIANTS)('$name', ({ config: overrides, scale = 1 }) => {
  const config = parseWav2Vec2Config({ ...BASE, ...overrides });
  const weights = randomWav2Vec2Weights(config, 7);
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(buildWav2Vec2Onnx(config, weights));
  });

  it('the reference reads exactly the parameters the converter expects', () => {
    const reference = referenceForward(config, weights, signal(450, 1, scale));
    expect([...reference.used].sort()).toEqual([...weights.keys()].sort());
  });

  it.each(INPUTS)('%i samples × batch %i: ONNX logits within 1e-4 of the reference, argmax equal', async (samples, batch) => {
    const input = new Float32Array(samples * batch);
    // Seeds chosen so that every frame's top-2 logit gap is ≥ 2e-3 (the ONNX-vs-reference error is ~3e-6),
    // so the argmax comparison cannot flip on another CPU's rounding.
    for (let b = 0; b < batch; b++) input.set(signal(samples, 11 + b, scale), b * samples);
    const expected = referenceForward(config, weights, input, batch);
    const logits = await runLogits(session, input, batch);
    expect(logits.dims).toEqual(expected.dims);
    const reference = Float32Array.from(expected.data);
    // The logits are not small, so 1e-4 is a tight bound on them.
    expect(Math.max(...reference.map(Math.abs))).toBeGreaterThan(0.5);
    expect(maxAbsDiff(logits.data, reference)).toBeLessThan(1e-4);
    expect(argmax(logits.data, config.vocab_size)).toEqual(argmax(reference, config.vocab_size));
  });
});
