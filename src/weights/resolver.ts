import * as tf from '@tensorflow/tfjs';
import { checkHash, fetchBytes, sha256Hex, type ProgressCallback } from './fetch.js';

/** What a resolver is asked to fetch: a URL (maybe registered, with hashes) or a local path. */
export interface WeightsRequest {
  url?: string;
  path?: string;
  /** File name to cache under (defaults to the URL's last segment). */
  fileName?: string;
  sha256?: string | null;
  sha256Prefix?: string | null;
  arch?: string;
  onProgress?: ProgressCallback;
}

/** Raw checkpoint bytes, or TF.js model artifacts (a model directory written by saveModel). */
export type ResolvedWeights = Uint8Array | tf.io.ModelArtifacts;

export type WeightsResolver = (req: WeightsRequest) => Promise<ResolvedWeights>;

function isModelJsonUrl(url: string): boolean {
  return /model\.json(?:[?#].*)?$/.test(url);
}

/** Browser-safe default: URLs through fetch (hash-checked when hashes are given); no file system. */
export const browserWeightsResolver: WeightsResolver = async (req) => {
  if (req.url) {
    if (isModelJsonUrl(req.url)) return tf.io.http(req.url).load!();
    const bytes = await fetchBytes(req.url, req.onProgress);
    if (req.sha256 || req.sha256Prefix) checkHash(await sha256Hex(bytes), req, req.url);
    return bytes;
  }
  throw new Error(
    `Cannot read '${req.path}': loading weights from a file path needs Node. ` +
      "Import '@chexzoo/models/node' (it installs a file and cache resolver), or pass the file's bytes or a URL.",
  );
};

// Kept on globalThis so that separately bundled entries (index and node builds each carry a copy
// of this module) share one resolver: installing it from '@chexzoo/models/node' affects both.
const KEY = Symbol.for('@chexzoo/models/weights-resolver');
type Holder = { [KEY]?: WeightsResolver };

/**
 * Replaces how weight sources given as URL or path are fetched. '@chexzoo/models/node' installs a
 * resolver with file paths, a download cache and offline mode.
 * @example setWeightsResolver(async (req) => new Uint8Array(await (await fetch(req.url!)).arrayBuffer()));
 */
export function setWeightsResolver(resolver: WeightsResolver | undefined): void {
  (globalThis as Holder)[KEY] = resolver;
}

/** The resolver in use. */
export function getWeightsResolver(): WeightsResolver {
  return (globalThis as Holder)[KEY] ?? browserWeightsResolver;
}
