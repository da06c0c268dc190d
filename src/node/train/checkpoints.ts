// Checkpoints on disk (Node-only): the resumable "last" checkpoint and the top-k models, each a folder written
// to a temporary sibling, fsynced and renamed into place, so a crash or power loss at any point leaves the
// previous one intact.
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { artifactsToFiles, loadModel, readModelArtifacts } from '../weights/fs-io.js';
import { fsyncPath, pathExists as exists, replaceDirAtomic, TMP_SIBLING } from '../utils/atomic.js';
import type { CheckpointStore, EncodedWeights, SavedCheckpoint, TrainState } from '../../train/state.js';

const LAST = 'last';
const MODEL_JSON = 'model.json';
const OPT_JSON = 'optimizer.json';
const OPT_BIN = 'optimizer.bin';
const STATE_JSON = 'state.json';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface FileCheckpointStoreOptions {
  /** Replaces fs.writeFile (tests inject failures to check that an interrupted write keeps the old checkpoint). */
  writeFile?: (path: string, data: Uint8Array | string) => Promise<void>;
}


function bufferOf(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * Checkpoints in a folder: `last/` (model.json + weights.bin, optimizer.json + optimizer.bin with the Adam
 * moments and step, state.json with the loop position and history) and one `step-NNNNNNN/` model folder per
 * kept top-k checkpoint (loadable with `loadModel`). Every folder is written under a temporary name and renamed.
 * @example const store = new FileCheckpointStore('runs/r1/checkpoints'); await train(model, data, { store });
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly dir: string;
  private readonly write: (path: string, data: Uint8Array | string) => Promise<void>;

  constructor(dir: string, options: FileCheckpointStoreOptions = {}) {
    this.dir = resolve(dir);
    this.write = options.writeFile ?? ((p, d) => fs.writeFile(p, d));
  }

  /** Writes `files` into `<dir>/<name>` atomically: temporary folder, then rename (old one moved aside first). */
  private async writeFolder(name: string, files: Record<string, Uint8Array | string>): Promise<void> {
    await replaceDirAtomic(join(this.dir, name), async (tmp) => {
      for (const [file, data] of Object.entries(files)) await this.write(join(tmp, file), data);
    });
  }

  /** A kill between the two renames leaves only `.last.old-*`: put it back. Leftover temporary folders are removed. */
  private async recover(): Promise<void> {
    if (!(await exists(this.dir))) return;
    const entries = await fs.readdir(this.dir);
    const target = join(this.dir, LAST);
    if (!(await exists(target))) {
      const olds = entries.filter((e) => e.startsWith(`.${LAST}.old-`));
      for (const o of olds) {
        if (await exists(join(this.dir, o, STATE_JSON))) {
          await fs.rename(join(this.dir, o), target);
          await fsyncPath(this.dir, true);
          break;
        }
      }
    }
    for (const e of await fs.readdir(this.dir)) {
      if (TMP_SIBLING.test(e)) await fs.rm(join(this.dir, e), { recursive: true, force: true });
    }
  }

  async loadLast(): Promise<SavedCheckpoint | undefined> {
    await this.recover();
    const dir = join(this.dir, LAST);
    if (!(await exists(join(dir, STATE_JSON)))) return undefined;
    try {
      const state = JSON.parse(await fs.readFile(join(dir, STATE_JSON), 'utf8')) as TrainState;
      const model = await readModelArtifacts(dir);
      const specs = JSON.parse(await fs.readFile(join(dir, OPT_JSON), 'utf8')) as tf.io.WeightsManifestEntry[];
      const optimizer: EncodedWeights = { specs, data: bufferOf(await fs.readFile(join(dir, OPT_BIN))) };
      return { state, model, optimizer };
    } catch (e) {
      throw new Error(`The checkpoint in ${dir} is unreadable (${(e as Error).message}). Delete that folder to start over, or use another output folder.`);
    }
  }

  async saveLast(c: SavedCheckpoint): Promise<void> {
    // state.json last: its presence marks a complete folder for recover()
    await this.writeFolder(LAST, {
      ...artifactsToFiles(c.model),
      [OPT_JSON]: JSON.stringify(c.optimizer.specs),
      [OPT_BIN]: new Uint8Array(c.optimizer.data),
      [STATE_JSON]: JSON.stringify(c.state),
    });
  }

  private topDir(id: string): string {
    if (!ID_RE.test(id) || id === LAST) throw new Error(`Invalid checkpoint id '${id}'.`);
    return join(this.dir, id);
  }

  async saveTop(id: string, model: tf.io.ModelArtifacts): Promise<void> {
    this.topDir(id);
    await this.writeFolder(id, artifactsToFiles(model));
  }

  async removeTop(id: string): Promise<void> {
    await fs.rm(this.topDir(id), { recursive: true, force: true });
  }

  async loadTop(id: string): Promise<tf.LayersModel> {
    return loadModel(this.topDir(id));
  }

  async listTop(): Promise<string[]> {
    if (!(await exists(this.dir))) return [];
    const out: string[] = [];
    for (const e of await fs.readdir(this.dir)) {
      if (e !== LAST && ID_RE.test(e) && (await exists(join(this.dir, e, MODEL_JSON)))) out.push(e);
    }
    return out.sort();
  }

  /** Path of a kept model folder. */
  pathOf(id: string): string {
    return this.topDir(id);
  }
}
