import type { StateDict } from '../../../src/model/checkpoint/state-dict.js';
import type { Wav2Vec2Config } from '../../../src/model/wav2vec2-graph.js';

/**
 * A plain, slow forward pass of Hugging Face's `Wav2Vec2ForCTC` in float64, written directly from
 * transformers' modeling_wav2vec2.py (4.33–4.45, eval mode: dropout, SpecAugment and LayerDrop off,
 * no attention mask), independent of the ONNX graph builder: it shares only the config and state
 * dict types. Each function names the transformers module it follows.
 *
 * Layouts: the feature encoder works on one sequence at a time as [channels, time] (torch's
 * [batch, C, T] without the batch); the transformer part as [time, hidden] rows.
 */

/** [rows, cols] row-major float64 matrix. */
interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** The parameters the forward pass reads, with every key it used (so a test can find unused or missing ones). */
class Params {
  readonly used = new Set<string>();
  constructor(private readonly state: StateDict) {}

  /** The tensor stored as `name` (or, as from_pretrained also accepts, without the `wav2vec2.` prefix). */
  get(name: string, shape: readonly number[]): Float64Array {
    const candidates = [name, name.replace(/^wav2vec2\./, '')];
    for (const key of candidates) {
      const tensor = this.state.get(key);
      if (!tensor) continue;
      if (tensor.shape.length !== shape.length || tensor.shape.some((n, i) => n !== shape[i])) {
        throw new Error(`reference forward: ${key} has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}]`);
      }
      this.used.add(key);
      return Float64Array.from(tensor.data);
    }
    throw new Error(`reference forward: missing parameter ${name}`);
  }

  has(name: string): boolean {
    return this.state.has(name) || this.state.has(name.replace(/^wav2vec2\./, ''));
  }
}

// ---------------------------------------------------------------------------------------------
// Activations: transformers' ACT2FN.

/**
 * erf(x) to float64 accuracy: for |x| < 4 the series erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (2n+1)!!
 * (all terms positive, so nothing cancels), beyond it erfc's continued fraction, evaluated bottom-up.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 4) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 500 && term > 1e-17 * sum; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  }
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  let fraction = ax;
  for (let k = 120; k >= 1; k--) fraction = ax + k / 2 / fraction;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / fraction;
  return Math.sign(x) * (1 - erfc);
}

/** ACT2FN[name] as a scalar function. */
export function activationFunction(name: string): (x: number) => number {
  switch (name) {
    case 'gelu': // GELUActivation → nn.functional.gelu: exact, x · Φ(x)
      return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_new': // NewGELUActivation
    case 'gelu_pytorch_tanh': // PytorchGELUTanh → gelu(approximate="tanh"), the same formula
      return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'relu':
      return (x) => Math.max(0, x);
    case 'silu':
    case 'swish':
      return (x) => x / (1 + Math.exp(-x));
    default:
      throw new Error(`reference forward: activation ${name} is not implemented`);
  }
}

function applyInPlace(data: Float64Array, f: (x: number) => number): Float64Array {
  for (let i = 0; i < data.length; i++) data[i] = f(data[i]);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Building blocks, as torch computes them.

/**
 * nn.Conv1d forward on one sequence: input [inC, T], weight [outC, inC/groups, K], optional bias,
 * zero padding `padding` on both sides, `stride`, `groups`. Returns [outC, T'] with
 * T' = floor((T + 2·padding − K) / stride) + 1.
 */
export function conv1d(
  input: Matrix,
  weight: Float64Array,
  outChannels: number,
  kernel: number,
  options: { bias?: Float64Array; stride?: number; padding?: number; groups?: number } = {},
): Matrix {
  const { bias, stride = 1, padding = 0, groups = 1 } = options;
  const inChannels = input.rows;
  const length = input.cols;
  if (inChannels % groups !== 0 || outChannels % groups !== 0) throw new Error('conv1d: channels not divisible by groups');
  const inPerGroup = inChannels / groups;
  const outPerGroup = outChannels / groups;
  if (weight.length !== outChannels * inPerGroup * kernel) throw new Error('conv1d: weight size mismatch');
  const outLength = Math.floor((length + 2 * padding - kernel) / stride) + 1;
  const out = new Float64Array(outChannels * outLength);
  for (let o = 0; o < outChannels; o++) {
    const group = Math.floor(o / outPerGroup);
    for (let t = 0; t < outLength; t++) {
      let sum = bias ? bias[o] : 0;
      const start = t * stride - padding;
      for (let ci = 0; ci < inPerGroup; ci++) {
        const row = (group * inPerGroup + ci) * length;
        const w = (o * inPerGroup + ci) * kernel;
        for (let k = 0; k < kernel; k++) {
          const s = start + k;
          if (s >= 0 && s < length) sum += weight[w + k] * input.data[row + s];
        }
      }
      out[o * outLength + t] = sum;
    }
  }
  return { rows: outChannels, cols: outLength, data: out };
}

/** nn.LayerNorm over the last axis of [rows, cols] (biased variance), with affine weight and bias. */
export function layerNormRows(x: Matrix, weight: Float64Array, bias: Float64Array, eps: number): Matrix {
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.rows; r++) {
    const row = x.data.subarray(r * x.cols, (r + 1) * x.cols);
    let mean = 0;
    for (const v of row) mean += v;
    mean /= x.cols;
    let variance = 0;
    for (const v of row) variance += (v - mean) ** 2;
    variance /= x.cols;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < x.cols; c++) out[r * x.cols + c] = (row[c] - mean) * inv * weight[c] + bias[c];
  }
  return { rows: x.rows, cols: x.cols, data: out };
}

/** [rows, cols] → [cols, rows]. */
export function transpose(x: Matrix): Matrix {
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.rows; r++) for (let c = 0; c < x.cols; c++) out[c * x.rows + r] = x.data[r * x.cols + c];
  return { rows: x.cols, cols: x.rows, data: out };
}

/**
 * nn.GroupNorm(num_groups = C, num_channels = C, affine = True) on one [C, T] sequence: each
 * channel normalised over time (biased variance), eps 1e-5 (GroupNorm's default).
 */
export function groupNormPerChannel(x: Matrix, weight: Float64Array, bias: Float64Array, eps = 1e-5): Matrix {
  // With one channel per group the statistics are per row of [C, T]: a LayerNorm over time
  // without its affine, then the per-channel one.
  const normed = layerNormRows(x, new Float64Array(x.cols).fill(1), new Float64Array(x.cols), eps);
  for (let c = 0; c < x.rows; c++) {
    for (let t = 0; t < x.cols; t++) normed.data[c * x.cols + t] = normed.data[c * x.cols + t] * weight[c] + bias[c];
  }
  return normed;
}

/** nn.Linear: x [rows, in] · Wᵀ + b with W [out, in]. */
export function linear(x: Matrix, weight: Float64Array, bias: Float64Array, outDim: number): Matrix {
  const inDim = x.cols;
  const out = new Float64Array(x.rows * outDim);
  for (let r = 0; r < x.rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let sum = bias[o];
      for (let i = 0; i < inDim; i++) sum += x.data[r * inDim + i] * weight[o * inDim + i];
      out[r * outDim + o] = sum;
    }
  }
  return { rows: x.rows, cols: outDim, data: out };
}

function add(a: Matrix, b: Matrix): Matrix {
  if (a.rows !== b.rows || a.cols !== b.cols) throw new Error(`add: [${a.rows}, ${a.cols}] vs [${b.rows}, ${b.cols}]`);
  return { rows: a.rows, cols: a.cols, data: a.data.map((v, i) => v + b.data[i]) };
}

// ---------------------------------------------------------------------------------------------
// Wav2Vec2 modules.

/** Wav2Vec2FeatureEncoder: the conv stack on one raw sequence; returns [conv_dim[-1], frames]. */
function featureEncoder(config: Wav2Vec2Config, p: Params, samples: Float64Array): Matrix {
  const act = activationFunction(config.feat_extract_activation);
  let h: Matrix = { rows: 1, cols: samples.length, data: samples }; // input_values[:, None]
  config.conv_dim.forEach((outDim, i) => {
    const prefix = `wav2vec2.feature_extractor.conv_layers.${i}`;
    const inDim = i > 0 ? config.conv_dim[i - 1] : 1;
    const kernel = config.conv_kernel[i];
    // nn.Conv1d(in, out, kernel_size, stride, bias=config.conv_bias)
    const bias = config.conv_bias ? p.get(`${prefix}.conv.bias`, [outDim]) : undefined;
    h = conv1d(h, p.get(`${prefix}.conv.weight`, [outDim, inDim, kernel]), outDim, kernel, { bias, stride: config.conv_stride[i] });
    if (config.feat_extract_norm === 'layer') {
      // Wav2Vec2LayerNormConvLayer: transpose(-2, -1) → nn.LayerNorm(out_conv_dim) (eps 1e-5) → transpose back
      const weight = p.get(`${prefix}.layer_norm.weight`, [outDim]);
      const b = p.get(`${prefix}.layer_norm.bias`, [outDim]);
      h = transpose(layerNormRows(transpose(h), weight, b, 1e-5));
    } else if (i === 0) {
      // Wav2Vec2GroupNormConvLayer (layer 0 only; the others are Wav2Vec2NoLayerNormConvLayer)
      h = groupNormPerChannel(h, p.get(`${prefix}.layer_norm.weight`, [outDim]), p.get(`${prefix}.layer_norm.bias`, [outDim]));
    }
    applyInPlace(h.data, act);
  });
  return h;
}

/**
 * Wav2Vec2PositionalConvEmbedding on [T, hidden] rows: weight_norm(conv, dim=2) (w = g · v / ‖v‖,
 * the norm over dims 0 and 1 for each kernel tap), padding k // 2, groups, then
 * Wav2Vec2SamePadLayer (drop the last frame when k is even), then feat_extract_activation.
 */
function positionalConvEmbedding(config: Wav2Vec2Config, p: Params, hidden: Matrix): Matrix {
  const size = config.hidden_size;
  const k = config.num_conv_pos_embeddings;
  const groups = config.num_conv_pos_embedding_groups;
  const prefix = 'wav2vec2.encoder.pos_conv_embed.conv';
  const vShape = [size, size / groups, k];
  let weight: Float64Array;
  if (p.has(`${prefix}.weight_v`) || p.has(`${prefix}.parametrizations.weight.original1`)) {
    const legacy = p.has(`${prefix}.weight_v`);
    const g = p.get(legacy ? `${prefix}.weight_g` : `${prefix}.parametrizations.weight.original0`, [1, 1, k]);
    const v = p.get(legacy ? `${prefix}.weight_v` : `${prefix}.parametrizations.weight.original1`, vShape);
    // torch._weight_norm(v, g, dim=2): v * (g / norm_except_dim(v, 2, dim=2))
    const norms = new Float64Array(k);
    for (let i = 0; i < v.length; i++) norms[i % k] += v[i] * v[i];
    weight = v.map((value, i) => (value * g[i % k]) / Math.sqrt(norms[i % k]));
  } else {
    weight = p.get(`${prefix}.weight`, vShape);
  }
  const bias = p.get(`${prefix}.bias`, [size]);
  let pos = conv1d(transpose(hidden), weight, size, k, { bias, padding: Math.floor(k / 2), groups });
  if (k % 2 === 0) {
    // hidden_states[:, :, : -1]
    const frames = pos.cols - 1;
    const cut = new Float64Array(pos.rows * frames);
    for (let c = 0; c < pos.rows; c++) cut.set(pos.data.subarray(c * pos.cols, c * pos.cols + frames), c * frames);
    pos = { rows: pos.rows, cols: frames, data: cut };
  }
  applyInPlace(pos.data, activationFunction(config.feat_extract_activation));
  return transpose(pos);
}

/** Wav2Vec2Attention (eager; SDPA computes the same) on [T, hidden], no mask. */
function attention(config: Wav2Vec2Config, p: Params, prefix: string, h: Matrix): Matrix {
  const size = config.hidden_size;
  const heads = config.num_attention_heads;
  const headDim = size / heads;
  const proj = (name: string): Matrix => linear(h, p.get(`${prefix}.${name}.weight`, [size, size]), p.get(`${prefix}.${name}.bias`, [size]), size);
  // query_states = self.q_proj(hidden_states) * self.scaling, scaling = head_dim ** -0.5
  const q = proj('q_proj');
  const scaling = headDim ** -0.5;
  for (let i = 0; i < q.data.length; i++) q.data[i] *= scaling;
  const k = proj('k_proj');
  const v = proj('v_proj');
  const T = h.rows;
  const context = new Float64Array(T * size);
  const scores = new Float64Array(T);
  for (let head = 0; head < heads; head++) {
    const offset = head * headDim;
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let s = 0; s < T; s++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q.data[t * size + offset + d] * k.data[s * size + offset + d];
        scores[s] = dot;
        max = Math.max(max, dot);
      }
      let total = 0;
      for (let s = 0; s < T; s++) {
        scores[s] = Math.exp(scores[s] - max);
        total += scores[s];
      }
      for (let s = 0; s < T; s++) {
        const prob = scores[s] / total;
        for (let d = 0; d < headDim; d++) context[t * size + offset + d] += prob * v.data[s * size + offset + d];
      }
    }
  }
  // attn_output.transpose(1, 2).reshape(bsz, tgt_len, embed_dim) is this [T, heads · head_dim] layout.
  const merged: Matrix = { rows: T, cols: size, data: context };
  return linear(merged, p.get(`${prefix}.out_proj.weight`, [size, size]), p.get(`${prefix}.out_proj.bias`, [size]), size);
}

/** Wav2Vec2FeedForward: intermediate_dense → hidden_act → output_dense. */
function feedForward(config: Wav2Vec2Config, p: Params, prefix: string, h: Matrix): Matrix {
  const size = config.hidden_size;
  const inner = config.intermediate_size;
  const x = linear(
    h,
    p.get(`${prefix}.intermediate_dense.weight`, [inner, size]),
    p.get(`${prefix}.intermediate_dense.bias`, [inner]),
    inner,
  );
  applyInPlace(x.data, activationFunction(config.hidden_act));
  return linear(x, p.get(`${prefix}.output_dense.weight`, [size, inner]), p.get(`${prefix}.output_dense.bias`, [size]), size);
}

function norm(config: Wav2Vec2Config, p: Params, prefix: string, h: Matrix): Matrix {
  const size = config.hidden_size;
  return layerNormRows(h, p.get(`${prefix}.weight`, [size]), p.get(`${prefix}.bias`, [size]), config.layer_norm_eps);
}

/** Wav2Vec2Encoder (post-LN) or Wav2Vec2EncoderStableLayerNorm (pre-LN), by config.do_stable_layer_norm. */
function encoder(config: Wav2Vec2Config, p: Params, hidden: Matrix): Matrix {
  let h = add(hidden, positionalConvEmbedding(config, p, hidden));
  if (!config.do_stable_layer_norm) {
    // Wav2Vec2Encoder: hidden_states = self.layer_norm(hidden_states + position_embeddings)
    h = norm(config, p, 'wav2vec2.encoder.layer_norm', h);
    for (let l = 0; l < config.num_hidden_layers; l++) {
      const prefix = `wav2vec2.encoder.layers.${l}`;
      // Wav2Vec2EncoderLayer
      h = add(h, attention(config, p, `${prefix}.attention`, h));
      h = norm(config, p, `${prefix}.layer_norm`, h);
      h = add(h, feedForward(config, p, `${prefix}.feed_forward`, h));
      h = norm(config, p, `${prefix}.final_layer_norm`, h);
    }
    return h;
  }
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const prefix = `wav2vec2.encoder.layers.${l}`;
    // Wav2Vec2EncoderLayerStableLayerNorm
    h = add(h, attention(config, p, `${prefix}.attention`, norm(config, p, `${prefix}.layer_norm`, h)));
    h = add(h, feedForward(config, p, `${prefix}.feed_forward`, norm(config, p, `${prefix}.final_layer_norm`, h)));
  }
  // Wav2Vec2EncoderStableLayerNorm: self.layer_norm after the last layer
  return norm(config, p, 'wav2vec2.encoder.layer_norm', h);
}

/** Wav2Vec2ForCTC on one sequence of samples: logits [frames, vocab]. */
function forwardOne(config: Wav2Vec2Config, p: Params, samples: Float64Array): Matrix {
  // Wav2Vec2Model: feature_extractor → transpose(1, 2)
  const features = transpose(featureEncoder(config, p, samples));
  // Wav2Vec2FeatureProjection: layer_norm (eps = layer_norm_eps) → projection; the normed features
  // (extract_features) only feed the quantizer, the projection goes on to the encoder.
  const featureDim = config.conv_dim[config.conv_dim.length - 1];
  const normed = layerNormRows(
    features,
    p.get('wav2vec2.feature_projection.layer_norm.weight', [featureDim]),
    p.get('wav2vec2.feature_projection.layer_norm.bias', [featureDim]),
    config.layer_norm_eps,
  );
  const projected = linear(
    normed,
    p.get('wav2vec2.feature_projection.projection.weight', [config.hidden_size, featureDim]),
    p.get('wav2vec2.feature_projection.projection.bias', [config.hidden_size]),
    config.hidden_size,
  );
  const hidden = encoder(config, p, projected);
  // Wav2Vec2ForCTC: lm_head
  return linear(
    hidden,
    p.get('lm_head.weight', [config.vocab_size, config.hidden_size]),
    p.get('lm_head.bias', [config.vocab_size]),
    config.vocab_size,
  );
}

/** The result of referenceForward. */
export interface ReferenceLogits {
  /** logits [batch, frames, vocab], float64. */
  data: Float64Array;
  dims: [number, number, number];
  /** Every state-dict key the forward pass read. */
  used: Set<string>;
}

/**
 * `Wav2Vec2ForCTC(input_values).logits` for `input` [batch, samples] (row-major), computed in
 * float64 without an attention mask, each batch item on its own (as transformers does without one).
 */
export function referenceForward(config: Wav2Vec2Config, weights: StateDict, input: Float32Array, batch = 1): ReferenceLogits {
  if (input.length % batch !== 0) throw new Error('referenceForward: input length is not a multiple of batch');
  const p = new Params(weights);
  const samples = input.length / batch;
  const outputs: Matrix[] = [];
  for (let b = 0; b < batch; b++) outputs.push(forwardOne(config, p, Float64Array.from(input.subarray(b * samples, (b + 1) * samples))));
  const frames = outputs[0].rows;
  const data = new Float64Array(batch * frames * config.vocab_size);
  outputs.forEach((o, b) => data.set(o.data, b * o.data.length));
  return { data, dims: [batch, frames, config.vocab_size], used: p.used };
}
