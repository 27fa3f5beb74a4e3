import { z } from 'zod';
import { GraphBuilder } from '../onnx/graph-builder.js';
import type { StateDict } from './checkpoint/state-dict.js';

/**
 * The ONNX graph of Hugging Face's `Wav2Vec2ForCTC` (transformers' modeling_wav2vec2.py), in
 * inference mode: dropout, SpecAugment masking and LayerDrop are training-only and left out.
 *
 *   input_values [batch, samples]
 *   → feature encoder: conv layers (+ GroupNorm on layer 0 for "group", LayerNorm over channels on
 *     every layer for "layer"), activation
 *   → feature projection: LayerNorm, Linear
 *   → encoder: + positional conv embedding (weight-normed grouped conv, padding k//2, last frame
 *     dropped when k is even, activation); post-LN (LayerNorm, then layers of attention → residual →
 *     LayerNorm → feed-forward → residual → LayerNorm) or pre-LN (`do_stable_layer_norm`: layers of
 *     LayerNorm → attention → residual → LayerNorm → feed-forward → residual, then a final LayerNorm)
 *   → lm_head → logits [batch, frames, vocab]
 *
 * Written for onnxruntime's CPU provider at graph optimisation level 'all': attention is
 * com.microsoft MultiHeadAttention (one kernel, flash attention on CPU), each LayerNorm is one
 * LayerNormalization, and GELU is written in the erf form that onnxruntime fuses into Gelu (and,
 * after a Linear, BiasGelu). test/model/wav2vec2-fusion.test.ts holds the graph to those ops.
 */

const positive = z.number().int().positive();

/** config.json fields the graph depends on, with Wav2Vec2Config's defaults. Other fields are ignored. */
const configSchema = z.object({
  model_type: z.string().optional(),
  hidden_size: positive.default(768),
  num_hidden_layers: positive.default(12),
  num_attention_heads: positive.default(12),
  intermediate_size: positive.default(3072),
  hidden_act: z.string().default('gelu'),
  feat_extract_activation: z.string().default('gelu'),
  feat_extract_norm: z.enum(['group', 'layer']).default('group'),
  num_feat_extract_layers: positive.optional(),
  conv_dim: z.array(positive).min(1).default([512, 512, 512, 512, 512, 512, 512]),
  conv_stride: z.array(positive).min(1).default([5, 2, 2, 2, 2, 2, 2]),
  conv_kernel: z.array(positive).min(1).default([10, 3, 3, 3, 3, 2, 2]),
  conv_bias: z.boolean().default(false),
  num_conv_pos_embeddings: positive.default(128),
  num_conv_pos_embedding_groups: positive.default(16),
  do_stable_layer_norm: z.boolean().default(false),
  layer_norm_eps: z.number().positive().default(1e-5),
  vocab_size: positive.default(32),
  add_adapter: z.boolean().default(false),
  adapter_attn_dim: positive.nullable().default(null),
});

/** A validated wav2vec2 configuration (config.json's names). */
export type Wav2Vec2Config = z.output<typeof configSchema>;

/** Activations of transformers' ACT2FN that the graph can build. */
const ACTIVATIONS = ['gelu', 'relu', 'gelu_new', 'gelu_pytorch_tanh', 'silu', 'swish'] as const;

/** The config or weights cannot be turned into a graph; the message lists every problem found. */
export class Wav2Vec2ConversionError extends Error {
  override readonly name = 'Wav2Vec2ConversionError';
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/**
 * Validates config.json's contents for `Wav2Vec2ForCTC` and fills in Wav2Vec2Config's defaults.
 * Every problem is reported at once in a Wav2Vec2ConversionError.
 */
export function parseWav2Vec2Config(json: unknown): Wav2Vec2Config {
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`);
    throw new Wav2Vec2ConversionError(`config.json is not a wav2vec2 config:\n  ${problems.join('\n  ')}`, problems, {
      cause: parsed.error,
    });
  }
  const config = parsed.data;
  const problems: string[] = [];
  if (config.model_type !== undefined && config.model_type !== 'wav2vec2') {
    problems.push(`model_type is ${JSON.stringify(config.model_type)}; only "wav2vec2" is supported`);
  }
  const layers = config.conv_dim.length;
  if (config.conv_stride.length !== layers || config.conv_kernel.length !== layers) {
    problems.push('conv_dim, conv_stride and conv_kernel must have the same length');
  }
  if (config.num_feat_extract_layers !== undefined && config.num_feat_extract_layers !== layers) {
    problems.push(`num_feat_extract_layers is ${config.num_feat_extract_layers} but conv_dim has ${layers} entries`);
  }
  if (config.hidden_size % config.num_attention_heads !== 0) {
    problems.push(`hidden_size ${config.hidden_size} is not divisible by num_attention_heads ${config.num_attention_heads}`);
  }
  if (config.hidden_size % config.num_conv_pos_embedding_groups !== 0) {
    problems.push(
      `hidden_size ${config.hidden_size} is not divisible by num_conv_pos_embedding_groups ${config.num_conv_pos_embedding_groups}`,
    );
  }
  for (const key of ['hidden_act', 'feat_extract_activation'] as const) {
    if (!(ACTIVATIONS as readonly string[]).includes(config[key])) {
      problems.push(`${key} ${JSON.stringify(config[key])} is not supported (one of ${ACTIVATIONS.join(', ')})`);
    }
  }
  if (config.add_adapter) problems.push('add_adapter is true: models with an adapter are not supported');
  if (config.adapter_attn_dim !== null) problems.push('adapter_attn_dim is set: attention adapters (MMS) are not supported');
  if (problems.length > 0) {
    throw new Wav2Vec2ConversionError(`unsupported wav2vec2 config:\n  ${problems.join('\n  ')}`, problems);
  }
  return config;
}

/**
 * Every parameter `Wav2Vec2ForCTC` needs for `config`, by its state-dict name, with its shape.
 * The positional conv is listed as `weight_g`/`weight_v` (the pre-PyTorch-2.1 names).
 */
export function wav2vec2Parameters(config: Wav2Vec2Config): Map<string, number[]> {
  const p = new Map<string, number[]>();
  const hidden = config.hidden_size;
  config.conv_dim.forEach((dim, i) => {
    const prefix = `wav2vec2.feature_extractor.conv_layers.${i}`;
    p.set(`${prefix}.conv.weight`, [dim, i === 0 ? 1 : config.conv_dim[i - 1], config.conv_kernel[i]]);
    if (config.conv_bias) p.set(`${prefix}.conv.bias`, [dim]);
    if (config.feat_extract_norm === 'layer' || i === 0) {
      p.set(`${prefix}.layer_norm.weight`, [dim]);
      p.set(`${prefix}.layer_norm.bias`, [dim]);
    }
  });
  const features = config.conv_dim[config.conv_dim.length - 1];
  p.set('wav2vec2.feature_projection.layer_norm.weight', [features]);
  p.set('wav2vec2.feature_projection.layer_norm.bias', [features]);
  p.set('wav2vec2.feature_projection.projection.weight', [hidden, features]);
  p.set('wav2vec2.feature_projection.projection.bias', [hidden]);
  const k = config.num_conv_pos_embeddings;
  p.set('wav2vec2.encoder.pos_conv_embed.conv.weight_g', [1, 1, k]);
  p.set('wav2vec2.encoder.pos_conv_embed.conv.weight_v', [hidden, hidden / config.num_conv_pos_embedding_groups, k]);
  p.set('wav2vec2.encoder.pos_conv_embed.conv.bias', [hidden]);
  p.set('wav2vec2.encoder.layer_norm.weight', [hidden]);
  p.set('wav2vec2.encoder.layer_norm.bias', [hidden]);
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const prefix = `wav2vec2.encoder.layers.${l}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      p.set(`${prefix}.attention.${proj}.weight`, [hidden, hidden]);
      p.set(`${prefix}.attention.${proj}.bias`, [hidden]);
    }
    for (const norm of ['layer_norm', 'final_layer_norm']) {
      p.set(`${prefix}.${norm}.weight`, [hidden]);
      p.set(`${prefix}.${norm}.bias`, [hidden]);
    }
    p.set(`${prefix}.feed_forward.intermediate_dense.weight`, [config.intermediate_size, hidden]);
    p.set(`${prefix}.feed_forward.intermediate_dense.bias`, [config.intermediate_size]);
    p.set(`${prefix}.feed_forward.output_dense.weight`, [hidden, config.intermediate_size]);
    p.set(`${prefix}.feed_forward.output_dense.bias`, [hidden]);
  }
  p.set('lm_head.weight', [config.vocab_size, hidden]);
  p.set('lm_head.bias', [config.vocab_size]);
  return p;
}

/** The names a parameter may have in a checkpoint, best first. */
function aliases(name: string): string[] {
  const names = [name];
  // from_pretrained also loads checkpoints saved without the base-model prefix.
  if (name.startsWith('wav2vec2.')) names.push(name.slice('wav2vec2.'.length));
  // torch >= 2.1 saves parametrized weight norm as original0 (g) and original1 (v).
  const parametrized = names.flatMap((n) =>
    n.endsWith('.weight_g')
      ? [n.replace(/weight_g$/, 'parametrizations.weight.original0')]
      : n.endsWith('.weight_v')
        ? [n.replace(/weight_v$/, 'parametrizations.weight.original1')]
        : [],
  );
  // Old checkpoints name LayerNorm parameters gamma/beta; from_pretrained renames them.
  const legacy = names.flatMap((n) =>
    /layer_norm\.weight$/.test(n) ? [n.replace(/weight$/, 'gamma')] : /layer_norm\.bias$/.test(n) ? [n.replace(/bias$/, 'beta')] : [],
  );
  return [...names, ...parametrized, ...legacy];
}

/** Looks parameters up by their canonical name and checks their shapes. */
class Weights {
  constructor(
    private readonly state: StateDict,
    private readonly shapes: Map<string, number[]>,
  ) {}

  /** Problems with the checkpoint: missing parameters and wrong shapes, all of them. */
  check(): string[] {
    const problems: string[] = [];
    const effectivePosConv = this.find('wav2vec2.encoder.pos_conv_embed.conv.weight');
    for (const [name, shape] of this.shapes) {
      if (effectivePosConv && /pos_conv_embed\.conv\.weight_[gv]$/.test(name)) continue;
      const found = this.find(name);
      if (!found) problems.push(`missing ${name}`);
      else if (!sameShape(found.shape, shape)) {
        problems.push(`${found.key} has shape [${found.shape.join(', ')}], expected [${shape.join(', ')}]`);
      }
    }
    if (effectivePosConv) {
      const [g, v] = ['weight_g', 'weight_v'].map((n) => this.shapes.get(`wav2vec2.encoder.pos_conv_embed.conv.${n}`) as number[]);
      if (!sameShape(effectivePosConv.shape, v) || g.length !== 3) problems.push(`${effectivePosConv.key} has the wrong shape`);
    }
    return problems;
  }

  find(name: string): { key: string; shape: number[]; data: Float32Array } | undefined {
    for (const key of aliases(name)) {
      const tensor = this.state.get(key);
      if (tensor) return { key, ...tensor };
    }
    return undefined;
  }

  get(name: string): Float32Array {
    const found = this.find(name);
    if (!found) throw new Wav2Vec2ConversionError(`missing ${name}`, [`missing ${name}`]);
    return found.data;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** Options of buildWav2Vec2Onnx. */
export interface BuildOptions {
  /**
   * `int8`: dynamic quantisation of the encoder layers' Linear weights (attention q/k/v and
   * out_proj, feed-forward): per-output-channel symmetric int8 weights, activations quantised per
   * tensor at run time (DynamicQuantizeLinear → MatMulInteger). The feature projection and
   * lm_head stay float32: they are under 1% of the multiply-adds, and quantising them moved the
   * reference checkpoints' logits 30 times as far as all the encoder layers together. The conv
   * feature encoder stays float32 too, although it is then over half of the int8 run time:
   * written as int8 MatMuls (frames in blocks of the stride), even with each row scaled before
   * quantising, it moved the reference checkpoints' logits by 0.25–0.6 (the int8 tests' bound is
   * 0.02) for 0.50× float32's CPU time instead of 0.65×.
   * Default: float32.
   */
  quantize?: 'int8';
}

/** ONNX protobuf files cannot exceed 2 GiB; weights larger than this would need external data. */
const MAX_INLINE_BYTES = 2 ** 31 - 64 * 2 ** 20;

/**
 * Builds the ONNX bytes (opset 17, and com.microsoft 1 for MultiHeadAttention, so onnxruntime
 * only) of `Wav2Vec2ForCTC` for `config` from a state dict.
 * Input `input_values` float32 [batch, samples], output `logits` float32 [batch, frames, vocab],
 * batch and samples dynamic. Throws Wav2Vec2ConversionError listing every missing or mis-shaped
 * parameter. `wav2vec2.masked_spec_embed` and other training-only tensors are ignored.
 */
export function buildWav2Vec2Onnx(config: Wav2Vec2Config, weights: StateDict, options: BuildOptions = {}): Uint8Array {
  const shapes = wav2vec2Parameters(config);
  const w = new Weights(weights, shapes);
  const problems = w.check();
  if (problems.length > 0) {
    const shown = problems.slice(0, 20);
    if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more`);
    throw new Wav2Vec2ConversionError(`the checkpoint does not fit the config:\n  ${shown.join('\n  ')}`, problems);
  }
  let bytes = 0;
  for (const shape of shapes.values()) bytes += 4 * shape.reduce((a, b) => a * b, 1);
  if (bytes > MAX_INLINE_BYTES) {
    throw new Wav2Vec2ConversionError(`the weights take ${(bytes / 2 ** 30).toFixed(1)} GiB; models over 2 GiB are not supported`);
  }

  const g = new GraphBuilder('wav2vec2_ctc');
  const hidden = config.hidden_size;
  const eps = { float: config.layer_norm_eps };
  const transposeBTC = (x: string): string => g.op('Transpose', [x], { perm: [0, 2, 1] });

  const activation = (x: string, kind: string): string => {
    switch (kind) {
      case 'gelu': {
        // Exact (erf) GELU as torch computes it: x · 0.5 · (1 + erf(x / √2)). ORT fuses this pattern.
        const erf = g.op('Erf', [g.op('Div', [x, g.constant(Math.SQRT2)])]);
        return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.constant(1)])]), g.constant(0.5)]);
      }
      case 'gelu_new':
      case 'gelu_pytorch_tanh': {
        // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
        const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
        const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.constant(0.044715)])]), g.constant(Math.sqrt(2 / Math.PI))]);
        const tanh = g.op('Tanh', [inner]);
        return g.op('Mul', [g.op('Mul', [x, g.constant(0.5)]), g.op('Add', [tanh, g.constant(1)])]);
      }
      case 'relu':
        return g.op('Relu', [x]);
      case 'silu':
      case 'swish':
        return g.op('Mul', [x, g.op('Sigmoid', [x])]);
      default:
        throw new Wav2Vec2ConversionError(`activation ${kind} is not supported`);
    }
  };

  const param = (name: string): string => g.weight(name, w.get(name), shapes.get(name) as number[]);

  const layerNorm = (x: string, prefix: string, epsilon = eps): string =>
    g.op('LayerNormalization', [x, param(`${prefix}.weight`), param(`${prefix}.bias`)], { axis: -1, epsilon });

  /** x · Wᵀ for W [out, in] (stored transposed as [in, out] for MatMul), or its int8 form. */
  const product = (x: string, name: string, weight: Float32Array, out: number, inDim: number, quantize: boolean): string =>
    quantize
      ? quantizedMatMul(g, x, name, weight, out, inDim)
      : g.op('MatMul', [x, g.weight(`${name}_t`, transpose(weight, out, inDim), [inDim, out])]);
  /** nn.Linear: x · Wᵀ + b. */
  const linear = (x: string, prefix: string, quantize = options.quantize === 'int8'): string => {
    const [out, inDim] = shapes.get(`${prefix}.weight`) as number[];
    return g.op('Add', [product(x, `${prefix}.weight`, w.get(`${prefix}.weight`), out, inDim, quantize), param(`${prefix}.bias`)]);
  };

  // Feature encoder: input_values[:, None] through the conv stack.
  const input = g.input('input_values', ['batch', 'samples']);
  let x = g.op('Unsqueeze', [input, g.constant([1], 'int64')]);
  config.conv_dim.forEach((_, i) => {
    const prefix = `wav2vec2.feature_extractor.conv_layers.${i}`;
    const inputs = [x, param(`${prefix}.conv.weight`)];
    if (config.conv_bias) inputs.push(param(`${prefix}.conv.bias`));
    x = g.op('Conv', inputs, { kernel_shape: [config.conv_kernel[i]], strides: [config.conv_stride[i]] });
    if (config.feat_extract_norm === 'group' && i === 0) {
      // nn.GroupNorm(num_groups = channels): each channel normalised over time = InstanceNormalization (eps 1e-5).
      const scale = param(`${prefix}.layer_norm.weight`);
      const bias = param(`${prefix}.layer_norm.bias`);
      x = g.op('InstanceNormalization', [x, scale, bias], { epsilon: { float: 1e-5 } });
    } else if (config.feat_extract_norm === 'layer') {
      // nn.LayerNorm(channels) with its default eps 1e-5, over the channel axis.
      x = transposeBTC(layerNorm(transposeBTC(x), `${prefix}.layer_norm`, { float: 1e-5 }));
    }
    x = activation(x, config.feat_extract_activation);
  });
  x = transposeBTC(x); // [batch, frames, conv_dim[-1]]

  // Feature projection.
  x = linear(layerNorm(x, 'wav2vec2.feature_projection.layer_norm'), 'wav2vec2.feature_projection.projection', false);

  // Positional conv embedding, added to the hidden states.
  const k = config.num_conv_pos_embeddings;
  const posShape = shapes.get('wav2vec2.encoder.pos_conv_embed.conv.weight_v') as number[];
  const posWeight = g.weight('wav2vec2.encoder.pos_conv_embed.conv.weight', positionalConvWeight(w, shapes), posShape);
  let pos = g.op('Conv', [transposeBTC(x), posWeight, param('wav2vec2.encoder.pos_conv_embed.conv.bias')], {
    kernel_shape: [k],
    pads: [Math.floor(k / 2), Math.floor(k / 2)],
    group: config.num_conv_pos_embedding_groups,
  });
  if (k % 2 === 0) {
    // Wav2Vec2SamePadLayer: an even kernel with padding k/2 makes one frame too many; drop the last.
    pos = g.op('Slice', [pos, g.constant([0], 'int64'), g.constant([-1], 'int64'), g.constant([2], 'int64')]);
  }
  pos = transposeBTC(activation(pos, config.feat_extract_activation));

  x = g.op('Add', [x, pos]);
  if (!config.do_stable_layer_norm) x = layerNorm(x, 'wav2vec2.encoder.layer_norm');

  const heads = config.num_attention_heads;
  /**
   * Wav2Vec2Attention. q, k and v are one [hidden, 3·hidden] MatMul, split in three; their biases
   * and the 1/√head_dim scaling are MultiHeadAttention's (com.microsoft), which onnxruntime's CPU
   * provider runs as one kernel (flash attention: the [frames, frames] scores never exist whole).
   */
  const attention = (h: string, prefix: string): string => {
    const projections = ['q_proj', 'k_proj', 'v_proj'].map((name) => `${prefix}.${name}`);
    const packed = new Float32Array(3 * hidden * hidden);
    const bias = new Float32Array(3 * hidden);
    projections.forEach((name, i) => {
      packed.set(w.get(`${name}.weight`), i * hidden * hidden);
      bias.set(w.get(`${name}.bias`), i * hidden);
    });
    const qkv = product(h, `${prefix}.qkv_proj.weight`, packed, 3 * hidden, hidden, options.quantize === 'int8');
    const [q, key, value] = g.opMulti('Split', [qkv, g.constant([hidden, hidden, hidden], 'int64')], 3, { axis: -1 });
    const qkvBias = g.weight(`${prefix}.qkv_proj.bias`, bias, [3 * hidden]);
    const [context] = g.contrib('MultiHeadAttention', [q, key, value, qkvBias], { num_heads: heads });
    return linear(context, `${prefix}.out_proj`);
  };
  const feedForward = (h: string, prefix: string): string => {
    const inner = activation(linear(h, `${prefix}.intermediate_dense`), config.hidden_act);
    return linear(inner, `${prefix}.output_dense`);
  };

  for (let l = 0; l < config.num_hidden_layers; l++) {
    const prefix = `wav2vec2.encoder.layers.${l}`;
    if (config.do_stable_layer_norm) {
      // Wav2Vec2EncoderLayerStableLayerNorm
      x = g.op('Add', [x, attention(layerNorm(x, `${prefix}.layer_norm`), `${prefix}.attention`)]);
      x = g.op('Add', [x, feedForward(layerNorm(x, `${prefix}.final_layer_norm`), `${prefix}.feed_forward`)]);
    } else {
      // Wav2Vec2EncoderLayer
      x = layerNorm(g.op('Add', [x, attention(x, `${prefix}.attention`)]), `${prefix}.layer_norm`);
      x = layerNorm(g.op('Add', [x, feedForward(x, `${prefix}.feed_forward`)]), `${prefix}.final_layer_norm`);
    }
  }
  if (config.do_stable_layer_norm) x = layerNorm(x, 'wav2vec2.encoder.layer_norm');

  const logits = linear(x, 'lm_head', false);
  g.output('logits', logits, ['batch', 'frames', config.vocab_size]);
  return g.toBytes({
    docString: `Wav2Vec2ForCTC converted by viet-stt${options.quantize ? ` (${options.quantize} dynamic quantisation)` : ''}`,
  });
}

/**
 * The positional conv's effective weight. Weight norm with dim=2: w = g · v / ‖v‖, the norm over
 * dims 0 and 1 for each kernel tap, in float32 as torch computes `v * (g / norm)`.
 */
function positionalConvWeight(w: Weights, shapes: Map<string, number[]>): Float32Array {
  const direct = w.find('wav2vec2.encoder.pos_conv_embed.conv.weight');
  if (direct) return direct.data;
  const [out, inPerGroup, k] = shapes.get('wav2vec2.encoder.pos_conv_embed.conv.weight_v') as number[];
  const gain = w.get('wav2vec2.encoder.pos_conv_embed.conv.weight_g');
  const v = w.get('wav2vec2.encoder.pos_conv_embed.conv.weight_v');
  const sums = new Float64Array(k);
  for (let i = 0; i < out * inPerGroup; i++) {
    for (let t = 0; t < k; t++) sums[t] += v[i * k + t] * v[i * k + t];
  }
  const scale = Float32Array.from(sums, (sum, t) => Math.fround(gain[t] / Math.fround(Math.sqrt(sum))));
  const weight = new Float32Array(v.length);
  for (let i = 0; i < out * inPerGroup; i++) {
    for (let t = 0; t < k; t++) weight[i * k + t] = v[i * k + t] * scale[t];
  }
  return weight;
}

/** [rows, cols] → [cols, rows]. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/**
 * Largest weight magnitude after quantisation. 63, not 127 ("reduce range"): on x86 CPUs without
 * VNNI, onnxruntime's uint8 × int8 kernels add pairs of products in saturating int16, and
 * 255 · 63 · 2 still fits where 255 · 127 · 2 does not. With VNNI (int32 sums) ±127 is exact and
 * moved the base-size model's logits less (1.1–1.3 against 1.7–1.8), but a model file can be
 * copied to a CPU without it, where ±127 silently saturates; speed is the same either way.
 */
const INT8_WEIGHT_MAX = 63;

/**
 * x · Wᵀ with W [out, in] quantised per output channel (symmetric, zero point 0; w_scale has
 * shape [out]) and x quantised per tensor at run time: DynamicQuantizeLinear → MatMulInteger →
 * Cast → × (x_scale · w_scale), the pattern onnxruntime fuses into DynamicQuantizeMatMul, whose
 * b_scale takes one scale per column of B.
 */
function quantizedMatMul(g: GraphBuilder, x: string, name: string, weight: Float32Array, out: number, inDim: number): string {
  const scales = new Float32Array(out);
  const quantized = new Int8Array(weight.length);
  for (let o = 0; o < out; o++) {
    let max = 0;
    for (let i = 0; i < inDim; i++) max = Math.max(max, Math.abs(weight[o * inDim + i]));
    const scale = max > 0 ? max / INT8_WEIGHT_MAX : 1;
    scales[o] = scale;
    for (let i = 0; i < inDim; i++) quantized[i * out + o] = Math.round(weight[o * inDim + i] / scale);
  }
  const [xq, xScale, xZero] = g.opMulti('DynamicQuantizeLinear', [x], 3);
  const product = g.op('MatMulInteger', [xq, g.initializer(`${name}_quantized`, quantized, [inDim, out]), xZero]);
  const scale = g.op('Mul', [xScale, g.weight(`${name}_scale`, scales, [out])]);
  return g.op('Mul', [g.op('Cast', [product], { to: 1 }), scale]);
}
