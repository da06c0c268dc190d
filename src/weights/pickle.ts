import { MAX_TENSOR_RANK } from './dtype.js';

/**
 * A deliberately tiny pickle interpreter: just the opcodes and globals that PyTorch state dicts use.
 * Nothing is ever executed; any other global or opcode is refused by name, so a malicious
 * checkpoint cannot run code the way Python's pickle.load would.
 */

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A `module.name` reference produced by GLOBAL; only an allow-list is accepted. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Python tuple (kept distinct from lists only for readable error messages). */
export class PyTuple extends Array<unknown> {}

/** A tensor as `_rebuild_tensor_v2` describes it, before its storage is read. */
export class PickledTensor {
  constructor(
    readonly storage: unknown,
    readonly storageOffset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

/** Globals a state dict may reference. Storage classes are only valid inside persistent ids. */
export const STORAGE_TYPES: Record<string, string> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
]);

/** The dtype of a `torch.<name>` storage class, or undefined: own properties only, so `constructor` or `__proto__` never match. */
export function storageDType(name: string): string | undefined {
  return Object.hasOwn(STORAGE_TYPES, name) ? STORAGE_TYPES[name] : undefined;
}

function allowedGlobal(module: string, name: string): boolean {
  if (CALLABLES.has(`${module}.${name}`)) return true;
  return module === 'torch' && storageDType(name) !== undefined;
}

export interface PickleOptions {
  /** Resolves a persistent id (BINPERSID); torch uses it for storages. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Upper bound on memo entries (default 10 million). */
  maxMemo?: number;
  /**
   * Upper bound on the elements that constructors may walk (OrderedDict items, tensor sizes and strides),
   * default twice the pickle's length plus 4096. A memoized object can be referenced again for two bytes,
   * so without this bound a small file could make the reader walk the same large list millions of times.
   */
  maxWork?: number;
}

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

function toInt(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new PickleError(`Expected an integer for ${what}, got ${describe(v)}.`);
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new PickleError(`Expected a tuple for ${what}, got ${describe(v)}.`);
  return v.map((x) => toInt(x, what));
}

/** Short human description of a pickled value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyTuple) return `tuple(${v.length})`;
  if (Array.isArray(v)) return `list(${v.length})`;
  if (v instanceof Map) return `dict(${v.size})`;
  if (v instanceof PickledTensor) return `tensor[${v.size}]`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  return typeof v === 'string' ? `'${v.slice(0, 40)}'` : String(v);
}

function call(fn: unknown, args: unknown, charge: (n: number) => void): unknown {
  if (!(fn instanceof PyGlobal)) throw new PickleError(`REDUCE on a non-callable (${describe(fn)}); refusing.`);
  if (!Array.isArray(args)) throw new PickleError(`REDUCE expects an argument tuple, got ${describe(args)}.`);
  switch (fn.qualified) {
    case 'collections.OrderedDict': {
      const m = new Map<unknown, unknown>();
      if (args.length === 1 && Array.isArray(args[0])) {
        charge(args[0].length);
        for (const pair of args[0] as unknown[]) {
          if (!Array.isArray(pair) || pair.length !== 2) throw new PickleError('OrderedDict items must be (key, value) pairs.');
          m.set(pair[0], pair[1]);
        }
      } else if (args.length !== 0) throw new PickleError('Unsupported OrderedDict constructor arguments.');
      return m;
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      if (args.length < 4) throw new PickleError(`${fn.name} needs at least 4 arguments, got ${args.length}.`);
      for (const [v, what] of [[args[2], 'size'], [args[3], 'stride']] as const) {
        if (Array.isArray(v) && v.length > MAX_TENSOR_RANK) {
          throw new PickleError(`Tensor ${what} has rank ${v.length}; at most ${MAX_TENSOR_RANK} dimensions are supported.`);
        }
      }
      charge(4);
      const size = intList(args[2], 'tensor size');
      const stride = intList(args[3], 'tensor stride');
      if (size.length !== stride.length) throw new PickleError('Tensor size and stride have different ranks.');
      if (size.some((s) => s < 0) || stride.some((s) => s < 0)) throw new PickleError('Negative tensor size or stride.');
      return new PickledTensor(args[0], toInt(args[1], 'storage offset'), size, stride);
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      if (!(args[0] instanceof PickledTensor)) throw new PickleError('_rebuild_parameter expects a tensor.');
      return args[0];
    default:
      throw new PickleError(`Refusing to call ${fn.qualified}: only plain state dicts can be loaded.`);
  }
}

/**
 * Interprets a pickle stream restricted to what torch state dicts contain.
 * Returns the unpickled root object and the offset just past STOP.
 * @example const { value } = unpickle(bytes, { persistentLoad: (pid) => pid });
 */
export function unpickle(bytes: Uint8Array, options: PickleOptions = {}): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxMemo = options.maxMemo ?? 10_000_000;
  const maxWork = options.maxWork ?? 2 * bytes.length + 4096;
  let work = 0;
  const charge = (n: number): void => {
    work += n;
    if (work > maxWork) {
      throw new PickleError(
        `Pickle does more work than its ${bytes.length} bytes justify (the same objects are reused over and over); refusing a hostile or corrupt file.`,
      );
    }
  };
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) throw new PickleError(`Truncated pickle: needs ${n} more bytes at offset ${pos}.`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const x = view.getUint16(pos, true);
    pos += 2;
    return x;
  };
  const u32 = (): number => {
    need(4);
    const x = view.getUint32(pos, true);
    pos += 4;
    return x;
  };
  const u64 = (): number => {
    need(8);
    const x = view.getBigUint64(pos, true);
    pos += 8;
    if (x > BigInt(bytes.length)) throw new PickleError(`Truncated pickle: a length of ${x} exceeds the data.`);
    return Number(x);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0 || nl - pos > 4096) throw new PickleError(`Malformed pickle: unterminated text line at offset ${pos}.`);
    const s = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw new PickleError(`Malformed pickle: stack underflow at offset ${pos}.`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new PickleError(`Malformed pickle: empty stack at offset ${pos}.`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) throw new PickleError(`Malformed pickle: no MARK at offset ${pos}.`);
    stack = prev;
    return items;
  };
  const put = (idx: number, v: unknown): void => {
    if (memo.size >= maxMemo && !memo.has(idx)) throw new PickleError('Pickle memo grew past its limit.');
    memo.set(idx, v);
  };
  const get = (idx: number): unknown => {
    if (!memo.has(idx)) throw new PickleError(`Malformed pickle: memo key ${idx} is missing.`);
    return memo.get(idx);
  };
  const str = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      throw new PickleError('Malformed pickle: invalid UTF-8 in a string.');
    }
  };
  const global = (module: string, name: string): PyGlobal => {
    if (!allowedGlobal(module, name)) {
      throw new PickleError(
        `Refusing global '${module}.${name}': only plain state dicts (OrderedDict of tensors) can be loaded; ` +
          'save model.state_dict() rather than the whole model or arbitrary objects.',
      );
    }
    return new PyGlobal(module, name);
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) throw new PickleError(`SETITEM(S) on ${describe(target)}.`);
    if (items.length % 2 !== 0) throw new PickleError('Malformed pickle: odd number of dict items.');
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const tuple = (items: unknown[]): PyTuple => {
    const t = new PyTuple();
    for (const x of items) t.push(x);
    return t;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new PickleError('Unsupported pickle protocol.');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw new PickleError(`Malformed pickle: ${stack.length} values left at STOP.`);
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        if (metastack.length > 10_000) throw new PickleError('Pickle nests too deeply.');
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
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
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let x = 0n;
        for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) x -= 1n << BigInt(8 * n);
        stack.push(x >= -BigInt(Number.MAX_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x);
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(str(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(take(u64())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(latin1.decode(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple());
        break;
      case 0x64: { // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x6c: { // LIST (evaluate before touching `stack`: popMark swaps the array)
        const items = [...popMark()];
        stack.push(items);
        break;
      }
      case 0x74: { // TUPLE
        const t = tuple(popMark());
        stack.push(t);
        break;
      }
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l) || l instanceof PyTuple) throw new PickleError(`APPEND on ${describe(l)}.`);
        l.push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l) || l instanceof PyTuple) throw new PickleError(`APPENDS on ${describe(l)}.`);
        for (const x of items) l.push(x);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        put(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        put(u32(), top());
        break;
      case 0x94: // MEMOIZE
        put(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(get(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(get(u32()));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') throw new PickleError('STACK_GLOBAL needs two strings.');
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, charge));
        break;
      }
      case 0x81: { // NEWOBJ: only OrderedDict.__new__ is meaningful here
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || cls.qualified !== 'collections.OrderedDict') {
          throw new PickleError(`Refusing NEWOBJ of ${describe(cls)}.`);
        }
        stack.push(call(cls, args, charge));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        // OrderedDict state dicts carry `_metadata` (module versions) as instance state; it is not needed.
        if (!(obj instanceof Map) && !(obj instanceof PickledTensor)) throw new PickleError(`BUILD on ${describe(obj)}; refusing.`);
        if (obj instanceof Map && state instanceof Map && state.has('_metadata')) {
          (obj as Map<unknown, unknown> & { metadata?: unknown }).metadata = state.get('_metadata');
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) throw new PickleError('Unexpected persistent id in this pickle.');
        stack.push(options.persistentLoad(pid));
        break;
      }
      default:
        throw new PickleError(
          `Unsupported pickle opcode ${OPNAMES[op] ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}) at offset ${at}: ` +
            'only plain PyTorch state dicts can be read; nothing else is interpreted.',
        );
    }
  }
}
