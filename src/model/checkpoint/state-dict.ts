/** A tensor of a checkpoint, decoded to float32, C order. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** A checkpoint's state dict: parameter name → tensor, in the file's order. */
export type StateDict = Map<string, Tensor>;

/** The floating-point storage types a checkpoint may hold; all are decoded to float32. */
export type FloatDtype = 'float32' | 'float16' | 'bfloat16';

/** Bytes per element of each storage type. */
export const DTYPE_BYTES: Readonly<Record<FloatDtype, number>> = { float32: 4, float16: 2, bfloat16: 2 };

/**
 * A checkpoint file could not be read: it is missing, malformed, or holds something that is not a
 * plain state dict of float tensors. `file` names the file; `cause` keeps the underlying error.
 */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    message: string,
    readonly file: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** The number of elements of a shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Decodes `count` little-endian elements of `dtype` starting at `byteOffset` of `bytes` into a
 * new or shared Float32Array. float32 data at a 4-aligned address is returned as a view (no copy):
 * callers must not write to it.
 */
export function decodeFloats(bytes: Uint8Array, byteOffset: number, count: number, dtype: FloatDtype): Float32Array {
  const start = bytes.byteOffset + byteOffset;
  if (dtype === 'float32') {
    if (start % 4 === 0) return new Float32Array(bytes.buffer, start, count);
    const copy = new Uint8Array(count * 4);
    copy.set(bytes.subarray(byteOffset, byteOffset + count * 4));
    return new Float32Array(copy.buffer);
  }
  const view = new DataView(bytes.buffer, start, count * 2);
  const out = new Float32Array(count);
  if (dtype === 'bfloat16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

/** IEEE 754 binary16 bits → number (exact: every half value is a float32 value). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
