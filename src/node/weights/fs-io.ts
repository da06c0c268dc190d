import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs';
// registers the zoo's custom layers so loadLayersModel can deserialize them
import '../../zoo/layers.js';
import { pathExists as exists, replaceDirAtomic } from '../utils/atomic.js';
import { fromStandardArtifacts, toStandardArtifacts } from '../../weights/portable.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/**
 * The two files of the TF.js layers format for some model artifacts: model.json and one weights.bin. The
 * topology is written with standard layer classes (see `toStandardArtifacts`), so plain `tf.loadLayersModel`
 * reads it; `strict` throws when some layer has no standard equivalent.
 */
export function artifactsToFiles(original: tf.io.ModelArtifacts, options: { strict?: boolean } = {}): Record<string, Uint8Array | string> {
  const artifacts = toStandardArtifacts(original, options);
  const data = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
  if (artifacts.userDefinedMetadata) json.userDefinedMetadata = artifacts.userDefinedMetadata;
  return { [MODEL_JSON]: JSON.stringify(json), [WEIGHTS_BIN]: new Uint8Array(data) };
}

/** Writes files into a fresh temporary directory, then swaps it into place with renames. */
async function writeDirAtomically(dir: string, files: Record<string, Uint8Array | string>): Promise<void> {
  const target = resolve(dir);
  await fs.mkdir(dirname(target), { recursive: true });
  if (await exists(target)) {
    const stat = await fs.stat(target);
    const entries = stat.isDirectory() ? await fs.readdir(target) : ['(a file)'];
    if (!stat.isDirectory() || (entries.length > 0 && !entries.includes(MODEL_JSON))) {
      throw new Error(`Refusing to overwrite '${dir}': it exists and is not a model directory written by saveModel. Choose another path.`);
    }
  }
  await replaceDirAtomic(target, async (tmp) => {
    for (const [name, data] of Object.entries(files)) await fs.writeFile(join(tmp, name), data);
  });
}

export interface SaveModelOptions {
  /** Throw instead of saving when a layer has no standard TF.js class (none of the zoo's architectures has one). */
  strict?: boolean;
}

/**
 * Saves a model as TF.js layers format (model.json + weights.bin) without tfjs-node, in standard layer
 * classes only (BatchNormalization, ZeroPadding2D, Rescaling, ...): plain `tf.loadLayersModel` in a program
 * that imports only `@tensorflow/tfjs` loads it and predicts the same. `loadModel` restores our classes
 * (frozen BatchNorm keeps its statistics in `fit`).
 * The directory appears complete or not at all (written to a temporary sibling, then renamed).
 * @example await saveModel(model, './out/chexpert-densenet121');
 */
export async function saveModel(model: tf.LayersModel, dir: string, options: SaveModelOptions = {}): Promise<tf.io.SaveResult> {
  return model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await writeDirAtomically(dir, artifactsToFiles(artifacts, options));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

/**
 * Reads a TF.js model directory (or its model.json path) into model artifacts.
 * @example const artifacts = await readModelArtifacts('./out/model');
 */
export async function readModelArtifacts(pathOrDir: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = pathOrDir.endsWith('.json') ? pathOrDir : join(pathOrDir, MODEL_JSON);
  const dir = resolve(dirname(jsonPath));
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await fs.readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `No TF.js model at '${pathOrDir}': ${jsonPath} does not exist. Pass a directory written by saveModel.`
        : `Cannot read ${jsonPath}: ${(e as Error).message}`,
    );
  }
  if (!json || typeof json !== 'object' || !json.modelTopology) throw new Error(`${jsonPath} is not a TF.js model.json (no modelTopology).`);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) {
        const file = resolve(dir, p);
        if (!file.startsWith(dir + sep)) throw new Error(`Weight file '${p}' in ${jsonPath} points outside the model directory.`);
        const b = await fs.readFile(file);
        buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      }
    }
    return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
  });
  return fromStandardArtifacts(artifacts);
}

/** A tf.io handler that reads a model directory from disk (no tfjs-node needed). */
export function fileLoadHandler(dir: string): tf.io.IOHandler {
  return { load: () => readModelArtifacts(dir) };
}

/**
 * Loads a model saved by saveModel (or by `chexzoo train`), with the zoo's layer classes restored:
 * BatchNormalization layers become our BatchNorm, whose frozen form keeps its moving statistics in `fit`.
 * @example const model = await loadModel('./out/chexpert-densenet121');
 */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileLoadHandler(dir));
}
