import { describe, PickledTensor, PickleError, PyObject, PySet } from './pickle.js';

/**
 * Whole pickled modules (`torch.save(model)`, as torchxrayvision publishes its DenseNets) read as data: the
 * module tree that pickle.ts rebuilt as inert `PyObject` records is walked like `nn.Module.state_dict()` walks
 * it (`_parameters`, then persistent `_buffers`, then `_modules` depth first, keys joined with '.'), and the
 * root module's plain attributes (pathologies, op_threshs, ...) are surfaced as data. Nothing is called.
 */

/** What a whole-module checkpoint says about itself besides its tensors. */
export interface ModuleInfo {
  /** The root module's class, e.g. `torchxrayvision.models.DenseNet`. */
  className: string;
  /** The root module's plain attributes (strings, numbers, booleans, None and lists of them), private ones (`_x`) and `training` left out. */
  attributes: Record<string, unknown>;
  /** Output names: the root's `pathologies` (or `targets`) when it is a list of strings; '' marks an output without a label. */
  labels?: string[];
  /** Per-output operating points from the root's `op_threshs` buffer (NaN where the weights have none). */
  opThreshs?: number[];
}

/** Deepest module nesting accepted; torchvision's deepest models nest 5 levels. */
const MAX_DEPTH = 64;
/** Most module records walked; DenseNet-121 has ~430. A shared submodule is walked once per path, so a small hostile file could otherwise fan out exponentially. */
const MAX_MODULES = 100_000;

/**
 * Most parameter, buffer and submodule entries walked in all; DenseNet-121 has ~1,500. A memoized `_parameters`
 * dict shared by thousands of modules would otherwise be walked once per module.
 */
const MAX_ENTRIES = 200_000;

/** Buffer the root may carry that is metadata, not a weight (torchxrayvision's operating points). */
export const OP_THRESHS_KEY = 'op_threshs';

function stateOf(obj: PyObject, path: string): Map<unknown, unknown> {
  if (!obj.state) throw new PickleError(`Module ${obj.cls.qualified} at '${path || '(root)'}' has no state; refusing a corrupt file.`);
  return obj.state;
}

function entries(state: Map<unknown, unknown>, field: string, path: string, work: { left: number }): [string, unknown][] {
  const m = state.get(field);
  if (m === undefined || m === null) return [];
  if (!(m instanceof Map)) throw new PickleError(`Module '${path || '(root)'}' has ${field} = ${describe(m)}, not a dict.`);
  work.left -= m.size;
  if (work.left < 0) throw new PickleError(`The module tree has more than ${MAX_ENTRIES} parameters, buffers and submodules (shared dicts reused over and over); refusing a hostile or corrupt file.`);
  const out: [string, unknown][] = [];
  for (const [k, v] of m) {
    if (typeof k !== 'string' || k.length === 0 || k.length > 256 || k.includes('.')) {
      throw new PickleError(`Module '${path || '(root)'}' has a malformed ${field} name ${describe(k)}.`);
    }
    out.push([k, v]);
  }
  return out;
}

/** Names in `_non_persistent_buffers_set`: buffers that `state_dict()` leaves out. */
function nonPersistent(state: Map<unknown, unknown>, work: { left: number }): Set<string> {
  const s = state.get('_non_persistent_buffers_set');
  if (!(s instanceof PySet)) return new Set();
  work.left -= s.length;
  if (work.left < 0) throw new PickleError(`The module tree has more than ${MAX_ENTRIES} parameters, buffers and submodules (shared dicts reused over and over); refusing a hostile or corrupt file.`);
  return new Set(s.filter((x): x is string => typeof x === 'string'));
}

/** The tensors of one module (parameters, then persistent buffers) under `prefix`. */
function ownTensors(state: Map<unknown, unknown>, path: string, out: Map<string, PickledTensor>, work: { left: number }): void {
  const skip = nonPersistent(state, work);
  for (const field of ['_parameters', '_buffers']) {
    for (const [name, t] of entries(state, field, path, work)) {
      if (t === null || (field === '_buffers' && skip.has(name))) continue;
      if (!(t instanceof PickledTensor)) throw new PickleError(`'${path}${name}' in ${field} is ${describe(t)}, not a tensor.`);
      out.set(`${path}${name}`, t);
    }
  }
}

/**
 * The state dict of a module tree, keyed as `state_dict()` keys it (`features.conv0.weight`).
 * @example const tensors = moduleTensors(root); // Map { 'features.conv0.weight' => PickledTensor, ... }
 */
export function moduleTensors(root: PyObject): Map<string, PickledTensor> {
  const out = new Map<string, PickledTensor>();
  let walked = 0;
  const work = { left: MAX_ENTRIES };
  const visit = (obj: PyObject, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new PickleError(`Modules nest deeper than ${MAX_DEPTH} levels; refusing a hostile or corrupt file.`);
    if (++walked > MAX_MODULES) throw new PickleError(`The module tree has more than ${MAX_MODULES} modules (shared submodules reused over and over); refusing a hostile or corrupt file.`);
    const state = stateOf(obj, path);
    ownTensors(state, path, out, work);
    for (const [name, child] of entries(state, '_modules', path, work)) {
      if (child === null) continue;
      if (!(child instanceof PyObject)) throw new PickleError(`Submodule '${path}${name}' is ${describe(child)}, not a module.`);
      visit(child, `${path}${name}.`, depth + 1);
    }
  };
  visit(root, '', 0);
  return out;
}

const isScalar = (v: unknown): boolean => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** List elements read from all root attributes together; torchxrayvision's need 36 (pathologies, targets). */
const MAX_ATTRIBUTE_ELEMENTS = 100_000;

/**
 * A plain value (string, number, boolean, None, or a list of them), else undefined. Lists of lists are not walked,
 * and `budget` bounds the list elements read in all: a memoized list referenced from 10,000 attributes (or from
 * another list 10,000 times) would otherwise cost 10^8 steps for a few hundred kilobytes.
 */
function plain(v: unknown, budget: { left: number }): unknown {
  if (isScalar(v)) return v;
  if (!Array.isArray(v) || v instanceof PySet || v.length > budget.left) return undefined;
  budget.left -= v.length;
  return v.every(isScalar) ? [...v] : undefined;
}

/**
 * The root module's class and plain attributes; labels from `pathologies` / `targets`. The operating points
 * are a tensor (a buffer) and are added by the reader once the storages are read.
 * @example moduleInfo(root).labels // ['Atelectasis', 'Consolidation', ...]
 */
export function moduleInfo(root: PyObject): ModuleInfo {
  const state = stateOf(root, '');
  const attributes: Record<string, unknown> = {};
  const budget = { left: MAX_ATTRIBUTE_ELEMENTS };
  for (const [k, v] of state) {
    if (typeof k !== 'string' || k.startsWith('_') || k === 'training' || k === '__proto__') continue;
    const p = plain(v, budget);
    if (p !== undefined) attributes[k] = p;
  }
  const info: ModuleInfo = { className: root.cls.qualified, attributes };
  for (const k of ['pathologies', 'targets']) {
    const l = attributes[k];
    if (Array.isArray(l) && l.every((x) => typeof x === 'string')) {
      info.labels = l as string[];
      break;
    }
  }
  return info;
}
