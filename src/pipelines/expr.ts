// Expressions in pipeline files: `${{ steps.probe.result.kind == 'image' }}`. A small, safe
// language (no calls, no assignment): paths into the run's context, literals, comparisons,
// && || ! and parentheses. An expression is parsed once into a tree: the definition check walks
// the tree (define.ts), the runner evaluates it. Templates replace `${{ … }}` inside payload
// strings; a string that is one whole expression keeps the value's type (an array stays an array).

export type Scope = object;

type Token = { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'id'; v: string } | { t: 'op'; v: string };

type CompareOp = '==' | '!=' | '>' | '<' | '>=' | '<=';

/** A path into the scope: `steps.probe.result.kind`, `input.files[index]`. */
export interface PathNode {
  k: 'path';
  root: string;
  /** Field names, or expressions computed at run time (`[index]`). */
  segs: (string | Node)[];
}

export type Node =
  | { k: 'lit'; v: string | number | boolean | null }
  | PathNode
  | { k: 'not'; e: Node }
  | { k: 'cmp'; op: CompareOp; l: Node; r: Node }
  | { k: 'and' | 'or'; l: Node; r: Node };

const OPS = ['==', '!=', '>=', '<=', '&&', '||', '>', '<', '!', '(', ')', '.', '[', ']'];
const COMPARE: readonly string[] = ['==', '!=', '>', '<', '>=', '<='];

export class ExprError extends Error {}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!;
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new ExprError(`unterminated string at ${i}`);
      out.push({ t: 'str', v: src.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$-]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExprError(`unexpected "${c}" at ${i}`);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  return out;
}

/** Parse `src` into a tree; throws ExprError with the position of the problem. */
export function parse(src: string): Node {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Token | undefined => toks[p];
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()!.v === v;
  const expect = (v: string): void => {
    if (!isOp(v)) throw new ExprError(`expected "${v}"`);
    p++;
  };

  const primary = (): Node => {
    const tok = toks[p++];
    if (!tok) throw new ExprError('unexpected end');
    if (tok.t === 'num' || tok.t === 'str') return { k: 'lit', v: tok.v };
    if (tok.t === 'op' && tok.v === '(') {
      const e = or();
      expect(')');
      return e;
    }
    if (tok.t === 'op' && tok.v === '!') return { k: 'not', e: primary() };
    if (tok.t !== 'id') throw new ExprError(`unexpected "${tok.v}"`);
    if (tok.v === 'true') return { k: 'lit', v: true };
    if (tok.v === 'false') return { k: 'lit', v: false };
    if (tok.v === 'null') return { k: 'lit', v: null };
    const node: PathNode = { k: 'path', root: tok.v, segs: [] };
    for (;;) {
      if (isOp('.')) {
        p++;
        const id = toks[p++];
        if (id?.t !== 'id' && id?.t !== 'num') throw new ExprError('expected a name after "."');
        node.segs.push(String(id.v));
      } else if (isOp('[')) {
        p++;
        const index = or();
        expect(']');
        // `[0]` and `['name']` are plain fields: the check sees them like `.0` and `.name`.
        node.segs.push(index.k === 'lit' && (typeof index.v === 'string' || typeof index.v === 'number') ? String(index.v) : index);
      } else break;
    }
    return node;
  };

  const compare = (): Node => {
    const l = primary();
    const tok = peek();
    if (tok?.t === 'op' && COMPARE.includes(tok.v)) {
      p++;
      return { k: 'cmp', op: tok.v as CompareOp, l, r: primary() };
    }
    return l;
  };

  const and = (): Node => {
    let e = compare();
    while (isOp('&&')) {
      p++;
      e = { k: 'and', l: e, r: compare() };
    }
    return e;
  };

  function or(): Node {
    let e = and();
    while (isOp('||')) {
      p++;
      e = { k: 'or', l: e, r: and() };
    }
    return e;
  }

  const e = or();
  if (p !== toks.length) throw new ExprError(`unexpected "${String(toks[p]!.v)}"`);
  return e;
}

/** Every path an expression reads, those inside `[…]` included. */
export function pathsIn(node: Node): PathNode[] {
  switch (node.k) {
    case 'lit':
      return [];
    case 'path':
      return [node, ...node.segs.flatMap((s) => (typeof s === 'string' ? [] : pathsIn(s)))];
    case 'not':
      return pathsIn(node.e);
    default:
      return [...pathsIn(node.l), ...pathsIn(node.r)];
  }
}

/** Evaluate a parsed expression. Only own properties are read: nothing from prototypes. */
export function evalNode(node: Node, s: Scope): unknown {
  switch (node.k) {
    case 'lit':
      return node.v;
    case 'path': {
      if (!Object.hasOwn(s, node.root)) return undefined;
      let v: unknown = (s as Record<string, unknown>)[node.root];
      for (const seg of node.segs) {
        if (v === null || v === undefined) return undefined;
        const key = typeof seg === 'string' ? seg : String(evalNode(seg, s));
        v = Object.hasOwn(v as object, key) ? (v as Record<string, unknown>)[key] : undefined;
      }
      return v;
    }
    case 'not':
      return !evalNode(node.e, s);
    case 'and':
      return evalNode(node.l, s) && evalNode(node.r, s);
    case 'or':
      return evalNode(node.l, s) || evalNode(node.r, s);
    case 'cmp': {
      const l = evalNode(node.l, s) as number;
      const r = evalNode(node.r, s) as number;
      switch (node.op) {
        case '==':
          return l === r;
        case '!=':
          return l !== r;
        case '>':
          return l > r;
        case '<':
          return l < r;
        case '>=':
          return l >= r;
        case '<=':
          return l <= r;
      }
    }
  }
}

/** A parsed expression: evaluate it against a scope. */
export type Compiled = (scope: Scope) => unknown;

/** Parse `src` once; throws ExprError with the position of the problem. */
export function compile(src: string): Compiled {
  const node = parse(src);
  return (scope) => evalNode(node, scope);
}

const WHOLE = /^\$\{\{([^}]*)\}\}$/;
const PART = /\$\{\{([^}]*)\}\}/g;

/** The body of a condition or list given with or without `${{ }}`. */
export function expressionBody(src: string): string {
  return WHOLE.exec(src.trim())?.[1] ?? src;
}

/** Every string of a template with the expressions in it and where it sits (`payload.sizes[0].width`). */
export function templateStrings(template: unknown, where: string): { where: string; text: string; expressions: string[] }[] {
  if (typeof template === 'string') {
    const expressions = [...template.matchAll(PART)].map((m) => m[1]!);
    return expressions.length > 0 ? [{ where, text: template, expressions }] : [];
  }
  if (Array.isArray(template)) return template.flatMap((t, i) => templateStrings(t, `${where}[${i}]`));
  if (template && typeof template === 'object') return Object.entries(template).flatMap(([k, v]) => templateStrings(v, `${where}.${k}`));
  return [];
}

/**
 * Render a JSON template: `${{ expr }}` alone keeps the value (undefined leaves the field out);
 * inside text it is interpolated, and a value that is undefined or null there is an error naming
 * the field and the expression: a path built from a missing part is never right.
 */
export function render(template: unknown, scope: Scope, where = 'payload'): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE.exec(template);
    if (whole) return compile(whole[1]!)(scope);
    return template.replace(PART, (_, src: string) => {
      const v = compile(src)(scope);
      if (v === undefined || v === null) throw new ExprError(`${where}: "${template}": ${src.trim()} is ${String(v)}`);
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    });
  }
  if (Array.isArray(template)) return template.map((t, i) => render(t, scope, `${where}[${i}]`));
  if (template && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, render(v, scope, `${where}.${k}`)]));
  }
  return template;
}

/** Evaluate a condition or list expression given with or without `${{ }}`. */
export function evaluate(src: string, scope: Scope): unknown {
  return compile(expressionBody(src))(scope);
}
