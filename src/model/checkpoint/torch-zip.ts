import { open as openFile } from 'node:fs/promises';
import yauzl from 'yauzl';
import {
  PickleDict,
  PickleGlobal,
  PickleObject,
  PickleTuple,
  unpickle,
  type PickleValue,
} from './pickle.js';
import {
  CheckpointError,
  decodeFloats,
  DTYPE_BYTES,
  elementCount,
  type FloatDtype,
  type StateDict,
  type Tensor,
} from './state-dict.js';

/** torch storage classes a state dict of float tensors uses, and their element type. */
const STORAGE_TYPES: Readonly<Record<string, FloatDtype>> = {
  'torch.FloatStorage': 'float32',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
};

/** Storage classes that are real torch types but not float tensors: named in the error, never decoded. */
const OTHER_STORAGE_TYPES = [
  'DoubleStorage',
  'LongStorage',
  'IntStorage',
  'ShortStorage',
  'CharStorage',
  'ByteStorage',
  'BoolStorage',
  'ComplexFloatStorage',
  'ComplexDoubleStorage',
].map((name) => `torch.${name}`);

/** One storage of the archive (`<prefix>/data/<key>`), as the pickle's persistent id names it. */
class TorchStorage extends PickleObject {
  private decoded: Float32Array | undefined;
  constructor(
    readonly key: string,
    readonly dtype: FloatDtype,
    readonly numel: number,
    readonly bytes: Uint8Array,
  ) {
    super();
  }

  /** The whole storage as float32 (decoded once, shared by every tensor that views it). */
  floats(): Float32Array {
    this.decoded ??= decodeFloats(this.bytes, 0, this.numel, this.dtype);
    return this.decoded;
  }
}

/** A tensor the pickle rebuilt. */
class TorchTensor extends PickleObject {
  constructor(readonly tensor: Tensor) {
    super();
  }
}

/**
 * Reads a `pytorch_model.bin` written by torch.save since PyTorch 1.6: a zip archive with
 * `<name>/data.pkl` (the pickled state dict) and one raw little-endian storage per persistent id
 * under `<name>/data/<key>`. Only a plain (Ordered)Dict of float32/float16/bfloat16 tensors is
 * accepted; anything else is refused with a CheckpointError whose cause says why.
 */
export async function readTorchZip(file: string): Promise<StateDict> {
  await checkMagic(file);
  let entries: Map<string, Uint8Array>;
  try {
    entries = await readZip(file);
  } catch (error) {
    throw new CheckpointError(`${file} is not a readable zip archive`, file, { cause: error });
  }
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    const torchScript = [...entries.keys()].some((name) => name.endsWith('/constants.pkl'));
    throw new CheckpointError(
      torchScript
        ? `${file} is a TorchScript archive, not a state dict saved with torch.save`
        : `${file} holds ${pickles.length} data.pkl files; a torch.save archive holds exactly one`,
      file,
    );
  }
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== 'little') {
    throw new CheckpointError(`${file} was saved big-endian; only little-endian checkpoints are supported`, file);
  }
  const storages = new Map<string, Uint8Array>();
  for (const [name, data] of entries) {
    if (name.startsWith(`${prefix}data/`)) storages.set(name.slice(`${prefix}data/`.length), data);
  }
  try {
    return loadTorchStateDict(entries.get(pickles[0]) as Uint8Array, storages);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CheckpointError(`${file}: ${reason}`, file, { cause: error });
  }
}

/**
 * Rebuilds a state dict from torch's `data.pkl` and its storages (key → raw bytes). Tensors that
 * share a storage, start at an offset or have non-contiguous strides are all materialised as
 * C-order float32. Throws PickleError (UnsafePickleError for a forbidden global) or RangeError.
 */
export function loadTorchStateDict(pickle: Uint8Array, storages: ReadonlyMap<string, Uint8Array>): StateDict {
  const loaded = new Map<string, TorchStorage>();
  const globals = new Map<string, PickleGlobal>();
  const allow = (name: string, call?: (args: readonly PickleValue[]) => PickleValue): void => {
    globals.set(name, new PickleGlobal(name, call));
  };
  allow('collections.OrderedDict', (args) => {
    if (args.length !== 0) throw new RangeError('OrderedDict is only built empty in a state dict');
    return new PickleDict();
  });
  allow('torch._utils._rebuild_tensor_v2', (args) => new TorchTensor(rebuildTensor(args)));
  allow('torch._utils._rebuild_parameter', (args) => {
    if (!(args[0] instanceof TorchTensor)) throw new RangeError('_rebuild_parameter of something that is not a tensor');
    return args[0];
  });
  for (const name of [...Object.keys(STORAGE_TYPES), ...OTHER_STORAGE_TYPES]) allow(name);

  const persistentLoad = (pid: PickleValue): PickleValue => {
    if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw new RangeError('a persistent id is not a torch storage reference');
    }
    const [, type, key, , numel] = pid.items;
    if (!(type instanceof PickleGlobal) || typeof key !== 'string' || typeof numel !== 'number') {
      throw new RangeError('a storage reference is malformed');
    }
    const dtype = STORAGE_TYPES[type.qualifiedName];
    if (!dtype) {
      throw new RangeError(`storage ${key} is a ${type.qualifiedName}; only float32, float16 and bfloat16 tensors are supported`);
    }
    const cached = loaded.get(key);
    if (cached) {
      if (cached.dtype !== dtype) throw new RangeError(`storage ${key} is referenced with two element types`);
      return cached;
    }
    const bytes = storages.get(key);
    if (!bytes) throw new RangeError(`storage ${key} is missing from the archive`);
    if (bytes.byteLength < numel * DTYPE_BYTES[dtype]) {
      throw new RangeError(`storage ${key} holds ${bytes.byteLength} bytes, fewer than ${numel} ${dtype} elements`);
    }
    const storage = new TorchStorage(key, dtype, numel, bytes);
    loaded.set(key, storage);
    return storage;
  };

  const root = unpickle(pickle, { globals, persistentLoad });
  if (!(root instanceof PickleDict)) throw new RangeError('data.pkl does not hold a dict of tensors');
  const state: StateDict = new Map();
  for (const [name, value] of root.entries) {
    if (typeof name !== 'string') throw new RangeError(`a state-dict key is not a string: ${String(name)}`);
    if (!(value instanceof TorchTensor)) throw new RangeError(`state-dict entry ${name} is not a tensor`);
    state.set(name, value.tensor);
  }
  return state;
}

/** `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
function rebuildTensor(args: readonly PickleValue[]): Tensor {
  const [storage, offset, size, stride] = args;
  if (args.length < 4 || !(storage instanceof TorchStorage) || typeof offset !== 'number') {
    throw new RangeError('_rebuild_tensor_v2 called with unexpected arguments');
  }
  const shape = intTuple(size, 'size');
  const strides = intTuple(stride, 'stride');
  if (shape.length !== strides.length) throw new RangeError('_rebuild_tensor_v2: size and stride differ in length');
  const count = elementCount(shape);
  if (count === 0) return { shape, data: new Float32Array(0) };
  const last = offset + shape.reduce((sum, n, d) => sum + (n - 1) * strides[d], 0);
  if (offset < 0 || last >= storage.numel) {
    throw new RangeError(`a tensor of shape [${shape.join(', ')}] reads past the end of storage ${storage.key}`);
  }
  if (isContiguous(shape, strides)) {
    // A view into the storage's bytes (no copy for aligned float32), or one decoded range.
    return { shape, data: decodeFloats(storage.bytes, offset * DTYPE_BYTES[storage.dtype], count, storage.dtype) };
  }
  const source = storage.floats();
  const data = new Float32Array(count);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += index[d] * strides[d];
    data[i] = source[at];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return { shape, data };
}

function intTuple(value: PickleValue | undefined, what: string): number[] {
  if (!(value instanceof PickleTuple)) throw new RangeError(`_rebuild_tensor_v2: ${what} is not a tuple`);
  return value.items.map((item) => {
    if (typeof item !== 'number' || !Number.isSafeInteger(item) || item < 0) {
      throw new RangeError(`_rebuild_tensor_v2: ${what} holds ${String(item)}`);
    }
    return item;
  });
}

function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Refuses files that are not zip archives with a message that says what they are. */
async function checkMagic(file: string): Promise<void> {
  const head = Buffer.alloc(4);
  try {
    const handle = await openFile(file, 'r');
    try {
      await handle.read(head, 0, 4, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new CheckpointError(`cannot read ${file}`, file, { cause: error });
  }
  if (head[0] === 0x50 && head[1] === 0x4b) return;
  if (head[0] === 0x80) {
    throw new CheckpointError(
      `${file} is in the legacy torch.save format (PyTorch < 1.6); re-save it with a newer PyTorch or as model.safetensors`,
      file,
    );
  }
  throw new CheckpointError(`${file} is not a torch.save zip archive`, file);
}

/** Reads every entry of a zip archive into memory (torch's archives store entries uncompressed). */
function readZip(file: string): Promise<Map<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true, decodeStrings: true }, (openError, zip) => {
      if (openError) return reject(openError);
      const entries = new Map<string, Uint8Array>();
      zip.on('error', reject);
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          // A fresh buffer per entry keeps float32 storages 4-byte aligned, so tensors can be views.
          const data = new Uint8Array(entry.uncompressedSize);
          let filled = 0;
          stream.on('data', (chunk: Buffer) => {
            if (filled + chunk.byteLength > data.byteLength) {
              stream.destroy(new Error(`${entry.fileName} is longer than its declared size`));
              return;
            }
            data.set(chunk, filled);
            filled += chunk.byteLength;
          });
          stream.on('error', reject);
          stream.on('end', () => {
            if (filled !== data.byteLength) return reject(new Error(`${entry.fileName} is shorter than its declared size`));
            entries.set(entry.fileName, data);
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}
