// Lists the function bodies in src/ longer than a limit (default 80 lines), longest first, found with the
// TypeScript compiler API (a regex cannot tell a function body from an object literal or a template string).
// test/function-length.test.ts runs the same scan and fails on any body over 80 lines outside its allow-list.
// Run: npx tsx tools/function_lengths.ts [LIMIT]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** One function-like declaration and the number of lines its body spans (braces included). */
export interface FunctionLength {
  file: string;
  name: string;
  line: number;
  lines: number;
}

const root = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The name a reader would search for: the declaration's own, else the variable or property it is assigned to. */
function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (node.name) return node.name.getText(sf);
  const p = node.parent;
  if ((ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) return p.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

/** Every function, method, accessor, constructor and arrow function with a block body in one file. */
export function functionLengths(file: string, text = readFileSync(file, 'utf8')): FunctionLength[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body && ts.isBlock(node.body as ts.Node)) {
      const body = node.body as ts.Block;
      const first = sf.getLineAndCharacterOfPosition(body.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(body.getEnd()).line;
      found.push({ file: relative(root, file).split('\\').join('/'), name: nameOf(node as ts.FunctionLikeDeclaration, sf), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Function bodies under `dir` (default: the project's src/) longer than `limit` lines, longest first. */
export function longFunctions(limit = 80, dir = join(root, 'src')): FunctionLength[] {
  return sourceFiles(dir)
    .flatMap((f) => functionLengths(f))
    .filter((f) => f.lines > limit)
    .sort((a, b) => b.lines - a.lines);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const limit = Number(process.argv[2] ?? 80);
  const long = longFunctions(limit);
  for (const f of long) console.log(`${String(f.lines).padStart(4)}  ${f.name}  ${f.file}:${f.line}`);
  console.log(`${long.length} function bodies in src/ longer than ${limit} lines`);
}
