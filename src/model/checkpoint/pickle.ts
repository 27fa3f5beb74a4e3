/**
 * A restricted reader of Python pickles: enough of the protocol (2 to 5) to rebuild a state dict
 * that torch.save wrote, and nothing more. It never runs code: a GLOBAL resolves only to the
 * callables the caller whitelists (as TypeScript functions), REDUCE calls only those, and every
 * opcode that could build arbitrary objects (INST, OBJ, NEWOBJ, EXT*, …) is refused.
 */

/** A host object that a whitelisted callable or the persistent loader made (a storage, a tensor). */
export abstract class PickleObject {}

/** A Python tuple. */
export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/** Keys a dict may have. */
export type PickleKey = string | number | bigint | boolean | null;

/** A Python dict (or OrderedDict). `state` holds what a BUILD opcode set on it (torch's `_metadata`). */
export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
  state: PickleValue | undefined;
}

/** A whitelisted global. It can be called by REDUCE only when it has `call`. */
export class PickleGlobal {
  constructor(
    readonly qualifiedName: string,
    readonly call?: (args: readonly PickleValue[]) => PickleValue,
  ) {}
}

/** What the reader can produce. Lists are plain arrays; Python bytes are Uint8Array. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | PickleObject;

/** The pickle is malformed or uses an opcode this reader does not implement. */
export class PickleError extends Error {
  override readonly name: string = 'PickleError';
  constructor(
    message: string,
    /** Byte offset of the opcode at fault. */
    readonly position: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** The pickle asks for a global or call that a plain state dict never needs; nothing was run. */
export class UnsafePickleError extends PickleError {
  override readonly name: string = 'UnsafePickleError';
  constructor(
    message: string,
    position: number,
    /** The `module.name` the pickle asked for. */
    readonly global: string,
  ) {
    super(message, position);
  }
}

/** How the reader resolves what a pickle refers to outside itself. */
export interface UnpickleOptions {
  /** Whitelisted globals by `module.name`; any other GLOBAL is refused with UnsafePickleError. */
  globals: ReadonlyMap<string, PickleGlobal>;
  /** Resolves a BINPERSID id (torch: the storage tuple). Without it, persistent ids are refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

/** Opcodes a state-dict reader has no use for, by byte, named for the error message. */
const REFUSED: Readonly<Record<number, string>> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x50: 'PERSID',
  0x49: 'INT',
  0x4c: 'LONG',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x46: 'FLOAT',
  0x67: 'GET',
  0x70: 'PUT',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** Reads one pickle from `bytes` and returns the value STOP leaves on the stack. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let at = 0;

  const fail = (message: string): PickleError => new PickleError(`pickle: ${message} (at byte ${at})`, at);
  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.byteLength) throw fail('truncated data');
    const start = pos;
    pos += n;
    return start;
  };
  const u8 = (): number => view.getUint8(need(1));
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => Number(view.getBigUint64(need(8), true));
  const raw = (n: number): Uint8Array => {
    const start = need(n);
    return bytes.slice(start, start + n);
  };
  const text = (n: number): string => {
    try {
      return utf8.decode(raw(n));
    } catch (error) {
      throw new PickleError(`pickle: invalid UTF-8 string (at byte ${at})`, at, { cause: error });
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail('unterminated line');
    const value = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return value;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) throw fail('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    const mark = marks.pop();
    if (mark === undefined) throw fail('no MARK to pop to');
    return stack.splice(mark);
  };
  const resolve = (module: string, name: string): PickleGlobal => {
    const qualified = `${module}.${name}`;
    const global = options.globals.get(qualified);
    if (!global) {
      throw new UnsafePickleError(
        `pickle asks for ${qualified}, which a plain state dict of tensors never needs; refusing to load it (at byte ${at})`,
        at,
        qualified,
      );
    }
    return global;
  };
  const key = (value: PickleValue): PickleKey => {
    if (value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value)) return value as PickleKey;
    throw fail('dict key is not a string, number or bool');
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof PickleDict)) throw fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2 !== 0) throw fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) target.entries.set(key(items[i]), items[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target)) throw fail('APPEND(S) on something that is not a list');
    target.push(...items);
  };
  const long = (n: number): number | bigint => {
    const data = raw(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i]);
    if (n > 0 && data[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  for (;;) {
    at = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        const protocol = u8();
        if (protocol > 5) throw fail(`pickle protocol ${protocol} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) throw fail('STOP with a stack that does not hold exactly one value');
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PickleTuple([]));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const dict = new PickleDict();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PickleTuple(popMark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        // TUPLE1..3
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        stack.push(new PickleTuple(items));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(u8()));
        break;
      case 0x8b: // LONG4
        stack.push(long(u32()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x55: // SHORT_BINSTRING (a Python 2 str)
        stack.push(latin1.decode(raw(u8())));
        break;
      case 0x54: {
        // BINSTRING
        const n = view.getInt32(need(4), true);
        stack.push(latin1.decode(raw(n)));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        stack.push(raw(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(raw(u32()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(raw(u64()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const index = op === 0x68 ? u8() : u32();
        if (!memo.has(index)) throw fail(`memo ${index} is not set`);
        stack.push(memo.get(index) as PickleValue);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        appendItems(top(), [value]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const k = pop();
        setItems(top(), [k, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x30: // POP
        if (marks.length > 0 && stack.length === marks[marks.length - 1]) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PickleGlobal)) throw fail('REDUCE of something that is not a whitelisted global');
        if (!callable.call) {
          throw new UnsafePickleError(
            `pickle calls ${callable.qualifiedName}, which a plain state dict never calls; refusing (at byte ${at})`,
            at,
            callable.qualifiedName,
          );
        }
        if (!(args instanceof PickleTuple)) throw fail('REDUCE arguments are not a tuple');
        try {
          stack.push(callable.call(args.items));
        } catch (error) {
          if (error instanceof PickleError) throw error;
          throw new PickleError(`pickle: ${callable.qualifiedName} failed: ${(error as Error).message} (at byte ${at})`, at, {
            cause: error,
          });
        }
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) throw fail('persistent ids are not allowed here');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x62: {
        // BUILD: only state on a dict (OrderedDict's `_metadata`) is accepted, and it is kept, not run
        const state = pop();
        const target = top();
        if (!(target instanceof PickleDict)) throw fail('BUILD on something that is not a dict');
        target.state = state;
        break;
      }
      default: {
        const name = REFUSED[op];
        throw fail(name ? `opcode ${name} is not allowed in a state dict` : `unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}
