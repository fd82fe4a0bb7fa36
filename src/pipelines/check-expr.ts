// Checking the `${{ … }}` expressions of a pipeline definition on their parsed tree, before
// anything runs: every path starts at a known root and names fields the run will have (run.id,
// a declared option, a step it needs and that step's result or results, an input file's fields).
// A typo is refused here instead of becoming an empty string in an output path.

import { ExprError, type Node, type PathNode, parse, pathsIn } from './expr.js';
import { INPUT_FILE_FIELDS } from './input.js';
import type { InputKind } from './types.js';

/** What the checker knows of a value: anything, a plain value, an object with known fields, or a list. */
export type Shape =
  | { kind: 'any' }
  | { kind: 'scalar' }
  | { kind: 'object'; fields: Readonly<Record<string, Shape>>; none?: string }
  | { kind: 'array'; of: Shape };

const ANY: Shape = { kind: 'any' };
const SCALAR: Shape = { kind: 'scalar' };
const object = (names: readonly string[], none?: string): Shape => ({
  kind: 'object',
  fields: Object.fromEntries(names.map((n) => [n, SCALAR])),
  ...(none !== undefined ? { none } : {}),
});

const INPUT_FILE = object(INPUT_FILE_FIELDS);
const FAILURES: Shape = { kind: 'array', of: object(['item', 'error']) };
export const ROOT_NAMES = ['input', 'options', 'run', 'steps', 'item', 'index'] as const;

/** The shape of `input` for each kind of input. */
export function inputShape(kind: InputKind): Shape {
  if (kind === 'folder') return { kind: 'object', fields: { dir: SCALAR, files: { kind: 'array', of: INPUT_FILE } } };
  return kind === 'file' ? INPUT_FILE : ANY;
}

/** What `steps.ID` offers: `result` of a single step, `results` of a fan-out. */
export function stepShape(fanOut: boolean): Shape {
  return {
    kind: 'object',
    fields: { ...(fanOut ? { results: { kind: 'array', of: ANY } } : { result: ANY }), failed: SCALAR, status: SCALAR, failures: FAILURES },
  };
}

export interface ExprContext {
  input: Shape;
  /** The declared options' names. */
  options: readonly string[];
  /** The steps this one needs, directly or through others, and whether each is a fan-out. */
  steps: ReadonlyMap<string, boolean>;
  /** The shape of one item in a forEach step; undefined outside one. */
  item?: Shape;
}

function rootShape(root: string, ctx: ExprContext): Shape | undefined {
  switch (root) {
    case 'input':
      return ctx.input;
    case 'options':
      return object(ctx.options, 'the pipeline declares no options');
    case 'run':
      return object(['id', 'out']);
    case 'item':
      return ctx.item;
    case 'index':
      return ctx.item && SCALAR;
    default:
      return undefined;
  }
}

/** Follow the static part of `segs` from `shape`; `fail` gets the message for a field that cannot exist. */
function walk(shape: Shape, prefix: string, segs: PathNode['segs'], fail: (message: string, known?: string) => never): Shape {
  for (const seg of segs) {
    if (shape.kind === 'any') return shape;
    if (typeof seg !== 'string') {
      shape = shape.kind === 'array' ? shape.of : ANY;
      prefix += '[…]';
      continue;
    }
    if (shape.kind === 'array') {
      if (seg === 'length') shape = SCALAR;
      else if (/^\d+$/.test(seg)) shape = shape.of;
      else fail(`${prefix} is a list: it has length and [index], not "${seg}"`);
    } else if (shape.kind === 'scalar') {
      if (seg !== 'length') fail(`${prefix} has no fields (reading "${seg}")`);
    } else {
      const field = Object.hasOwn(shape.fields, seg) ? shape.fields[seg] : undefined;
      const names = Object.keys(shape.fields);
      if (!field) fail(`${prefix} has no field "${seg}"`, names.length ? `fields: ${names.join(', ')}` : shape.none);
      shape = field!;
    }
    prefix += /^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return shape;
}

/** The shape a list expression (`forEach`) yields one item of. */
export function itemShape(src: string, ctx: ExprContext): Shape {
  let node: Node;
  try {
    node = parse(src);
  } catch {
    return ANY;
  }
  if (node.k !== 'path' || node.root === 'steps') return ANY;
  const root = rootShape(node.root, ctx);
  if (!root) return ANY;
  try {
    const list = walk(root, node.root, node.segs, () => {
      throw new ExprError('');
    });
    return list.kind === 'array' ? list.of : ANY;
  } catch {
    return ANY;
  }
}

/**
 * Check one expression `body`, shown to the user as `shown` (the whole template string);
 * throws ExprError with the problem (the caller adds the step and field).
 */
export function checkExpression(body: string, shown: string, ctx: ExprContext): void {
  let node: Node;
  try {
    node = parse(body);
  } catch (err) {
    throw new ExprError(`cannot parse "${shown}": ${(err as Error).message}`);
  }
  for (const p of pathsIn(node)) {
    const fail = (message: string, known?: string): never => {
      throw new ExprError(`${message} in "${shown}"${known ? ` (${known})` : ''}`);
    };
    if (!(ROOT_NAMES as readonly string[]).includes(p.root)) fail(`unknown name "${p.root}"`, `known: ${ROOT_NAMES.join(', ')}`);
    if ((p.root === 'item' || p.root === 'index') && !ctx.item) throw new ExprError(`"${p.root}" is only defined in a step with forEach`);
    if (p.root === 'steps') {
      const [id, ...rest] = p.segs;
      if (typeof id !== 'string') continue; // steps[expr]: which step is known only at run time
      const fanOut = ctx.steps.get(id);
      if (fanOut === undefined) throw new ExprError(`refers to step "${id}", which is not one it needs (directly or through others)`);
      walk(stepShape(fanOut), `steps.${id}`, rest, fail);
      continue;
    }
    walk(rootShape(p.root, ctx)!, p.root, p.segs, fail);
  }
}
