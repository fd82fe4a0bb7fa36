// Dependencies point one way: no module of src/ reaches itself again through its imports, type
// imports included (a cycle of types is still two modules that cannot be read apart). Imports
// are read with the TypeScript compiler's own pre-parser.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The src/ modules `file` imports or re-exports, as absolute paths. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .filter((i) => i.fileName.startsWith('.'))
    .map((i) => {
      const target = path.resolve(path.dirname(file), i.fileName).replace(/\.js$/, '.ts');
      return existsSync(target) ? target : target.replace(/\.ts$/, '/index.ts');
    });
}

/** Each cycle once, as the modules in it (Tarjan's strongly connected components). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

test('src/ has no import cycle', () => {
  const files = sources(SRC);
  assert.ok(files.length > 50, `only ${files.length} modules found under ${SRC}`);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const named = cycles(graph).map((c) =>
    c
      .map((f) => path.relative(SRC, f))
      .sort()
      .join(' → '),
  );
  assert.deepEqual(named, []);
});

test('the cycle check finds a cycle of type imports', () => {
  const graph = new Map([
    ['job.ts', ['types.ts']],
    ['types.ts', ['job.ts']],
    ['registry.ts', ['job.ts', 'types.ts']],
  ]);
  assert.deepEqual(
    cycles(graph).map((c) => c.sort()),
    [['job.ts', 'types.ts']],
  );
});
