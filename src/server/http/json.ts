// JSON text to values with a nesting limit, for request bodies and job results. JSON.parse
// builds any depth, but what reads the value afterwards (JSON.stringify of a payload or of an
// answer) recurses and overflows the stack past some thousands of levels: a 1 MiB body of `[`
// is 500,000 levels. The depth is checked on the text, before anything is built; the scan costs
// a fraction of the parse (3-7 ms for a 700 KB body, JSON.parse 11-34 ms, measured side by side).

import { type GeartrainError, gtError } from '../../errors.js';

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 64;
/** Deepest nesting of a job result sent back as JSON; a deeper one is sent as its text. */
export const MAX_RESULT_DEPTH = 256;

/** Whether `text` nests arrays and objects deeper than `max` (brackets inside strings do not count). */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > max) return true;
    } else if (c === '}' || c === ']') depth--;
  }
  return false;
}

/** The body's value (undefined for an empty body), or GT_BODY_INVALID naming what is wrong. */
export function parseJsonBody(text: string): { value: unknown } | { error: GeartrainError } {
  if (text.trim() === '') return { value: undefined };
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) return { error: gtError('GT_BODY_INVALID', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`) };
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    // The message keeps JSON.parse's position.
    return { error: gtError('GT_BODY_INVALID', `not JSON (${(err as Error).message})`) };
  }
}

/**
 * A worker's result as the API shows it: its JSON value when the text is JSON (and no deeper
 * than MAX_RESULT_DEPTH), else the text itself.
 */
export function resultValue(text: string): unknown {
  const first = text.trimStart()[0];
  // Plain text is the common non-JSON result: skip the throw JSON.parse would cost.
  if (first === undefined || !'{["-0123456789tfn'.includes(first)) return text;
  if (nestedDeeperThan(text, MAX_RESULT_DEPTH)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
