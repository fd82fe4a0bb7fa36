// One reading of sizes for CLI flags and config files: the spellings it takes, and the ones it
// refuses, through the shared parser, the flag parser and the config check.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parseSize as parseSizeFlag } from '../../src/cli/options.js';
import { parseSize, SIZE_PATTERN } from '../../src/shared/size.js';
import { parseConfig } from '../../src/supervisor/config.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

test('plain bytes and binary units in every spelling and case', () => {
  const cases: [string, number][] = [
    ['65536', 65536],
    ['1', 1],
    ['10b', 10],
    ['10B', 10],
    ['512k', 512 * KiB],
    ['512kb', 512 * KiB],
    ['512KiB', 512 * KiB],
    ['512KIB', 512 * KiB],
    ['64m', 64 * MiB],
    ['64MB', 64 * MiB],
    ['64 MiB', 64 * MiB],
    ['  64m  ', 64 * MiB],
    ['2g', 2 * GiB],
    ['2gb', 2 * GiB],
    ['2GiB', 2 * GiB],
    ['007k', 7 * KiB],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

test('refuses what is not a positive, exact number of bytes', () => {
  for (const text of [
    '',
    ' ',
    'm',
    'lots',
    '-1',
    '-1k',
    '1.5m',
    '1e6',
    '0x10',
    '64 m b',
    '64mbb',
    '1t',
    '1kib2',
    '12 34',
    '64i',
    '64ib',
    '0',
    '0k',
    '9007199254740992',
    '8388608g',
  ]) {
    assert.equal(parseSize(text), undefined, JSON.stringify(text));
  }
  assert.equal(parseSize('9007199254740991'), Number.MAX_SAFE_INTEGER);
});

test('the published pattern accepts exactly the spellings the parser reads', () => {
  const re = new RegExp(SIZE_PATTERN);
  for (const text of ['65536', '512k', '512KiB', '64 MiB', '2gb', '0']) assert.ok(re.test(text), text);
  for (const text of ['lots', '1.5m', '1t', '-1', '64mbb']) assert.ok(!re.test(text), text);
});

test('the CLI flag parser names the spellings in its refusal', () => {
  assert.equal(parseSizeFlag('100m'), 100 * MiB);
  assert.throws(
    () => parseSizeFlag('lots'),
    (err: Error) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.message, 'Expected a positive size such as 65536, 512k or 64m but received "lots".');
      return true;
    },
  );
  assert.throws(() => parseSizeFlag('0'), /Expected a positive size such as 65536, 512k or 64m but received "0"\.$/);
});

test('config size keys take the same spellings and name the key when refused', () => {
  const c = parseConfig('server: { maxPacketSize: 8MiB, maxBuffered: 1073741824 }\nsettings: { thumbnail: { maxFileSize: 100 m } }\n', 'c.yaml');
  assert.equal(c.server?.maxPacketSize, 8 * MiB);
  assert.equal(c.server?.maxBuffered, GiB);
  assert.equal(c.settings.thumbnail?.maxFileSize, 100 * MiB);
  const refused = (text: string): string => {
    try {
      parseConfig(text, 'c.yaml');
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'GT_INVALID_ARGUMENT');
      return (err as Error).message;
    }
    assert.fail(`accepted: ${text}`);
  };
  assert.equal(
    refused('server: { maxPacketSize: 0k }'),
    'c.yaml: Expected positive integer or a size such as 65536, 512k or 64m for server.maxPacketSize but received 0k of type string',
  );
  assert.equal(
    refused('server: { maxBuffered: 1.5g }'),
    'c.yaml: Expected positive integer or a size such as 65536, 512k or 64m for server.maxBuffered but received 1.5g of type string',
  );
  assert.equal(
    refused('server: { maxBuffered: 0 }'),
    'c.yaml: Expected positive integer or a size such as 65536, 512k or 64m for server.maxBuffered but received 0 of type number',
  );
  assert.equal(
    refused('settings: { thumbnail: { maxFileSize: 9999999999g } }'),
    'c.yaml: Expected positive integer or a size such as 65536, 512k or 64m for settings.thumbnail.maxFileSize but received 9999999999g of type string',
  );
});
