import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A dimension: a fixed size, or a symbolic name for a dynamic axis. */
export type Dim = number | string;

/** Attribute values a node can carry; the ONNX attribute type follows from the JS type. */
export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] } | TensorValue;

/** A constant tensor: float32 or int64 data with its shape. */
export interface TensorValue {
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** The domain of onnxruntime's contrib operators (MultiHeadAttention, Gelu, …). */
export const MS_DOMAIN = 'com.microsoft';

export const ELEMENT_TYPE = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int32: onnx.TensorProto.DataType.INT32,
} as const;

/** Data an initializer can hold; the ONNX element type follows from the array type. */
export type InitializerData = Float32Array | BigInt64Array | Int8Array | Uint8Array;

/**
 * Builds an ONNX graph node by node. It is the one graph-writing primitive of the project: the
 * wav2vec2 converter, the designed test models and the benchmark's random model all use it.
 *
 * Node outputs get unique names; initializers are stored as raw little-endian bytes.
 */
export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly names = new Set<string>();
  /** Whether a node uses MS_DOMAIN, which the model then imports. */
  private usesContrib = false;
  private counter = 0;

  constructor(readonly name: string) {}

  /** Declares a float32 graph input. */
  input(name: string, dims: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dims));
    return name;
  }

  /** Declares a graph output; `value` is the name a node produced, renamed with Identity when needed. */
  output(name: string, value: string, dims: Dim[]): string {
    if (value !== name) this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, dims));
    return name;
  }

  /** Adds a float32 initializer. */
  weight(name: string, data: Float32Array, dims: number[]): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new RangeError(`initializer ${name}: ${data.length} values do not fill shape [${dims.join(', ')}]`);
    }
    this.initializers.push(tensorProto(this.claim(name), { data, dims }));
    return name;
  }

  /** Adds an initializer of any supported element type (int8 and uint8 for quantised weights). */
  initializer(name: string, data: InitializerData, dims: number[]): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new RangeError(`initializer ${name}: ${data.length} values do not fill shape [${dims.join(', ')}]`);
    }
    this.initializers.push(tensorProto(this.claim(name), { data, dims }));
    return name;
  }

  /** Adds a constant: a float scalar or vector, or int64 values (for shapes and axes). */
  constant(values: number[] | number, kind: 'float' | 'int64' = 'float', dims?: number[]): string {
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    const data = kind === 'float' ? Float32Array.from(list) : BigInt64Array.from(list.map((v) => BigInt(v)));
    const name = this.fresh(`const_${kind}`);
    this.initializers.push(tensorProto(this.claim(name), { data, dims: shape }));
    return name;
  }

  /** Appends a node and returns the name of its (single) output. */
  op(type: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    return this.opMulti(type, inputs, 1, attributes, output ? [output] : undefined)[0];
  }

  /** Appends a node with several outputs. */
  opMulti(
    type: string,
    inputs: string[],
    outputCount: number,
    attributes: Record<string, AttributeValue> = {},
    outputNames?: string[],
  ): string[] {
    const outputs = outputNames ?? Array.from({ length: outputCount }, () => this.fresh(type.toLowerCase()));
    return this.node('', type, inputs, outputs, attributes);
  }

  /**
   * Appends a node of onnxruntime's contrib domain (com.microsoft, imported at version 1, which
   * onnxruntime registers its CPU kernels under) and returns its outputs' names.
   */
  contrib(type: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputCount = 1): string[] {
    this.usesContrib = true;
    const outputs = Array.from({ length: outputCount }, () => this.fresh(type.toLowerCase()));
    return this.node(MS_DOMAIN, type, inputs, outputs, attributes);
  }

  private node(domain: string, type: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue>): string[] {
    for (const out of outputs) this.claim(out);
    this.nodes.push(
      onnx.NodeProto.create({
        opType: type,
        domain,
        name: this.fresh(`${type}_node`),
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      }),
    );
    return outputs;
  }

  /** Serialises the model (opset 17 by default, and com.microsoft version 1 when used) to protobuf bytes. */
  toBytes(options: { opset?: number; producer?: string; docString?: string } = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: options.producer ?? 'viet-stt',
      docString: options.docString ?? '',
      opsetImport: [
        onnx.OperatorSetIdProto.create({ domain: '', version: options.opset ?? 17 }),
        ...(this.usesContrib ? [onnx.OperatorSetIdProto.create({ domain: MS_DOMAIN, version: 1 })] : []),
      ],
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** A name not used yet, derived from `base`. */
  fresh(base: string): string {
    let name: string;
    do name = `${base}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: the name ${name} is used twice`);
    this.names.add(name);
    return name;
  }
}

function valueInfo(name: string, dims: Dim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ELEMENT_TYPE.float,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'number'
              ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
              : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  });
}

function tensorProto(name: string, value: { dims: number[]; data: InitializerData }): InstanceType<typeof onnx.TensorProto> {
  const bytes = new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength);
  return onnx.TensorProto.create({
    name,
    dims: value.dims,
    dataType: elementType(value.data),
    rawData: bytes,
  });
}

function elementType(data: InitializerData): number {
  if (data instanceof Float32Array) return ELEMENT_TYPE.float;
  if (data instanceof BigInt64Array) return ELEMENT_TYPE.int64;
  if (data instanceof Int8Array) return ELEMENT_TYPE.int8;
  return ELEMENT_TYPE.uint8;
}

function attribute(name: string, value: AttributeValue): InstanceType<typeof onnx.AttributeProto> {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'number') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value });
  if (typeof value === 'string') {
    return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value });
  if ('float' in value) return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value.float });
  if ('floats' in value) return onnx.AttributeProto.create({ name, type: AttributeType.FLOATS, floats: value.floats });
  return onnx.AttributeProto.create({ name, type: AttributeType.TENSOR, t: tensorProto(name, value) });
}
