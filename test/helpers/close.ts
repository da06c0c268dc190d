// Numeric comparisons for tests. Non-finite expected values are matched exactly: a relative tolerance times
// an infinite expected value is infinite and would accept anything, and NaN fails every `>` test.
import { expect } from 'vitest';

/**
 * Throws unless `actual` equals `expected` within `rel` relative error. NaN, +Infinity and -Infinity must
 * be matched exactly; a NaN `actual` never passes for a finite `expected`.
 */
export function expectClose(actual: number, expected: number, rel: number, what: string): void {
  if (!Number.isFinite(expected)) {
    if (!Object.is(actual, expected) && !(Number.isNaN(actual) && Number.isNaN(expected))) {
      throw new Error(`${what}: got ${actual}, expected exactly ${expected}`);
    }
    return;
  }
  const diff = Math.abs(actual - expected);
  // written as !(diff <= tol) so that a NaN or infinite `actual` fails
  if (!(diff <= rel * Math.abs(expected))) {
    throw new Error(`${what}: got ${actual}, expected ${expected} (relative error ${diff / Math.abs(expected)})`);
  }
}

/**
 * Arrays equal within `rel` of the largest finite |expected| (so entries near zero are not held to a
 * relative bound); non-finite expected entries must be matched exactly, and any NaN in `actual` fails.
 */
export function expectAllCloseScaled(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i]!)) scale = Math.max(scale, Math.abs(expected[i]!));
  const tol = rel * Math.max(scale, 1e-6);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) throw new Error(`${label}[${i}]: got ${a}, expected exactly ${e}`);
    } else if (!(Math.abs(a - e) <= tol)) {
      throw new Error(`${label}[${i}]: got ${a}, expected ${e} (error ${Math.abs(a - e)} > ${tol} = ${rel} x max |expected|)`);
    }
  }
}
