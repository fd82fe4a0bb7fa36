// A worker's real result checked against the result schema published for its function, so a
// schema that drifts from what the worker answers fails the worker's own tests.

import { checker } from '../../src/schema/check.js';
import { type BuiltinFunctionName, RESULT_SCHEMAS } from '../../src/schema/workers.js';

/** `result` itself when it matches `fn`'s result schema; else throws naming the field (`thumbnail result.outputs[0].bytes`). */
export function conforms<T>(fn: BuiltinFunctionName, result: T): T {
  checker(RESULT_SCHEMAS[fn], `${fn} result`).parse(result);
  return result;
}
