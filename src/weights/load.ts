import * as tf from '@tensorflow/tfjs';
import type { ProgressCallback } from './fetch.js';
import { isTorchCheckpoint, parseTorchCheckpoint, type ParsedCheckpoint } from './pth.js';
import { assignTorchTensors, isIgnorableTorchKey, permute, torchSlots, type StateDict, type TorchSlot, type TorchTensor } from './remap.js';
import { getWeightsResolver, type ResolvedWeights, type WeightsRequest } from './resolver.js';
import { looksLikeSafetensors, parseSafetensors } from './safetensors.js';

/** Anything loadWeights can read. */
export type WeightsSource = string | URL | Uint8Array | ArrayBuffer | tf.io.ModelArtifacts | StateDict;

export interface LoadWeightsOptions {
  /** Missing, unexpected or mismatched keys are an error (default true). When false they are reported and skipped. */
  strict?: boolean;
  /**
   * 'auto' (default): when the model's classifier has a different number of classes than the
   * checkpoint's, the classifier is left as initialised (as timm does). true: always skip it.
   */
  skipHead?: boolean | 'auto';
  /** Layer name of the classifier; default: the model's last Dense layer. */
  headLayer?: string;
  /** Drop this many leading classes of the checkpoint head (timm's label_offset, 1001-class heads). */
  labelOffset?: number;
  /** Checkpoint keys under these prefixes are ignored when the model has no such layers. */
  ignoreKeyPrefixes?: string[];
  /** Accept checkpoint keys the model lacks (truncated models load a prefix of the network). */
  ignoreUnexpected?: boolean;
  /** Expected hashes when `source` is a URL or path. */
  sha256?: string | null;
  sha256Prefix?: string | null;
  onProgress?: ProgressCallback;
  /** Receives notes (skipped head, ignored keys, conversions). Default: console.warn. */
  log?: (message: string) => void;
}

export interface LoadWeightsReport {
  format: ParsedCheckpoint['format'] | 'tfjs' | 'state-dict';
  /** Reference keys written into the model. */
  loaded: string[];
  /** Keys not loaded, with the reason (non-strict mode, head skip, ignored prefixes). */
  skipped: { key: string; reason: string }[];
  notes: string[];
}

/** Raised by strict loading; lists every problem at once. */
export class WeightsMismatchError extends Error {
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: { key: string; expected: number[]; got: number[] }[],
  ) {
    const list = (xs: string[]): string => (xs.length > 40 ? `${xs.slice(0, 40).join(', ')}, … (${xs.length - 40} more)` : xs.join(', '));
    const parts: string[] = [];
    if (missing.length) parts.push(`missing from the checkpoint (${missing.length}): ${list(missing)}`);
    if (unexpected.length) parts.push(`not in the model (${unexpected.length}): ${list(unexpected)}`);
    if (mismatched.length) {
      parts.push(
        `shape mismatch (${mismatched.length}): ${list(mismatched.map((m) => `${m.key} model [${m.expected}] vs checkpoint [${m.got}]`))}`,
      );
    }
    super(
      `The weights do not fit the model. ${parts.join('; ')}. ` +
        'Check that the checkpoint matches the architecture, or pass { strict: false } to load what matches.',
    );
    this.name = 'WeightsMismatchError';
  }
}

const DENSENET_OLD_KEY = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

/**
 * torchvision's DenseNet checkpoints predate the ban on '.' in module names and say
 * `denselayer1.norm.1.weight` for `denselayer1.norm1.weight`; this renames such keys.
 * @example remapDenseNetKeys(['features.denseblock1.denselayer1.norm.1.weight']) // ['...denselayer1.norm1.weight']
 */
export function remapDenseNetKeys(keys: string[]): string[] {
  return keys.map((k) => {
    const m = DENSENET_OLD_KEY.exec(k);
    return m ? m[1]! + m[2]! : k;
  });
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** TF.js weight names (`layer/kernel`) to reference keys and layouts, independent of any model. */
export function tfjsWeightsToStateDict(named: { name: string; shape: number[]; data: Float32Array }[]): StateDict {
  const dict: StateDict = new Map();
  for (const w of named) {
    const cut = w.name.lastIndexOf('/');
    if (cut <= 0) throw new Error(`TF.js weight '${w.name}' has no layer prefix.`);
    const layer = w.name.slice(0, cut);
    const kind = w.name.slice(cut + 1).replace(/_\d+$/, '');
    let t: TorchTensor;
    if (kind === 'kernel' && w.shape.length === 4) {
      const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
      t = { shape: [cout, cin, kh, kw], data: permute(w.data, w.shape, [3, 2, 0, 1]) };
      dict.set(`${layer}.weight`, t);
    } else if (kind === 'depthwise_kernel' && w.shape.length === 4) {
      const [kh, kw, cin, mult] = w.shape as [number, number, number, number];
      t = { shape: [cin * mult, 1, kh, kw], data: permute(w.data, w.shape, [2, 3, 0, 1]) };
      dict.set(`${layer}.weight`, t);
    } else if (kind === 'kernel' && w.shape.length === 2) {
      dict.set(`${layer}.weight`, { shape: [w.shape[1]!, w.shape[0]!], data: permute(w.data, w.shape, [1, 0]) });
    } else {
      const suffix = { bias: 'bias', beta: 'bias', gamma: 'weight', moving_mean: 'running_mean', moving_variance: 'running_var' }[kind];
      if (!suffix) throw new Error(`TF.js weight '${w.name}' has no PyTorch counterpart.`);
      dict.set(`${layer}.${suffix}`, { shape: [...w.shape], data: w.data });
    }
  }
  return dict;
}

/** Reads weights out of TF.js model artifacts (model.json + weights.bin) as a state dict. */
export function artifactsToStateDict(artifacts: tf.io.ModelArtifacts): StateDict {
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error('The TF.js model artifacts carry no weights.');
  const tensors = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  try {
    return tfjsWeightsToStateDict(
      Object.entries(tensors).map(([name, t]) => ({ name, shape: t.shape, data: Float32Array.from(t.dataSync() as ArrayLike<number>) })),
    );
  } finally {
    tf.dispose(tensors);
  }
}

function headLayerOf(model: tf.LayersModel, explicit?: string): string | undefined {
  if (explicit) return explicit;
  for (let i = model.layers.length - 1; i >= 0; i--) {
    if (model.layers[i]!.getClassName() === 'Dense') return model.layers[i]!.name;
  }
  return undefined;
}

function sliceRows(t: TorchTensor, from: number): TorchTensor {
  const rows = t.shape[0]!;
  const per = t.data.length / rows;
  return { shape: [rows - from, ...t.shape.slice(1)], data: t.data.slice(from * per) };
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

/**
 * Writes a reference-layout state dict into a zoo model (layer names = module paths).
 * Applies torchvision's DenseNet key fix, drops DataParallel's `module.` prefix, ignores
 * `num_batches_tracked` and auxiliary-classifier keys, skips a classifier of another size,
 * sums the first conv over RGB for 1-channel models, then checks strictly.
 * @example const report = loadStateDict(model, parseTorchCheckpoint(bytes).dict);
 */
export function loadStateDict(model: tf.LayersModel, input: StateDict, options: LoadWeightsOptions = {}): LoadWeightsReport {
  const strict = options.strict ?? true;
  const notes: string[] = [];
  const skipped: { key: string; reason: string }[] = [];
  const slots = torchSlots(model);
  const bySlot = new Map<string, TorchSlot>(slots.map((s) => [s.key, s]));
  let dict: StateDict = new Map(input);

  const keys = [...dict.keys()];
  if (keys.length > 0 && keys.every((k) => k.startsWith('module.')) && !slots.some((s) => s.key.startsWith('module.'))) {
    dict = new Map([...dict].map(([k, v]) => [k.slice('module.'.length), v]));
    notes.push("Stripped the 'module.' prefix that DataParallel adds to every key.");
  }
  if ([...dict.keys()].some((k) => DENSENET_OLD_KEY.test(k))) {
    const renamed = remapDenseNetKeys([...dict.keys()]);
    dict = new Map([...dict.values()].map((v, i) => [renamed[i]!, v]));
    notes.push("Renamed old torchvision DenseNet keys ('denselayerN.norm.1' -> 'denselayerN.norm1').");
  }
  for (const k of [...dict.keys()]) if (isIgnorableTorchKey(k)) dict.delete(k);

  // only keys the model lacks are ignored: a model that has an auxiliary head still loads it
  const prefixes = ['AuxLogits.', ...(options.ignoreKeyPrefixes ?? [])];
  for (const prefix of prefixes) {
    const hits = [...dict.keys()].filter((k) => k.startsWith(prefix) && !bySlot.has(k));
    if (hits.length === 0) continue;
    for (const k of hits) {
      dict.delete(k);
      skipped.push({ key: k, reason: `ignored prefix ${prefix}` });
    }
    notes.push(
      prefix === 'AuxLogits.'
        ? `Ignored ${hits.length} AuxLogits.* keys: Inception-V3's auxiliary classifier is only used in training and the model does not have it.`
        : `Ignored ${hits.length} checkpoint keys under '${prefix}' that the model does not have.`,
    );
  }

  const head = headLayerOf(model, options.headLayer);
  if (head) {
    const wKey = `${head}.weight`;
    const bKey = `${head}.bias`;
    const slot = bySlot.get(wKey);
    const w = dict.get(wKey);
    const offset = options.labelOffset ?? 0;
    if (slot && w && offset > 0 && w.shape.length === 2 && w.shape[0] === slot.torchShape[0]! + offset) {
      dict.set(wKey, sliceRows(w, offset));
      const b = dict.get(bKey);
      if (b && b.shape.length === 1) dict.set(bKey, sliceRows(b, offset));
      notes.push(`Dropped the first ${offset} class(es) of the checkpoint's '${head}' (background class, as timm's label_offset).`);
    }
    const w2 = dict.get(wKey);
    const differs = slot && w2 && !sameShape(slot.torchShape, w2.shape);
    const skip = options.skipHead === true || (options.skipHead !== false && differs);
    if (skip && (dict.has(wKey) || dict.has(bKey))) {
      const got = w2 ? w2.shape[0] : undefined;
      for (const k of [wKey, bKey]) {
        if (dict.delete(k)) skipped.push({ key: k, reason: 'classifier skipped' });
      }
      notes.push(
        options.skipHead === true
          ? `Skipped the classifier '${head}' as requested; it keeps its initial weights.`
          : `Skipped the classifier '${head}': the checkpoint has ${got} classes, the model ${slot?.torchShape[0]}. It keeps its initial weights (as timm does).`,
      );
      // the skipped head is not "missing"
      for (const k of [wKey, bKey]) if (bySlot.has(k)) bySlot.delete(k);
    }
  }

  // grayscale stem: the first conv of the model, 1 input channel, checkpoint trained on RGB
  const firstConv = slots.find((s) => s.torchShape.length === 4 && s.variable.shape.length === 4 && s.key.endsWith('.weight') && s.layer.getClassName() !== 'DepthwiseConv2D');
  if (firstConv && firstConv.torchShape[1] === 1) {
    const t = dict.get(firstConv.key);
    if (t && t.shape.length === 4 && t.shape[1] === 3 && t.shape[0] === firstConv.torchShape[0] && t.shape[2] === firstConv.torchShape[2] && t.shape[3] === firstConv.torchShape[3]) {
      dict.set(firstConv.key, sumInputChannels(t));
      notes.push(`Summed '${firstConv.key}' over its RGB input channels for the 1-channel stem.`);
    }
  }

  const missing: string[] = [];
  const mismatched: { key: string; expected: number[]; got: number[] }[] = [];
  const ok: TorchSlot[] = [];
  for (const s of bySlot.values()) {
    const t = dict.get(s.key);
    if (!t) missing.push(s.key);
    else if (!sameShape(s.torchShape, t.shape)) mismatched.push({ key: s.key, expected: s.torchShape, got: t.shape });
    else ok.push(s);
  }
  const skippedHead = new Set(skipped.map((s) => s.key));
  const unexpected = [...dict.keys()].filter((k) => !bySlot.has(k) && !skippedHead.has(k) && !slots.some((s) => s.key === k));
  const ignoreUnexpected = options.ignoreUnexpected ?? false;
  if (strict && (missing.length || mismatched.length || (unexpected.length && !ignoreUnexpected))) {
    throw new WeightsMismatchError(missing, ignoreUnexpected ? [] : unexpected, mismatched);
  }
  for (const k of missing) skipped.push({ key: k, reason: 'missing from the checkpoint' });
  for (const m of mismatched) skipped.push({ key: m.key, reason: `shape [${m.got}] vs model [${m.expected}]` });
  for (const k of unexpected) skipped.push({ key: k, reason: 'not in the model' });
  if (unexpected.length && ignoreUnexpected) notes.push(`Ignored ${unexpected.length} checkpoint keys the model does not have.`);
  assignTorchTensors(ok, dict);
  const log = options.log ?? ((m: string) => console.warn(`[chexzoo] ${m}`));
  for (const n of notes) log(n);
  return { format: 'state-dict', loaded: ok.map((s) => s.key), skipped, notes };
}

function isArtifacts(x: unknown): x is tf.io.ModelArtifacts {
  return typeof x === 'object' && x !== null && !(x instanceof Map) && !ArrayBuffer.isView(x) && ('weightSpecs' in x || 'modelTopology' in x);
}

/** Parses checkpoint bytes by sniffing the format: torch.save (zip or legacy) or safetensors. */
export function parseCheckpoint(bytes: Uint8Array): ParsedCheckpoint {
  if (isTorchCheckpoint(bytes)) return parseTorchCheckpoint(bytes);
  if (looksLikeSafetensors(bytes)) return parseSafetensors(bytes);
  if (bytes.length > 0 && bytes[0] === 0x7b) {
    throw new Error('These bytes look like JSON (a TF.js model.json?): pass the model directory or the model.json URL instead.');
  }
  throw new Error('Unrecognised weights format: expected a torch.save .pth (zip), a .safetensors file or a TF.js model directory.');
}

async function resolveSource(source: WeightsSource, options: LoadWeightsOptions): Promise<ResolvedWeights | StateDict> {
  if (source instanceof Map) return source;
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (isArtifacts(source)) return source;
  const text = source instanceof URL ? source.href : source;
  if (typeof text !== 'string') throw new Error('loadWeights: unsupported source; pass a path, URL, bytes, a state dict or TF.js artifacts.');
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || text.startsWith('blob:') || text.startsWith('data:');
  const req: WeightsRequest = {
    ...(isUrl ? { url: text } : { path: text }),
    sha256: options.sha256 ?? null,
    sha256Prefix: options.sha256Prefix ?? null,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  return getWeightsResolver()(req);
}

/**
 * Loads reference weights into a zoo model: a torch.save state dict (.pth), a .safetensors file,
 * or a TF.js model directory written by saveModel. `source` is a path (Node), a URL, bytes,
 * TF.js artifacts or an already parsed state dict. Strict by default.
 * @example const report = await loadWeights(model, 'resnet18-f37072fd.pth');
 */
export async function loadWeights(model: tf.LayersModel, source: WeightsSource, options: LoadWeightsOptions = {}): Promise<LoadWeightsReport> {
  const resolved = await resolveSource(source, options);
  let dict: StateDict;
  let format: LoadWeightsReport['format'];
  let parseNotes: string[] = [];
  if (resolved instanceof Map) {
    dict = resolved;
    format = 'state-dict';
  } else if (resolved instanceof Uint8Array) {
    const parsed = parseCheckpoint(resolved);
    dict = parsed.dict;
    format = parsed.format;
    parseNotes = parsed.notes;
  } else {
    dict = artifactsToStateDict(resolved);
    format = 'tfjs';
  }
  const log = options.log ?? ((m: string) => console.warn(`[chexzoo] ${m}`));
  for (const n of parseNotes) log(n);
  const report = loadStateDict(model, dict, { ...options, log });
  return { ...report, format, notes: [...parseNotes, ...report.notes] };
}
