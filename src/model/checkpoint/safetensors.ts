import { readFile } from 'node:fs/promises';
import { CheckpointError, decodeFloats, DTYPE_BYTES, elementCount, type FloatDtype, type StateDict } from './state-dict.js';

/** safetensors dtype names this reader decodes, and the float type each is. */
const SAFETENSORS_DTYPES: Readonly<Record<string, FloatDtype>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The header's description of one tensor. */
interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Reads a `.safetensors` file into a state dict (F32, F16 and BF16 tensors, decoded to float32). */
export async function readSafetensors(file: string): Promise<StateDict> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new CheckpointError(`cannot read ${file}`, file, { cause: error });
  }
  return parseSafetensors(bytes, file);
}

/**
 * Parses safetensors bytes: an unsigned 64-bit little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`, then the data, with
 * offsets relative to the end of the header. Every entry is checked against the buffer.
 * Aligned float32 tensors are views into `bytes` (no copy).
 */
export function parseSafetensors(bytes: Uint8Array, file = '<memory>'): StateDict {
  const fail = (message: string, cause?: unknown): CheckpointError =>
    new CheckpointError(`${file}: ${message}`, file, { cause });
  if (bytes.byteLength < 8) throw fail('too short to be a safetensors file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) throw fail(`header length ${headerLength} runs past the end of the file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw fail('the header is not valid JSON', error);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw fail('the header is not a JSON object');

  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const tensors: StateDict = new Map();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = checkEntry(value);
    if (!entry) throw fail(`tensor ${name} has a malformed header entry`);
    const dtype = SAFETENSORS_DTYPES[entry.dtype];
    if (!dtype) throw fail(`tensor ${name} has dtype ${entry.dtype}; only F32, F16 and BF16 are supported`);
    const [begin, end] = entry.data_offsets;
    const count = elementCount(entry.shape);
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      throw fail(`tensor ${name}: ${end - begin} bytes do not hold shape [${entry.shape.join(', ')}] of ${entry.dtype}`);
    }
    if (end > dataLength) throw fail(`tensor ${name} runs past the end of the file`);
    tensors.set(name, { shape: entry.shape, data: decodeFloats(bytes, dataStart + begin, count, dtype) });
  }
  return tensors;
}

function checkEntry(value: unknown): HeaderEntry | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (typeof dtype !== 'string' || !Array.isArray(shape) || !shape.every(isCount)) return undefined;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) return undefined;
  return { dtype, shape, data_offsets: [offsets[0], offsets[1]] };
}

/**
 * Encodes float32 tensors as safetensors bytes (data 8-byte aligned, as the reference writer
 * pads). Used to write random checkpoints for the benchmark and tests.
 */
export function encodeSafetensors(tensors: StateDict, metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (tensor.data.length !== elementCount(tensor.shape)) {
      throw new RangeError(`tensor ${name}: ${tensor.data.length} values do not fill shape [${tensor.shape.join(', ')}]`);
    }
    header[name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const tensor of tensors.values()) {
    out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), at);
    at += tensor.data.byteLength;
  }
  return out;
}
