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

test('a union whose branches take different JSON types reports the error of the branch the value is', () => {
  const Entry = Type.Object({ processes: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false });
  const workers = checker(Type.Record(Type.String(), Type.Union([Entry, Type.Null()])), 'workers');
  const msg = (v: unknown): string => {
    try {
      workers.parse(v);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('no error');
  };
  assert.equal(msg({ thumbnail: { processes: -1 } }), 'Expected positive integer for workers.thumbnail.processes but received -1 of type number');
  assert.equal(msg({ thumbnail: { procs: 1 } }), 'Expected one of the fields processes for workers.thumbnail.procs but received 1 of type number');
  // A value of neither type: the union's own words.
  assert.equal(msg({ thumbnail: 3 }), 'Expected a JSON object or null for workers.thumbnail but received 3 of type number');
  assert.deepEqual(workers.parse({ thumbnail: null }), { thumbnail: null });
});

test('a key refused by propertyNames is named, with the key as the value received', () => {
  const workers = checker(
    Type.Record(Type.String(), Type.Integer(), { propertyNames: { pattern: '^[a-z]+$', expected: 'a name of lower-case letters' } }),
    'workers',
  );
  assert.throws(() => workers.parse({ ok: 1, Bad: 2 }), { message: 'Expected a name of lower-case letters for workers.Bad but received Bad of type string' });
});

test('a union with its own words names the field inside the branch its value is shaped for, else keeps its words', () => {
  const Poster = Type.Object({ format: Type.Optional(Type.Enum(['jpeg', 'webp'])) }, { additionalProperties: false });
  const To = Type.String({ minLength: 1, expected: 'an email address' });
  const mail = checker(
    Type.Object({
      poster: Type.Union([Type.Boolean(), Poster], { expected: 'true or a JSON object' }),
      to: Type.Union([To, Type.Array(To, { minItems: 1 })], { expected: 'an address or an array of addresses' }),
    }),
    'mail',
  );
  const text = (v: unknown): string => {
    try {
      mail.parse(v);
    } catch (err) {
      return (err as Error).message;
    }
    return assert.fail('no error');
  };
  assert.equal(text({ poster: { format: 'png' }, to: 'a' }), 'Expected one of jpeg, webp for mail.poster.format but received png of type string');
  assert.equal(text({ poster: { at: 3 }, to: 'a' }), 'Expected one of the fields format for mail.poster.at but received 3 of type number');
  assert.equal(text({ poster: 'yes', to: 'a' }), 'Expected true or a JSON object for mail.poster but received yes of type string');
  assert.equal(text({ poster: true, to: ['a', ''] }), 'Expected an email address for mail.to[1] but received  of type string');
  assert.equal(text({ poster: true, to: [] }), 'Expected an address or an array of addresses for mail.to but received [] of type array');
});
