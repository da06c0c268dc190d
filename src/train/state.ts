// Training checkpoints as plain data (model artifacts, optimizer moments, loop position) and an in-memory store.
// Browser-safe: the file store lives in checkpoints.ts (Node).
import * as tf from '@tensorflow/tfjs';
// registers the zoo's custom layers so saved checkpoints deserialize
import '../zoo/layers.js';

/** Tensors packed as TF.js weight data + manifest entries. */
export interface EncodedWeights {
  data: ArrayBuffer;
  specs: tf.io.WeightsManifestEntry[];
}

/** One kept checkpoint of the top-k by validation mean AUROC. */
export interface TopKEntry {
  /** Store key, e.g. `step-000120`. */
  id: string;
  step: number;
  meanAuroc: number;
  perTask: Record<string, number>;
}

/** One validation pass. */
export interface ValidationRecord {
  step: number;
  epoch: number;
  meanAuroc: number;
  perTask: Record<string, number>;
  undefinedTasks: string[];
  /** Mean training loss since the previous validation. */
  trainLoss: number;
  seconds: number;
}

/** Everything about the loop's position that a resumed run needs (JSON). */
export interface TrainState {
  version: 1;
  /** Optimizer steps done. */
  step: number;
  /** Epoch in progress and batches of it already consumed. */
  epoch: number;
  batchInEpoch: number;
  seed: number;
  tasks: string[];
  topK: TopKEntry[];
  validations: ValidationRecord[];
  /** Best validation mean AUROC so far and validations since it improved (early stopping). */
  bestScore: number;
  sinceBest: number;
  /** Mean loss per `logEvery` steps: [step, loss]. */
  lossHistory: [number, number][];
  /** Loss sum / count since the last validation (so the reported train loss survives a resume). */
  lossSum: number;
  lossCount: number;
  /** Validation probabilities ([n * tasks], row-major) of each top-k entry, for the ensemble without re-running. */
  topKProbs?: Record<string, number[]>;
  /** Wall-clock seconds spent training before this checkpoint (summed over resumed runs). */
  seconds: number;
  /** Free-form fingerprint of the run configuration; a resume with another fingerprint is refused. */
  fingerprint?: string;
  /** The budget (steps/epochs) or early stopping ended the run. */
  done?: boolean;
  /** Early stopping ended the run; a resumed call does not train further. */
  earlyStopped?: boolean;
}

/** What a checkpoint store keeps as "last": the model (topology + weights), the optimizer, the loop state. */
export interface SavedCheckpoint {
  state: TrainState;
  model: tf.io.ModelArtifacts;
  optimizer: EncodedWeights;
}

/**
 * Where `train` keeps its checkpoints. `saveLast` must be atomic: after a crash at any point, `loadLast`
 * returns either the previous or the new checkpoint, complete.
 */
export interface CheckpointStore {
  loadLast(): Promise<SavedCheckpoint | undefined>;
  saveLast(checkpoint: SavedCheckpoint): Promise<void>;
  /** Saves one top-k model under `id` (overwriting an entry of the same id). */
  saveTop(id: string, model: tf.io.ModelArtifacts): Promise<void>;
  removeTop(id: string): Promise<void>;
  /** A new model with the weights saved under `id`; the caller disposes it. */
  loadTop(id: string): Promise<tf.LayersModel>;
  /** Ids present in the store (so a resumed run can delete ones its state does not list). */
  listTop(): Promise<string[]>;
}

/**
 * Model topology and all its weights (BatchNorm statistics included) as in-memory artifacts.
 * @example const artifacts = await modelArtifacts(model);
 */
export async function modelArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured) throw new Error('model.save produced no artifacts');
  if (captured.weightData !== undefined && Array.isArray(captured.weightData)) {
    captured.weightData = tf.io.CompositeArrayBuffer.join(captured.weightData);
  }
  return captured;
}

function artifactBuffer(a: tf.io.ModelArtifacts): ArrayBuffer {
  if (a.weightData === undefined) return new ArrayBuffer(0);
  return tf.io.CompositeArrayBuffer.join(a.weightData);
}

/**
 * Copies saved weights into an existing model (same architecture), in `model.weights` order, shapes checked.
 * @example restoreModelWeights(model, checkpoint.model);
 */
export function restoreModelWeights(model: tf.LayersModel, artifacts: tf.io.ModelArtifacts): void {
  const specs = artifacts.weightSpecs ?? [];
  if (specs.length !== model.weights.length) {
    throw new Error(
      `Checkpoint holds ${specs.length} weight tensors but the model has ${model.weights.length}: it was written for another architecture, truncation or head. Use a fresh output folder or the same settings.`,
    );
  }
  const named = tf.io.decodeWeights(artifactBuffer(artifacts), specs);
  try {
    const values = specs.map((s, i) => {
      const t = named[s.name]!;
      const want = model.weights[i]!.shape;
      if (!tf.util.arraysEqual(t.shape, want as number[])) {
        throw new Error(`Checkpoint weight ${s.name} has shape [${t.shape}] but the model expects [${want}]; the checkpoint is for another model.`);
      }
      return t;
    });
    model.setWeights(values);
  } finally {
    tf.dispose(Object.values(named));
  }
}

/** Adam moments and iteration count. */
export async function encodeOptimizer(optimizer: tf.Optimizer): Promise<EncodedWeights> {
  const weights = await optimizer.getWeights();
  // getWeights makes a fresh 'iter' scalar; the moments are the optimizer's own variables
  const iter = weights[0]!;
  try {
    // positional names: Adam restores moments by position and its own names are not unique across optimizers
    const named = weights.map((w, i) => ({ name: i === 0 ? 'iter' : `${i}:${w.name}`, tensor: w.tensor }));
    const { data, specs } = await tf.io.encodeWeights(named);
    return { data, specs };
  } finally {
    iter.tensor.dispose();
  }
}

/** Loads moments written by {@link encodeOptimizer} into a fresh optimizer of the same kind. */
export async function restoreOptimizer(optimizer: tf.Optimizer, encoded: EncodedWeights, expectedVariables: number): Promise<void> {
  const named = tf.io.decodeWeights(encoded.data, encoded.specs);
  const list = encoded.specs.map((s) => ({ name: s.name.replace(/^\d+:/, ''), tensor: named[s.name]! }));
  try {
    const moments = list.length - 1;
    if (moments !== 0 && moments !== 2 * expectedVariables) {
      throw new Error(
        `Checkpoint optimizer state has ${moments} moment tensors, expected ${2 * expectedVariables} (2 per trainable weight): the trainable weights changed (freeze/truncate). Use a fresh output folder.`,
      );
    }
    if (moments === 0) return;
    await optimizer.setWeights(list);
  } finally {
    tf.dispose(Object.values(named));
  }
}

function cloneArtifacts(a: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  return { ...a, weightData: artifactBuffer(a).slice(0), weightSpecs: a.weightSpecs?.map((s) => ({ ...s })) };
}

/**
 * Keeps checkpoints in memory (browser, tests). A page reload loses them; in Node use `FileCheckpointStore`.
 * @example const store = new MemoryCheckpointStore(); await train(model, data, { store });
 */
export class MemoryCheckpointStore implements CheckpointStore {
  private last: SavedCheckpoint | undefined;
  private readonly tops = new Map<string, tf.io.ModelArtifacts>();

  async loadLast(): Promise<SavedCheckpoint | undefined> {
    if (!this.last) return undefined;
    return {
      state: JSON.parse(JSON.stringify(this.last.state)) as TrainState,
      model: cloneArtifacts(this.last.model),
      optimizer: { data: this.last.optimizer.data.slice(0), specs: this.last.optimizer.specs },
    };
  }

  async saveLast(c: SavedCheckpoint): Promise<void> {
    this.last = {
      state: JSON.parse(JSON.stringify(c.state)) as TrainState,
      model: cloneArtifacts(c.model),
      optimizer: { data: c.optimizer.data.slice(0), specs: c.optimizer.specs },
    };
  }

  async saveTop(id: string, model: tf.io.ModelArtifacts): Promise<void> {
    this.tops.set(id, cloneArtifacts(model));
  }

  async removeTop(id: string): Promise<void> {
    this.tops.delete(id);
  }

  async loadTop(id: string): Promise<tf.LayersModel> {
    const a = this.tops.get(id);
    if (!a) throw new Error(`No checkpoint '${id}' in this store (kept: ${[...this.tops.keys()].join(', ') || 'none'}).`);
    return tf.loadLayersModel(tf.io.fromMemory(cloneArtifacts(a)));
  }

  async listTop(): Promise<string[]> {
    return [...this.tops.keys()];
  }
}
