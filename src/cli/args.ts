// Argument handling shared by the `chexzoo` subcommands: parsing, numeric flags, and the exit codes
// (0 done, 1 a failure, 2 a usage error: printed with the usage text).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { getModelInfo, listModels } from '../zoo/registry.js';
import { BACKEND_NAMES } from '../backend/index.js';

// @types/node does not export ParsedResults
type ParsedResults<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/** A bad flag or flag value: the subcommand prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** A negative number given as a flag's value (`--block -1`, `--seed -3`, `--lr -1e-3`). */
const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * parseArgs reads `--block -1` as a missing value followed by the flag `-1`. A string option followed by a
 * negative number takes it as its value (`--block=-1`), as the usage texts document.
 */
function joinNegativeValues(args: readonly string[], options: ParseArgsConfig['options']): string[] {
  const stringOption = (token: string): boolean => {
    if (token.startsWith('--')) return options?.[token.slice(2)]?.type === 'string';
    if (/^-[A-Za-z]$/.test(token)) return Object.values(options ?? {}).some((o) => o.short === token[1] && o.type === 'string');
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (next !== undefined && NEGATIVE_NUMBER.test(next) && stringOption(a)) {
      out.push(`${a}${a.startsWith('--') ? '=' : ''}${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * Parses a subcommand's arguments. A usage error is printed with the usage text (exit code 2), `--help`
 * prints the usage (exit code 0); either way the exit code is returned instead of the parsed values.
 * @example const parsed = parseCommand('synth', USAGE, { args: argv, options }); if (typeof parsed === 'number') return parsed;
 */
export function parseCommand<T extends ParseArgsConfig>(command: string, usage: string, config: T): ParsedResults<T> | number {
  let parsed: ParsedResults<T>;
  const computes = COMPUTING.has(command);
  if (computes) {
    usage += BACKEND_USAGE;
    config = { ...config, options: { ...config.options, backend: { type: 'string' } } };
  }
  try {
    const args = config.args === undefined ? {} : { args: joinNegativeValues(config.args, config.options) };
    parsed = parseArgs({ ...config, ...args } as T) as ParsedResults<T>;
    if (computes) backendFlag((parsed.values as Record<string, unknown>).backend as string | undefined);
  } catch (e) {
    process.stderr.write(`chexzoo ${command}: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(usage);
    return 0;
  }
  return parsed;
}

/** Subcommands that compute with TF.js: they take `--backend NAME`. */
const COMPUTING = new Set(['train', 'eval', 'truncate', 'study', 'export', 'backend']);

const BACKEND_USAGE = `
  --backend NAME       TF.js backend: wasm (default in Node), cpu, webgpu (a GPU through WebGPU: needs
                       npm install webgpu @tensorflow/tfjs-backend-webgpu; see \`chexzoo backend\`), tensorflow
                       (tfjs-node). Same as CHEXZOO_BACKEND=NAME, which it overrides.
`;

/**
 * `--backend NAME`: checked, then set as CHEXZOO_BACKEND so that the first ensureBackend() (and any child
 * process a subcommand starts) uses it. Nothing has chosen a backend yet when flags are parsed.
 */
function backendFlag(v: string | undefined): void {
  if (v === undefined) return;
  if (!BACKEND_NAMES.includes(v.toLowerCase())) {
    throw new UsageError(`--backend: unknown backend '${v}'. Use one of: ${BACKEND_NAMES.join(', ')}.`);
  }
  process.env.CHEXZOO_BACKEND = v;
}

/**
 * Prints an error of a subcommand and returns its exit code: a {@link UsageError} with the usage (2),
 * anything else as a failure (1).
 */
export function failWith(command: string, usage: string, e: unknown): 1 | 2 {
  if (e instanceof UsageError) {
    process.stderr.write(`chexzoo ${command}: ${e.message}\n\n${usage}`);
    return 2;
  }
  process.stderr.write(`chexzoo ${command}: ${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
}

/** Bounds of a numeric flag. */
export interface NumberBounds {
  /** Smallest accepted value (inclusive). */
  min?: number;
  /** Values must be greater than this. */
  above?: number;
  max?: number;
}

function checkBounds(name: string, v: string, n: number, b: NumberBounds, what: string): number {
  const fail = (rule: string) => {
    throw new UsageError(`--${name} must be ${what}${rule}, got "${v}".`);
  };
  if (b.min !== undefined && n < b.min) fail(b.max !== undefined ? ` in [${b.min}, ${b.max}]` : ` >= ${b.min}`);
  if (b.above !== undefined && !(n > b.above)) fail(` > ${b.above}`);
  if (b.max !== undefined && n > b.max) fail(b.min !== undefined ? ` in [${b.min}, ${b.max}]` : ` <= ${b.max}`);
  return n;
}

/** An integer flag (undefined when absent); a non-integer or out-of-bounds value is a {@link UsageError}. */
export function intFlag(name: string, v: string | undefined, bounds: NumberBounds = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} must be an integer, got "${v}".`);
  return checkBounds(name, v, n, bounds, 'an integer');
}

/** A finite number flag (undefined when absent); NaN, Infinity or out-of-bounds is a {@link UsageError}. */
export function numberFlag(name: string, v: string | undefined, bounds: NumberBounds = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}".`);
  return checkBounds(name, v, n, bounds, 'a number');
}

/**
 * A block flag (`--block`, `--truncate`): a block name of `arch` or -K (drop the last K blocks), checked
 * against the architecture's blocks without building it. Returns the block name.
 */
export function blockFlag(name: string, arch: string, v: string): string {
  const names = getModelInfo(arch).blocks;
  const list = `${arch}'s blocks: ${names.join(', ')} (or -K to drop the last K, from -1 to -${names.length - 1}).`;
  if (NEGATIVE_NUMBER.test(v) || /^\d/.test(v)) {
    const k = Number(v);
    if (!Number.isInteger(k) || k > 0 || -k >= names.length) throw new UsageError(`--${name} ${v} is out of range. ${list}`);
    return names[names.length - 1 + k]!;
  }
  if (!names.includes(v)) throw new UsageError(`--${name}: unknown block '${v}'. ${list}`);
  return v;
}

/** The options of the input-side flag: `--image-size`, and `--img-size`, its deprecated alias. */
export const IMAGE_SIZE_OPTIONS = { 'image-size': { type: 'string' }, 'img-size': { type: 'string' } } as const;

/**
 * The square input side in pixels from `--image-size` (or the deprecated `--img-size`, with a warning on stderr);
 * undefined when absent. Both at once is a {@link UsageError}.
 */
export function imageSizeFlag(values: { 'image-size'?: string | undefined; 'img-size'?: string | undefined }, bounds: NumberBounds = {}): number | undefined {
  const old = values['img-size'];
  if (old !== undefined && values['image-size'] !== undefined) throw new UsageError('Give --image-size only (--img-size is its deprecated alias).');
  if (old !== undefined) process.stderr.write('chexzoo: --img-size is deprecated; use --image-size.\n');
  return old !== undefined ? intFlag('img-size', old, bounds) : intFlag('image-size', values['image-size'], bounds);
}

/** An architecture flag: one of the zoo's names. */
export function archFlag(name: string, v: string | undefined): string {
  if (!v) throw new UsageError(`--${name} is required (see \`chexzoo list\`).`);
  if (!listModels().includes(v)) throw new UsageError(`Unknown architecture '${v}'. Valid: ${listModels().join(', ')}.`);
  return v;
}

/** The image-reading flags of the subcommands that read a dataset (train, eval, study). */
export const DATA_READ_OPTIONS = { 'dicom-policy': { type: 'string' }, 'decode-workers': { type: 'string' } } as const;

/** Their help lines. */
export const DATA_READ_USAGE = `  --dicom-policy P      how DICOM images become grey: voi (default: window / VOI LUT, what a radiologist
                        sees) or minmax (raw values min-max scaled, as MIMIC-CXR-JPG was made; docs/dicom.md)
  --decode-workers N    decode images on N worker threads (default 0: this thread, with sharp's own threads);
                        worth it for DICOM, large images or a GPU backend, about one per spare core
`;

/**
 * `--dicom-policy` and `--decode-workers`, checked.
 * @example dataReadFlags({ 'dicom-policy': 'minmax' }); // { dicomPolicy: 'minmax' }
 */
export function dataReadFlags(values: { 'dicom-policy'?: string | undefined; 'decode-workers'?: string | undefined }): { dicomPolicy?: 'voi' | 'minmax'; decodeWorkers?: number } {
  const p = values['dicom-policy'];
  if (p !== undefined && p !== 'voi' && p !== 'minmax') throw new UsageError(`--dicom-policy must be voi or minmax, got '${p}' (docs/dicom.md explains both).`);
  const workers = intFlag('decode-workers', values['decode-workers'], { min: 0 });
  return { ...(p !== undefined ? { dicomPolicy: p } : {}), ...(workers !== undefined ? { decodeWorkers: workers } : {}) };
}
