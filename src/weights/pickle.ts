import { MAX_TENSOR_RANK } from './dtype.js';

/**
 * A deliberately tiny pickle interpreter: just the opcodes and globals that PyTorch state dicts and whole
 * pickled modules (`torch.save(model)`) use. Nothing is ever executed: a module instance of an allow-listed
 * class becomes an inert `PyObject` record of its `__dict__`; any other global or opcode is refused by name,
 * so a malicious checkpoint cannot run code the way Python's pickle.load would.
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

/** Python set (`set()` in a module's `_non_persistent_buffers_set`), kept as its items. */
export class PySet extends Array<unknown> {}

/**
 * An instance of an allow-listed `nn.Module` class, as data: its class name and the `__dict__` that BUILD
 * gave it (`_parameters`, `_buffers`, `_modules`, plain attributes). No constructor or `__setstate__` runs.
 */
export class PyObject {
  state: Map<unknown, unknown> | null = null;
  constructor(readonly cls: PyGlobal) {}
}

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

/** `set([...])`: protocol 2 pickles a set as a call of the builtin with a list (Python 2 or 3 spelling). */
const SETS = new Set(['__builtin__.set', 'builtins.set']);

/**
 * nn.Module classes whose instances may appear in a whole-module checkpoint (torch.save(model)): the
 * torch.nn layers the zoo's architectures use, torchvision's ResNet / DenseNet classes and torchxrayvision's
 * DenseNet / ResNet. They are never called or instantiated: NEWOBJ of one gives a `PyObject` record, and
 * REDUCE of one is refused. Exactly the classes torchxrayvision's and torchvision's files reference
 * (tools/make_xrv_fixtures.py lists them per file with pickletools).
 */
export const MODULE_CLASSES: ReadonlySet<string> = new Set([
  'torch.nn.modules.conv.Conv2d',
  'torch.nn.modules.linear.Linear',
  'torch.nn.modules.linear.Identity',
  'torch.nn.modules.activation.ReLU',
  'torch.nn.modules.dropout.Dropout',
  'torch.nn.modules.flatten.Flatten',
  'torch.nn.modules.batchnorm.BatchNorm2d',
  'torch.nn.modules.container.Sequential',
  'torch.nn.modules.container.ModuleList',
  'torch.nn.modules.container.ModuleDict',
  'torch.nn.modules.pooling.MaxPool2d',
  'torch.nn.modules.pooling.AvgPool2d',
  'torch.nn.modules.pooling.AdaptiveAvgPool2d',
  'torchvision.models.resnet.ResNet',
  'torchvision.models.resnet.BasicBlock',
  'torchvision.models.resnet.Bottleneck',
  'torchvision.models.densenet.DenseNet',
  'torchvision.models.densenet._DenseBlock',
  'torchvision.models.densenet._DenseLayer',
  'torchvision.models.densenet._Transition',
  'torchxrayvision.models.DenseNet',
  'torchxrayvision.models.ResNet',
  'torchxrayvision.models._DenseBlock',
  'torchxrayvision.models._DenseLayer',
  'torchxrayvision.models._Transition',
]);

function allowedGlobal(module: string, name: string): boolean {
  const q = `${module}.${name}`;
  if (CALLABLES.has(q) || SETS.has(q) || MODULE_CLASSES.has(q)) return true;
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
  if (v instanceof PySet) return `set(${v.length})`;
  if (v instanceof PyObject) return `${v.cls.qualified} instance`;
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
    case '__builtin__.set':
    case 'builtins.set': {
      const items = args.length === 0 ? [] : args[0];
      if (args.length > 1 || !Array.isArray(items)) throw new PickleError('set() expects one list of items.');
      charge(items.length);
      const out = new PySet();
      for (const x of items) out.push(x);
      return out;
    }
    default:
      throw new PickleError(`Refusing to call ${fn.qualified}: only state dicts and module records are read, nothing is called.`);
  }
}

/** Reader state shared by the opcode handlers: the bytes, the cursor, the stacks, the memo and the work budget. */
class Machine {
  readonly view: DataView;
  readonly maxMemo: number;
  readonly maxWork: number;
  readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  readonly latin1 = new TextDecoder('latin1');
  stack: unknown[] = [];
  readonly metastack: unknown[][] = [];
  readonly memo = new Map<number, unknown>();
  pos = 0;
  work = 0;
  /** Set by STOP. */
  done = false;

  constructor(
    readonly bytes: Uint8Array,
    readonly options: PickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxMemo = options.maxMemo ?? 10_000_000;
    this.maxWork = options.maxWork ?? 2 * bytes.length + 4096;
  }

  readonly charge = (n: number): void => {
    this.work += n;
    if (this.work > this.maxWork) {
      throw new PickleError(
        `Pickle does more work than its ${this.bytes.length} bytes justify (the same objects are reused over and over); refusing a hostile or corrupt file.`,
      );
    }
  };

  need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) throw new PickleError(`Truncated pickle: needs ${n} more bytes at offset ${this.pos}.`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const x = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return x;
  }
  u32(): number {
    this.need(4);
    const x = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  }
  u64(): number {
    this.need(8);
    const x = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (x > BigInt(this.bytes.length)) throw new PickleError(`Truncated pickle: a length of ${x} exceeds the data.`);
    return Number(x);
  }
  i32(): number {
    this.need(4);
    const x = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return x;
  }
  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return x;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0 || nl - this.pos > 4096) throw new PickleError(`Malformed pickle: unterminated text line at offset ${this.pos}.`);
    const s = this.latin1.decode(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }
  push(v: unknown): void {
    this.stack.push(v);
  }
  pop(): unknown {
    if (this.stack.length === 0) throw new PickleError(`Malformed pickle: stack underflow at offset ${this.pos}.`);
    return this.stack.pop();
  }
  top(): unknown {
    if (this.stack.length === 0) throw new PickleError(`Malformed pickle: empty stack at offset ${this.pos}.`);
    return this.stack[this.stack.length - 1];
  }
  mark(): void {
    if (this.metastack.length > 10_000) throw new PickleError('Pickle nests too deeply.');
    this.metastack.push(this.stack);
    this.stack = [];
  }
  popMark(): unknown[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) throw new PickleError(`Malformed pickle: no MARK at offset ${this.pos}.`);
    this.stack = prev;
    return items;
  }
  put(idx: number, v: unknown): void {
    if (this.memo.size >= this.maxMemo && !this.memo.has(idx)) throw new PickleError('Pickle memo grew past its limit.');
    this.memo.set(idx, v);
  }
  get(idx: number): unknown {
    if (!this.memo.has(idx)) throw new PickleError(`Malformed pickle: memo key ${idx} is missing.`);
    return this.memo.get(idx);
  }
  str(b: Uint8Array): string {
    try {
      return this.utf8.decode(b);
    } catch {
      throw new PickleError('Malformed pickle: invalid UTF-8 in a string.');
    }
  }
}

function refuseGlobal(module: string, name: string): PyGlobal {
  if (!allowedGlobal(module, name)) {
    throw new PickleError(
      `Refusing global '${module}.${name}': only plain state dicts (OrderedDict of tensors) can be loaded; ` +
        'save model.state_dict() rather than the whole model or arbitrary objects.',
    );
  }
  return new PyGlobal(module, name);
}

function setItems(target: unknown, items: unknown[]): void {
  if (!(target instanceof Map)) throw new PickleError(`SETITEM(S) on ${describe(target)}.`);
  if (items.length % 2 !== 0) throw new PickleError('Malformed pickle: odd number of dict items.');
  for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
}

function tuple(items: unknown[]): PyTuple {
  const t = new PyTuple();
  for (const x of items) t.push(x);
  return t;
}

function mutableList(l: unknown, op: string): unknown[] {
  if (!Array.isArray(l) || l instanceof PyTuple) throw new PickleError(`${op} on ${describe(l)}.`);
  return l;
}

function long1(m: Machine): number | bigint {
  const n = m.u8();
  const b = m.take(n);
  let x = 0n;
  for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  if (n > 0 && b[n - 1]! & 0x80) x -= 1n << BigInt(8 * n);
  return x >= -BigInt(Number.MAX_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
}

type Handler = (m: Machine) => void;

/** Opcodes that only move data: protocol, stack, constants, strings, containers, the memo. */
const DATA_OPS: Record<number, Handler> = {
  0x80: (m) => { // PROTO
    if (m.u8() > 5) throw new PickleError('Unsupported pickle protocol.');
  },
  0x95: (m) => void m.u64(), // FRAME
  0x2e: (m) => { // STOP
    if (m.stack.length !== 1) throw new PickleError(`Malformed pickle: ${m.stack.length} values left at STOP.`);
    m.done = true;
  },
  0x28: (m) => m.mark(), // MARK
  0x30: (m) => void m.pop(), // POP
  0x31: (m) => void m.popMark(), // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.i32()), // BININT
  0x4b: (m) => m.push(m.u8()), // BININT1
  0x4d: (m) => m.push(m.u16()), // BININT2
  0x8a: (m) => m.push(long1(m)), // LONG1
  0x47: (m) => m.push(m.f64()), // BINFLOAT
  0x58: (m) => m.push(m.str(m.take(m.u32()))), // BINUNICODE
  0x8c: (m) => m.push(m.str(m.take(m.u8()))), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.str(m.take(m.u64()))), // BINUNICODE8
  0x55: (m) => m.push(m.latin1.decode(m.take(m.u8()))), // SHORT_BINSTRING
  0x54: (m) => m.push(m.latin1.decode(m.take(m.u32()))), // BINSTRING
  0x43: (m) => m.push(m.take(m.u8()).slice()), // SHORT_BINBYTES
  0x42: (m) => m.push(m.take(m.u32()).slice()), // BINBYTES
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x29: (m) => m.push(new PyTuple()), // EMPTY_TUPLE
  0x64: (m) => { // DICT
    const d = new Map();
    setItems(d, m.popMark());
    m.push(d);
  },
  // LIST and TUPLE evaluate before pushing: popMark swaps the stack array
  0x6c: (m) => { // LIST
    const items = [...m.popMark()];
    m.push(items);
  },
  0x74: (m) => { // TUPLE
    const t = tuple(m.popMark());
    m.push(t);
  },
  0x85: (m) => m.push(tuple([m.pop()])), // TUPLE1
  0x86: (m) => { // TUPLE2
    const b = m.pop();
    const a = m.pop();
    m.push(tuple([a, b]));
  },
  0x87: (m) => { // TUPLE3
    const c = m.pop();
    const b = m.pop();
    const a = m.pop();
    m.push(tuple([a, b, c]));
  },
  0x61: (m) => { // APPEND
    const v = m.pop();
    mutableList(m.top(), 'APPEND').push(v);
  },
  0x65: (m) => { // APPENDS
    const items = m.popMark();
    const l = mutableList(m.top(), 'APPENDS');
    for (const x of items) l.push(x);
  },
  0x73: (m) => { // SETITEM
    const v = m.pop();
    const k = m.pop();
    setItems(m.top(), [k, v]);
  },
  0x75: (m) => { // SETITEMS
    const items = m.popMark();
    setItems(m.top(), items);
  },
  0x71: (m) => m.put(m.u8(), m.top()), // BINPUT
  0x72: (m) => m.put(m.u32(), m.top()), // LONG_BINPUT
  0x94: (m) => m.put(m.memo.size, m.top()), // MEMOIZE
  0x68: (m) => m.push(m.get(m.u8())), // BINGET
  0x6a: (m) => m.push(m.get(m.u32())), // LONG_BINGET
};

/** Opcodes that name or build objects: each goes through the allow-list, nothing is ever called. */
const OBJECT_OPS: Record<number, Handler> = {
  0x63: (m) => { // GLOBAL
    const module = m.line();
    const name = m.line();
    m.push(refuseGlobal(module, name));
  },
  0x93: (m) => { // STACK_GLOBAL
    const name = m.pop();
    const module = m.pop();
    if (typeof name !== 'string' || typeof module !== 'string') throw new PickleError('STACK_GLOBAL needs two strings.');
    m.push(refuseGlobal(module, name));
  },
  0x52: (m) => { // REDUCE
    const args = m.pop();
    const fn = m.pop();
    m.push(call(fn, args, m.charge));
  },
  0x81: (m) => { // NEWOBJ: OrderedDict.__new__, or an allow-listed module class recorded as data
    const args = m.pop();
    const cls = m.pop();
    if (cls instanceof PyGlobal && MODULE_CLASSES.has(cls.qualified)) {
      if (!Array.isArray(args) || args.length !== 0) throw new PickleError(`NEWOBJ of ${cls.qualified} with arguments; refusing.`);
      m.charge(1);
      m.push(new PyObject(cls));
      return;
    }
    if (!(cls instanceof PyGlobal) || cls.qualified !== 'collections.OrderedDict') {
      throw new PickleError(`Refusing NEWOBJ of ${describe(cls)}.`);
    }
    m.push(call(cls, args, m.charge));
  },
  0x62: (m) => { // BUILD
    const state = m.pop();
    const obj = m.top();
    if (obj instanceof PyObject) {
      // a module's __dict__, kept as data (Module.__setstate__ is never run); set once
      if (!(state instanceof Map) || obj.state !== null) throw new PickleError(`BUILD of ${obj.cls.qualified} with ${describe(state)}; refusing.`);
      obj.state = state;
      return;
    }
    // OrderedDict state dicts carry `_metadata` (module versions) as instance state; it is not needed.
    if (!(obj instanceof Map) && !(obj instanceof PickledTensor)) throw new PickleError(`BUILD on ${describe(obj)}; refusing.`);
    if (obj instanceof Map && state instanceof Map && state.has('_metadata')) {
      (obj as Map<unknown, unknown> & { metadata?: unknown }).metadata = state.get('_metadata');
    }
  },
  0x51: (m) => { // BINPERSID
    const pid = m.pop();
    if (!m.options.persistentLoad) throw new PickleError('Unexpected persistent id in this pickle.');
    m.push(m.options.persistentLoad(pid));
  },
};

/** One handler per supported opcode; a byte missing here is refused by name. */
const HANDLERS: Record<number, Handler> = { ...DATA_OPS, ...OBJECT_OPS };

/**
 * Interprets a pickle stream restricted to what torch state dicts contain.
 * Returns the unpickled root object and the offset just past STOP.
 * @example const { value } = unpickle(bytes, { persistentLoad: (pid) => pid });
 */
export function unpickle(bytes: Uint8Array, options: PickleOptions = {}): { value: unknown; end: number } {
  const m = new Machine(bytes, options);
  for (;;) {
    const at = m.pos;
    const op = m.u8();
    const handler = Object.hasOwn(HANDLERS, op) ? HANDLERS[op] : undefined;
    if (!handler) {
      throw new PickleError(
        `Unsupported pickle opcode ${OPNAMES[op] ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}) at offset ${at}: ` +
          'only plain PyTorch state dicts can be read; nothing else is interpreted.',
      );
    }
    handler(m);
    if (m.done) return { value: m.stack[0], end: m.pos };
  }
}
