// A light XML well-formedness check for the SVG figures and reports.
import { expect } from 'vitest';

/** Checks that every opened tag is closed in order (a light XML well-formedness check) and returns the tag names seen. */
export function checkBalanced(xml: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(xml)) !== null) {
    // text between tags must not hold a raw '<' or an unescaped '&'
    const text = xml.slice(last, m.index);
    expect(text).not.toMatch(/<|&(?!(amp|lt|gt|quot|#39);)/);
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (close) expect(stack.pop()).toBe(name);
    else {
      if (!self) stack.push(name!);
      seen.push(name!);
    }
  }
  expect(xml.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  return seen;
}
