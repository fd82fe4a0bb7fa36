// What the repository's prose is held to: no dated asides (numbered work periods, issue numbers,
// machine diaries) in code, tests, benchmarks, examples or docs; every relative link in the
// docs and every file a comment names exists. Pure functions over text, plus a walk of the tree.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Phrases that date a text. Each names history rather than the product: a numbered work period,
 * an issue number, "until" a point in the project's past, the habitual past tense, or the machine
 * a figure came from. Code identifiers (sessionStorage, WorkerSession, client-session.ts) and
 * ordinary English (waiting "until the worker is ready", a passive "is used for") pass; the
 * matcher's tests (test/unit/prose.test.ts) show both kinds.
 */
const DATED: readonly { what: string; re: RegExp }[] = [
  { what: 'a numbered work period', re: /\bsessions?\s+#?\d+/i },
  { what: 'a work period', re: /\b(?:this|last|previous|next|earlier|later|that)\s+session\b(?!\s*(?:storage|id|cookie|token))/i },
  { what: 'an issue number', re: /\b(?:issue|ticket)s?\s*#?\d+/i },
  { what: '"until" a point in the past', re: /\buntil\s+(?:session|issue|recently|now\b|today\b|commit|release|version|v?\d+\.\d+)/i },
  { what: 'the habitual past tense', re: /(?<!\b(?:is|are|was|were|be|been|being|gets?|got)\s+(?:\w+ly\s+|also\s+|not\s+)?)\bused\s+to\b/i },
  { what: 'a machine diary', re: /\b(?:this|previous|last|the\s+bench|a\s+bench)\s+(?:[\w-]+\s+)?(?:machine|vm)\b/i },
  { what: 'a machine diary', re: /\bbench\s+vm\b/i },
  { what: 'a machine diary', re: /\bmachines?\s+before\b/i },
  { what: 'a machine diary', re: /\bsession\s+\d+'s\b/i },
  { what: 'an earlier state of the project', re: /\bpreviously\b/i },
];

export interface Aside {
  line: number;
  text: string;
  what: string;
}

/** Every dated aside in `text`, with its line number (from 1). */
export function datedAsides(text: string): Aside[] {
  const out: Aside[] = [];
  text.split('\n').forEach((line, i) => {
    for (const d of DATED) {
      const m = d.re.exec(line);
      if (m) out.push({ line: i + 1, text: m[0], what: d.what });
    }
  });
  return out;
}

const TEXT_EXT = /\.(?:ts|mts|js|mjs|cjs|md|json|ya?ml|sh|php|html|css|txt|subject)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'results', '.git']);

/** Text files under `dirs` (relative to the root), as root-relative paths, sorted. */
export function textFiles(dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(ROOT, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isFile()) {
      if (TEXT_EXT.test(rel)) out.push(rel);
      return;
    }
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      if (e.isDirectory() && SKIP_DIRS.has(e.name)) continue;
      walk(path.join(rel, e.name));
    }
  };
  dirs.forEach(walk);
  return out.sort();
}

export const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

/**
 * Targets of the relative links in Markdown text (`[x](target)` and `[x]: target`), without
 * their anchors; links to a page's own anchors and absolute URLs are left out.
 */
export function relativeLinks(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const out: string[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)/gm)) {
    const target = (m[1] ?? m[2])!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    out.push(decodeURI(target.split('#')[0]!));
  }
  return out;
}

/** The comment text of a source file's lines: what follows `//`, or a line inside a block comment. */
export function commentLines(source: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  source.split('\n').forEach((raw, i) => {
    const block = /^\s*(?:\/\*\*?|\*(?!\/))(.*)$/.exec(raw);
    const trailing = /(?:^|[\s;,{}()])\/\/(.*)$/.exec(raw);
    const text = block?.[1] ?? trailing?.[1];
    if (text !== undefined) out.push({ line: i + 1, text });
  });
  return out;
}

const TOP = '(?:src|test|bench|docs|examples|fixtures|scripts)';
const FILE_EXT = '(?:ts|mjs|js|md|json|ya?ml|sh|php)';

/**
 * Repository files a comment names: a path under a top-level folder (`bench/lib/harness.ts`), a
 * Markdown file (`README.md`), or a bare source file name (`define.ts`). URLs and package
 * paths (`lovell/sharp#902`, `@ffmpeg-installer/ffmpeg`) are not files of this repository.
 */
export function fileReferences(comment: string): string[] {
  const text = comment.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '');
  const out: string[] = [];
  const re = new RegExp(
    `(?<![\\w./@-])(?:${TOP}/[\\w./-]*\\.${FILE_EXT}|${TOP}/[\\w-]+(?:/[\\w-]+)*/|[a-z0-9][\\w-]*\\.${FILE_EXT}|[A-Z][\\w-]*\\.md)(?![\\w/-])`,
    'g',
  );
  for (const m of text.matchAll(re)) out.push(m[0].replace(/\.$/, ''));
  return out;
}

/** Files the benchmarks write and git ignores: comments may name them. */
const GENERATED = new Set(['bench/results/latest.json', 'bench/results/latest.md', 'latest.json', 'latest.md']);

/**
 * Whether a name a comment in `from` gives exists: a path with a folder is taken from the root
 * or from `from`'s folder; a bare file name from `from`'s folder, anywhere under its top-level
 * folder (a comment in src/server may name src/store's lease.ts) or under src/ (a test names the
 * module it tests), or docs/ for Markdown. A name ending in .js is also found as its .ts source.
 */
export function referenceExists(from: string, name: string): boolean {
  if (GENERATED.has(name)) return true;
  const names = name.endsWith('.js') ? [name, `${name.slice(0, -3)}.ts`] : [name];
  const dir = path.dirname(from);
  const here = (n: string): boolean => existsSync(path.join(ROOT, n)) || existsSync(path.join(ROOT, dir, n));
  if (name.includes('/')) return names.some(here);
  if (names.some(here)) return true;
  const tops = [...new Set([from.split('/')[0]!, 'src', ...(name.endsWith('.md') ? ['docs'] : [])])];
  const files = textFiles(tops).map((f) => path.basename(f));
  return names.some((n) => files.includes(n));
}
