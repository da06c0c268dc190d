// Checkpoint filters: pure functions from a state dict to a state dict, as timm's `checkpoint_filter_fn`.
// The generic ones (any architecture) live here; each family's own filter lives in its zoo file
// (zoo/densenet.ts renames torchvision's old keys, zoo/inception.ts drops AuxLogits) and is referenced from
// its spec. loadWeights runs: DataParallel prefix, num_batches_tracked, the family's filter, ignored prefixes,
// head (label offset, other class count), grayscale stem.
import type { StateDict, TorchTensor } from './remap.js';

/** What a checkpoint filter returns: the new state dict, and what it did (logged and reported by loadWeights). */
export interface CheckpointFilterResult {
  dict: StateDict;
  notes: string[];
  skipped: { key: string; reason: string }[];
}

/**
 * A checkpoint filter: a pure function from a state dict to the one the model's layers expect
 * (`modelKeys`: the model's state-dict keys). The input is never modified.
 */
export type CheckpointFilter = (dict: StateDict, modelKeys: ReadonlySet<string>) => CheckpointFilterResult;

/** The state-dict shape of the model parameter a filter adapts the checkpoint to. */
export interface ModelParam {
  key: string;
  torchShape: number[];
}

const unchanged = (dict: StateDict): CheckpointFilterResult => ({ dict, notes: [], skipped: [] });

export function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Renames keys with `rename` (keys it returns unchanged stay); `note` is logged when any key changed. */
export function renameKeys(rename: (key: string) => string, note: string): CheckpointFilter {
  return (input) => {
    let changed = false;
    const dict: StateDict = new Map();
    for (const [k, v] of input) {
      const to = rename(k);
      changed ||= to !== k;
      dict.set(to, v);
    }
    return changed ? { dict, notes: [note], skipped: [] } : unchanged(input);
  };
}

/** Drops the keys under `prefix` that the model lacks (a model that has such layers still loads them). */
export function dropKeys(prefix: string, note: (count: number) => string): CheckpointFilter {
  return (input, modelKeys) => {
    const dict: StateDict = new Map();
    const skipped: CheckpointFilterResult['skipped'] = [];
    for (const [k, v] of input) {
      if (k.startsWith(prefix) && !modelKeys.has(k)) skipped.push({ key: k, reason: `ignored prefix ${prefix}` });
      else dict.set(k, v);
    }
    return skipped.length ? { dict, notes: [note(skipped.length)], skipped } : unchanged(input);
  };
}

/** Checkpoint keys under `prefix` that the model does not have are ignored (loadWeights' `ignoreKeyPrefixes`). */
export const ignorePrefix = (prefix: string): CheckpointFilter =>
  dropKeys(prefix, (n) => `Ignored ${n} checkpoint keys under '${prefix}' that the model does not have.`);

/** DataParallel saves every key under `module.`; strips it when every key has it and the model's do not. */
export const stripDataParallel: CheckpointFilter = (input, modelKeys) => {
  const keys = [...input.keys()];
  if (keys.length === 0 || !keys.every((k) => k.startsWith('module.')) || [...modelKeys].some((k) => k.startsWith('module.'))) {
    return unchanged(input);
  }
  return {
    dict: new Map([...input].map(([k, v]) => [k.slice('module.'.length), v])),
    notes: ["Stripped the 'module.' prefix that DataParallel adds to every key."],
    skipped: [],
  };
};

/** Keys a PyTorch state dict may carry that have no TF.js counterpart and are safe to ignore. */
export function isIgnorableTorchKey(key: string): boolean {
  return key.endsWith('.num_batches_tracked');
}

/** Drops BatchNorm's `num_batches_tracked` counters (no TF.js counterpart, not used in evaluation). */
export const dropBatchCounters: CheckpointFilter = (input) => {
  const dict: StateDict = new Map([...input].filter(([k]) => !isIgnorableTorchKey(k)));
  return unchanged(dict);
};

function sliceRows(t: TorchTensor, from: number): TorchTensor {
  const rows = t.shape[0]!;
  const per = t.data.length / rows;
  return { shape: [rows - from, ...t.shape.slice(1)], data: t.data.slice(from * per) };
}

/**
 * The classifier: drops `labelOffset` leading classes (timm's label_offset, 1001-class heads), then skips the
 * head (it keeps its initial weights) when `skipHead` is true, or 'auto' and its class count differs from the
 * model's (as timm does). `weight` is the model's head weight; `name` its layer.
 */
export function headFilter(name: string, weight: ModelParam | undefined, options: { labelOffset?: number; skipHead?: boolean | 'auto' }): CheckpointFilter {
  return (input) => {
    const dict: StateDict = new Map(input);
    const notes: string[] = [];
    const skipped: CheckpointFilterResult['skipped'] = [];
    const wKey = `${name}.weight`;
    const bKey = `${name}.bias`;
    const w = dict.get(wKey);
    const offset = options.labelOffset ?? 0;
    if (weight && w && offset > 0 && w.shape.length === 2 && w.shape[0] === weight.torchShape[0]! + offset) {
      dict.set(wKey, sliceRows(w, offset));
      const b = dict.get(bKey);
      if (b && b.shape.length === 1) dict.set(bKey, sliceRows(b, offset));
      notes.push(`Dropped the first ${offset} class(es) of the checkpoint's '${name}' (background class, as timm's label_offset).`);
    }
    const w2 = dict.get(wKey);
    const differs = weight && w2 && !sameShape(weight.torchShape, w2.shape);
    const skip = options.skipHead === true || (options.skipHead !== false && differs);
    if (skip && (dict.has(wKey) || dict.has(bKey))) {
      for (const k of [wKey, bKey]) {
        if (dict.delete(k)) skipped.push({ key: k, reason: 'classifier skipped' });
      }
      notes.push(
        options.skipHead === true
          ? `Skipped the classifier '${name}' as requested; it keeps its initial weights.`
          : `Skipped the classifier '${name}': the checkpoint has ${w2?.shape[0]} classes, the model ${weight?.torchShape[0]}. It keeps its initial weights (as timm does).`,
      );
    }
    return { dict, notes, skipped };
  };
}

/** Sums a [O, C, kh, kw] kernel over C -> [O, 1, kh, kw] (RGB stem -> grayscale stem). */
export function sumInputChannels(t: TorchTensor): TorchTensor {
  const [o, c, kh, kw] = t.shape as [number, number, number, number];
  const hw = kh * kw;
  const out = new Float32Array(o * hw);
  for (let i = 0; i < o; i++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (i * c + ch) * hw;
      for (let k = 0; k < hw; k++) out[i * hw + k]! += t.data[src + k]!;
    }
  }
  return { shape: [o, 1, kh, kw], data: out };
}

/** A 1-channel stem (`stem`: the model's first conv weight) loads an RGB checkpoint's by summing over its input channels. */
/** Spreads a [O, 1, kh, kw] kernel over 3 input channels, a third each: on grey replicated to RGB it computes the same. */
export function spreadInputChannel(t: TorchTensor): TorchTensor {
  const [o, , kh, kw] = t.shape as [number, number, number, number];
  const hw = kh * kw;
  const out = new Float32Array(o * 3 * hw);
  for (let i = 0; i < o; i++) {
    for (let ch = 0; ch < 3; ch++) for (let k = 0; k < hw; k++) out[(i * 3 + ch) * hw + k] = t.data[i * hw + k]! / 3;
  }
  return { shape: [o, 3, kh, kw], data: out };
}

/** A 1-channel checkpoint (torchxrayvision's grey models) into an RGB stem: the kernel spread over R, G and B. */
function rgbStemFromGray(stem: ModelParam, input: StateDict): CheckpointFilterResult | undefined {
  const t = input.get(stem.key);
  const [o, , kh, kw] = stem.torchShape;
  if (!t || t.shape.length !== 4 || t.shape[1] !== 1 || t.shape[0] !== o || t.shape[2] !== kh || t.shape[3] !== kw) return undefined;
  const dict: StateDict = new Map(input);
  dict.set(stem.key, spreadInputChannel(t));
  return { dict, notes: [`Spread the 1-channel '${stem.key}' over the RGB input channels (a third each; same output on grey images).`], skipped: [] };
}

export function grayscaleStemFilter(stem: ModelParam | undefined): CheckpointFilter {
  return (input) => {
    if (stem && stem.torchShape[1] === 3) return rgbStemFromGray(stem, input) ?? unchanged(input);
    if (!stem || stem.torchShape[1] !== 1) return unchanged(input);
    const t = input.get(stem.key);
    const [o, , kh, kw] = stem.torchShape;
    if (!t || t.shape.length !== 4 || t.shape[1] !== 3 || t.shape[0] !== o || t.shape[2] !== kh || t.shape[3] !== kw) return unchanged(input);
    const dict: StateDict = new Map(input);
    dict.set(stem.key, sumInputChannels(t));
    return { dict, notes: [`Summed '${stem.key}' over its RGB input channels for the 1-channel stem.`], skipped: [] };
  };
}
