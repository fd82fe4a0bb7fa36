// Expressions in pipeline files: `${{ steps.probe.result.kind == 'image' }}`. A small, safe
// language (no calls, no assignment): paths into the run's context, literals, comparisons,
// && || ! and parentheses. Templates replace `${{ … }}` inside payload strings; a string that is
// one whole expression keeps the value's type (an array stays an array).

export type Scope = object;

type Token =
  | { t: 'num'; v: number }
  | { t: 'str'; v: string }
  | { t: 'id'; v: string }
  | { t: 'op'; v: string };

const OPS = ['==', '!=', '>=', '<=', '&&', '||', '>', '<', '!', '(', ')', '.', '[', ']'];

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

/** A parsed expression: evaluate it against a scope. */
export type Compiled = (scope: Scope) => unknown;

/** Parse `src` once; throws ExprError with the position of the problem. */
export function compile(src: string): Compiled {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Token | undefined => toks[p];
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()!.v === v;
  const expect = (v: string): void => {
    if (!isOp(v)) throw new ExprError(`expected "${v}"`);
    p++;
  };

  const primary = (): Compiled => {
    const tok = toks[p++];
    if (!tok) throw new ExprError('unexpected end');
    if (tok.t === 'num' || tok.t === 'str') {
      const v = tok.v;
      return () => v;
    }
    if (tok.t === 'op' && tok.v === '(') {
      const e = or();
      expect(')');
      return e;
    }
    if (tok.t === 'op' && tok.v === '!') {
      const e = primary();
      return (s) => !e(s);
    }
    if (tok.t !== 'id') throw new ExprError(`unexpected "${tok.v}"`);
    if (tok.v === 'true') return () => true;
    if (tok.v === 'false') return () => false;
    if (tok.v === 'null') return () => null;
    const path: (string | Compiled)[] = [tok.v];
    for (;;) {
      if (isOp('.')) {
        p++;
        const id = toks[p++];
        if (id?.t !== 'id' && id?.t !== 'num') throw new ExprError('expected a name after "."');
        path.push(String(id.v));
      } else if (isOp('[')) {
        p++;
        path.push(or());
        expect(']');
      } else break;
    }
    return (s) => {
      let v: unknown = s;
      for (const k of path) {
        if (v === null || v === undefined) return undefined;
        const key = typeof k === 'string' ? k : String(k(s));
        v = Object.hasOwn(v as object, key) ? (v as Record<string, unknown>)[key] : undefined;
      }
      return v;
    };
  };

  const compare = (): Compiled => {
    const left = primary();
    const tok = peek();
    if (tok?.t === 'op' && ['==', '!=', '>', '<', '>=', '<='].includes(tok.v)) {
      p++;
      const right = primary();
      switch (tok.v) {
        case '==': return (s) => left(s) === right(s);
        case '!=': return (s) => left(s) !== right(s);
        case '>': return (s) => (left(s) as number) > (right(s) as number);
        case '<': return (s) => (left(s) as number) < (right(s) as number);
        case '>=': return (s) => (left(s) as number) >= (right(s) as number);
        default: return (s) => (left(s) as number) <= (right(s) as number);
      }
    }
    return left;
  };

  const and = (): Compiled => {
    let e = compare();
    while (isOp('&&')) {
      p++;
      const l = e;
      const r = compare();
      e = (s) => l(s) && r(s);
    }
    return e;
  };

  function or(): Compiled {
    let e = and();
    while (isOp('||')) {
      p++;
      const l = e;
      const r = and();
      e = (s) => l(s) || r(s);
    }
    return e;
  }

  const e = or();
  if (p !== toks.length) throw new ExprError(`unexpected "${String(toks[p]!.v)}"`);
  return e;
}

const WHOLE = /^\$\{\{([^}]*)\}\}$/;
const PART = /\$\{\{([^}]*)\}\}/g;

/** Every expression inside a template value, for checking a definition before it runs. */
export function expressionsIn(template: unknown): string[] {
  if (typeof template === 'string') return [...template.matchAll(PART)].map((m) => m[1]!);
  if (Array.isArray(template)) return template.flatMap(expressionsIn);
  if (template && typeof template === 'object') return Object.values(template).flatMap(expressionsIn);
  return [];
}

/** Render a JSON template: `${{ expr }}` alone keeps the value, inside text it is interpolated. */
export function render(template: unknown, scope: Scope): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE.exec(template);
    if (whole) return compile(whole[1]!)(scope);
    return template.replace(PART, (_, src: string) => {
      const v = compile(src)(scope);
      return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    });
  }
  if (Array.isArray(template)) return template.map((t) => render(t, scope));
  if (template && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, render(v, scope)]));
  }
  return template;
}

/** Evaluate a condition or list expression given with or without `${{ }}`. */
export function evaluate(src: string, scope: Scope): unknown {
  const whole = WHOLE.exec(src.trim());
  return compile(whole ? whole[1]! : src)(scope);
}
