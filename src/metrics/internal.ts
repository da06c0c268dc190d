// Shared input checks and small numeric helpers for the metrics module (not exported from the package).

/** Anything indexable by position with numeric values: number[], Float32Array, Float64Array, ... */
export type NumericArray = ArrayLike<number>;

/** A per-case inclusion mask: 1/true = use the case, 0/false = ignore it. */
export type Mask = ArrayLike<number | boolean>;

function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  return (
    x != null &&
    typeof x === 'object' &&
    typeof (x as { length?: unknown }).length === 'number' &&
    Number.isInteger((x as { length: number }).length)
  );
}

function describe(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export function assertArray(x: unknown, name: string, fn: string): asserts x is NumericArray {
  if (!isArrayLike(x)) {
    throw new Error(`${fn}: ${name} must be an array or typed array of numbers, got ${describe(x)}.`);
  }
}

export function assertSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, names: [string, string], fn: string): void {
  if (a.length !== b.length) {
    throw new Error(
      `${fn}: ${names[0]} and ${names[1]} have different lengths (${a.length} vs ${b.length}); pass one value per case.`,
    );
  }
}

export function assertNonEmpty(a: ArrayLike<unknown>, name: string, fn: string): void {
  if (a.length === 0) throw new Error(`${fn}: ${name} is empty; pass at least one case.`);
}

/** Reads a mask entry; anything other than 0/1/true/false is an error so that typos do not silently drop cases. */
export function maskValue(mask: Mask, i: number, fn: string, name = 'mask'): boolean {
  const m = mask[i] as unknown;
  if (m === true || m === 1) return true;
  if (m === false || m === 0) return false;
  throw new Error(`${fn}: ${name}[${i}] is ${describe(m)}; mask entries must be 1/true (use the case) or 0/false (ignore it).`);
}

/**
 * Validates binary labels and finite scores (and an optional mask) and returns the indices of the cases to use.
 * Masked-out cases are not checked, so they may hold NaN or -1 placeholders.
 */
export function checkBinaryInputs(
  labels: unknown,
  scores: unknown,
  mask: Mask | undefined,
  fn: string,
  scoresName = 'scores',
): Int32Array {
  assertArray(labels, 'labels', fn);
  assertArray(scores, scoresName, fn);
  assertSameLength(labels, scores, ['labels', scoresName], fn);
  assertNonEmpty(labels, 'labels', fn);
  if (mask !== undefined) {
    assertArray(mask, 'mask', fn);
    assertSameLength(labels, mask, ['labels', 'mask'], fn);
  }
  const keep: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (mask !== undefined && !maskValue(mask, i, fn)) continue;
    const y = labels[i];
    if (y !== 0 && y !== 1) {
      throw new Error(
        `${fn}: labels[${i}] is ${describe(y)}; labels must be 0 or 1 (pass a mask with 0 at cases to ignore, e.g. uncertain labels).`,
      );
    }
    const s = scores[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new Error(`${fn}: ${scoresName}[${i}] is ${describe(s)}; scores must be finite numbers.`);
    }
    keep.push(i);
  }
  return Int32Array.from(keep);
}

/** Checks finite numeric data for correlation functions. */
export function checkPairedFinite(x: unknown, y: unknown, fn: string): asserts x is NumericArray {
  assertArray(x, 'x', fn);
  assertArray(y, 'y', fn);
  assertSameLength(x, y, ['x', 'y'], fn);
  assertNonEmpty(x, 'x', fn);
  for (const [arr, name] of [
    [x, 'x'],
    [y, 'y'],
  ] as const) {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new Error(`${fn}: ${name}[${i}] is ${describe(v)}; values must be finite numbers (drop missing pairs first).`);
      }
    }
  }
}

/** Indices of `values` sorted ascending by value (stable). */
export function argsortAscending(values: NumericArray, indices?: Int32Array): Int32Array {
  const idx = indices ? Int32Array.from(indices) : Int32Array.from({ length: values.length }, (_, i) => i);
  // Typed-array sort with a comparator is stable in all current engines (ES2019 requires it for Array; V8 uses the same TimSort).
  const arr = Array.from(idx);
  arr.sort((a, b) => values[a]! - values[b]! || a - b);
  return Int32Array.from(arr);
}

/** Average (fractional) ranks starting at 1, ties get the mean of the ranks they span: scipy.stats.rankdata(method='average'). */
export function averageRanks(values: NumericArray): Float64Array {
  const n = values.length;
  const order = argsortAscending(values);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && values[order[j]!] === values[order[i]!]) j++;
    // ranks i+1..j averaged; (i+1+j)/2 is a half-integer, so it is exact
    const r = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]!] = r;
    i = j;
  }
  return ranks;
}

/** Percentile with linear interpolation between order statistics (numpy.percentile's default 'linear' method). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (m === 0) return Number.NaN;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, m - 1);
  const frac = h - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return frac === 0 ? a : a + frac * (b - a);
}
