// Every built-in worker checks its payload against its published schema: one message naming the
// path for a wrong type, an out-of-range number and an unknown field (nested where the payload
// nests); the defaults the schema declares are the ones the worker applies; options that make
// an output's fingerprint come out in one key order whatever order the caller sent.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { withDefaults } from '../../src/schema/check.js';
import { PAYLOAD_SCHEMAS } from '../../src/schema/workers.js';
import { DOMAIN_WORKERS, type DomainWorkerName } from '../../src/workers/index.js';

const parsers = new Map<DomainWorkerName, (raw: unknown) => unknown>(
  Object.entries(DOMAIN_WORKERS).map(([name, factory]) => [name as DomainWorkerName, factory({ email: { smtpUrl: '' } }, silentLogger).parse]),
);
const parse = (fn: DomainWorkerName, raw: unknown): unknown => parsers.get(fn)!(raw);

function refusal(fn: DomainWorkerName, raw: unknown): string {
  try {
    parse(fn, raw);
  } catch (err) {
    return `${(err as { code: string }).code}: ${(err as Error).message}`;
  }
  return assert.fail(`${fn} accepted ${JSON.stringify(raw)}`);
}

/** The smallest valid payload of each function. */
const MINIMAL: Record<DomainWorkerName, Record<string, unknown>> = {
  thumbnail: { input: '/in/a.jpg', outDir: '/out', sizes: [{ width: 320, format: 'webp' }] },
  transcode: { input: '/in/c.mov', outDir: '/out', profiles: ['mp4-480p'] },
  email: { to: 'a@example.com', subject: 's', text: 't' },
  'cache-warm': { urls: ['http://example.com/a'] },
  probe: { input: '/in/a.jpg' },
  waveform: { input: '/in/a.wav', outDir: '/out' },
  webhook: { url: 'http://example.com/hook', body: { ok: true } },
};

/** Per function: a wrong type, an out-of-range number and an unknown field, each with its one message. */
const CASES: Record<DomainWorkerName, [Record<string, unknown>, string][]> = {
  thumbnail: [
    [{ sizes: [{ width: '320', format: 'webp' }] }, 'Expected integer between 1 and 16384 for thumbnail.sizes[0].width but received 320 of type string'],
    [
      { sizes: [{ width: 320, format: 'webp', quality: 101 }] },
      'Expected integer between 1 and 100 for thumbnail.sizes[0].quality but received 101 of type number',
    ],
    [
      { sizes: [{ width: 320, format: 'webp', qualty: 80 }] },
      'Expected one of the fields width, format, height, quality for thumbnail.sizes[0].qualty but received 80 of type number',
    ],
  ],
  transcode: [
    [{ poster: { atSeconds: '3' } }, 'Expected number of at least 0 for transcode.poster.atSeconds but received 3 of type string'],
    [
      { profiles: ['hls'], hls: { ladder: [{ height: 720, videoKbps: 10 }] } },
      'Expected integer between 32 and 100000 for transcode.hls.ladder[0].videoKbps but received 10 of type number',
    ],
    [
      { profiles: ['hls'], hls: { ladder: [{ height: 720, videoKbps: 900, fps: 30 }] } },
      'Expected one of the fields height, videoKbps for transcode.hls.ladder[0].fps but received 30 of type number',
    ],
    [{ storyboard: { width: 8 } }, 'Expected integer between 32 and 640 for transcode.storyboard.width but received 8 of type number'],
    [{ storyboard: { every: 2 } }, 'Expected one of the fields format, intervalSeconds, width for transcode.storyboard.every but received 2 of type number'],
  ],
  email: [
    [{ attachments: [{ path: 7 }] }, 'Expected a path of 1 to 4096 characters without NUL for email.attachments[0].path but received 7 of type number'],
    [
      { attachments: new Array(21).fill({ path: '/a' }) },
      'Expected array of 0 to 20 items for email.attachments but received [{"path":"/a"},{"path":"/a"},{"path":... of type array',
    ],
    [{ attachments: [{ path: '/a', name: 'x' }] }, 'Expected one of the fields path, filename for email.attachments[0].name but received x of type string'],
    [{ cc: ['b@example.com', 3] }, 'Expected an email address for email.cc[1] but received 3 of type number'],
  ],
  'cache-warm': [
    [{ method: 1 }, 'Expected one of GET, HEAD for cache-warm.method but received 1 of type number'],
    [{ retries: 11 }, 'Expected integer between 0 and 10 for cache-warm.retries but received 11 of type number'],
    [{ header: {} }, 'Expected one of the fields urls, method, concurrency, timeoutMs, retries for cache-warm.header but received {} of type object'],
  ],
  probe: [
    [{ input: ['/a'] }, 'Expected a path of 1 to 4096 characters without NUL for probe.input but received ["/a"] of type array'],
    [{ input: 'x'.repeat(4097) }, `Expected a path of 1 to 4096 characters without NUL for probe.input but received ${'x'.repeat(37)}... of type string`],
    [{ inptu: '/a' }, 'Expected one of the fields input for probe.inptu but received /a of type string'],
  ],
  waveform: [
    [{ points: true }, 'Expected integer between 1 and 100000 for waveform.points but received true of type boolean'],
    [{ height: 1 }, 'Expected integer between 2 and 4096 for waveform.height but received 1 of type number'],
    [
      { color: '#ffffff' },
      'Expected one of the fields input, outDir, points, width, height, colour, background, name for waveform.color but received #ffffff of type string',
    ],
  ],
  webhook: [
    [
      { url: { href: 'http://example.com' } },
      'Expected non-empty string of at most 4096 characters for webhook.url but received {"href":"http://example.com"} of type object',
    ],
    [{ timeoutMs: 120_001 }, 'Expected integer between 1 and 120000 for webhook.timeoutMs but received 120001 of type number'],
    [
      { headers: { a: 'b' } },
      'Expected one of the fields url, body, event, deliveryId, timeoutMs, retries for webhook.headers but received {"a":"b"} of type object',
    ],
  ],
};

for (const fn of Object.keys(DOMAIN_WORKERS) as DomainWorkerName[]) {
  test(`${fn}: a wrong type, an out-of-range number and an unknown field each give one message naming the path`, () => {
    parse(fn, MINIMAL[fn]);
    for (const [change, message] of CASES[fn]) assert.equal(refusal(fn, { ...MINIMAL[fn], ...change }), `GT_PAYLOAD_INVALID: ${message}`);
  });

  test(`${fn}: the defaults its schema declares are the ones the worker applies`, () => {
    const filled = withDefaults(PAYLOAD_SCHEMAS[fn], MINIMAL[fn]);
    const strip = (v: unknown): unknown => (fn === 'webhook' ? { ...(v as object), deliveryId: 'random' } : v);
    assert.deepEqual(strip(parse(fn, filled)), strip(parse(fn, MINIMAL[fn])));
  });
}

test('a payload the schema accepts comes back normalised: jpg read as jpeg, true as the defaults, a colour as RGBA', () => {
  const thumb = parse('thumbnail', { ...MINIMAL.thumbnail, sizes: [{ width: 10, format: 'jpg' }], background: '#f80' }) as {
    sizes: { format: string }[];
    background: unknown;
  };
  assert.equal(thumb.sizes[0]!.format, 'jpeg');
  assert.deepEqual(thumb.background, { r: 255, g: 136, b: 0, alpha: 1 });
  const clip = parse('transcode', { ...MINIMAL.transcode, poster: true, storyboard: true }) as { poster: unknown; storyboard: unknown };
  assert.deepEqual([clip.poster, clip.storyboard], [{ format: 'jpeg' }, { format: 'jpeg' }]);
  const wave = parse('waveform', { ...MINIMAL.waveform, colour: '#FF000080' }) as { colour: unknown; background: unknown };
  assert.deepEqual(
    [wave.colour, wave.background],
    [
      [255, 0, 0, 128],
      [0, 0, 0, 0],
    ],
  );
  const mail = parse('email', { ...MINIMAL.email, cc: 'c@example.com' }) as { to: unknown; cc: unknown; bcc: unknown };
  assert.deepEqual([mail.to, mail.cc, mail.bcc], [['a@example.com'], ['c@example.com'], []]);
});

test('options that make a fingerprint come out in one key order, whatever order was sent', () => {
  const thumb = parse('thumbnail', { ...MINIMAL.thumbnail, sizes: [{ quality: 70, height: 200, format: 'webp', width: 320 }] }) as { sizes: unknown[] };
  assert.equal(JSON.stringify(thumb.sizes[0]), '{"width":320,"format":"webp","height":200,"quality":70}');
  const clip = parse('transcode', {
    ...MINIMAL.transcode,
    profiles: ['hls'],
    poster: { width: 640, atSeconds: 2, format: 'webp' },
    storyboard: { width: 120, intervalSeconds: 5 },
    hls: { audioOnly: true, segmentSeconds: 6, ladder: [{ videoKbps: 900, height: 480 }] },
  }) as Record<string, unknown>;
  assert.equal(JSON.stringify(clip.poster), '{"format":"webp","atSeconds":2,"width":640}');
  assert.equal(JSON.stringify(clip.storyboard), '{"format":"jpeg","intervalSeconds":5,"width":120}');
  assert.equal(JSON.stringify(clip.hls), '{"ladder":[{"height":480,"videoKbps":900}],"segmentSeconds":6,"audioOnly":true}');
  const {
    input: _i,
    outDir: _o,
    ...wave
  } = parse('waveform', { name: 'w', background: '#00000000', outDir: '/out', input: '/a.wav', points: 10 }) as Record<string, unknown>;
  assert.equal(JSON.stringify(wave), '{"points":10,"width":1800,"height":280,"colour":[37,99,235,255],"background":[0,0,0,0],"name":"w"}');
});
