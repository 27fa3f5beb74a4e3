import { crc32 } from 'node:zlib';

/**
 * Writes pickles and zip archives the way torch.save lays them out, opcode by opcode, so the tests
 * can make checkpoints (fp16 storages, shared storages, offsets, strides, malicious globals)
 * without Python.
 */
export class PickleWriter {
  private readonly bytes: number[] = [];

  constructor(protocol = 2) {
    this.bytes.push(0x80, protocol);
  }

  op(...codes: number[]): this {
    this.bytes.push(...codes);
    return this;
  }

  mark(): this {
    return this.op(0x28);
  }

  /** GLOBAL: `c module\nname\n`. */
  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }

  /** BINUNICODE. */
  str(value: string): this {
    const data = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(data.byteLength);
    return this.op(0x58, ...length, ...data);
  }

  /** BININT1, BININT2 or BININT as the value needs. */
  int(value: number): this {
    if (value >= 0 && value < 256) return this.op(0x4b, value);
    if (value >= 0 && value < 65536) return this.op(0x4d, value & 0xff, value >> 8);
    const data = Buffer.alloc(4);
    data.writeInt32LE(value);
    return this.op(0x4a, ...data);
  }

  /** A tuple of ints: MARK … TUPLE. */
  ints(values: number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.op(0x74);
  }

  /** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`, storage by persistent id. */
  tensor(storage: { key: string; type: string; numel: number }, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storage.type).str(storage.key).str('cpu').int(storage.numel).op(0x74, 0x51);
    this.int(offset).ints(size).ints(stride).op(0x89);
    this.global('collections', 'OrderedDict').op(0x29, 0x52);
    return this.op(0x74, 0x52);
  }

  /** STOP, and the bytes. */
  end(): Uint8Array {
    this.bytes.push(0x2e);
    return Uint8Array.from(this.bytes);
  }
}

/** A pickle of `{ name: tensor, … }` as torch.save writes a state dict (EMPTY_DICT, MARK, …, SETITEMS). */
export function stateDictPickle(
  entries: Array<{ name: string; storage: { key: string; type: string; numel: number }; offset: number; size: number[]; stride: number[] }>,
): Uint8Array {
  const p = new PickleWriter().op(0x7d).mark();
  for (const e of entries) p.str(e.name).tensor(e.storage, e.offset, e.size, e.stride);
  return p.op(0x75).end();
}

/** A zip archive with stored (uncompressed) entries, as torch's writer makes. */
export function storedZip(files: Array<[name: string, data: Uint8Array]>): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.byteLength, 18);
    local.writeUInt32LE(data.byteLength, 22);
    local.writeUInt16LE(fileName.byteLength, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.byteLength, 20);
    entry.writeUInt32LE(data.byteLength, 24);
    entry.writeUInt16LE(fileName.byteLength, 28);
    entry.writeUInt32LE(offset, 42);
    central.push(entry, fileName);
    parts.push(local, fileName, Buffer.from(data));
    offset += local.byteLength + fileName.byteLength + data.byteLength;
  }
  const centralBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralBytes.byteLength, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, centralBytes, end]);
}

/** Float values as little-endian float16 bits (exact for the small dyadic values the tests use). */
export function float16Bytes(values: number[]): Uint8Array {
  const out = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => {
    if (v === 0) return;
    const sign = v < 0 ? 0x8000 : 0;
    const exponent = Math.floor(Math.log2(Math.abs(v)));
    const fraction = Math.round((Math.abs(v) / 2 ** exponent - 1) * 1024);
    out.writeUInt16LE(sign | ((exponent + 15) << 10) | fraction, i * 2);
  });
  return out;
}

/** Float values as little-endian bfloat16 (the top half of each float32). */
export function bfloat16Bytes(values: number[]): Uint8Array {
  const f32 = new Float32Array(values);
  const words = new Uint32Array(f32.buffer);
  const out = Buffer.alloc(values.length * 2);
  words.forEach((w, i) => out.writeUInt16LE(w >>> 16, i * 2));
  return out;
}

/** Float values as little-endian float32 bytes. */
export function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
