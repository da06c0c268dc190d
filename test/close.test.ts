// The comparison helpers must be able to fail: infinities and NaN used to pass anything.
import { describe, expect, it } from 'vitest';
import { expectAllCloseScaled, expectClose } from './helpers/close.js';

describe('test helpers can fail', () => {
  it('expectClose: an infinite expected value is matched exactly, not with an infinite tolerance', () => {
    expect(() => expectClose(5, Infinity, 1e-6, 'x')).toThrow(/expected exactly Infinity/);
    expect(() => expectClose(-Infinity, Infinity, 1e-6, 'x')).toThrow(/expected exactly Infinity/);
    expect(() => expectClose(Infinity, -Infinity, 0, 'x')).toThrow();
    expect(() => expectClose(Infinity, Infinity, 0, 'x')).not.toThrow();
    expect(() => expectClose(Number.NaN, Number.NaN, 0, 'x')).not.toThrow();
    expect(() => expectClose(1, Number.NaN, 0.5, 'x')).toThrow();
  });

  it('expectClose: a NaN or infinite actual fails against a finite expected value', () => {
    expect(() => expectClose(Number.NaN, 1, 1e-6, 'x')).toThrow(/got NaN/);
    expect(() => expectClose(Infinity, 1, 1e-6, 'x')).toThrow(/got Infinity/);
    expect(() => expectClose(1.0000001, 1, 1e-6, 'x')).not.toThrow();
    expect(() => expectClose(1.01, 1, 1e-6, 'x')).toThrow(/relative error/);
    expect(() => expectClose(0, 0, 0, 'x')).not.toThrow();
  });

  it('expectAllCloseScaled: an infinite entry does not make the scale infinite', () => {
    expect(() => expectAllCloseScaled([123, 1], [Infinity, 1], 1e-4, 'v')).toThrow(/v\[0\]: got 123, expected exactly Infinity/);
    expect(() => expectAllCloseScaled([Infinity, 99], [Infinity, 1], 1e-4, 'v')).toThrow(/v\[1\]/);
    expect(() => expectAllCloseScaled([Number.NaN, 1], [2, 1], 1e-4, 'v')).toThrow(/v\[0\]: got NaN/);
    expect(() => expectAllCloseScaled([2.0001, 1e-9], [2, 0], 1e-4, 'v')).not.toThrow();
  });
});
