// `pipeline up`'s config file checked by its one schema: each refusal names the key by its full
// path, what the key takes and what it received; the rules a schema cannot say follow the check;
// defaults come from the schema.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RELOAD, DEFAULT_RESTART, DEFAULT_STOP, parseConfig } from '../../src/supervisor/config.js';

/** The message parseConfig refuses `text` with (as the file `name`). */
function refusal(text: string, name = 'geartrain.config.yaml'): string {
  try {
    parseConfig(text, name);
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'GT_INVALID_ARGUMENT');
    return (err as Error).message;
  }
  assert.fail(`accepted: ${text}`);
}

test('a number out of range: the path, the range in words and the number', () => {
  assert.equal(
    refusal('workers:\n  thumbnail: { processes: -1 }\n'),
    'geartrain.config.yaml: Expected positive integer for workers.thumbnail.processes but received -1 of type number',
  );
  assert.equal(refusal('stop: { graceMs: -5 }'), 'geartrain.config.yaml: Expected non-negative integer for stop.graceMs but received -5 of type number');
  assert.equal(
    refusal('reload: { readyTimeoutMs: 2.5 }'),
    'geartrain.config.yaml: Expected positive integer for reload.readyTimeoutMs but received 2.5 of type number',
  );
});

test('a string where a number belongs: named with its type', () => {
  assert.equal(
    refusal('{"server": {"port": "4730"}}', 'c.json'),
    'c.json: Expected integer between 0 and 65535 for server.port but received 4730 of type string',
  );
  assert.equal(refusal('restart: { windowMs: 60s }'), 'geartrain.config.yaml: Expected positive integer for restart.windowMs but received 60s of type string');
  assert.equal(
    refusal('settings: { waveform: { maxDurationSeconds: "3h" } }'),
    'geartrain.config.yaml: Expected positive integer for settings.waveform.maxDurationSeconds but received 3h of type string',
  );
});

test('an unknown key at any depth: named, with the keys its object takes', () => {
  assert.equal(
    refusal('server:\n  http: { port: 8730, hots: 0.0.0.0 }\n'),
    'geartrain.config.yaml: Expected one of the fields host, port, token, runs for server.http.hots but received 0.0.0.0 of type string',
  );
  assert.equal(
    refusal('settings: { thumbnail: { maxPixel: 100 } }'),
    'geartrain.config.yaml: Expected one of the fields maxPixels, maxFileSize for settings.thumbnail.maxPixel but received 100 of type number',
  );
  assert.equal(
    refusal('workers:\n  email: { proceses: 2 }\n'),
    'geartrain.config.yaml: Expected one of the fields processes, concurrency, env, exec, functions, timeoutMs for workers.email.proceses but received 2 of ' +
      'type number',
  );
  assert.equal(
    refusal('restrat: {}'),
    'geartrain.config.yaml: Expected one of the fields server, servers, workers, settings, restart, stop, reload for restrat but received {} of type object',
  );
});

test('a file that is not an object of keys is refused naming the file', () => {
  assert.equal(
    refusal('- thumbnail\n- email\n'),
    'geartrain.config.yaml: Expected an object with the keys server, servers, workers, settings, restart, stop, reload for the config file but received ' +
      '["thumbnail","email"] of type array',
  );
  assert.equal(
    refusal('"workers"', 'c.json'),
    'c.json: Expected an object with the keys server, servers, workers, settings, restart, stop, reload for the config file but received workers of type ' +
      'string',
  );
});

test('worker type names: the key itself is what a bad name reports', () => {
  assert.equal(
    refusal('workers:\n  Thumbnail: { processes: 1 }\n'),
    'geartrain.config.yaml: Expected a worker type name of lower-case letters, digits and - for workers.Thumbnail but received Thumbnail of type string',
  );
  assert.equal(
    refusal('workers: { thumbnail: 2 }'),
    'geartrain.config.yaml: Expected a JSON object or null for workers.thumbnail but received 2 of type number',
  );
});

test('a type written with no value runs one process with the defaults; one that is not built in needs exec', () => {
  const c = parseConfig('workers:\n  transcode:\n  probe: { processes: 2 }\n', 'c.yaml');
  assert.deepEqual(c.workers, { transcode: { processes: 1, concurrency: 1, env: {} }, probe: { processes: 2, concurrency: 1, env: {} } });
  assert.equal(
    refusal('workers:\n  resize:\n'),
    'geartrain.config.yaml: Expected one of thumbnail, transcode, email, cache-warm, probe, waveform, webhook, pipeline, or a type with exec: [command, …] ' +
      'for workers.resize but received {} of type object',
  );
  assert.equal(
    refusal('workers:\n  resize: { exec: [] }\n'),
    'geartrain.config.yaml: Expected non-empty array of strings for workers.resize.exec but received [] of type array',
  );
  assert.equal(
    refusal('workers:\n  probe: { timeoutMs: 5000 }\n'),
    'geartrain.config.yaml: Expected no timeoutMs (only exec types take it) for workers.probe.timeoutMs but received 5000 of type number',
  );
});

test('environment values: text as given, numbers and booleans as their text', () => {
  const c = parseConfig('workers:\n  email: { env: { A: x, B: 2, C: true } }\n', 'c.yaml');
  assert.deepEqual(c.workers.email?.env, { A: 'x', B: '2', C: 'true' });
});

test('the policies default to what the schema declares, key by key', () => {
  assert.deepEqual(DEFAULT_RESTART, { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 60_000, startupMs: 5_000 });
  assert.deepEqual(DEFAULT_STOP, { graceMs: 35_000 });
  assert.deepEqual(DEFAULT_RELOAD, { readyTimeoutMs: 30_000 });
  const c = parseConfig('restart: { maxCrashes: 0 }\nstop: { graceMs: 0 }\n', 'c.yaml');
  assert.deepEqual(c.restart, { ...DEFAULT_RESTART, maxCrashes: 0 });
  assert.deepEqual(c.stop, { graceMs: 0 });
  assert.deepEqual(c.reload, DEFAULT_RELOAD);
  assert.equal(
    refusal('restart: { initialDelayMs: 60000 }'),
    'geartrain.config.yaml: Expected integer of at least restart.initialDelayMs (60000) for restart.maxDelayMs but received 30000 of type number',
  );
});

test('the server keys come out in one order whatever order the file wrote them in', () => {
  // Reload compares the server's config as JSON to tell whether it changed.
  const a = parseConfig('server: { http: { runs: [out], port: 8730 }, maxBuffered: 64m, port: 4731 }', 'c.yaml');
  const b = parseConfig('server: { port: 4731, maxBuffered: 67108864, http: { port: 8730, runs: [out] } }', 'c.yaml');
  assert.equal(JSON.stringify(a.server), JSON.stringify(b.server));
  assert.equal(JSON.stringify(a.server), '{"host":"127.0.0.1","port":4731,"maxBuffered":67108864,"http":{"port":8730,"runs":["out"]}}');
});

test('a JSON file may name its schema in "$schema" for editors; the key changes nothing else', () => {
  const withSchema = parseConfig('{ "$schema": "./node_modules/geartrain/schemas/config.json", "workers": { "probe": { "processes": 2 } } }', 'c.json');
  const without = parseConfig('{ "workers": { "probe": { "processes": 2 } } }', 'c.json');
  assert.deepEqual(withSchema, without);
});
