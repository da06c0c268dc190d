// No function body in src/ is longer than 80 lines (braces included), so each fits on a screen and its named steps
// say what it does. The scan is the TypeScript compiler's syntax tree (tools/function_lengths.ts).
import { describe, expect, it } from 'vitest';
import { functionLengths, longFunctions } from '../tools/function_lengths.js';

const LIMIT = 80;
// Exceptions to the limit: none. Split a long function into named steps instead of adding its name here.
const ALLOWED = new Set<string>([]);

describe('function length', () => {
  const long = longFunctions(LIMIT);
  it(`no function body in src/ is longer than ${LIMIT} lines (outside the shrinking allow-list)`, () => {
    const over = long.filter((f) => !ALLOWED.has(f.name));
    expect(over.map((f) => `${f.name} (${f.file}:${f.line}): ${f.lines} lines`)).toEqual([]);
  });

  it('the allow-list names only functions that are still too long', () => {
    const stillLong = new Set(long.map((f) => f.name));
    expect([...ALLOWED].filter((n) => !stillLong.has(n)), 'remove these from ALLOWED: they fit now').toEqual([]);
  });

  it('the scanner measures bodies of every function form, nested ones too', () => {
    const src = [
      'export function a() {', // 1
      '  const b = () => {', // 2
      '    return 1;', // 3
      '  };', // 4
      '  class C { m() {', // 5
      '    return 2; } get g() { return 3; } }', // 6
      '  const o = { f: function () {', // 7
      '  } };', // 8
      '  const e = (x: number) => x + 1;', // expression body: not a block, not counted
      '}', // 10
    ].join('\n');
    const found = functionLengths('/virtual/x.ts', src).map((f) => [f.name, f.line, f.lines]);
    expect(found).toEqual([['a', 1, 10], ['b', 2, 3], ['m', 5, 2], ['g', 6, 1], ['f', 7, 2]]);
  });
});
