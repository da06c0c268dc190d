import * as tf from '@tensorflow/tfjs';
import type { ProgressCallback } from './fetch.js';
import { isTorchCheckpoint, parseTorchSave, type ParsedCheckpoint } from './pth.js';
import { assignTorchTensors, torchSlots, type StateDict, type TorchSlot } from './remap.js';
import { torchLayout } from './layout.js';
import {
  dropBatchCounters,
  grayscaleStemFilter,
  headFilter,
  ignorePrefix,
  sameShape,
  stripDataParallel,
  type CheckpointFilter,
} from './filters.js';
import { findWeightsByTag, getWeightsInfo, hasWeights, type WeightsInfo } from './manifest.js';
import { outputInfoOf, setOutputInfo, type OutputInfo } from './outputs.js';
import { findSpec, specOfModel } from '../zoo/catalog.js';
import { getWeightsResolver, type ResolvedWeights, type WeightsRequest } from './resolver.js';
import { looksLikeSafetensors, parseSafetensors } from './safetensors.js';

/**
 * Anything loadWeights can read: `'imagenet'` (the registered weights of the model's architecture), a path
 * (Node) or URL, checkpoint bytes, TF.js model artifacts, or a parsed state dict.
 */
export type WeightsSource = 'imagenet' | string | URL | Uint8Array | ArrayBuffer | tf.io.ModelArtifacts | StateDict;

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
  /**
   * The zoo architecture whose registered weights ('imagenet') and checkpoint filter apply. Default: the model's,
   * from its name (`resnet50`, or `resnet50/layer3` for a truncated one); needed only for models named otherwise.
   */
  arch?: string;
}

export interface LoadWeightsReport {
  format: ParsedCheckpoint['format'] | 'tfjs' | 'state-dict';
  /** Reference keys written into the model. */
  loaded: string[];
  /** Keys not loaded, with the reason (non-strict mode, head skip, ignored prefixes). */
  skipped: { key: string; reason: string }[];
  notes: string[];
  /** Output names and operating points the weights carried (registry tag or whole-module checkpoint), also set on the model (`getOutputInfo`). */
  outputs?: OutputInfo;
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

/** TF.js weight names (`layer/kernel`) to reference keys and layouts (weights/layout.ts), independent of any model. */
function tfjsWeightsToStateDict(named: { name: string; shape: number[]; data: Float32Array }[]): StateDict {
  const dict: StateDict = new Map();
  for (const w of named) {
    const cut = w.name.lastIndexOf('/');
    if (cut <= 0) throw new Error(`TF.js weight '${w.name}' has no layer prefix.`);
    const layout = torchLayout(w.name.slice(cut + 1).replace(/_\d+$/, ''), w.shape);
    if (!layout) throw new Error(`TF.js weight '${w.name}' has no PyTorch counterpart.`);
    dict.set(`${w.name.slice(0, cut)}.${layout.suffix}`, { shape: layout.torchShape, data: layout.toTorch(w.data) });
  }
  return dict;
}

/**
 * Reads weights out of TF.js model artifacts (model.json + weights.bin) as a state dict. Reads asynchronously:
 * WebGPU in Node has no synchronous read.
 */
async function artifactsToStateDict(artifacts: tf.io.ModelArtifacts): Promise<StateDict> {
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error('The TF.js model artifacts carry no weights.');
  const tensors = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  try {
    const read = Object.entries(tensors).map(async ([name, t]) => ({ name, shape: t.shape, data: Float32Array.from((await t.data()) as ArrayLike<number>) }));
    return tfjsWeightsToStateDict(await Promise.all(read));
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

/**
 * Writes a reference-layout state dict into a model (layer names = module paths), through the checkpoint
 * filters (weights/filters.ts): DataParallel's `module.` prefix and `num_batches_tracked` go, the family's own
 * filter runs (zoo/<family>.ts: DenseNet's old keys, Inception-V3's AuxLogits), ignored prefixes go, a
 * classifier of another size is skipped, a 1-channel stem sums the RGB kernel; then the keys are checked strictly.
 */
function writeStateDict(model: tf.LayersModel, input: StateDict, options: LoadWeightsOptions, log: (m: string) => void): LoadWeightsReport {
  const strict = options.strict ?? true;
  const slots = torchSlots(model);
  const bySlot = new Map<string, TorchSlot>(slots.map((s) => [s.key, s]));
  const modelKeys: ReadonlySet<string> = new Set(bySlot.keys());
  const head = headLayerOf(model, options.headLayer);
  const arch = archOf(model, options);
  const family = arch ? findSpec(arch)?.checkpointFilter : undefined;
  const prefixes = [...(options.ignoreKeyPrefixes ?? [])];
  // a model built without a head still loads a full checkpoint: its classifier keys are not "unexpected"
  if (!head && arch && hasWeights(arch)) prefixes.push(...getWeightsInfo(arch).headKeyPrefixes);
  // the first conv of the model: a 1-channel stem loads an RGB checkpoint
  const stem = slots.find((s) => s.torchShape.length === 4 && s.key.endsWith('.weight') && s.layer.getClassName() !== 'DepthwiseConv2D');
  const steps: CheckpointFilter[] = [
    stripDataParallel,
    dropBatchCounters,
    ...(family ? [family] : []),
    ...prefixes.map(ignorePrefix),
    ...(head ? [headFilter(head, bySlot.get(`${head}.weight`), options)] : []),
    grayscaleStemFilter(stem),
  ];
  let dict = input;
  const notes: string[] = [];
  const skipped: LoadWeightsReport['skipped'] = [];
  for (const step of steps) {
    const r = step(dict, modelKeys);
    dict = r.dict;
    notes.push(...r.notes);
    skipped.push(...r.skipped);
  }
  // a skipped head is not "missing": it keeps its initial weights
  for (const s of skipped) if (s.reason === 'classifier skipped') bySlot.delete(s.key);

  const missing: string[] = [];
  const mismatched: { key: string; expected: number[]; got: number[] }[] = [];
  const ok: TorchSlot[] = [];
  for (const s of bySlot.values()) {
    const t = dict.get(s.key);
    if (!t) missing.push(s.key);
    else if (!sameShape(s.torchShape, t.shape)) mismatched.push({ key: s.key, expected: s.torchShape, got: t.shape });
    else ok.push(s);
  }
  const unexpected = [...dict.keys()].filter((k) => !modelKeys.has(k));
  const ignoreUnexpected = options.ignoreUnexpected ?? false;
  if (strict && (missing.length || mismatched.length || (unexpected.length && !ignoreUnexpected))) {
    throw new WeightsMismatchError(missing, ignoreUnexpected ? [] : unexpected, mismatched);
  }
  for (const k of missing) skipped.push({ key: k, reason: 'missing from the checkpoint' });
  for (const m of mismatched) skipped.push({ key: m.key, reason: `shape [${m.got}] vs model [${m.expected}]` });
  for (const k of unexpected) skipped.push({ key: k, reason: 'not in the model' });
  if (unexpected.length && ignoreUnexpected) notes.push(`Ignored ${unexpected.length} checkpoint keys the model does not have.`);
  assignTorchTensors(ok, dict);
  for (const n of notes) log(n);
  return { format: 'state-dict', loaded: ok.map((s) => s.key), skipped, notes };
}

/**
 * @deprecated Use `loadWeights(model, stateDict, options)` (it accepts a state dict and every other source).
 * Kept because it was documented; the only difference is that this one is synchronous.
 */
export function loadStateDict(model: tf.LayersModel, input: StateDict, options: LoadWeightsOptions = {}): LoadWeightsReport {
  return writeStateDict(model, input, options, logOf(options));
}

function isArtifacts(x: unknown): x is tf.io.ModelArtifacts {
  return typeof x === 'object' && x !== null && !(x instanceof Map) && !ArrayBuffer.isView(x) && ('weightSpecs' in x || 'modelTopology' in x);
}

/**
 * Parses checkpoint bytes, sniffing the format: torch.save (zip, or the legacy pre-1.6 pickle) or safetensors.
 * Tensors come out as float32 in PyTorch layout; nothing in the file is executed. `verifyCrc` (default true)
 * checks the CRC-32 of every zip entry read.
 * @example const { dict, format } = parseCheckpoint(new Uint8Array(await readFile('resnet18.pth')));
 */
export function parseCheckpoint(bytes: Uint8Array, options: { verifyCrc?: boolean } = {}): ParsedCheckpoint {
  if (isTorchCheckpoint(bytes)) return parseTorchSave(bytes, options);
  if (looksLikeSafetensors(bytes)) return parseSafetensors(bytes);
  if (bytes.length > 0 && bytes[0] === 0x7b) {
    throw new Error('These bytes look like JSON (a TF.js model.json?): pass the model directory or the model.json URL instead.');
  }
  throw new Error('Unrecognised weights format: expected a torch.save .pth (zip), a .safetensors file or a TF.js model directory.');
}

/** @deprecated Use `parseCheckpoint` (it reads torch.save files, legacy ones included, and safetensors). */
export function parseTorchCheckpoint(bytes: Uint8Array, options: { verifyCrc?: boolean } = {}): ParsedCheckpoint {
  return parseTorchSave(bytes, options);
}

/** The architecture whose registered weights and checkpoint filter apply: `options.arch`, else the model's name. */
function archOf(model: tf.LayersModel, options: LoadWeightsOptions): string | undefined {
  return options.arch ?? specOfModel(model)?.name;
}

/** A registered weights tag of the model's architecture ('imagenet', 'xrv-all', ...), or undefined. */
function registeredTag(model: tf.LayersModel, source: WeightsSource, options: LoadWeightsOptions): { arch: string; tag: string } | undefined {
  if (typeof source !== 'string' || /[/\\.:]/.test(source)) return undefined;
  const arch = archOf(model, options);
  if (source === 'imagenet' || (arch && hasWeights(arch, source))) {
    if (!arch) {
      throw new Error(
        `loadWeights(model, '${source}') needs a zoo model (named after its architecture, as createModel names it) ` +
          `or { arch: 'resnet18' }; '${model.name}' is neither.`,
      );
    }
    return { arch, tag: source };
  }
  const other = findWeightsByTag(source);
  if (other) throw new Error(`Weights '${source}' are registered for ${other.arch}, not for ${arch ?? `'${model.name}'`}: build a ${other.arch} (createModel('${other.arch}', { weights: '${source}' })).`);
  return undefined;
}

async function resolveSource(model: tf.LayersModel, source: WeightsSource, options: LoadWeightsOptions): Promise<{ resolved: ResolvedWeights | StateDict; labelOffset?: number; info?: WeightsInfo; tag?: string }> {
  if (source instanceof Map) return { resolved: source };
  if (source instanceof Uint8Array) return { resolved: source };
  if (source instanceof ArrayBuffer) return { resolved: new Uint8Array(source) };
  if (isArtifacts(source)) return { resolved: source };
  const progress = options.onProgress ? { onProgress: options.onProgress } : {};
  const reg = registeredTag(model, source, options);
  if (reg) {
    const w = getWeightsInfo(reg.arch, reg.tag);
    const bytes = await getWeightsResolver()({ url: w.url, fileName: w.fileName, sha256: w.sha256, sha256Prefix: w.sha256Prefix, arch: reg.arch, ...progress });
    return { resolved: bytes, labelOffset: w.labelOffset, info: w, tag: reg.tag };
  }
  const text = source instanceof URL ? source.href : source;
  if (typeof text !== 'string') throw new Error("loadWeights: unsupported source; pass 'imagenet', a path, URL, bytes, a state dict or TF.js artifacts.");
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || text.startsWith('blob:') || text.startsWith('data:');
  const req: WeightsRequest = {
    ...(isUrl ? { url: text } : { path: text }),
    sha256: options.sha256 ?? null,
    sha256Prefix: options.sha256Prefix ?? null,
    ...progress,
  };
  return { resolved: await getWeightsResolver()(req) };
}

function logOf(options: LoadWeightsOptions): (message: string) => void {
  return options.log ?? ((m: string) => console.warn(`[chexzoo] ${m}`));
}

/**
 * Loads weights into a model whose layer names are the reference module paths (every zoo model, truncated
 * ones included). `source`: `'imagenet'` (the architecture's registered checkpoint, from weights/manifest.json:
 * downloaded once, hash-checked), a torch.save `.pth` or `.safetensors` file as a path (Node) or URL, their
 * bytes, a TF.js model directory written by saveModel (path, model.json URL or artifacts), or a parsed state
 * dict. Strict by default; the report lists what was loaded and skipped.
 * @example const report = await loadWeights(model, 'resnet18-f37072fd.pth');
 */
export async function loadWeights(model: tf.LayersModel, source: WeightsSource, options: LoadWeightsOptions = {}): Promise<LoadWeightsReport> {
  const { resolved, labelOffset, info, tag } = await resolveSource(model, source, options);
  let dict: StateDict;
  let format: LoadWeightsReport['format'];
  let parseNotes: string[] = [];
  let module: ParsedCheckpoint['module'];
  if (resolved instanceof Map) {
    dict = resolved;
    format = 'state-dict';
  } else if (resolved instanceof Uint8Array) {
    const parsed = parseCheckpoint(resolved);
    dict = parsed.dict;
    format = parsed.format;
    parseNotes = parsed.notes;
    module = parsed.module;
  } else {
    dict = await artifactsToStateDict(resolved);
    format = 'tfjs';
  }
  const log = logOf(options);
  for (const n of parseNotes) log(n);
  const report = writeStateDict(model, dict, { ...(labelOffset !== undefined ? { labelOffset } : {}), ...options }, log);
  // the output names belong to the checkpoint's classifier: not when it was skipped (another number of classes)
  const headKept = !report.skipped.some((s) => s.reason === 'classifier skipped');
  const outputs = headKept ? outputInfoOf(info, tag, module) : undefined;
  if (outputs) setOutputInfo(model, outputs);
  return { ...report, format, notes: [...parseNotes, ...report.notes], ...(outputs ? { outputs } : {}) };
}

/**
 * @deprecated Use `loadWeights(model, source, { arch, ...load })`: it accepts 'imagenet' too, and a model
 * without a classifier ignores the checkpoint's on its own. Kept because it was documented.
 */
export async function applyWeights(
  model: tf.LayersModel,
  arch: string,
  source: WeightsSource,
  options: { onProgress?: ProgressCallback; load?: LoadWeightsOptions; numClasses?: number; inChannels?: 1 | 3 } = {},
): Promise<LoadWeightsReport> {
  return loadWeights(model, source, { ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...options.load, arch });
}
