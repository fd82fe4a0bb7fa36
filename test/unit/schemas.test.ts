// The published JSON Schemas under schemas/ are what scripts/schemas.ts writes from the schemas
// the code checks with, and every config file the repository shows (fixtures, examples, the
// YAML blocks of the docs) passes the published one, names it for editors, and loads.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Compile } from 'typebox/compile';
import { SCHEMAS, SCHEMAS_DIR, schemaText } from '../../scripts/schemas.js';
import { checker } from '../../src/schema/check.js';
import { ConfigFile, parseConfig } from '../../src/supervisor/config.js';
import { parseYaml } from '../../src/yaml.js';
import { ROOT, read, textFiles } from '../helpers/prose.js';

const CONFIG_SCHEMA = path.join(SCHEMAS_DIR, 'config.json');
const MODELINE = /^# yaml-language-server: \$schema=(\S+)$/;
/** Where the docs point: the schema as installed with the package, from a config at the project's root. */
const INSTALLED = 'node_modules/geartrain/schemas/config.json';

test('each file under schemas/ is what `npm run schemas` writes, and nothing else is there', () => {
  for (const entry of SCHEMAS) {
    let onDisk: string | undefined;
    try {
      onDisk = readFileSync(path.join(SCHEMAS_DIR, entry.file), 'utf8');
    } catch {
      onDisk = undefined;
    }
    assert.ok(
      onDisk === schemaText(entry),
      `schemas/${entry.file} is ${onDisk === undefined ? 'missing' : 'not what scripts/schemas.ts writes'}: run npm run schemas`,
    );
  }
  assert.deepEqual(
    readdirSync(SCHEMAS_DIR).sort(),
    SCHEMAS.map((e) => e.file).sort(),
    'schemas/ holds exactly the files of scripts/schemas.ts (run npm run schemas; remove stale ones)',
  );
});

interface ConfigExample {
  /** Where it is: a file's path, or for a fenced block of Markdown, the file's path, a colon and the block's first line. */
  where: string;
  /** The name parseConfig reads it as (its extension picks JSON or YAML). */
  name: string;
  text: string;
  /** Where its modeline must point, resolved; null for JSON (no comments). */
  schemaPath: string | null;
}

/** Config files in fixtures/ and examples/: fixtures/config/* and any geartrain.config.* file. */
function configFiles(): ConfigExample[] {
  return textFiles(['fixtures', 'examples', 'docs'])
    .filter((f) => f.startsWith('fixtures/config/') || /^geartrain\.config\.(json|ya?ml)$/.test(path.basename(f)))
    .map((f) => ({ where: f, name: f, text: read(f), schemaPath: f.endsWith('.json') ? null : CONFIG_SCHEMA }));
}

/** YAML blocks of README.md and docs/*.md whose keys are all config keys. */
function configBlocks(): ConfigExample[] {
  const keys = Object.keys(ConfigFile.properties);
  const out: ConfigExample[] = [];
  for (const f of ['README.md', ...textFiles(['docs']).filter((d) => d.endsWith('.md'))]) {
    const lines = read(f).split('\n');
    lines.forEach((line, i) => {
      if (line !== '```yaml') return;
      const end = lines.indexOf('```', i + 1);
      const text = lines.slice(i + 1, end).join('\n');
      const value = parseYaml(text) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
      if (!Object.keys(value).every((k) => keys.includes(k))) return;
      out.push({ where: `${f}:${i + 2}`, name: 'geartrain.config.yaml', text, schemaPath: INSTALLED });
    });
  }
  return out;
}

const EXAMPLES = [...configFiles(), ...configBlocks()];

test('the repository shows config examples in fixtures and in the docs', () => {
  assert.ok(
    EXAMPLES.some((e) => e.where === 'fixtures/config/geartrain.config.yaml'),
    EXAMPLES.map((e) => e.where).join(', '),
  );
  assert.ok(
    EXAMPLES.some((e) => e.where.startsWith('docs/operations.md:')),
    EXAMPLES.map((e) => e.where).join(', '),
  );
});

test('every config example passes the published schema and loads', () => {
  const published = Compile(JSON.parse(readFileSync(CONFIG_SCHEMA, 'utf8')));
  const explained = checker(ConfigFile, '', 'GT_INVALID_ARGUMENT');
  for (const e of EXAMPLES) {
    const value = e.name.endsWith('.json') ? JSON.parse(e.text) : parseYaml(e.text);
    if (!published.Check(value)) {
      assert.fail(
        `${e.where} does not pass schemas/config.json: ${(() => {
          try {
            explained.parse(value);
            return 'the published file differs from ConfigFile (run npm run schemas)';
          } catch (err) {
            return (err as Error).message;
          }
        })()}`,
      );
    }
    assert.doesNotThrow(() => parseConfig(e.text, e.name), `${e.where} loads`);
  }
});

test('every YAML config example names the schema on its first line, by a path that resolves to it', () => {
  for (const e of EXAMPLES) {
    if (e.schemaPath === null) continue;
    const m = MODELINE.exec(e.text.split('\n')[0]!);
    assert.ok(m, `${e.where} starts with "# yaml-language-server: $schema=…"`);
    if (e.schemaPath === INSTALLED) assert.equal(m[1], INSTALLED, `${e.where} names the installed package's schema`);
    else assert.equal(path.resolve(ROOT, path.dirname(e.where), m[1]!), e.schemaPath, `${e.where}: ${m[1]} is not schemas/config.json relative to the file`);
  }
});

test('every pipeline file in fixtures/pipelines passes schemas/pipeline.json and names it by a path that resolves to it', () => {
  const published = Compile(JSON.parse(readFileSync(path.join(SCHEMAS_DIR, 'pipeline.json'), 'utf8')));
  const files = textFiles(['fixtures']).filter((f) => f.startsWith('fixtures/pipelines/'));
  assert.ok(files.length >= 2, files.join(', '));
  for (const f of files) {
    const text = read(f);
    const value = (f.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
    assert.ok(published.Check(value), `${f} does not pass schemas/pipeline.json`);
    const named = f.endsWith('.json') ? String(value.$schema) : MODELINE.exec(text.split('\n')[0]!)?.[1];
    assert.ok(named !== undefined, `${f} names its schema`);
    assert.equal(
      path.resolve(ROOT, path.dirname(f), named),
      path.join(SCHEMAS_DIR, 'pipeline.json'),
      `${f}: ${named} is not schemas/pipeline.json relative to the file`,
    );
  }
});
