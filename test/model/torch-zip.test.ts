import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/model/checkpoint/state-dict.js';
import { loadTorchStateDict, readTorchZip } from '../../src/model/checkpoint/torch-zip.js';
import { HF_REFERENCE } from './support/reference.js';
import { bfloat16Bytes, float16Bytes, float32Bytes, stateDictPickle, storedZip } from './support/torch-archive.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'torch-zip-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const twelve = Array.from({ length: 12 }, (_, i) => i - 5.5); // 0..11 shifted: exact in every format

describe('loadTorchStateDict', () => {
  it('decodes float16 and bfloat16 storages', () => {
    const pickle = stateDictPickle([
      { name: 'half', storage: { key: '0', type: 'HalfStorage', numel: 6 }, offset: 0, size: [2, 3], stride: [3, 1] },
      { name: 'brain', storage: { key: '1', type: 'BFloat16Storage', numel: 4 }, offset: 0, size: [4], stride: [1] },
    ]);
    const state = loadTorchStateDict(
      pickle,
      new Map([
        ['0', float16Bytes([0.5, -1, 2.25, 65504, -0.0009765625, 3])],
        ['1', bfloat16Bytes([1, -2, 0.15625, 1024])],
      ]),
    );
    expect(state.get('half')).toEqual({ shape: [2, 3], data: Float32Array.from([0.5, -1, 2.25, 65504, -0.0009765625, 3]) });
    expect(state.get('brain')).toEqual({ shape: [4], data: Float32Array.from([1, -2, 0.15625, 1024]) });
  });

  it('rebuilds tensors that share one storage, with offsets and strides', () => {
    const storage = { key: '7', type: 'FloatStorage', numel: 12 };
    const pickle = stateDictPickle([
      { name: 'all', storage, offset: 0, size: [3, 4], stride: [4, 1] },
      { name: 'tail', storage, offset: 5, size: [7], stride: [1] },
      { name: 'transposed', storage, offset: 0, size: [4, 3], stride: [1, 4] },
      { name: 'strided', storage, offset: 1, size: [2, 2], stride: [6, 2] },
    ]);
    const state = loadTorchStateDict(pickle, new Map([['7', float32Bytes(twelve)]]));
    const at = (i: number): number => twelve[i];
    expect([...(state.get('all')?.data ?? [])]).toEqual(twelve);
    expect([...(state.get('tail')?.data ?? [])]).toEqual(twelve.slice(5));
    expect(state.get('transposed')?.shape).toEqual([4, 3]);
    expect([...(state.get('transposed')?.data ?? [])]).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map(at));
    expect([...(state.get('strided')?.data ?? [])]).toEqual([1, 3, 7, 9].map(at));
  });

  it('reads what CPython pickles for torch.save(model.state_dict()): OrderedDict, _metadata, repeated storage ids', () => {
    // Made by CPython 3's pickler (protocol 2) with stand-ins for torch's globals and persistent_id, as torch.save
    // calls it: an OrderedDict whose `_metadata` attribute arrives through BUILD, a float storage viewed three
    // times (one transposed), a half storage at an offset.
    const pickle = Buffer.from(
      [
      'gAJjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQApUnEBKFgMAAAAbGF5ZXIud2VpZ2h0cQJjdG9yY2guX3V0aWxzCl9yZWJ1aWxk',
      'X3RlbnNvcl92MgpxAygoWAcAAABzdG9yYWdlcQRjdG9yY2gKRmxvYXRTdG9yYWdlCnEFWAEAAAAwcQZYAwAAAGNwdXEHSwZ0cQhR',
      'SwBLAksDhnEJSwNLAYZxColoAClScQt0cQxScQ1YDgAAAGxheWVyLndlaWdodF90cQ5oAygoaARoBWgGaAdLBnRxD1FLAEsDSwKG',
      'cRBLAUsDhnERiWgAKVJxEnRxE1JxFFgKAAAAbGF5ZXIuYmlhc3EVaAMoKGgEaAVoBmgHSwZ0cRZRSwRLAoVxF0sBhXEYiWgAKVJx',
      'GXRxGlJxG1gEAAAAaGFsZnEcaAMoKGgEY3RvcmNoCkhhbGZTdG9yYWdlCnEdWAEAAAAxcR5oB0sEdHEfUUsBSwOFcSBoGIloAClS',
      'cSF0cSJScSN1fXEkWAkAAABfbWV0YWRhdGFxJWgAKVJxJihYAAAAAHEnfXEoWAcAAAB2ZXJzaW9ucSlLAXNYBQAAAGxheWVycSp9',
      'cStoKUsBc3VzYi4=',
    ].join(''),
      'base64',
    );
    const state = loadTorchStateDict(
      pickle,
      new Map([
        ['0', float32Bytes([1, 2, 3, 4, 5, 6])],
        ['1', float16Bytes([1, 2, 4, 8])],
      ]),
    );
    expect([...state.keys()]).toEqual(['layer.weight', 'layer.weight_t', 'layer.bias', 'half']);
    expect(state.get('layer.weight')).toEqual({ shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) });
    expect(state.get('layer.weight_t')).toEqual({ shape: [3, 2], data: Float32Array.from([1, 4, 2, 5, 3, 6]) });
    expect(state.get('layer.bias')).toEqual({ shape: [2], data: Float32Array.from([5, 6]) });
    expect(state.get('half')).toEqual({ shape: [3], data: Float32Array.from([2, 4, 8]) });
  });

  it('refuses a view that reads past its storage', () => {
    const pickle = stateDictPickle([
      { name: 'w', storage: { key: '0', type: 'FloatStorage', numel: 4 }, offset: 2, size: [3], stride: [1] },
    ]);
    expect(() => loadTorchStateDict(pickle, new Map([['0', float32Bytes([1, 2, 3, 4])]]))).toThrow(/past the end/);
  });

  it('refuses a storage missing from the archive', () => {
    const pickle = stateDictPickle([{ name: 'w', storage: { key: '3', type: 'FloatStorage', numel: 1 }, offset: 0, size: [1], stride: [1] }]);
    expect(() => loadTorchStateDict(pickle, new Map())).toThrow(/storage 3 is missing/);
  });
});

describe('readTorchZip', () => {
  it('reads an archive laid out as torch 2.x writes it (archive/ prefix, byteorder)', async () => {
    const file = path.join(dir, 'pytorch_model.bin');
    const pickle = stateDictPickle([
      { name: 'a', storage: { key: '0', type: 'HalfStorage', numel: 3 }, offset: 1, size: [2], stride: [1] },
      { name: 'b', storage: { key: '1', type: 'FloatStorage', numel: 12 }, offset: 0, size: [2, 6], stride: [6, 1] },
    ]);
    await writeFile(
      file,
      storedZip([
        ['archive/data.pkl', pickle],
        ['archive/byteorder', Buffer.from('little')],
        ['archive/data/0', float16Bytes([1, 2, 4])],
        ['archive/data/1', float32Bytes(twelve)],
        ['archive/version', Buffer.from('3\n')],
      ]),
    );
    const state = await readTorchZip(file);
    expect([...state.keys()]).toEqual(['a', 'b']);
    expect([...(state.get('a')?.data ?? [])]).toEqual([2, 4]);
    expect(state.get('b')?.shape).toEqual([2, 6]);
  });

  it('reads the reference checkpoint: every key of keys.txt with its shape', async () => {
    const model = path.join(HF_REFERENCE, 'fixture-tiny');
    const state = await readTorchZip(path.join(model, 'pytorch_model.bin'));
    const keys = (await readFile(path.join(model, 'keys.txt'), 'utf8'))
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split('\t'));
    expect(keys).toHaveLength(53);
    expect([...state.keys()]).toEqual(keys.map(([key]) => key));
    for (const [key, shape] of keys) expect(JSON.stringify(state.get(key)?.shape)).toBe(shape.replace(/ /g, ''));
  });

  it('refuses the legacy (pre-1.6) format and files that are not zips', async () => {
    const legacy = path.join(dir, 'legacy.bin');
    await writeFile(legacy, Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]));
    await expect(readTorchZip(legacy)).rejects.toThrow(/legacy torch\.save format/);
    const text = path.join(dir, 'text.bin');
    await writeFile(text, 'hello');
    await expect(readTorchZip(text)).rejects.toBeInstanceOf(CheckpointError);
    await expect(readTorchZip(path.join(dir, 'absent.bin'))).rejects.toThrow(/cannot read/);
  });

  it('wraps a malicious data.pkl in a CheckpointError whose cause is the UnsafePickleError', async () => {
    const file = path.join(dir, 'evil.bin');
    await writeFile(file, storedZip([['evil/data.pkl', Buffer.from("\x80\x02cos\nsystem\n(X\x02\x00\x00\x00idtR.", 'latin1')]]));
    const error = await readTorchZip(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).cause).toMatchObject({ name: 'UnsafePickleError', global: 'os.system' });
  });
});
