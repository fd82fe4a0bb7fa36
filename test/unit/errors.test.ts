// The error registry: every code maps to a Gearman code, an HTTP status and an exit code;
// messages come from templates; validation messages name the parameter and the value.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeValue, ERRORS, type ErrorCode, GeartrainError, gtError, invalidArgument } from '../../src/errors.js';

const codes = Object.keys(ERRORS) as ErrorCode[];

test('every code has a Gearman code string, an HTTP status and an exit code', () => {
  assert.ok(codes.length > 0);
  for (const code of codes) {
    const def = ERRORS[code];
    assert.match(code, /^GT_[A-Z_]+$/, `${code}: code spelling`);
    assert.equal(typeof def.gearman, 'string', `${code}: gearman code`);
    assert.match(def.gearman, /^[A-Z_]+$/, `${code}: gearman code is gearmand-style (no spaces, it travels in an ERROR packet)`);
    assert.ok(Number.isInteger(def.http) && def.http >= 400 && def.http <= 599, `${code}: HTTP status ${def.http} is an error status`);
    assert.ok(Number.isInteger(def.exit) && def.exit >= 1 && def.exit <= 125, `${code}: exit code ${def.exit} is a usable non-zero exit status`);
    assert.ok(def.message.length > 0, `${code}: message template`);
    assert.ok(def.doc.length > 0, `${code}: meaning for the error table`);
  }
});

test('a GeartrainError exposes its code and the mapped codes', () => {
  for (const code of codes) {
    const err = gtError(code, 'a', 'b', 'c');
    assert.ok(err instanceof GeartrainError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'GeartrainError');
    assert.equal(err.code, code);
    assert.equal(err.gearmanCode, ERRORS[code].gearman);
    assert.equal(err.httpStatus, ERRORS[code].http);
    assert.equal(err.exitCode, ERRORS[code].exit);
    assert.ok(!err.message.includes('%s'), `${code}: every placeholder filled`);
  }
});

test('gtError fills the template in order', () => {
  assert.equal(gtError('GT_CONNECTION_FAILED', '127.0.0.1:4730', 'ECONNREFUSED').message, 'Could not connect to 127.0.0.1:4730: ECONNREFUSED');
  assert.equal(gtError('GT_TIMEOUT', 'submit', 250).message, 'submit timed out after 250 ms');
  assert.equal(gtError('GT_UNIQUE_TOO_LONG', 65).message, 'Unique id of 65 bytes exceeds the limit of 64 bytes');
  assert.equal(gtError('GT_QUEUE_FULL').message, 'Job queue is full');
});

test('gtError leaves missing values empty and ignores extra ones', () => {
  assert.equal(gtError('GT_CONNECTION_FAILED', 'host:1').message, 'Could not connect to host:1: ');
  assert.equal(gtError('GT_QUEUE_FULL', 'unused').message, 'Job queue is full');
});

test('gtError does not interpret replacement patterns in values', () => {
  // String.replace with a function is immune to `$&`-style patterns in user input.
  assert.equal(gtError('GT_JOB_NOT_FOUND', "$& $' $1 %s").message, "$& $' $1 %s");
});

test('a cause is kept', () => {
  const cause = new Error('socket hang up');
  const err = new GeartrainError('GT_CONNECTION_LOST', 'Connection to x lost', { cause });
  assert.equal(err.cause, cause);
});

test('invalidArgument names the parameter and describes the value (sharp style)', () => {
  const err = invalidArgument('positive integer', 'width', 'spoons');
  assert.equal(err.message, 'Expected positive integer for width but received spoons of type string');
  assert.equal(err.code, 'GT_INVALID_ARGUMENT');
  assert.equal(err.exitCode, 2);
  assert.equal(err.httpStatus, 400);
  assert.equal(invalidArgument('positive integer', 'timeout', -1).message, 'Expected positive integer for timeout but received -1 of type number');
});

test('describeValue covers every kind of value', () => {
  assert.equal(describeValue(undefined), 'undefined');
  assert.equal(describeValue(null), 'null');
  assert.equal(describeValue(true), 'true of type boolean');
  assert.equal(describeValue(3.5), '3.5 of type number');
  assert.equal(describeValue([1, 2]), '[1,2] of type array');
  assert.equal(describeValue({ a: 1 }), '{"a":1} of type object');
  assert.equal(describeValue(10n), '10 of type bigint');
  const long = describeValue('x'.repeat(100));
  assert.equal(long, `${'x'.repeat(37)}... of type string`);
});
