import { describe, expect, it } from 'vitest';
import { PickleDict, PickleError, PickleGlobal, PickleTuple, unpickle, UnsafePickleError } from '../../src/model/checkpoint/pickle.js';
import { loadTorchStateDict } from '../../src/model/checkpoint/torch-zip.js';
import { PickleWriter } from './support/torch-archive.js';

const noGlobals = { globals: new Map<string, PickleGlobal>() };

describe('unpickle', () => {
  it('reads the plain values a state dict pickle uses', () => {
    // {'a': [1, 300, -5, 2**40, -1, 1.5, None, True, (), 'é'], 'b': <memo of the list>}
    const long = Buffer.from([0x8a, 6, 0, 0, 0, 0, 0, 1]); // LONG1 2**40
    const bytes = new PickleWriter(2)
      .op(0x7d, 0x71, 0)
      .mark()
      .str('a')
      .op(0x5d, 0x71, 1)
      .mark()
      .int(1)
      .int(300)
      .int(-5)
      .op(...long)
      .op(0x8a, 1, 0xff) // LONG1 -1
      .op(0x47, ...Buffer.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0])) // BINFLOAT 1.5
      .op(0x4e, 0x88, 0x29)
      .str('é')
      .op(0x65) // APPENDS
      .str('b')
      .op(0x68, 1) // BINGET 1
      .op(0x75)
      .end();
    const value = unpickle(bytes, noGlobals);
    expect(value).toBeInstanceOf(PickleDict);
    const dict = value as PickleDict;
    const list = dict.entries.get('a');
    expect(list).toEqual([1, 300, -5, 2 ** 40, -1, 1.5, null, true, new PickleTuple([]), 'é']);
    expect(dict.entries.get('b')).toBe(list);
  });

  it('refuses GLOBAL os.system before anything could run', () => {
    // The classic exploit: cos\nsystem\n(S'echo pwned'\ntR.
    const bytes = Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", 'latin1');
    let caught: unknown;
    try {
      unpickle(bytes, noGlobals);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnsafePickleError);
    expect((caught as UnsafePickleError).name).toBe('UnsafePickleError');
    expect((caught as UnsafePickleError).global).toBe('os.system');
    expect((caught as Error).message).toMatch(/os\.system/);
  });

  it('refuses STACK_GLOBAL builtins.eval (protocol 4)', () => {
    const p = new PickleWriter(4).op(0x8c, 8, ...Buffer.from('builtins')).op(0x8c, 4, ...Buffer.from('eval')).op(0x93);
    expect(() => unpickle(p.end(), noGlobals)).toThrow(UnsafePickleError);
  });

  it('refuses REDUCE of a whitelisted global that is not callable', () => {
    const globals = new Map([['torch.FloatStorage', new PickleGlobal('torch.FloatStorage')]]);
    const bytes = new PickleWriter().global('torch', 'FloatStorage').op(0x29, 0x52).end();
    expect(() => unpickle(bytes, { globals })).toThrow(UnsafePickleError);
  });

  it.each([
    ['INST', [0x69, ...Buffer.from('os\nsystem\n')]],
    ['OBJ', [0x28, 0x6f]],
    ['NEWOBJ', [0x29, 0x29, 0x81]],
    ['EXT1', [0x82, 1]],
  ])('refuses the %s opcode', (name, ops) => {
    const bytes = new PickleWriter(2).op(...ops).end();
    expect(() => unpickle(bytes, noGlobals)).toThrow(new RegExp(`${name}|os\\.system`));
  });

  it('reports truncated data as a PickleError with its position', () => {
    const bytes = Uint8Array.from([0x80, 2, 0x58, 10, 0, 0, 0, 0x61]);
    let caught: unknown;
    try {
      unpickle(bytes, noGlobals);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PickleError);
    expect((caught as PickleError).position).toBe(2);
  });
});

describe('the torch state-dict whitelist', () => {
  it('refuses a state dict that smuggles in a call', () => {
    // {'w': posix.system('id')}: the GLOBAL is refused, nothing is called.
    const bytes = new PickleWriter().op(0x7d).str('w').global('posix', 'system').mark().str('id').op(0x74, 0x52, 0x73).end();
    expect(() => loadTorchStateDict(bytes, new Map())).toThrow(UnsafePickleError);
  });

  it('refuses a pickle that is not a dict of tensors', () => {
    const bytes = new PickleWriter().op(0x7d).str('epoch').int(3).op(0x73).end();
    expect(() => loadTorchStateDict(bytes, new Map())).toThrow(/epoch is not a tensor/);
  });

  it('refuses integer storages with a clear message', () => {
    const bytes = new PickleWriter()
      .op(0x7d)
      .str('ids')
      .tensor({ key: '0', type: 'LongStorage', numel: 2 }, 0, [2], [1])
      .op(0x73)
      .end();
    expect(() => loadTorchStateDict(bytes, new Map([['0', new Uint8Array(16)]]))).toThrow(/torch\.LongStorage/);
  });
});
