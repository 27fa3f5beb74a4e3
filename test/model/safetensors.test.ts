import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, parseSafetensors, readSafetensors } from '../../src/model/checkpoint/safetensors.js';
import { CheckpointError, halfToFloat } from '../../src/model/checkpoint/state-dict.js';
import { bfloat16Bytes, float16Bytes, float32Bytes } from './support/torch-archive.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** safetensors bytes written by hand: u64 header length, JSON header, then the data. */
function handWritten(header: Record<string, unknown>, data: Uint8Array[]): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength));
  return Buffer.concat([length, json, ...data]);
}

describe('readSafetensors', () => {
  it('reads F32, F16 and BF16 tensors (odd header length: F32 data unaligned)', async () => {
    const bytes = handWritten(
      {
        __metadata__: { format: 'pt' },
        half: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        single: { dtype: 'F32', shape: [2, 2], data_offsets: [6, 22] },
        brain: { dtype: 'BF16', shape: [2], data_offsets: [22, 26] },
      },
      [float16Bytes([0.5, -2, 1.75]), float32Bytes([0.1, -0.2, 3e-8, 7]), bfloat16Bytes([-3, 0.375])],
    );
    const file = path.join(dir, 'model.safetensors');
    await writeFile(file, bytes);
    const state = await readSafetensors(file);
    expect([...state.keys()]).toEqual(['half', 'single', 'brain']);
    expect(state.get('half')).toEqual({ shape: [3], data: Float32Array.from([0.5, -2, 1.75]) });
    expect(state.get('single')).toEqual({ shape: [2, 2], data: Float32Array.from([0.1, -0.2, 3e-8, 7]) });
    expect(state.get('brain')).toEqual({ shape: [2], data: Float32Array.from([-3, 0.375]) });
  });

  it('round-trips what encodeSafetensors writes, with 8-byte aligned data', () => {
    const tensors = new Map([
      ['a.weight', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['a.bias', { shape: [1], data: Float32Array.from([-1]) }],
    ]);
    const bytes = encodeSafetensors(tensors);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    expect(parseSafetensors(bytes)).toEqual(tensors);
  });

  it.each([
    ['a header length past the end', Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 123])],
    ['a header that is not JSON', handWritten({}, []).fill(0x41, 8)],
    ['an unsupported dtype', handWritten({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, [new Uint8Array(8)])],
    ['data past the end', handWritten({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, [new Uint8Array(8)])],
    ['a size that does not fit the shape', handWritten({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, [new Uint8Array(8)])],
  ])('refuses %s with a CheckpointError', (_, bytes) => {
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(CheckpointError);
  });
});

describe('halfToFloat', () => {
  it.each([
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x7c00, Number.POSITIVE_INFINITY],
  ])('0x%s → %s', (bits, value) => {
    expect(halfToFloat(bits)).toBe(value);
  });

  it('NaN stays NaN', () => {
    expect(halfToFloat(0x7e00)).toBeNaN();
  });
});
