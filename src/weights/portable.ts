// Saved models in standard Keras / TF.js layer classes, so plain `tf.loadLayersModel` reads them without our code.
// Browser-safe: pure JSON rewriting of model topologies.
import type * as tf from '@tensorflow/tfjs';

/** A layer entry of a serialized functional model. */
interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

interface ModelJsonTopology {
  class_name: string;
  config: { layers: LayerJson[]; [k: string]: unknown };
  [k: string]: unknown;
}

/** Marker in model.json's userDefinedMetadata: the model was saved with standard classes by us. */
export const PORTABLE_MARKER = 'chexzooPortable';
const HS = { plus3: '.hs_plus3', relu6: '.hs_relu6', gate: '.hs_gate' } as const;

function layersOf(topology: unknown): LayerJson[] | undefined {
  const t = topology as ModelJsonTopology | undefined;
  const layers = t?.config?.layers;
  return Array.isArray(layers) ? layers : undefined;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x === -Infinity ? '-Infinity' : x === Infinity ? 'Infinity' : x))) as T;

/** Whether a layer's output is >= 0 everywhere (so padding it with 0 equals padding it with -Infinity before a max pool). */
function nonNegative(layer: LayerJson | undefined): boolean {
  if (!layer) return false;
  if (layer.class_name === 'Activation') return layer.config.activation === 'relu' || layer.config.activation === 'relu6';
  if (layer.class_name === 'ReLU') return true;
  return false;
}

function inboundNames(layer: LayerJson): string[] {
  const out: string[] = [];
  for (const node of layer.inbound_nodes as unknown[][]) for (const t of node as unknown[][]) out.push(String(t[0]));
  return out;
}

/**
 * Rewrites a model topology to standard classes: `ChexzooBatchNorm` -> `BatchNormalization` (same config and
 * weights; frozen-BN training semantics come back when loaded through our `loadModel`), `ChexzooPad2D` ->
 * `ZeroPadding2D` (zero padding, and the -Infinity padding of a max pool whose input is a ReLU output, where
 * both give the same result), `ChexzooHardSigmoid` / `ChexzooHardSwish` -> `Rescaling(+3)`, `relu6`,
 * `Rescaling(/6)` (and `Multiply` for hard-swish), equal to PyTorch's relu6(x + 3) / 6 within float rounding;
 * our seeded `ChexzooDropout` and EfficientNet's `ChexzooStochasticDepth` -> `Dropout` (identity at inference).
 * Returns the new topology and the class names it had to keep (none for the 17 zoo architectures).
 */
export function toStandardTopology(topology: unknown): { topology: unknown; kept: string[] } {
  const t = clone(topology);
  const layers = layersOf(t);
  if (!layers) return { topology: t, kept: [] };
  const byName = new Map(layers.map((l) => [l.name, l]));
  const out: LayerJson[] = [];
  const kept = new Set<string>();
  for (const l of layers) {
    const base = { name: l.name, trainable: l.config.trainable ?? true, ...(l.config.dtype ? { dtype: l.config.dtype } : {}) };
    if (l.class_name === 'ChexzooBatchNorm') {
      out.push({ ...l, class_name: 'BatchNormalization' });
    } else if (l.class_name === 'ChexzooPad2D') {
      const v = l.config.value;
      const zero = v === 0 || v === undefined || ((v === '-Infinity' || v === null) && inboundNames(l).every((n) => nonNegative(byName.get(n))));
      if (zero) out.push({ ...l, class_name: 'ZeroPadding2D', config: { ...base, padding: l.config.padding, data_format: 'channels_last' } });
      else {
        kept.add(l.class_name);
        out.push(l);
      }
    } else if (l.class_name === 'ChexzooHardSigmoid' || l.class_name === 'ChexzooHardSwish') {
      const swish = l.class_name === 'ChexzooHardSwish';
      const plus3 = `${l.name}${HS.plus3}`;
      const relu6 = `${l.name}${HS.relu6}`;
      const gate = swish ? `${l.name}${HS.gate}` : l.name;
      out.push({ name: plus3, class_name: 'Rescaling', config: { ...base, name: plus3, scale: 1, offset: 3 }, inbound_nodes: l.inbound_nodes });
      out.push({ name: relu6, class_name: 'Activation', config: { ...base, name: relu6, activation: 'relu6' }, inbound_nodes: [[[plus3, 0, 0, {}]]] });
      out.push({ name: gate, class_name: 'Rescaling', config: { ...base, name: gate, scale: 1 / 6, offset: 0 }, inbound_nodes: [[[relu6, 0, 0, {}]]] });
      if (swish) {
        const x = (l.inbound_nodes as unknown[][][])[0]![0]!;
        out.push({ name: l.name, class_name: 'Multiply', config: { ...base }, inbound_nodes: [[x, [gate, 0, 0, {}]]] });
      }
    } else if (l.class_name === 'ChexzooDropout') {
      out.push({ ...l, class_name: 'Dropout', config: { ...base, rate: l.config.rate } });
    } else if (l.class_name === 'ChexzooStochasticDepth') {
      // identity at inference, like Dropout; our loadModel restores the per-sample (row) drop by the layer name
      out.push({ ...l, class_name: 'Dropout', config: { ...base, rate: l.config.p } });
    } else {
      if (l.class_name.startsWith('Chexzoo')) kept.add(l.class_name);
      out.push(l);
    }
  }
  (t as ModelJsonTopology).config.layers = out;
  return { topology: t, kept: [...kept] };
}

/**
 * The inverse of {@link toStandardTopology} for models we saved: `BatchNormalization` -> `ChexzooBatchNorm`
 * (a frozen layer keeps its moving statistics in `fit`), the hard-sigmoid / hard-swish expansions back to one
 * layer, and -Infinity padding values restored (JSON cannot hold them).
 */
export function fromStandardTopology(topology: unknown): unknown {
  const t = JSON.parse(JSON.stringify(topology)) as unknown;
  const layers = layersOf(t);
  if (!layers) return t;
  const names = new Set(layers.map((l) => l.name));
  const drop = new Set<string>();
  const out: LayerJson[] = [];
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const l of layers) {
    if (l.class_name === 'BatchNormalization') {
      out.push({ ...l, class_name: 'ChexzooBatchNorm' });
    } else if (l.class_name === 'Dropout') {
      const cfg = { name: l.name, trainable: l.config.trainable ?? true };
      out.push(
        l.name.endsWith('.stochastic_depth')
          ? { ...l, class_name: 'ChexzooStochasticDepth', config: { ...cfg, p: l.config.rate } }
          : { ...l, class_name: 'ChexzooDropout', config: { ...cfg, rate: l.config.rate } },
      );
    } else if (l.class_name === 'ChexzooPad2D') {
      // JSON turns -Infinity into null (files written before 0.1.0) or we wrote it as a string
      const v = l.config.value;
      out.push({ ...l, config: { ...l.config, value: v === null || v === '-Infinity' ? -Infinity : v === 'Infinity' ? Infinity : v } });
    } else if (l.class_name === 'Rescaling' && l.name.endsWith(HS.plus3) && names.has(l.name.slice(0, -HS.plus3.length))) {
      const name = l.name.slice(0, -HS.plus3.length);
      const swish = byName.get(name)?.class_name === 'Multiply';
      for (const s of [HS.plus3, HS.relu6, HS.gate]) drop.add(`${name}${s}`);
      drop.add(name);
      out.push({ name, class_name: swish ? 'ChexzooHardSwish' : 'ChexzooHardSigmoid', config: { name, trainable: l.config.trainable ?? true }, inbound_nodes: l.inbound_nodes });
    } else {
      out.push(l);
    }
  }
  (t as ModelJsonTopology).config.layers = out.filter((l) => !drop.has(l.name) || l.class_name.startsWith('ChexzooHard'));
  return t;
}

/**
 * Model artifacts with standard layer classes (see {@link toStandardTopology}), marked so our loaders restore
 * our classes. Throws, naming the layers, when `strict` and some layer has no standard equivalent.
 * @example await model.save(tf.io.withSaveHandler(async (a) => handler.save(toStandardArtifacts(a))));
 */
export function toStandardArtifacts(artifacts: tf.io.ModelArtifacts, options: { strict?: boolean } = {}): tf.io.ModelArtifacts {
  if (!artifacts.modelTopology || artifacts.modelTopology instanceof ArrayBuffer) return artifacts;
  const { topology, kept } = toStandardTopology(artifacts.modelTopology);
  if (kept.length > 0 && options.strict) {
    throw new Error(
      `This model has layers without a standard TF.js equivalent (${kept.join(', ')}), so plain tf.loadLayersModel cannot read it; load it with loadModel from @chexzoo/models (or import '@chexzoo/models' before tf.loadLayersModel, which registers them).`,
    );
  }
  return {
    ...artifacts,
    modelTopology: topology as tf.io.ModelArtifacts['modelTopology'],
    userDefinedMetadata: { ...(artifacts.userDefinedMetadata ?? {}), [PORTABLE_MARKER]: { version: 1, customLayers: kept } },
  };
}

/** Our classes back in artifacts read from a file we (or anyone) wrote; see {@link fromStandardTopology}. */
export function fromStandardArtifacts(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  if (!artifacts.modelTopology || artifacts.modelTopology instanceof ArrayBuffer) return artifacts;
  return { ...artifacts, modelTopology: fromStandardTopology(artifacts.modelTopology) as tf.io.ModelArtifacts['modelTopology'] };
}
