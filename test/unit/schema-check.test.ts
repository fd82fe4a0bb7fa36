import assert from 'node:assert/strict';
import { test } from 'node:test';
import Type from 'typebox';
import { checker } from '../../src/schema/check.js';

const Size = Type.Object(
  { width: Type.Integer({ minimum: 1, maximum: 16384 }), fit: Type.Optional(Type.Union([Type.Literal('cover'), Type.Literal('contain')])) },
  { additionalProperties: false },
);
const Payload = Type.Object(
  {
    input: Type.String({ minLength: 1, maxLength: 4096 }),
    sizes: Type.Array(Size, { minItems: 1, maxItems: 32 }),
    name: Type.Optional(Type.String({ pattern: '^[^/.]', expected: 'a file name without folders or a leading dot' })),
    quality: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
const thumbnail = checker(Payload, 'thumbnail');

function message(v: unknown): string {
  try {
    thumbnail.parse(v);
  } catch (err) {
    assert.equal((err as { code: string }).code, 'GT_PAYLOAD_INVALID');
    return (err as Error).message;
  }
  assert.fail('no error');
}

test('a valid value comes back typed and unchanged', () => {
  const v = { input: 'a.jpg', sizes: [{ width: 320 }] };
  const p = thumbnail.parse(v);
  assert.equal(p.sizes[0]?.width, 320);
  assert.equal(p, v);
});

test('the message names the full path, what was expected and what was received', () => {
  assert.equal(
    message({ input: 'a.jpg', sizes: [{ width: 0 }] }),
    'Expected integer between 1 and 16384 for thumbnail.sizes[0].width but received 0 of type number',
  );
  assert.equal(
    message({ input: 'a.jpg', sizes: [{ width: 2.5 }] }),
    'Expected integer between 1 and 16384 for thumbnail.sizes[0].width but received 2.5 of type number',
  );
  assert.equal(
    message({ input: 'a.jpg', sizes: [{ width: 1, fit: 'fill' }] }),
    'Expected one of cover, contain for thumbnail.sizes[0].fit but received fill of type string',
  );
  assert.equal(message({ sizes: [{ width: 1 }] }), 'Expected non-empty string of at most 4096 characters for thumbnail.input but received undefined');
  assert.equal(message({ input: 'a', sizes: [] }), 'Expected array of 1 to 32 items for thumbnail.sizes but received [] of type array');
  assert.equal(
    message({ input: 'a', sizes: [{ width: 1 }], name: '../x' }),
    'Expected a file name without folders or a leading dot for thumbnail.name but received ../x of type string',
  );
  assert.equal(
    message({ input: 'a', sizes: [{ width: 1 }], quality: 2 }),
    'Expected number between 0 and 1 for thumbnail.quality but received 2 of type number',
  );
  assert.equal(message('x'), 'Expected a JSON object for thumbnail but received x of type string');
});

test('unknown fields are refused, naming the field and the known ones', () => {
  assert.equal(
    message({ input: 'a', sizes: [{ width: 1 }], widht: 3 }),
    'Expected one of the fields input, sizes, name, quality for thumbnail.widht but received 3 of type number',
  );
  assert.equal(
    message({ input: 'a', sizes: [{ width: 1, hieght: 2 }] }),
    'Expected one of the fields width, fit for thumbnail.sizes[0].hieght but received 2 of type number',
  );
});
