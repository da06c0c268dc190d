import { decodeElements, ELEMENT_SIZE, MAX_TENSOR_RANK, type SourceDType } from './dtype.js';
import { describe, MODULE_CLASSES, PickledTensor, PickleError, PyGlobal, PyObject, storageDType, unpickle } from './pickle.js';
import { moduleInfo, moduleTensors, OP_THRESHS_KEY, type ModuleInfo } from './modules.js';
import type { StateDict, TorchTensor } from './remap.js';
import { gatherStrided, rowMajorStrides } from '../utils/strided.js';
import { isZip, ZipReader } from './zip.js';

/** Largest tensor (elements) a checkpoint may declare; far above any zoo model's biggest weight. */
const MAX_TENSOR_ELEMENTS = 2 ** 30;
/** Elements allowed beyond the file's byte count (scalars of tiny files, tied weights). */
const TENSOR_SLACK = 65_536;
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

export interface ParsedCheckpoint {
  dict: StateDict;
  format: 'pth' | 'pth-legacy' | 'safetensors';
  notes: string[];
  /** Set when the file is a whole pickled module (`torch.save(model)`): its class, labels, operating points. */
  module?: ModuleInfo;
}

/** The tensors found in an unpickled checkpoint, and the module they came from when it was a whole module. */
interface Found {
  tensors: Map<string, PickledTensor>;
  module?: ModuleInfo;
}

interface StorageRef {
  key: string;
  dtype: SourceDType;
  numel: number;
  /** Legacy files may reference a slice of another storage. */
  viewOffset: number;
  viewSize?: number;
}

/** A count or offset read from a file: a non-negative safe integer (never NaN, a float or a huge value). */
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function storageRefFromPid(pid: unknown): StorageRef {
  if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
    throw new PickleError(`Unsupported persistent id ${describe(pid)}: expected ('storage', type, key, location, size).`);
  }
  const type = pid[1];
  const dtype = type instanceof PyGlobal && type.module === 'torch' ? storageDType(type.name) : undefined;
  if (dtype === undefined) throw new PickleError(`Unsupported storage type ${describe(type)}.`);
  const key = pid[2];
  if (typeof key !== 'string' || key.length === 0 || key.length > 256) throw new PickleError('Malformed storage key.');
  const numel = pid[4];
  if (!isCount(numel)) throw new PickleError(`Malformed storage size ${describe(numel)}.`);
  const ref: StorageRef = { key, dtype: dtype as SourceDType, numel, viewOffset: 0 };
  const view = pid[5];
  if (view !== undefined && view !== null) {
    if (!Array.isArray(view) || view.length !== 3 || !isCount(view[1]) || !isCount(view[2])) {
      throw new PickleError('Malformed storage view metadata.');
    }
    ref.viewOffset = view[1];
    ref.viewSize = view[2];
  }
  return ref;
}

/**
 * The tensor a checkpoint describes as (storage, offset, size, stride), checked against the storage first: a
 * hostile file cannot make it read out of range or allocate more than the file holds. Non-contiguous views are
 * copied with utils/strided.ts.
 */
export function readStridedTensor(storage: Float32Array, offset: number, size: number[], stride: number[], key: string): Float32Array {
  if (size.length > MAX_TENSOR_RANK || size.length !== stride.length) {
    throw new Error(`Tensor '${key}' has rank ${size.length} (strides ${stride.length}); at most ${MAX_TENSOR_RANK} dimensions are supported.`);
  }
  if (![offset, ...size, ...stride].every(isCount)) throw new Error(`Tensor '${key}' has an invalid size, stride or offset.`);
  let n = 1;
  for (const s of size) {
    n *= s;
    if (n > MAX_TENSOR_ELEMENTS) throw new Error(`Tensor '${key}' declares more than ${MAX_TENSOR_ELEMENTS} elements.`);
  }
  if (n === 0) return new Float32Array(0);
  let last = offset;
  for (let d = 0; d < size.length; d++) last += (size[d]! - 1) * stride[d]!;
  if (offset < 0 || last >= storage.length) {
    throw new Error(`Tensor '${key}' (shape [${size}], offset ${offset}, strides [${stride}]) reaches past its storage of ${storage.length} elements.`);
  }
  // An expanded (stride-0) tensor could declare far more elements than the file holds; refuse rather than allocate.
  if (n > storage.length) throw new Error(`Tensor '${key}' has more elements than its storage (broadcast views are not supported).`);
  const contiguous = rowMajorStrides(size).every((st, d) => size[d] === 1 || stride[d] === st);
  if (contiguous) return offset === 0 && n === storage.length ? storage : storage.slice(offset, offset + n);
  return gatherStrided(storage, offset, size, stride);
}

const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net'];

/** A whole module (`torch.save(model)`) as its state dict and metadata; nothing of it is run. */
function fromModule(root: PyObject, notes: string[]): Found {
  notes.push(`Read a whole pickled module (${root.cls.qualified}) as data: its parameters and buffers, no code run.`);
  return { tensors: moduleTensors(root), module: moduleInfo(root) };
}

/** Finds the state dict in an unpickled checkpoint (plain, wrapped as {'state_dict': ...}, or a whole module). */
function findStateDict(root: unknown, notes: string[]): Found {
  const isTensorMap = (m: unknown): m is Map<string, PickledTensor> => {
    if (!(m instanceof Map)) return false;
    for (const [k, v] of m) if (typeof k !== 'string' || !(v instanceof PickledTensor)) return false;
    return true;
  };
  if (isTensorMap(root)) return { tensors: root };
  if (root instanceof PyObject) return fromModule(root, notes);
  if (root instanceof Map) {
    for (const k of WRAPPER_KEYS) {
      const inner = root.get(k);
      if (isTensorMap(inner) || inner instanceof PyObject) {
        notes.push(`Checkpoint is a wrapper dict; using its '${k}' entry as the state dict.`);
        return inner instanceof PyObject ? fromModule(inner, notes) : { tensors: inner };
      }
    }
    const keys = [...root.keys()].slice(0, 10).map((k) => String(k));
    throw new Error(
      `The checkpoint is a dict but not a state dict of tensors (keys: ${keys.join(', ')}). ` +
        "Save model.state_dict() (or a dict with a 'state_dict' entry).",
    );
  }
  throw new Error(`The checkpoint holds ${describe(root)}, not a state dict. Save model.state_dict().`);
}

/** A whole module's `op_threshs` buffer is metadata (operating points), not a weight: it moves to `module.opThreshs`. */
function takeOpThreshs(dict: StateDict, found: Found): ModuleInfo | undefined {
  const t = dict.get(OP_THRESHS_KEY);
  if (!found.module || !t) return found.module;
  dict.delete(OP_THRESHS_KEY);
  return { ...found.module, opThreshs: Array.from(t.data) };
}

/** A legacy file names each module class by a persistent id ('module', class, source file, source text); the text is never run. */
function moduleClassFromPid(pid: unknown[]): PyGlobal {
  const cls = pid[1];
  if (!(cls instanceof PyGlobal) || !MODULE_CLASSES.has(cls.qualified)) throw new PickleError(`Unsupported module persistent id for ${describe(cls)}.`);
  return cls;
}

/**
 * Builds the float32 tensors. `maxElements` bounds their total size by the file's: several keys may share
 * one storage (tied weights), but a small file whose thousands of keys all name one big storage would
 * otherwise allocate that storage thousands of times.
 */
function materialize(
  tensors: Map<string, PickledTensor>,
  readStorage: (ref: StorageRef) => Float32Array,
  fileBytes: number,
): StateDict {
  const dict: StateDict = new Map();
  const maxElements = fileBytes + TENSOR_SLACK;
  let total = 0;
  for (const [key, t] of tensors) {
    const ref = t.storage as StorageRef;
    if (!ref || typeof ref !== 'object' || typeof (ref as StorageRef).key !== 'string') {
      throw new Error(`Tensor '${key}' has no storage reference.`);
    }
    total += t.size.reduce((a, b) => a * b, 1);
    if (total > maxElements) {
      throw new Error(
        `The checkpoint's tensors hold more than ${maxElements} elements in all, more than a ${fileBytes}-byte file can store ` +
          '(the same storage is reused over and over): refusing a hostile or corrupt file.',
      );
    }
    const data = readStridedTensor(readStorage(ref), t.storageOffset, t.size, t.stride, key);
    const tensor: TorchTensor = { shape: [...t.size], data };
    dict.set(key, tensor);
  }
  return dict;
}

function parseZip(bytes: Uint8Array, notes: string[], verifyCrc: boolean): { dict: StateDict; module?: ModuleInfo } {
  const zip = new ZipReader(bytes);
  const pkl = [...zip.entries.keys()].find((n) => n.endsWith('/data.pkl') && n.split('/').length === 2);
  if (!pkl) {
    throw new Error(
      'This ZIP file is not a torch.save checkpoint (no <name>/data.pkl entry). ' +
        'TorchScript archives (torch.jit.save) are not supported: save model.state_dict() with torch.save.',
    );
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  let littleEndian = true;
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`, verifyCrc));
    if (order !== 'little' && order !== 'big') throw new Error(`Unknown byteorder '${order.slice(0, 20)}' in checkpoint.`);
    littleEndian = order === 'little';
  }
  const { value } = unpickle(zip.read(pkl, verifyCrc), { persistentLoad: storageRefFromPid });
  const found = findStateDict(value, notes);
  const cache = new Map<string, Float32Array>();
  const dict = materialize(found.tensors, (ref) => {
    let s = cache.get(ref.key);
    if (!s) {
      const raw = zip.read(`${prefix}data/${ref.key}`, verifyCrc);
      const el = ELEMENT_SIZE[ref.dtype];
      if (raw.length % el !== 0) throw new Error(`Storage '${ref.key}' has ${raw.length} bytes, not a multiple of ${ref.dtype}.`);
      const numel = raw.length / el;
      if (numel < ref.numel) throw new Error(`Storage '${ref.key}' is truncated: ${numel} of ${ref.numel} elements.`);
      s = decodeElements(raw, ref.dtype, ref.numel, littleEndian);
      cache.set(ref.key, s);
    }
    return s;
  }, bytes.length);
  return withModule(dict, found);
}

function withModule(dict: StateDict, found: Found): { dict: StateDict; module?: ModuleInfo } {
  const module = takeOpThreshs(dict, found);
  return module ? { dict, module } : { dict };
}

/** The pre-1.6 format: a series of pickles followed by raw storages, each prefixed by its element count. */
function parseLegacy(bytes: Uint8Array, notes: string[]): { dict: StateDict; module?: ModuleInfo } {
  let pos = 0;
  const next = (persistentLoad?: (pid: unknown) => unknown): unknown => {
    const r = unpickle(bytes.subarray(pos), persistentLoad ? { persistentLoad } : {});
    pos += r.end;
    return r.value;
  };
  const magic = next();
  if (magic !== LEGACY_MAGIC) {
    throw new Error('Not a PyTorch checkpoint: the legacy magic number is missing.');
  }
  const version = next();
  if (version !== 1001) throw new Error(`Unsupported legacy checkpoint protocol ${String(version)}.`);
  const sysInfo = next();
  let littleEndian = true;
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) littleEndian = false;
  const refs = new Map<string, StorageRef>();
  const root = next((pid) => {
    if (Array.isArray(pid) && pid[0] === 'module') return moduleClassFromPid(pid);
    const ref = storageRefFromPid(pid);
    const prev = refs.get(ref.key);
    if (prev && prev.dtype !== ref.dtype) throw new Error(`Storage '${ref.key}' is used with two dtypes.`);
    if (!prev) refs.set(ref.key, { ...ref, viewOffset: 0, viewSize: undefined });
    return ref;
  });
  const keys = next();
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new Error('Malformed legacy checkpoint: bad storage key list.');
  const storages = new Map<string, Float32Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys as string[]) {
    const ref = refs.get(key);
    if (!ref) throw new Error(`Malformed legacy checkpoint: storage '${key}' is listed but never used.`);
    if (pos + 8 > bytes.length) throw new Error('Truncated legacy checkpoint: storage header missing.');
    const count64 = view.getBigInt64(pos, littleEndian);
    pos += 8;
    // every count from the file is checked against the bytes actually present before anything is allocated
    const room = BigInt(bytes.length - pos);
    const nbytes64 = count64 * BigInt(ELEMENT_SIZE[ref.dtype]);
    if (count64 < 0n || nbytes64 > room) {
      throw new Error(`Truncated or corrupt legacy checkpoint: storage '${key}' declares ${count64} ${ref.dtype} elements (${nbytes64} bytes) but ${room} bytes remain.`);
    }
    const count = Number(count64);
    const nbytes = Number(nbytes64);
    if (count < ref.numel) throw new Error(`Truncated legacy checkpoint: storage '${key}' holds ${count} of the ${ref.numel} elements its tensors use.`);
    storages.set(key, decodeElements(bytes.subarray(pos, pos + nbytes), ref.dtype, count, littleEndian));
    pos += nbytes;
  }
  const found = findStateDict(root, notes);
  notes.push('Read a legacy (pre-1.6, non-zip) torch.save file.');
  const dict = materialize(found.tensors, (ref) => {
    const s = storages.get(ref.key);
    if (!s) throw new Error(`Malformed legacy checkpoint: storage '${ref.key}' has no data.`);
    if (ref.viewOffset === 0 && ref.viewSize === undefined) return s;
    const end = ref.viewOffset + (ref.viewSize ?? s.length - ref.viewOffset);
    if (ref.viewOffset < 0 || end > s.length) throw new Error(`Storage view of '${ref.key}' is out of range.`);
    return s.subarray(ref.viewOffset, end);
  }, bytes.length);
  return withModule(dict, found);
}

/** True when the bytes look like a torch.save file (zip or legacy pickle). */
export function isTorchCheckpoint(bytes: Uint8Array): boolean {
  return isZip(bytes) || (bytes.length > 2 && bytes[0] === 0x80 && bytes[1]! <= 5);
}

/**
 * Parses a torch.save state dict (zip format of torch >= 1.6, or the legacy format) into
 * float32 tensors in PyTorch layout. Only the pickle subset of state dicts and whole modules of allow-listed
 * classes (read as data: `module` has their labels and operating points) is understood; anything else is
 * refused, never executed.
 * @example const { dict } = parseTorchSave(new Uint8Array(await readFile('resnet18.pth')));
 */
export function parseTorchSave(bytes: Uint8Array, options: { verifyCrc?: boolean } = {}): ParsedCheckpoint {
  const notes: string[] = [];
  if (isZip(bytes)) return { ...parseZip(bytes, notes, options.verifyCrc ?? true), format: 'pth', notes };
  if (bytes.length > 2 && bytes[0] === 0x80) return { ...parseLegacy(bytes, notes), format: 'pth-legacy', notes };
  if (bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new Error('This is a tar-format checkpoint from PyTorch < 0.4; re-save it with torch >= 1.6 (torch.save(model.state_dict(), path)).');
  }
  throw new Error('Not a PyTorch checkpoint: expected a torch.save ZIP archive (torch >= 1.6).');
}
