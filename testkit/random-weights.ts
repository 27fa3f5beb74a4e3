import type { StateDict } from '../src/model/checkpoint/state-dict.js';
import { parseWav2Vec2Config, wav2vec2Parameters, type Wav2Vec2Config } from '../src/model/wav2vec2-graph.js';

/** The configuration of a wav2vec2-base CTC model (as khanhld/wav2vec2-base-vietnamese-160h), for the benchmark. */
export function wav2vec2BaseConfig(vocabSize = 110): Wav2Vec2Config {
  return parseWav2Vec2Config({ model_type: 'wav2vec2', vocab_size: vocabSize });
}

/**
 * A deterministic random state dict for `config` (every parameter `Wav2Vec2ForCTC` loads, with
 * the canonical names), initialised as transformers does, with norms and biases perturbed so that
 * none is an identity. For benchmarks and tests; never a trained model.
 */
export function randomWav2Vec2Weights(config: Wav2Vec2Config, seed = 1): StateDict {
  const random = gaussian(seed);
  const fill = (n: number, std: number, mean = 0): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * random();
    return out;
  };
  const state: StateDict = new Map();
  for (const [name, shape] of wav2vec2Parameters(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (/norm\.weight$/.test(name)) data = fill(n, 0.1, 1);
    else if (name.endsWith('.bias')) data = fill(n, 0.05);
    else if (name.endsWith('conv.weight_v')) data = fill(n, 2 * Math.sqrt(1 / (shape[1] * shape[2])));
    else if (name.endsWith('conv.weight_g')) data = fill(n, 0.1, 1); // scaled by ‖v‖ below
    else if (name.includes('conv_layers')) data = fill(n, Math.sqrt(2 / (shape[1] * shape[2]))); // kaiming
    else if (name === 'lm_head.weight') data = fill(n, 0.4);
    else data = fill(n, 0.02);
    state.set(name, { shape, data });
  }
  // weight_g starts as ‖v‖ per kernel tap, as weight_norm initialises it (then perturbed above).
  const g = state.get('wav2vec2.encoder.pos_conv_embed.conv.weight_g') as { data: Float32Array };
  const v = state.get('wav2vec2.encoder.pos_conv_embed.conv.weight_v') as { data: Float32Array };
  const k = g.data.length;
  for (let t = 0; t < k; t++) {
    let sum = 0;
    for (let i = t; i < v.data.length; i += k) sum += v.data[i] * v.data[i];
    g.data[t] *= Math.sqrt(sum);
  }
  return state;
}

/** Standard normal samples from a seeded mulberry32 generator (Box–Muller). */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}
